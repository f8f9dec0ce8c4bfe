//! `sessctl resume` and `verify` on a real private manager: the seed scenario, the naive
//! launch for contrast, manager reloads and re-execs, losses, a killed resume, and concurrency.

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use crate::support::{
    alive, assert_lost_and_recovered, finish_within, manager, status_json, tmux, wait_for,
    write_unit, Env, SESSCTL,
};

const UNIT: &str = "sessctl-web.service";

fn enable(env: &Env, extra: &[&str]) {
    let mut args = vec!["enable", "web"];
    args.extend_from_slice(extra);
    args.extend(["--", "sleep", "100000"]);
    env.sessctl().args(args).stdout_read().run();
}

/// `sessctl resume web --no-attach --json` run as its own process.
fn spawn_resume(env: &Env) -> Child {
    spawn(env, &["resume", "web", "--no-attach", "--json"])
}

/// `sessctl ARGS` run as its own process, on the test's manager.
fn spawn(env: &Env, args: &[&str]) -> Child {
    Command::new(SESSCTL)
        .args(args)
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .envs(env.bed.as_ref().expect("a manager").env())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("spawning sessctl {args:?}: {err}"))
}

fn verdict_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|err| {
        panic!(
            "resume printed no JSON ({err}): status {}\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// One resume; its JSON and exit status.
fn resume(env: &Env) -> (Value, i32) {
    let out = finish_within(spawn_resume(env), "sessctl resume web");
    (verdict_of(&out), out.status.code().expect("an exit code"))
}

#[track_caller]
fn survived(env: &Env, like: &Value) {
    let (v, code) = resume(env);
    assert_eq!(
        (v["verdict"].as_str(), code),
        (Some("survived"), 0),
        "{v:#}"
    );
    assert_eq!(v["after"], *like, "the identity changed");
    assert_eq!(v["before"], v["after"]);
}

#[test]
fn the_seed_scenario_a_dashboard_resumes_from_its_own_cgroup_and_restarts_freely() {
    let Some(env) = manager("seed") else {
        return;
    };
    enable(&env, &["--no-start"]);
    let out = env.scratch.join("dashboard.out");
    write_unit(
        &env,
        "dashboard.service",
        &format!(
            "Type=simple\nExecStart=/bin/sh -c '\"$$0\" resume web --no-attach >> \"$$1\" 2>&1; exec sleep 100000' {SESSCTL} {}",
            out.display()
        ),
    );
    let systemd = env.systemd();
    systemd
        .start("dashboard.service")
        .expect("starting the dashboard");
    let read = || fs::read_to_string(&out).unwrap_or_default();
    wait_for("the dashboard's resume", || {
        read().contains("started").then_some(())
    });
    let (first, _) = resume(&env);
    let identity = first["after"].clone();
    let agent = identity["agent_pid"].as_u64().expect("an agent") as u32;
    assert_eq!(
        systemd.unit_of_pid(agent).expect("GetUnitByPID").as_deref(),
        Some(UNIT)
    );

    systemd
        .restart("dashboard.service")
        .expect("restarting the dashboard");
    wait_for("the restarted dashboard's resume", || {
        read().contains("survived").then_some(())
    });
    systemd
        .stop("dashboard.service")
        .expect("stopping the dashboard");
    assert_eq!(read().lines().count(), 2, "{}", read());
    survived(&env, &identity);
    assert!(alive(agent));
}

#[test]
fn the_naive_launch_for_contrast_loses_its_session_with_the_dashboard() {
    let Some(env) = manager("naive") else {
        return;
    };
    let socket = env.scratch.join("naive.sock");
    write_unit(
        &env,
        "dashboard.service",
        &format!(
            "Type=simple\nExecStart=/bin/sh -c 'tmux -S \"$$0\" new-session -d -s main sleep 100000; exec sleep 100000' {}",
            socket.display()
        ),
    );
    let systemd = env.systemd();
    systemd
        .start("dashboard.service")
        .expect("starting the dashboard");
    let agent: u32 = wait_for("the naive session", || {
        tmux(
            &socket,
            &["display-message", "-p", "-t", "main", "#{pane_pid}"],
        )
    })
    .trim()
    .parse()
    .expect("a pane pid");
    // The bug: the session lives in the dashboard's cgroup...
    assert_eq!(
        systemd.unit_of_pid(agent).expect("GetUnitByPID").as_deref(),
        Some("dashboard.service")
    );
    // ...so restarting the dashboard kills it.
    systemd
        .restart("dashboard.service")
        .expect("restarting the dashboard");
    wait_for("the naive agent to die", || (!alive(agent)).then_some(()));
    systemd
        .stop("dashboard.service")
        .expect("stopping the dashboard");
    assert_eq!(
        tmux(&socket, &["has-session", "-t", "main"]),
        None,
        "the naive session survived"
    );
}

#[test]
fn two_hundred_resumes_change_nothing() {
    let Some(env) = manager("twohundred") else {
        return;
    };
    enable(&env, &[]);
    let (first, _) = resume(&env);
    let identity = first["after"].clone();
    for _ in 0..200 {
        survived(&env, &identity);
    }
    let out = env
        .sessctl()
        .args(["verify", "web", "--rounds", "200", "--json"])
        .stdout_read()
        .run();
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["changes"], Value::Array(vec![]));
    assert_eq!(report["identity"], identity);
    assert_eq!(report["started"], Value::Bool(false));
}

#[test]
fn reload_changed_settings_and_reexec_keep_the_session() {
    let Some(env) = manager("reexec") else {
        return;
    };
    enable(&env, &[]);
    let (first, _) = resume(&env);
    let identity = first["after"].clone();
    let systemd = env.systemd();

    systemd.reload().expect("Reload");
    survived(&env, &identity);

    enable(&env, &["--env", "CHANGED=1"]);
    survived(&env, &identity);

    // The manager re-executes and drops its clients: the reply may never come.
    let _ = systemd.reexecute();
    wait_for("the manager after Reexecute", || {
        env.bed
            .as_ref()
            .expect("a manager")
            .connect()
            .ok()?
            .status(UNIT)
            .ok()
    });
    survived(&env, &identity);
}

/// The events of the product's log as (event, verdict) pairs.
fn log_kinds(env: &Env) -> Vec<(String, String)> {
    let out = env
        .sessctl()
        .args(["log", "web", "--json"])
        .stdout_read()
        .run();
    let log: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    log.as_array()
        .expect("an array")
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap_or("").to_string(),
                e["verdict"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// Waits until systemd runs a session in a new invocation, with its agent up; then returns
/// `sessctl status --json`. Polls systemd itself, so that no sessctl call sees the loss first.
#[track_caller]
fn wait_restarted(env: &Env, old_invocation: &Value) -> Value {
    let systemd = env.systemd();
    let restarted = sessctl::poll::until(std::time::Duration::from_secs(60), || {
        let (now, _) = sessctl::lifecycle::observe::identity(&systemd, UNIT)?;
        Ok((now.is_live() && now.invocation_id != *old_invocation).then_some(()))
    });
    if !matches!(restarted, Ok(Some(()))) {
        let end = fs::read_to_string(
            env.var("XDG_STATE_HOME")
                .join("sessctl/products/web/last-exit.json"),
        );
        panic!(
            "timed out waiting for systemd to restart {UNIT} with its agent ({restarted:?}): {:?}, last exit {end:?}",
            systemd.details(UNIT)
        );
    }
    status_json(env)
}

/// A resume the moment the agent died finds the unit still active, its session ending: it
/// waits for the unit to stop and starts it again, rather than ask an active unit to start
/// (which does nothing) and fail on the session it cannot find. Several rounds, each one a
/// try at the window between the agent's end and its unit's.
#[test]
fn a_resume_right_after_the_agent_was_killed_recovers_the_session() {
    let Some(env) = manager("killed-now") else {
        return;
    };
    enable(&env, &[]);
    let (mut last, _) = resume(&env);
    for round in 0..4 {
        let agent = last["after"]["agent_pid"].as_u64().expect("an agent") as i32;
        kill(Pid::from_raw(agent), Signal::SIGKILL).expect("killing the agent");
        let (v, code) = resume(&env);
        assert_lost_and_recovered(&v, code);
        assert_ne!(
            v["after"]["invocation_id"], last["after"]["invocation_id"],
            "round {round}: {v:#}"
        );
        assert!(v["after"]["agent_pid"].is_u64(), "round {round}: {v:#}");
        last = v;
    }
}

#[test]
fn a_killed_agent_is_restarted_by_systemd_and_one_resume_reports_it() {
    let Some(env) = manager("killed") else {
        return;
    };
    enable(&env, &[]);
    let (first, _) = resume(&env);
    let agent = first["after"]["agent_pid"].as_u64().expect("an agent") as i32;
    kill(Pid::from_raw(agent), Signal::SIGKILL).expect("killing the agent");
    let status = wait_restarted(&env, &first["after"]["invocation_id"]);

    // status sees the loss first and knows how the agent ended; the log gets the loss once.
    assert_eq!(status["n_restarts"], 1, "{status:#}");
    assert_eq!(status["last_exit"]["signal"], "SIGKILL", "{status:#}");
    assert_eq!(status["last_exit"]["status"], Value::Null, "{status:#}");
    let lost = status["lost"].as_str().expect("a loss");
    assert!(
        lost.starts_with("the agent was killed by SIGKILL at "),
        "{lost}"
    );
    assert!(lost.ends_with("; systemd restarted it"), "{lost}");

    let (v, code) = resume(&env);
    assert_lost_and_recovered(&v, code);
    assert_eq!(v["reason"].as_str(), Some(lost));
    assert_eq!(v["after"]["invocation_id"], status["invocation_id"]);
    survived(&env, &v["after"]);

    assert_eq!(
        log_kinds(&env),
        pairs(&[
            ("enable", ""),
            ("start", ""),
            ("resume", "survived"),
            ("exit", ""),
            ("lost", "lost"),
            ("recovered", ""),
            ("resume", "lost"),
            ("resume", "survived"),
        ])
    );
    let killed = "the agent was killed by SIGKILL at [time]";
    let ids = "main PID [pid], invocation [invocation], agent PID [pid]";
    env.sessctl()
        .args(["log", "web"])
        .stdout_redacted(&format!(
            "[time]  enable  
[time]  start     {ids}
[time]  resume   survived  {ids}
[time]  exit      ({killed})
[time]  lost     lost  {ids}  ({killed}; systemd restarted it)
[time]  recovered  {ids}
[time]  resume   lost  {ids}  ({killed}; systemd restarted it)
[time]  resume   survived  {ids}
"
        ))
        .run();

    env.sessctl()
        .args(["verify", "web", "--rounds", "3"])
        .stdout_redacted(&format!(
            "{UNIT}: 3 resumes, 0 identity changes\n  invocation [invocation], main PID [pid], agent PID [pid], up [uptime]\n"
        ))
        .run();
}

/// Types `line` and Enter into the product's shell.
fn type_line(env: &Env, line: &str) {
    tmux(
        &env.socket("web"),
        &["send-keys", "-t", "main", line, "Enter"],
    )
    .expect("typing");
}

#[test]
fn an_agent_ended_on_purpose_ends_the_unit_and_one_resume_brings_it_back() {
    let Some(env) = manager("exit0") else {
        return;
    };
    env.sessctl()
        .args(["enable", "web", "--", "sh"])
        .stdout(
            "sessctl-web.service: written, reloaded and enabled\nsessctl-web.service: started\n",
        )
        .run();
    let (first, _) = resume(&env);
    type_line(&env, "exit 0");
    let systemd = env.systemd();
    wait_for("the unit to end after the shell's exit 0", || {
        (systemd.status(UNIT).expect("status").active_state.as_str() == "inactive").then_some(())
    });
    // Inactive with Result=success: systemd scheduled no restart.
    let details = systemd.details(UNIT).expect("details");
    assert_eq!(
        (details.sub_state.as_str(), details.result.as_str()),
        ("dead", "success")
    );
    let status = status_json(&env);
    assert_eq!(
        (
            status["n_restarts"].as_u64(),
            status["last_exit"]["status"].as_i64()
        ),
        (Some(0), Some(0)),
        "{status:#}"
    );

    // One resume reports the end and starts a new session.
    let (v, code) = resume(&env);
    assert_lost_and_recovered(&v, code);
    let reason = v["reason"].as_str().expect("a reason");
    assert!(
        reason.starts_with("the agent exited with status 0 at "),
        "{reason}"
    );
    assert_ne!(v["after"]["invocation_id"], first["after"]["invocation_id"]);
    assert_eq!(v["after"]["active_state"], "active");

    // A non-zero status is a failure: systemd restarts the session.
    type_line(&env, "exit 3");
    let status = wait_restarted(&env, &v["after"]["invocation_id"]);
    assert_eq!(status["last_exit"]["status"], 3, "{status:#}");
    assert_eq!(status["n_restarts"], 1, "{status:#}");

    // A stop is asked for: the unit ends cleanly whatever the shell dies of, and the end is
    // not logged as an exit.
    env.sessctl()
        .args(["stop", "web"])
        .stdout("sessctl-web.service: stopped\n")
        .run();
    let details = systemd.details(UNIT).expect("details");
    assert_eq!(
        (
            systemd.status(UNIT).expect("status").active_state.as_str(),
            details.result.as_str()
        ),
        ("inactive", "success")
    );
    let exits = log_kinds(&env).iter().filter(|(e, _)| e == "exit").count();
    assert_eq!(exits, 2, "{:?}", log_kinds(&env));
}

#[test]
fn verify_fails_on_a_change() {
    let Some(env) = manager("verifyfail") else {
        return;
    };
    enable(&env, &[]);
    resume(&env);
    // A restart outside sessctl replaces the session behind sessctl's back.
    env.systemd().restart(UNIT).expect("RestartUnit");
    let out = env
        .sessctl()
        .args(["verify", "web", "--rounds", "3"])
        .status(4)
        .stdout_redacted("sessctl-web.service: 3 resumes, 1 identity changes\n  round 1: lost: since sessctl last saw it, the unit was started again (invocation [invocation] -> [invocation], restarts 0 -> 0); systemd: active (running), Result=success, ExecMainStatus=0, NRestarts=0\n  round 1: recovered: a new session runs in its place\n  invocation [invocation], main PID [pid], agent PID [pid], up [uptime]\n").run();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with(&format!("{UNIT}: 3 resumes, 1 identity changes\n  round 1: lost: since sessctl last saw it, the unit was started again")), "{text}");
}

#[test]
fn a_resume_killed_mid_start_leaves_no_stale_lock() {
    let Some(env) = manager("midstart") else {
        return;
    };
    enable(&env, &["--no-start"]);
    // A slow start, so the kill lands while the start job runs.
    let dropin = env.config_home().join("systemd/user/sessctl-web.service.d");
    fs::create_dir_all(&dropin).expect("drop-in dir");
    fs::write(
        dropin.join("slow.conf"),
        "[Service]\nExecStartPre=/bin/sleep 2\n",
    )
    .expect("drop-in");
    env.systemd().reload().expect("Reload");

    let mut victim = spawn_resume(&env);
    wait_for("the start job", || {
        (env.systemd()
            .status(UNIT)
            .expect("status")
            .active_state
            .as_str()
            == "activating")
            .then_some(())
    });
    victim.kill().expect("SIGKILL");
    victim.wait().expect("reaping");

    let lock = fs::File::open(env.var("XDG_STATE_HOME").join("sessctl/locks/web.lock"))
        .expect("lock file");
    nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map_err(|(_, errno)| errno)
        .expect("the lock is free after its holder died");

    let (v, code) = resume(&env);
    assert_eq!(code, 0, "{v:#}");
    assert!(
        matches!(v["verdict"].as_str(), Some("started" | "survived")),
        "{v:#}"
    );
    assert_eq!(v["after"]["active_state"], "active");
    survived(&env, &v["after"]);
}

#[test]
fn twenty_concurrent_resumes_start_the_session_exactly_once() {
    let Some(env) = manager("twenty") else {
        return;
    };
    enable(&env, &["--no-start"]);
    let children: Vec<Child> = (0..20).map(|_| spawn_resume(&env)).collect();
    let verdicts: Vec<Value> = children
        .into_iter()
        .map(|c| {
            let out = finish_within(c, "one of twenty concurrent resumes");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            verdict_of(&out)
        })
        .collect();
    let started = verdicts
        .iter()
        .filter(|v| v["verdict"] == "started")
        .count();
    let survived = verdicts
        .iter()
        .filter(|v| v["verdict"] == "survived")
        .count();
    assert_eq!((started, survived), (1, 19));
    let identity = &verdicts[0]["after"];
    assert!(
        verdicts.iter().all(|v| v["after"] == *identity),
        "one session for all twenty"
    );
    let status = env.systemd().status(UNIT).expect("status");
    assert_eq!(identity["invocation_id"], status.invocation_id.as_str());
    assert_eq!(identity["main_pid"], status.main_pid);
    assert_eq!(status.n_restarts, 0);
}

#[test]
fn resume_racing_enable_restart_and_stop_always_tells_the_truth() {
    let Some(env) = manager("race") else {
        return;
    };
    enable(&env, &["--no-start"]);
    let bed_env = env.bed.as_ref().expect("a manager").env();
    let other = |args: &[&str]| {
        Command::new(SESSCTL)
            .args(args)
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .envs(bed_env.clone())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning sessctl")
    };
    let mut resumes: Vec<Child> = (0..4).map(|_| spawn_resume(&env)).collect();
    let others = vec![
        other(&["enable", "web", "--env", "RACE=1", "--", "sleep", "100000"]),
        other(&["restart", "web"]),
        other(&["stop", "web"]),
    ];
    resumes.extend((0..4).map(|_| spawn_resume(&env)));
    for child in others {
        let out = finish_within(child, "an enable, restart or stop racing resumes");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for child in resumes {
        let out = finish_within(child, "a resume racing enable, restart and stop");
        let v = verdict_of(&out);
        assert_eq!(out.status.code(), Some(0), "{v:#}");
        match v["verdict"].as_str() {
            Some("survived") => assert_eq!(v["before"], v["after"]),
            Some("started") => assert_eq!(v["after"]["active_state"], "active"),
            other => panic!("verdict {other:?}: {v:#}"),
        }
    }
    // Whatever order they ran in, the product ends in a state the next resume reads truly.
    let (v, code) = resume(&env);
    assert_eq!(code, 0, "{v:#}");
    assert_eq!(
        v["after"]["invocation_id"],
        env.systemd()
            .status(UNIT)
            .expect("status")
            .invocation_id
            .as_str()
    );
}

#[test]
fn resume_of_a_live_session_prints_survived_with_the_same_pids() {
    let Some(env) = manager("text") else {
        return;
    };
    enable(&env, &[]);
    let status = env.systemd().status(UNIT).expect("status");
    let out = env.sessctl().args(["resume", "web", "--no-attach"]).stdout_redacted("sessctl-web.service: survived, up [uptime] (invocation [invocation], main PID [pid], agent PID [pid])\n").run();
    let text = String::from_utf8_lossy(&out.stdout);
    let prefix = format!("{UNIT}: survived, up ");
    assert!(text.starts_with(&prefix), "{text}");
    assert!(
        text.contains(&format!(
            "(invocation {}, main PID {}, agent PID ",
            status.invocation_id, status.main_pid
        )),
        "{text}"
    );
    assert!(Path::new(&env.socket("web")).exists());
}

#[test]
fn status_never_waits_for_the_product_lock_and_twenty_see_a_loss_the_next_resume_logs_once() {
    let Some(env) = manager("statuslock") else {
        return;
    };
    enable(&env, &[]);
    // Another call holds the product's lock, as a start does for up to 20 s.
    let lock = env.var("XDG_STATE_HOME").join("sessctl/locks/web.lock");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
        .expect("the lock file");
    let held = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, errno)| errno)
        .expect("taking the lock");
    // Ended behind sessctl's back, the session is lost; every status says so, all at once.
    env.systemd().stop(UNIT).expect("StopUnit");
    let statuses: Vec<Child> = (0..20)
        .map(|_| spawn(&env, &["status", "web", "--json"]))
        .collect();
    for child in statuses {
        let out = finish_within(child, "sessctl status while the lock is held");
        let v: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
        assert!(v["lost"].as_str().is_some(), "{v:#}");
    }
    drop(held);
    let losses = |env: &Env| {
        log_kinds(env)
            .iter()
            .filter(|(event, _)| event == "lost")
            .count()
    };
    // A status only reads: the loss is the resume's to record, once.
    assert_eq!(losses(&env), 0, "{:?}", log_kinds(&env));
    let (v, code) = resume(&env);
    assert_lost_and_recovered(&v, code);
    resume(&env);
    assert_eq!(losses(&env), 1, "{:?}", log_kinds(&env));
}

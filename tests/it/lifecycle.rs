//! A product's whole life on a real private user manager: enable, the session in its own
//! unit's cgroup, what systemd parsed, stop, disable, re-enable.

use std::fs;
use std::path::Path;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use crate::support::{alive, cmdline, manager, status_json, tmux, wait_for, Env, Systemd, SESSCTL};

const UNIT: &str = "sessctl-web.service";

/// The session's agent: the process in the tmux pane.
/// The agent: the one child of the process in the product's tmux pane.
fn agent_pid(env: &Env, product: &str) -> u32 {
    let out = tmux(
        &env.socket(product),
        &["display-message", "-p", "-t", "main", "#{pane_pid}"],
    )
    .expect("the product's tmux session");
    let pane: u32 = out.trim().parse().expect("a pane pid");
    match sessctl::procfs::children(pane)[..] {
        [agent] => agent,
        ref other => panic!("the pane's process {pane} has children {other:?}, not one agent"),
    }
}

fn main_pid(systemd: &Systemd, unit: &str) -> u32 {
    systemd.status(unit).expect("status").main_pid
}

#[test]
fn hostile_settings_reach_the_agent_exactly_and_stop_leaves_nothing() {
    let Some(env) = manager("hostile") else {
        return;
    };
    let systemd = env.systemd();
    let hostile = "d 'single' \"double\" 100% $HOME back\\slash ; ü -x";
    let dir = env.scratch.join(hostile);
    fs::create_dir_all(&dir).expect("creating the product dir");
    let program = env.scratch.join(format!("bin {hostile}")).join("agent");
    let record = env.agent(&program);
    let mut command = vec![program.to_str().expect("utf-8").to_string()];
    command.extend(
        [
            "a b",
            "it's",
            "say \"hi\"",
            "100%",
            "%n",
            "$HOME",
            "${X}",
            ";",
            "back\\slash",
            "ü",
            "-x",
            "",
        ]
        .map(String::from),
    );
    let mut args = vec![
        "enable",
        "web",
        "--dir",
        dir.to_str().expect("utf-8"),
        "--env",
        "K=$v %x",
        "--",
    ];
    args.extend(command.iter().map(String::as_str));
    env.sessctl()
        .args(&args)
        .stdout(&format!(
            "{UNIT}: written, reloaded and enabled\n{UNIT}: started\n"
        ))
        .stderr("")
        .run();

    // What systemd parsed: Exec lines keep `$$` until exec time, `%%` is already resolved.
    let (lines, workdir) = systemd.exec_start(UNIT).expect("reading ExecStart");
    assert_eq!(lines.len(), 1);
    let parsed = &lines[0].argv;
    let after = parsed
        .iter()
        .position(|a| a == "--")
        .expect("a -- in ExecStart")
        + 1;
    let expected: Vec<String> = command.iter().map(|a| a.replace('$', "$$")).collect();
    assert_eq!(parsed[after..], expected[..]);
    assert_eq!(
        Path::new(&workdir),
        dir.canonicalize().expect("canonical dir")
    );

    // What the agent got: exactly the input, in the directory, in the unit's own cgroup.
    let status = systemd.status(UNIT).expect("status");
    let details = systemd.details(UNIT).expect("details");
    assert_eq!(
        (status.active_state.as_str(), details.sub_state.as_str()),
        ("active", "running")
    );
    let server = cmdline(status.main_pid);
    assert!(
        server[0].ends_with("tmux") && server[1] == "-D",
        "main process {server:?}"
    );
    let agent = agent_pid(&env, "web");
    // The agent's process is sessctl's launcher until it execs the agent, keeping its PID.
    wait_for("the agent to take its launcher's place", || {
        (cmdline(agent)[0] != SESSCTL).then_some(())
    });
    assert_eq!(cmdline(agent)[1..], command[..], "the agent's argv");
    assert_eq!(
        fs::read_link(format!("/proc/{agent}/cwd")).expect("cwd"),
        dir.canonicalize().expect("dir")
    );
    let environ = fs::read(format!("/proc/{agent}/environ")).expect("environ");
    assert!(
        environ.split(|b| *b == 0).any(|v| v == b"K=$v %x"),
        "K=$v %x in the agent's environment"
    );
    assert_eq!(
        systemd.unit_of_pid(agent).expect("GetUnitByPID").as_deref(),
        Some(UNIT)
    );
    assert!(details
        .control_group
        .ends_with("/app.slice/app-sessctl.slice/sessctl-web.service"));
    let cgroup = fs::read_to_string(format!("/proc/{agent}/cgroup")).expect("cgroup");
    assert!(
        cgroup.lines().any(|l| l.ends_with(&details.control_group)),
        "{cgroup}"
    );

    // The unit file on disk passes the linter too.
    let verify = std::process::Command::new("systemd-analyze")
        .args(["--user", "verify"])
        .arg(env.unit_file("web"))
        .envs(env.bed.as_ref().expect("bed").env())
        .output()
        .expect("systemd-analyze");
    assert!(
        verify.status.success() && verify.stderr.is_empty() && verify.stdout.is_empty(),
        "{verify:?}"
    );

    // Stop: the agent is told with SIGTERM and nothing of the session is left.
    let server_pid = status.main_pid;
    env.sessctl()
        .args(["stop", "web"])
        .stdout(&format!("{UNIT}: stopped\n"))
        .run();
    assert!(
        !alive(agent) && !alive(server_pid),
        "a process of the session survived stop"
    );
    let signals = fs::read_to_string(record.with_extension("record.signals")).unwrap_or_default();
    assert_eq!(signals, "TERM\n", "the agent got SIGTERM");
    let status = systemd.status(UNIT).expect("status");
    assert_eq!(status.active_state.as_str(), "inactive");
    assert!(
        !env.socket("web").exists(),
        "the socket outlived the session"
    );

    // Disable removes the unit and keeps the config; --purge removes the config.
    env.sessctl()
        .args(["disable", "web"])
        .stdout(&format!("{UNIT}: stopped, disabled and removed\n"))
        .run();
    assert!(!env.unit_file("web").exists());
    assert_eq!(
        systemd.unit_file(UNIT).expect("unit file").load_state,
        sessctl::systemd::LoadState::NotFound
    );
    assert!(env.product_file("web").exists());
    env.sessctl()
        .args(["disable", "web", "--purge"])
        .stdout(&format!(
            "{UNIT}: stopped, disabled and removed\nweb: config and state removed\n"
        ))
        .run();
    assert!(!env.product_file("web").exists());
}

#[test]
fn enable_again_never_restarts_a_live_session() {
    let Some(env) = manager("reenable") else {
        return;
    };
    let systemd = env.systemd();
    let enable = |extra: &[&str]| {
        let mut args = vec!["enable", "web"];
        args.extend_from_slice(extra);
        args.extend(["--", "sleep", "100000"]);
        env.sessctl().args(args)
    };
    enable(&[])
        .stdout(
            "sessctl-web.service: written, reloaded and enabled\nsessctl-web.service: started\n",
        )
        .run();
    let before = systemd.status(UNIT).expect("status");
    enable(&[])
        .stdout(&format!("{UNIT}: unchanged\n{UNIT}: already active\n"))
        .run();
    enable(&["--env", "NEW=1"])
        .stdout(&format!(
            "{UNIT}: rewritten, reloaded and enabled\n{UNIT}: restart pending; the live session keeps running until `sessctl restart web`\n"
        ))
        .run();
    let after = systemd.status(UNIT).expect("status");
    assert_eq!(
        (after.main_pid, &after.invocation_id),
        (before.main_pid, &before.invocation_id)
    );
    assert!(
        !systemd
            .unit_file(UNIT)
            .expect("unit file")
            .need_daemon_reload
    );
    enable(&["--env", "NEW=1"])
        .stdout(&format!(
            "{UNIT}: unchanged\n{UNIT}: restart pending; the live session keeps running until `sessctl restart web`\n"
        ))
        .run();

    let json = status_json(&env);
    assert_eq!(json["restart_pending"], Value::Bool(true));
    assert_eq!(json["unit_file"], "current");
    assert_eq!(json["main_pid"], before.main_pid);

    env.sessctl()
        .args(["restart", "web"])
        .stdout(&format!("{UNIT}: restarted\n"))
        .run();
    let json = status_json(&env);
    assert_eq!(json["restart_pending"], Value::Bool(false));
    assert_ne!(
        json["invocation_id"],
        Value::String(before.invocation_id.clone())
    );
    let environ = fs::read(format!("/proc/{}/environ", agent_pid(&env, "web"))).expect("environ");
    assert!(
        environ.split(|b| *b == 0).any(|v| v == b"NEW=1"),
        "the restarted agent has the new setting"
    );
}

/// tmux forks jobs of its own next to the pane (the silence monitor's `run-shell`); while one
/// runs, status still finds the pane and its agent, and a resume proves the same session.
#[test]
fn a_job_of_tmux_beside_the_pane_hides_neither_the_agent_nor_the_proof() {
    let Some(env) = manager("tmuxjob") else {
        return;
    };
    env.sessctl()
        .args(["enable", "web", "--silence", "0", "--", "sleep", "100000"])
        .stdout_read()
        .run();
    let agent = agent_pid(&env, "web");
    let main = main_pid(&env.systemd(), UNIT);
    tmux(
        &env.socket("web"),
        &["run-shell", "-b", "exec sleep 100000"],
    )
    .expect("a tmux job");
    let job = wait_for("the tmux job beside the pane", || {
        let children = sessctl::procfs::children(main);
        (children.len() == 2).then_some(children)
    });
    let status = status_json(&env);
    assert_eq!(
        status["agent_pid"], agent,
        "{status:#} (the server's children: {job:?})"
    );
    env.sessctl()
        .args(["resume", "web", "--no-attach"])
        .stdout_redacted("sessctl-web.service: survived, up [uptime] (invocation [invocation], main PID [pid], agent PID [pid])\n")
        .run();
}

#[test]
fn an_agent_that_exits_takes_the_unit_down_visibly() {
    let Some(env) = manager("agentdies") else {
        return;
    };
    let systemd = env.systemd();
    let project = env.scratch.join("project");
    fs::create_dir_all(&project).expect("creating the project dir");
    // Without --dir, the agent works in the directory enable ran in.
    env.sessctl()
        .args(["enable", "web", "--", "sh", "-c", "sleep 100000; exit 0"])
        .current_dir(&project)
        .stdout(
            "sessctl-web.service: written, reloaded and enabled\nsessctl-web.service: started\n",
        )
        .run();
    assert_eq!(
        Path::new(&systemd.exec_start(UNIT).expect("ExecStart").1),
        project
    );
    // The agent's own work ends, and the agent exits with status 0, as after /exit.
    let agent = agent_pid(&env, "web");
    let work = wait_for("the agent's sleep", || {
        sessctl::procfs::children(agent).first().copied()
    });
    kill(Pid::from_raw(work as i32), Signal::SIGKILL).expect("killing the agent's sleep");
    let status = wait_for("the unit to become inactive after its agent exited", || {
        let s = systemd.status(UNIT).expect("status");
        (s.active_state.as_str() == "inactive").then_some(s)
    });
    assert_eq!(
        (status.active_state.as_str(), status.main_pid),
        ("inactive", 0)
    );
    let json = status_json(&env);
    assert_eq!(json["active_state"], "inactive");
    assert_eq!(json["uptime_seconds"], Value::Null);
    env.sessctl()
        .args(["start", "web"])
        .stdout(&format!("{UNIT}: started\n"))
        .run();
    assert_ne!(main_pid(&systemd, UNIT), 0);
}

#[test]
fn list_and_status_report_drift_and_reload() {
    let Some(env) = manager("drift") else { return };
    env.sessctl().args(["enable", "api", "--no-start", "--", "sleep", "100000"])
        .stdout("sessctl-api.service: written, reloaded and enabled\nsessctl-api.service: not started (--no-start)\n")
        .run();
    // No silence monitor: on a slow machine its mark would add a line to the pinned status.
    env.sessctl()
        .args(["enable", "web", "--silence", "0", "--", "sleep", "100000"])
        .stdout(
            "sessctl-web.service: written, reloaded and enabled\nsessctl-web.service: started\n",
        )
        .run();
    let edited = fs::read_to_string(env.unit_file("web"))
        .expect("unit")
        .replace("TimeoutStopSec=30s", "TimeoutStopSec=1s");
    fs::write(env.unit_file("web"), edited).expect("editing the unit");

    let out = env.sessctl().args(["list", "--json"]).stdout_read().run();
    let list: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let list = list.as_array().expect("an array");
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["product"], "api");
    assert_eq!(list[0]["active_state"], "inactive");
    assert_eq!(list[0]["unit_file"], "current");
    assert_eq!(list[1]["product"], "web");
    assert_eq!(list[1]["active_state"], "active");
    assert_eq!(list[1]["unit_file"], "drifted");
    assert_eq!(list[1]["need_daemon_reload"], Value::Bool(true));
    assert!(list[1]["cgroup"]
        .as_str()
        .expect("cgroup")
        .ends_with("app-sessctl.slice/sessctl-web.service"));

    env.sessctl()
        .args(["status", "web"])
        .stdout_redacted(
            "sessctl-web.service: active (running)
  main pid         [pid]
  agent pid        [pid]
  uptime           [uptime]
  restarts         0
  cgroup           /[testbed]/app.slice/app-sessctl.slice/sessctl-web.service
  unit file        drifted
  needs reload     yes
  restart pending  no
",
        )
        .run();

    // enable puts the file back and reloads, without touching the running session.
    let pid = env.systemd().status(UNIT).expect("status").main_pid;
    env.sessctl()
        .args(["enable", "web", "--silence", "0", "--", "sleep", "100000"])
        .stdout("sessctl-web.service: rewritten, reloaded and enabled\nsessctl-web.service: already active\n").run();
    let json = status_json(&env);
    assert_eq!(
        (
            json["unit_file"].as_str(),
            json["need_daemon_reload"].as_bool()
        ),
        (Some("current"), Some(false))
    );
    assert_eq!(json["main_pid"], pid);
}

#[test]
fn a_dead_user_bus_is_exit_status_3_with_the_fix() {
    let Some(env) = manager("deadbus") else {
        return;
    };
    // The manager runs, but its private socket is no way in for zbus: the bus is required.
    assert!(env.var("XDG_RUNTIME_DIR").join("systemd/private").exists());
    env.sessctl()
        .args(["enable", "web", "--no-start", "--", "sleep", "100000"])
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus")
        .stdout("")
        .stderr("sessctl: cannot reach the systemd user manager (the user bus unix:path=/nonexistent/bus: failed to connect to `unix:path=/nonexistent/bus`: No such file or directory (os error 2)); is `systemd --user` running with dbus-user-session installed? After su or sudo, export XDG_RUNTIME_DIR=/run/user/$(id -u)\n")
        .status(3)
        .run();
    assert!(!env.product_file("web").exists());
}

#[test]
fn one_broken_config_hides_no_other_product_and_can_still_be_stopped() {
    let Some(env) = manager("broken") else { return };
    for name in ["api", "web"] {
        env.sessctl()
            .args(["enable", name, "--", "sleep", "100000"])
            .stdout_read()
            .run();
    }
    fs::write(env.product_file("web"), "name = [garbage").expect("breaking the config");

    let out = env.sessctl().args(["list", "--json"]).stdout_read().run();
    let list: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        (
            &list[0]["product"],
            &list[0]["broken"],
            &list[0]["unit_file"]
        ),
        (&Value::from("api"), &Value::Null, &Value::from("current"))
    );
    assert_eq!(list[1]["product"], "web");
    assert_eq!(list[1]["active_state"], "active");
    let broken = list[1]["broken"].as_str().expect("web is broken");
    assert!(
        broken.starts_with(&format!(
            "parsing product config {}",
            env.product_file("web").display()
        )) && broken.ends_with("or remove the product with `sessctl disable web --purge`"),
        "{broken}"
    );
    let out = env.sessctl().args(["status", "web"]).stdout_read().run();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("  broken           parsing product config")
    );

    let out = env
        .sessctl()
        .args(["doctor", "--json"])
        .status(6)
        .stdout_read()
        .run();
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    // Of the findings about products (the machine's own, such as linger, aside), web's
    // broken config is the only one: api is checked as usual and found fine.
    let about_products: Vec<(&str, &str)> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| Some((f["id"].as_str()?, f["product"].as_str()?)))
        .collect();
    assert_eq!(
        about_products,
        [("product-config-broken", "web")],
        "{report:#}"
    );

    env.sessctl()
        .args(["stop", "web"])
        .stdout(&format!("{UNIT}: stopped\n"))
        .run();
    env.sessctl()
        .args(["disable", "web", "--purge"])
        .stdout(
            "sessctl-web.service: stopped, disabled and removed\nweb: config and state removed\n",
        )
        .run();
    assert!(!env.product_file("web").exists());
    env.sessctl().args(["status", "api"]).stdout_read().run();
}

#[test]
fn a_missing_work_directory_or_agent_is_named_by_status_resume_and_doctor() {
    let Some(env) = manager("missing") else {
        return;
    };
    let work = env.scratch.join("work");
    fs::create_dir_all(&work).expect("the work directory");
    let agent = env.scratch.join("bin/agent");
    env.agent(&agent);
    let (work_s, agent_s) = (work.display().to_string(), agent.display().to_string());
    env.sessctl()
        .args([
            "enable",
            "web",
            "--no-start",
            "--dir",
            &work_s,
            "--",
            &agent_s,
        ])
        .stdout_read()
        .run();
    let fix = format!("sessctl enable web --dir {work_s} -- {agent_s}");
    for (gone, what) in [
        (&work, format!("the work directory {work_s} does not exist")),
        (
            &agent,
            format!("the agent {agent_s} does not exist or is not executable"),
        ),
    ] {
        let aside = gone.with_extension("aside");
        fs::rename(gone, &aside).expect("moving it aside");
        let line = format!(
            "{what}: put it back, or enable the product again with what replaces it: {fix}"
        );
        assert_eq!(status_json(&env)["missing"], line.as_str());
        env.sessctl()
            .args(["resume", "web", "--no-attach"])
            .stderr(&format!("sessctl: web: cannot start: {line}\n"))
            .status(2)
            .run();
        let out = env
            .sessctl()
            .args(["doctor", "web", "--json"])
            .status(6)
            .stdout_read()
            .run();
        let report: Value = serde_json::from_slice(&out.stdout).expect("doctor --json");
        let finding = (report["findings"].as_array().expect("findings").iter())
            .find(|f| f["id"] == "start-needs-missing")
            .unwrap_or_else(|| panic!("no start-needs-missing finding: {report:#}"));
        assert_eq!(finding["summary"], format!("{UNIT} cannot start: {what}"));
        fs::rename(&aside, gone).expect("putting it back");
        assert!(status_json(&env)["missing"].is_null());
    }
    env.sessctl()
        .args(["resume", "web", "--no-attach"])
        .stdout_read()
        .run();
}

#[test]
fn disable_purge_removes_a_unit_systemd_cannot_load() {
    let Some(env) = manager("unloadable") else {
        return;
    };
    env.sessctl()
        .args(["enable", "web", "--no-start", "--", "sleep", "100000"])
        .stdout_read()
        .run();
    // A line of more than 1 MiB, as an edit or an older sessctl could leave: systemd then
    // fails to load the whole unit.
    let file = env.unit_file("web");
    let mut text = fs::read_to_string(&file).expect("the unit");
    text.push_str(&format!(
        "[Service]\nEnvironment=LONG={}\n",
        "x".repeat(1 << 20)
    ));
    fs::write(&file, text).expect("the edited unit");
    let systemd = env.systemd();
    systemd.reload().expect("Reload");
    let state = systemd.unit_file(UNIT).expect("the unit's file state");
    assert_ne!(
        state.load_state,
        sessctl::systemd::LoadState::Loaded,
        "systemd loaded the unit after all"
    );
    env.sessctl()
        .args(["disable", "web", "--purge"])
        .stdout(&format!(
            "{UNIT}: stopped, disabled and removed\nweb: config and state removed\n"
        ))
        .run();
    assert!(!file.exists());
    assert!(!env.product_file("web").exists());
    assert_eq!(
        systemd.unit_file(UNIT).expect("file state").load_state,
        sessctl::systemd::LoadState::NotFound
    );
}

/// The slice a package installs in the manager's search path serves every product: enable
/// writes no copy of it into the user's unit folder, and writes one when there is none.
#[test]
fn enable_writes_its_own_slice_only_when_none_is_installed() {
    let Some(env) = manager("slice") else {
        return;
    };
    // $XDG_DATA_HOME/systemd/user is in the user manager's search path, as
    // /usr/lib/systemd/user is, and writable by the test.
    let installed = env.var("XDG_DATA_HOME").join("systemd/user");
    fs::create_dir_all(&installed).expect("creating the folder");
    let slice = installed.join(sessctl::unit::SLICE_NAME);
    fs::write(&slice, sessctl::unit::SLICE_TEXT).expect("installing the slice");
    let own = env
        .config_home()
        .join("systemd/user")
        .join(sessctl::unit::SLICE_NAME);
    let enable = |product: &str| {
        env.sessctl()
            .args(["enable", product, "--", "sleep", "100000"])
            .stdout_read()
            .run();
    };
    enable("web");
    assert!(
        !own.exists(),
        "enable wrote a slice beside the installed one"
    );
    let fragment = std::process::Command::new("busctl")
        .envs(env.vars())
        .args(["--user", "get-property", "org.freedesktop.systemd1"])
        .arg("/org/freedesktop/systemd1/unit/app_2dsessctl_2eslice")
        .args(["org.freedesktop.systemd1.Unit", "FragmentPath"])
        .output()
        .expect("running busctl");
    assert_eq!(
        String::from_utf8_lossy(&fragment.stdout).trim(),
        format!("s \"{}\"", slice.display())
    );
    let details = env.systemd().details(UNIT).expect("details");
    assert!(details
        .control_group
        .ends_with("/app-sessctl.slice/sessctl-web.service"));

    fs::remove_file(&slice).expect("uninstalling the slice");
    enable("api");
    assert_eq!(
        fs::read_to_string(&own).expect("the slice enable writes"),
        sessctl::unit::SLICE_TEXT
    );
}

//! `sessctl doctor` against a private manager: every check once on the bad setup it exists
//! for (exactly that finding, exit 1) and once on the fixed setup (clean, exit 0).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{
    doctor_run as doctor, manager, session, status_json, tmux, unindent, wait_for, write_unit, Env,
    TmuxServer, SESSCTL,
};

const UNIT: &str = "sessctl-web.service";

fn user() -> String {
    let uid = nix::unistd::getuid();
    nix::unistd::User::from_uid(uid)
        .expect("user")
        .map_or(uid.to_string(), |u| u.name)
}

/// A private manager, a running product `web`, linger on, no KillUserProcesses, the memory
/// controller delegated, and a default tmux socket of the test's own.
fn healthy(label: &str) -> Option<Env> {
    let mut env = manager(label)?;
    let cgroups = env.scratch.join("cgroup");
    env.set("SESSCTL_CGROUP_ROOT", Some(cgroups.as_os_str()));
    delegate(&env, "cpu io memory pids");
    let linger = env.scratch.join("linger");
    fs::create_dir_all(&linger).expect("linger dir");
    fs::write(linger.join(user()), "").expect("linger flag");
    let tmpdir = env.scratch.join("tmuxtmp");
    fs::create_dir_all(&tmpdir).expect("tmux tmpdir");
    let conf = env.scratch.join("logind.conf");
    env.set("SESSCTL_LINGER_DIR", Some(linger.as_os_str()));
    env.set("SESSCTL_LOGIND_CONF", Some(conf.as_os_str()));
    env.set("TMUX_TMPDIR", Some(tmpdir.as_os_str()));
    env.sessctl()
        .args(["enable", "web", "--", "sleep", "100000"])
        .stdout(
            "sessctl-web.service: written, reloaded and enabled\nsessctl-web.service: started\n",
        )
        .run();
    Some(env)
}

/// The controllers doctor reads as delegated to the manager (`SESSCTL_CGROUP_ROOT`).
fn delegate(env: &Env, controllers: &str) {
    let file = controllers_file(env);
    fs::create_dir_all(file.parent().expect("parent")).expect("the manager's cgroup dir");
    fs::write(file, format!("{controllers}\n")).expect("cgroup.controllers");
}

fn controllers_file(env: &Env) -> PathBuf {
    let cgroup = env
        .systemd()
        .manager_cgroup()
        .expect("the manager's cgroup");
    let root = env.var("SESSCTL_CGROUP_ROOT");
    root.join(cgroup.trim_start_matches('/'))
        .join("cgroup.controllers")
}

fn ids(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["severity"] != "note")
        .map(|f| f["id"].as_str().expect("id").to_string())
        .collect()
}

/// Doctor finds exactly `expected` (notes aside), exits 6, and returns the findings.
#[track_caller]
fn finds(env: &Env, expected: &[&str]) -> Vec<Value> {
    let (code, report) = doctor(env);
    let mut found = ids(&report);
    found.sort();
    let mut want: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(found, want, "{report:#}");
    assert_eq!(code, 6);
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["severity"] != "note")
        .cloned()
        .collect()
}

#[track_caller]
fn clean(env: &Env) {
    let (code, report) = doctor(env);
    assert_eq!(ids(&report), Vec::<String>::new(), "{report:#}");
    assert_eq!((code, report["healthy"].as_bool()), (0, Some(true)));
}

fn text(finding: &Value) -> String {
    finding.to_string()
}

fn script(path: &Path, body: &str) -> PathBuf {
    fs::create_dir_all(path.parent().expect("parent")).expect("dir");
    fs::write(path, format!("#!/bin/sh\n{body}\n")).expect("script");
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod");
    path.to_path_buf()
}

/// Starts a tmux server from the test itself, outside the manager: on `socket`, or on the
/// default socket under `tmpdir`.
fn stray(socket: Option<&Path>, command: &[&str], tmpdir: &Path) -> TmuxServer {
    let mut cmd = Command::new("tmux");
    cmd.env("TMUX_TMPDIR", tmpdir);
    if let Some(socket) = socket {
        cmd.arg("-S").arg(socket);
    }
    let ok = cmd
        .args(["new-session", "-d", "-s", "main", "--"])
        .args(command)
        .status()
        .expect("tmux");
    assert!(ok.success());
    let default = tmpdir.join(format!("tmux-{}/default", nix::unistd::getuid()));
    let server = TmuxServer(socket.map_or(default, Path::to_path_buf));
    // tmux's exit status is no proof that its server answers yet.
    wait_for("the stray server's session", || {
        tmux(&server.0, &["has-session", "-t", "main"])
    });
    server
}

/// Runs `finding`'s fix as a user would; doctor is clean after it.
#[track_caller]
fn fixed_by(env: &Env, finding: &Value) {
    env.shell(finding["fix"].as_str().expect("fix"));
    clean(env);
}

/// Doctor comes back clean once the processes a fix ended have exited.
#[track_caller]
fn clean_once_gone(env: &Env) {
    wait_for("the killed processes to exit", || {
        (doctor(env).0 == 0).then_some(())
    });
    clean(env);
}

#[test]
fn a_healthy_setup_is_clean() {
    let Some(env) = healthy("dr-healthy") else {
        return;
    };
    clean(&env);
    env.sessctl()
        .args(["doctor"])
        .stdout("doctor: healthy (0 notes)\n")
        .run();
}

#[test]
fn an_edited_unit_is_drift() {
    let Some(env) = healthy("dr-drift") else {
        return;
    };
    let file = env.unit_file("web");
    let edited = fs::read_to_string(&file)
        .expect("unit")
        .replace("KillMode=control-group", "KillMode=process");
    fs::write(&file, edited).expect("editing");
    env.systemd().reload().expect("Reload");
    let f = finds(&env, &["unit-drift"]);
    assert!(text(&f[0]).contains("KillMode=process"), "{}", text(&f[0]));
    assert!(text(&f[0]).contains(&format!("{}:", file.display())));
    fixed_by(&env, &f[0]);
}

#[test]
fn a_drop_in() {
    let Some(env) = healthy("dr-dropin") else {
        return;
    };
    let dir = env.config_home().join("systemd/user/sessctl-web.service.d");
    fs::create_dir_all(&dir).expect("dir");
    fs::write(dir.join("override.conf"), "[Service]\nKillMode=none\n").expect("drop-in");
    env.systemd().reload().expect("Reload");
    let f = finds(&env, &["unit-dropin"]);
    assert!(text(&f[0]).contains("override.conf"));
    fixed_by(&env, &f[0]);
}

#[test]
fn a_unit_not_enabled() {
    let Some(env) = healthy("dr-enabled") else {
        return;
    };
    env.systemd().disable(UNIT).expect("DisableUnitFiles");
    env.systemd().reload().expect("Reload");
    let f = finds(&env, &["unit-not-enabled"]);
    fixed_by(&env, &f[0]);
}

#[test]
fn a_missing_unit_file() {
    let Some(env) = healthy("dr-nounit") else {
        return;
    };
    let file = env.unit_file("web");
    fs::remove_file(&file).expect("removing the unit file");
    env.systemd().reload().expect("Reload");
    let f = finds(&env, &["unit-missing"]);
    assert!(
        text(&f[0]).contains(&format!("{} does not exist", file.display())),
        "{}",
        text(&f[0])
    );
    fixed_by(&env, &f[0]);
}

#[test]
fn a_unit_file_newer_than_systemd_read() {
    let Some(env) = healthy("dr-reload") else {
        return;
    };
    let file = fs::File::options()
        .append(true)
        .open(env.unit_file("web"))
        .expect("unit");
    file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
        .expect("touch");
    let f = finds(&env, &["unit-needs-reload"]);
    fixed_by(&env, &f[0]);
}

/// Enables `web` again with a tmux that fails at once, so its unit fails.
fn break_tmux(env: &Env) {
    let fake = script(&env.scratch.join("fakebin/tmux"), "exit 1");
    let path = format!(
        "{}:{}",
        fake.parent().expect("dir").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    env.sessctl()
        .args(["stop", "web"])
        .stdout("sessctl-web.service: stopped\n")
        .run();
    env.sessctl()
        .args(["enable", "web", "--", "sleep", "100000"])
        .env("PATH", path)
        .status(1)
        .stderr("sessctl: starting sessctl-web.service failed: job failed, Result=exit-code, ExecMainStatus=1\n").run();
}

/// Repairs `web`'s unit with the real tmux. Stopped first: systemd retries the broken unit
/// every 2 s on its own, so without the stop, whether its own retry or the resume brings the
/// repaired unit up would be a race, and with it the resume's verdict.
fn repair_tmux(env: &Env) {
    env.sessctl()
        .args(["stop", "web"])
        .stdout("sessctl-web.service: stopped\n")
        .run();
    env.sessctl()
        .args(["enable", "web", "--", "sleep", "100000"])
        .stdout(
            "sessctl-web.service: written, reloaded and enabled\nsessctl-web.service: started\n",
        )
        .run();
    env.sessctl()
        .args(["resume", "web", "--no-attach"])
        .stdout_redacted("sessctl-web.service: survived, up [uptime] (invocation [invocation], main PID [pid], agent PID [pid])\n")
        .run();
}

#[test]
fn a_failed_unit() {
    let Some(env) = healthy("dr-failed") else {
        return;
    };
    break_tmux(&env);
    wait_for("the unit to wait for its restart", || {
        (env.systemd().details(UNIT).expect("details").sub_state
            == sessctl::systemd::SubState::AutoRestart)
            .then_some(())
    });
    let f = finds(&env, &["unit-failed"]);
    assert!(text(&f[0]).contains("Result=exit-code"), "{}", text(&f[0]));
    repair_tmux(&env);
    clean(&env);
}

#[test]
fn a_unit_at_its_start_limit() {
    let Some(env) = healthy("dr-limit") else {
        return;
    };
    session::restart_until_start_limit(&env, "web");
    let f = finds(&env, &["unit-start-limit"]);
    // Status says so too (the dashboard's notifier reads it there, for every host).
    assert_eq!(status_json(&env)["start_limit_hit"], true);
    let text = env
        .sessctl()
        .args(["status", "web"])
        .status_any()
        .stdout_read()
        .run();
    let hit = "  start limit      hit: systemd stopped its restarts; `sessctl resume web` starts it again\n";
    assert!(String::from_utf8_lossy(&text.stdout).contains(hit));
    fixed_by(&env, &f[0]);
    assert_eq!(status_json(&env)["start_limit_hit"], false);
}

#[test]
fn a_pending_restart() {
    let Some(env) = healthy("dr-pending") else {
        return;
    };
    env.sessctl()
        .args(["enable", "web", "--env", "NEW=1", "--", "sleep", "100000"])
        .stdout("sessctl-web.service: rewritten, reloaded and enabled\nsessctl-web.service: restart pending; the live session keeps running until `sessctl restart web`\n").run();
    let f = finds(&env, &["restart-pending"]);
    fixed_by(&env, &f[0]);
}

#[test]
fn linger_off() {
    let Some(env) = healthy("dr-linger") else {
        return;
    };
    let flag = env.scratch.join("linger").join(user());
    fs::remove_file(&flag).expect("linger off");
    let f = finds(&env, &["linger-off"]);
    assert_eq!(f[0]["fix"], format!("loginctl enable-linger {}", user()));
    fs::write(&flag, "").expect("what enable-linger does");
    clean(&env);
}

/// Doctor's report as a person reads it: each finding with its evidence and fix, worst and
/// then by id, and the count.
#[test]
fn linger_off_and_kill_user_processes_in_the_human_report() {
    let Some(env) = healthy("dr-human") else {
        return;
    };
    fs::remove_file(env.scratch.join("linger").join(user())).expect("linger off");
    fs::write(
        env.scratch.join("logind.conf"),
        "[Login]\nKillUserProcesses=yes\n",
    )
    .expect("conf");
    let user = user();
    env.sessctl()
        .args(["doctor"])
        .status(6)
        .stdout_redacted(&unindent(&format!(
            "
            warning[kill-user-processes]: logind kills every process of a login session at logout (KillUserProcesses=yes): a session launched from a terminal or SSH login, rather than by sessctl, dies with it
              evidence: [test]/scratch/logind.conf:2: KillUserProcesses=yes
              fix: set KillUserProcesses=no in that file, or add {user} to KillExcludeUsers=, then `systemctl restart systemd-logind`; and launch sessions only through sessctl
            warning[linger-off]: linger is off for {user}: the user manager, and every session in it, stops at logout and does not start at boot
              evidence: [test]/scratch/linger/{user} does not exist
              fix: loginctl enable-linger {user}
            doctor: 0 errors, 2 warnings, 0 notes
            "
        )))
        .run();
}

/// Without the memory controller, a product's memory limit does nothing: a warning; with no
/// limit set it is only a note, which leaves the machine healthy.
#[test]
fn memory_not_delegated() {
    let Some(env) = healthy("dr-memory") else {
        return;
    };
    delegate(&env, "cpu io pids");
    let dir = env.config_home().join("systemd/user/sessctl-web.service.d");
    fs::create_dir_all(&dir).expect("dir");
    fs::write(dir.join("memory.conf"), "[Service]\nMemoryMax=1G\n").expect("drop-in");
    env.systemd().reload().expect("Reload");
    let f = finds(&env, &["memory-not-delegated", "unit-dropin"]);
    let memory = f
        .iter()
        .find(|f| f["id"] == "memory-not-delegated")
        .expect("the memory finding");
    assert_eq!(
        memory["evidence"],
        serde_json::json!([
            format!("{}: \"cpu io pids\"", controllers_file(&env).display()),
            "sessctl-web.service sets MemoryHigh= or MemoryMax="
        ]),
        "{memory:#}"
    );
    fs::remove_file(dir.join("memory.conf")).expect("removing the limit");
    env.systemd().reload().expect("Reload");
    env.sessctl()
        .args(["doctor"])
        .stdout_redacted(&unindent(
            "
            note[memory-not-delegated]: the memory controller is not delegated to the user manager: MemoryHigh= and MemoryMax= in user units do nothing
              evidence: [test]/scratch/cgroup/[testbed]/cgroup.controllers: \"cpu io pids\"
              fix: as root: `systemctl edit user@.service`, add `[Service]` and `Delegate=cpu cpuset io memory pids`, then log in again
            doctor: healthy (1 notes)
            ",
        ))
        .run();
    // What the fix does: the controller reaches the manager.
    delegate(&env, "cpu io memory pids");
    let (_, report) = doctor(&env);
    assert_eq!(report["findings"], serde_json::json!([]), "{report:#}");
}

/// A change killed midway (here a stop, after it recorded its intent) is named with the command
/// that finishes it.
#[test]
fn an_interrupted_change() {
    let Some(env) = healthy("dr-interrupted") else {
        return;
    };
    let killed = env
        .sessctl()
        .args(["stop", "web"])
        .env(sessctl::fault::VARIABLE, "stop:after-intent")
        .status_any()
        .run();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&killed.status),
        Some(9),
        "the fault point was not reached"
    );
    let f = finds(&env, &["change-interrupted"]);
    assert_eq!(f[0]["fix"], "sessctl stop web", "{:#}", f[0]);
    fixed_by(&env, &f[0]);
}

#[test]
fn kill_user_processes() {
    let Some(env) = healthy("dr-kup") else { return };
    let conf = env.scratch.join("logind.conf");
    fs::write(
        &conf,
        "[Login]\n#KillUserProcesses=no\nKillUserProcesses=yes\n",
    )
    .expect("conf");
    let f = finds(&env, &["kill-user-processes"]);
    assert!(
        text(&f[0]).contains(&format!("{}:3: KillUserProcesses=yes", conf.display())),
        "{}",
        text(&f[0])
    );
    // A drop-in wins over the main file.
    let dropins = env.scratch.join("logind.conf.d");
    fs::create_dir_all(&dropins).expect("dir");
    fs::write(
        dropins.join("50-keep.conf"),
        "[Login]\nKillUserProcesses=no\n",
    )
    .expect("drop-in");
    clean(&env);
    // A drop-in doctor cannot read (here a directory where a file belongs) could hold the
    // setting: it is said, never skipped.
    let unreadable = dropins.join("60-unreadable.conf");
    fs::create_dir_all(&unreadable).expect("a directory for a drop-in");
    let f = finds(&env, &["logind-conf-unreadable"]);
    assert!(
        text(&f[0]).contains(&format!("{}: Is a directory", unreadable.display())),
        "{}",
        text(&f[0])
    );
    fs::remove_dir(&unreadable).expect("removing it");
    clean(&env);
}

#[test]
fn retention_of_a_pinned_conversation() {
    let Some(env) = healthy("dr-retention") else {
        return;
    };
    // The product's environment decides where its agent keeps its settings, not the caller's.
    let claude_dir = env.scratch.join("claude");
    // A claude product: its stand-in ignores the conversation flags it is given.
    let agent = script(&env.scratch.join("ai/claude"), "exec sleep 100000");
    env.sessctl()
        .args(["enable", "ai", "--env"])
        .arg(format!("CLAUDE_CONFIG_DIR={}", claude_dir.display()))
        .arg("--")
        .arg(agent.as_os_str())
        .stdout_redacted("sessctl-ai.service: pinned to conversation [uuid]\nsessctl-ai.service: written, reloaded and enabled\nsessctl-ai.service: started\n").run();
    let f = finds(&env, &["retention"]);
    assert!(
        text(&f[0]).contains("cleanupPeriodDays=unset (30)"),
        "{}",
        text(&f[0])
    );
    fs::create_dir_all(&claude_dir).expect("claude dir");
    fs::write(
        claude_dir.join("settings.json"),
        "{\"cleanupPeriodDays\": 99999}",
    )
    .expect("settings");
    clean(&env);
}

#[test]
fn tmux_missing() {
    let Some(env) = healthy("dr-notmux") else {
        return;
    };
    let empty = env.scratch.join("empty");
    fs::create_dir_all(&empty).expect("dir");
    let out = env
        .sessctl()
        .args(["doctor", "--json"])
        .env("PATH", &empty)
        .status(6)
        .stdout_read()
        .run();
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(ids(&report), ["tmux-missing"]);
    clean(&env);
}

#[test]
fn tmux_too_old() {
    let Some(env) = healthy("dr-oldtmux") else {
        return;
    };
    let old = script(&env.scratch.join("oldbin/tmux"), "echo 'tmux 3.1'");
    let path = format!(
        "{}:{}",
        old.parent().expect("dir").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = env
        .sessctl()
        .args(["doctor", "--json"])
        .env("PATH", path)
        .status(6)
        .stdout_read()
        .run();
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(ids(&report), ["tmux-too-old"]);
    assert!(report.to_string().contains("tmux 3.1"));
    clean(&env);
}

#[test]
fn an_unreachable_bus_and_an_unset_runtime_dir() {
    let Some(mut env) = healthy("dr-bus") else {
        return;
    };
    let bus = env.var("DBUS_SESSION_BUS_ADDRESS").into_os_string();
    env.set(
        "DBUS_SESSION_BUS_ADDRESS",
        Some("unix:path=/nonexistent/bus".as_ref()),
    );
    finds(&env, &["bus-unreachable"]);
    env.set("DBUS_SESSION_BUS_ADDRESS", Some(&bus));
    let runtime = env.var("XDG_RUNTIME_DIR").into_os_string();
    env.set("XDG_RUNTIME_DIR", None);
    finds(&env, &["runtime-dir-unset"]);
    env.set("XDG_RUNTIME_DIR", Some(&runtime));
    clean(&env);
}

/// A launcher unit, written but never started: doctor judges its configuration.
fn launcher(env: &Env, service: &str) {
    write_unit(env, "launcher.service", service);
}

fn resume_instead(env: &Env) {
    launcher(env, &format!("Type=simple\nExecStart=/bin/sh -c '\"$$0\" resume web --no-attach --json; exec sleep 100000' {SESSCTL}"));
}

#[test]
fn a_launcher_that_forks_a_session() {
    let Some(env) = healthy("dr-forks") else {
        return;
    };
    let sock = env.scratch.join("l.sock");
    launcher(&env, &format!("Type=simple\nExecStart=/bin/sh -c 'tmux -S {} new-session -d -s main claude; exec sleep 100000'", sock.display()));
    let f = finds(&env, &["launcher-forks-session"]);
    assert!(text(&f[0]).contains("launcher.service:"), "{}", text(&f[0]));
    assert!(text(&f[0]).contains("Type=simple"));
    resume_instead(&env);
    clean(&env);
}

#[test]
fn a_transient_launcher() {
    let Some(env) = healthy("dr-transient") else {
        return;
    };
    let sock = env.scratch.join("t.sock");
    let status = Command::new("systemd-run")
        .args([
            "--user",
            "--unit=launch-now",
            "-p",
            "Type=simple",
            "/bin/sh",
            "-c",
        ])
        .arg(format!(
            "tmux -S {} new-session -d -s main sleep 100000; exec sleep 100000",
            sock.display()
        ))
        .envs(env.bed.as_ref().expect("a manager").env())
        .status()
        .expect("systemd-run (apt-get install systemd)");
    assert!(status.success());
    let f = finds(&env, &["launcher-forks-session"]);
    assert!(
        text(&f[0]).contains("systemd/transient/launch-now.service:"),
        "{}",
        text(&f[0])
    );
    assert!(
        text(&f[0]).contains("creates this transient unit"),
        "{}",
        text(&f[0])
    );
    env.systemd()
        .stop("launch-now.service")
        .expect("stopping it");
    clean(&env);
}

#[test]
fn a_oneshot_launcher_that_remains_after_exit() {
    let Some(env) = healthy("dr-oneshot") else {
        return;
    };
    let sock = env.scratch.join("l.sock");
    launcher(&env, &format!("Type=oneshot\nRemainAfterExit=yes\nExecStart=/usr/bin/tmux -S {} new-session -d -s main claude", sock.display()));
    finds(&env, &["launcher-remain-after-exit"]);
    resume_instead(&env);
    clean(&env);
}

#[test]
fn a_launcher_with_killmode_none() {
    let Some(env) = healthy("dr-killmode") else {
        return;
    };
    let sock = env.scratch.join("l.sock");
    let exec = format!(
        "Type=forking\nExecStart=/usr/bin/tmux -S {} new-session -d -s main claude",
        sock.display()
    );
    launcher(&env, &format!("{exec}\nKillMode=none"));
    let f = finds(&env, &["launcher-killmode"]);
    assert!(
        text(&f[0]).contains("launcher.service:5: KillMode=none"),
        "{}",
        text(&f[0])
    );
    launcher(&env, &format!("{exec}\nKillMode=control-group"));
    clean(&env);
}

#[test]
fn a_launcher_on_the_default_socket() {
    let Some(env) = healthy("dr-defsock") else {
        return;
    };
    launcher(
        &env,
        "Type=forking\nExecStart=/usr/bin/tmux new-session -d -s main claude",
    );
    finds(&env, &["launcher-default-socket"]);
    let sock = env.scratch.join("l.sock");
    launcher(
        &env,
        &format!(
            "Type=forking\nExecStart=/usr/bin/tmux -S {} new-session -d -s main claude",
            sock.display()
        ),
    );
    clean(&env);
}

#[test]
fn a_resume_script_that_restarts_the_session() {
    let Some(env) = healthy("dr-restart") else {
        return;
    };
    let resume = script(
        &env.scratch.join("resume.sh"),
        "systemctl --user restart sessctl-web.service",
    );
    launcher(
        &env,
        &format!("Type=oneshot\nExecStart={}", resume.display()),
    );
    let f = finds(&env, &["launcher-restarts-session"]);
    assert!(
        text(&f[0]).contains(&format!("{}:2: systemctl --user restart", resume.display())),
        "{}",
        text(&f[0])
    );
    script(&resume, &format!("{SESSCTL} resume web --no-attach --json"));
    clean(&env);
}

#[test]
fn a_stray_server_on_the_products_socket() {
    let Some(env) = healthy("dr-stray") else {
        return;
    };
    env.sessctl()
        .args(["stop", "web"])
        .stdout("sessctl-web.service: stopped\n")
        .run();
    // What an attach without -N does when the session is down: a server in the caller's cgroup.
    let socket = env.socket("web");
    fs::create_dir_all(socket.parent().expect("dir")).expect("runtime dir");
    let server = stray(Some(&socket), &["sleep", "100000"], &env.var("TMUX_TMPDIR"));
    let f = finds(&env, &["process-outside-unit"]);
    assert!(
        text(&f[0]).contains("dies with the terminal or login that started it"),
        "{}",
        text(&f[0])
    );
    // A start never joins the stranger's server, which would pass its session off as the unit's.
    env.sessctl()
        .args(["resume", "web", "--no-attach"])
        .status(1)
        .stderr_redacted("sessctl: a tmux server outside sessctl-web.service listens on the product's socket [runtime]/sessctl/web/tmux.sock; `sessctl doctor` names its process: stop it, then try again\n").run();
    // The refusal left both alone: the unit is still down, the stranger's session still runs.
    assert!(!env.systemd().status(UNIT).expect("status").is_running());
    assert_eq!(
        tmux(
            &socket,
            &["list-panes", "-t", "main", "-F", "#{pane_current_command}"]
        )
        .as_deref(),
        Some("sleep\n")
    );
    drop(server);
    env.sessctl().args(["resume", "web", "--no-attach"]).stdout_redacted("sessctl-web.service: started (invocation [invocation], main PID [pid], agent PID [pid])\n").run();
    clean_once_gone(&env);
}

#[test]
fn a_dashboard_with_the_tmux_server_in_its_cgroup() {
    let Some(env) = healthy("dr-dashboard") else {
        return;
    };
    env.sessctl()
        .args(["stop", "web"])
        .stdout("sessctl-web.service: stopped\n")
        .run();
    let socket = env.socket("web");
    write_unit(
        &env,
        "dashboard.service",
        &format!(
            "Type=simple\nExecStart=/bin/sh -c 'mkdir -p \"$$(dirname $$0)\"; tmux -S \"$$0\" new-session -d -s main sleep 100000; exec sleep 100000' {}",
            socket.display()
        ),
    );
    env.systemd()
        .start("dashboard.service")
        .expect("starting the dashboard");
    wait_for("the dashboard's session", || {
        tmux(&socket, &["has-session", "-t", "main"])
    });
    let f = finds(&env, &["launcher-forks-session", "process-outside-unit"]);
    let process = f
        .iter()
        .find(|f| f["id"] == "process-outside-unit")
        .expect("the process finding");
    assert!(text(process).contains("runs in dashboard.service, not in sessctl-web.service: it dies when dashboard.service stops"), "{}", text(process));
    env.systemd()
        .stop("dashboard.service")
        .expect("stopping the dashboard");
    write_unit(
        &env,
        "dashboard.service",
        &format!("Type=simple\nExecStart=/bin/sh -c '\"$$0\" resume web --no-attach --json; exec sleep 100000' {SESSCTL}"),
    );
    env.systemd()
        .start("dashboard.service")
        .expect("starting the fixed dashboard");
    wait_for("the fixed dashboard's session", || {
        env.systemd()
            .status(UNIT)
            .expect("status")
            .is_running()
            .then_some(())
    });
    clean(&env);
}

#[test]
fn an_agent_on_the_default_tmux_socket() {
    let Some(env) = healthy("dr-defagent") else {
        return;
    };
    let agent = script(&env.scratch.join("agents/claude"), "sleep 100000 & wait");
    let server = stray(
        None,
        &[agent.to_str().expect("utf-8")],
        &env.var("TMUX_TMPDIR"),
    );
    let f = finds(&env, &["default-socket-agent"]);
    assert!(
        text(&f[0]).contains("an agent (claude, PID "),
        "{}",
        text(&f[0])
    );
    assert!(
        text(&f[0]).contains("sessctl enable PRODUCT --dir"),
        "{}",
        text(&f[0])
    );
    drop(server);
    clean_once_gone(&env);
}

/// Codex 0.171's app-server daemon serves every conversation of its `CODEX_HOME`, wherever it
/// was started (../shared/notes/research/codex-gemini-observed.md). A stand-in, because the real
/// daemon copies 430 MB of itself into the home before it starts, and what doctor reads is only
/// its command line, environment and cgroup: a `codex` that forks `codex app-server ...
/// --managed-daemon` in its product's unit, as the real one does without `--no-daemon`, and the
/// same daemon started from the test's own shell, outside every unit, with a product's home.
#[test]
fn an_agents_shared_server_in_a_products_unit_and_outside_every_unit() {
    let Some(env) = healthy("dr-daemon") else {
        return;
    };
    let codex = script(
        &env.scratch.join("bin/codex"),
        "case \"$1\" in app-server) sleep 100000 & wait; exit;; esac\n[ -n \"$FORK_DAEMON\" ] && setsid \"$0\" app-server --listen unix:// --managed-daemon &\nexec sleep 100000",
    );
    env.sessctl()
        .args(["enable", "cx", "--env", "FORK_DAEMON=1", "--"])
        .arg(&codex)
        .stdout_read()
        .run();
    let f = wait_for("doctor to see the daemon in cx's unit", || {
        let (_, report) = doctor(&env);
        (ids(&report) == ["agent-shared-server"]).then_some(report)
    });
    let finding = &f["findings"][0];
    assert_eq!(
        (finding["product"].as_str(), finding["unit"].as_str()),
        (Some("cx"), Some("sessctl-cx.service")),
        "{finding:#}"
    );
    assert!(
        text(finding).contains("`sessctl stop cx` stops it under every other product using it"),
        "{finding:#}"
    );
    assert!(
        text(finding).contains("`sessctl restart cx`"),
        "{finding:#}"
    );

    // Without the daemon, cx is a codex product like any other; a daemon of its home started
    // in a terminal serves it from there.
    let home = env.scratch.join("codex-home");
    let codex_home = format!("CODEX_HOME={}", home.display());
    env.sessctl()
        .args(["enable", "cx", "--env", &codex_home, "--"])
        .arg(&codex)
        .stdout_read()
        .run();
    // The fix doctor gave: the restart ends the unit's whole cgroup, the daemon with it.
    env.sessctl().args(["restart", "cx"]).stdout_read().run();
    clean_once_gone(&env);
    let manager_home = (env
        .systemd()
        .environment()
        .expect("the manager's environment"))
    .into_iter()
    .find_map(|line| line.strip_prefix("HOME=").map(str::to_string))
    .expect("the manager's HOME");
    let mut outside = Command::new(&codex)
        .args(["app-server", "--listen", "unix://", "--managed-daemon"])
        .env("CODEX_HOME", &home)
        .env("HOME", manager_home)
        .process_group(0)
        .spawn()
        .expect("starting the daemon outside every unit");
    let f = finds(&env, &["agent-shared-server"]);
    assert!(
        text(&f[0]).contains("lives in no unit of the user manager: every product using it dies with the terminal or login that started it"),
        "{}",
        text(&f[0])
    );
    let fix = format!("kill {}, then `sessctl restart` cx", outside.id());
    assert!(text(&f[0]).contains(&fix), "{}", text(&f[0]));
    // The whole group: the stand-in's own sleep would outlive it, holding the test's output.
    nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(outside.id() as i32),
        nix::sys::signal::SIGKILL,
    )
    .expect("killing the daemon");
    outside.wait().expect("reaping the daemon");
    clean_once_gone(&env);
}

//! `sessctl gc`: each kind of leftover is removed (or, dry, described), a product config
//! without a unit file only with --yes, and a live session next to them keeps its identity.

use sessctl::systemd::ActiveState;
use std::fs;
use std::os::unix::net::UnixListener;

use serde_json::Value;

use crate::support::{doctor_json, manager, wait_for, write_unit, Env};

fn identity(env: &Env) -> Value {
    let out = env
        .sessctl()
        .args(["resume", "web", "--no-attach", "--json"])
        .stdout_read()
        .run();
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(
        matches!(v["verdict"].as_str(), Some("survived" | "started")),
        "{v:#}"
    );
    v["after"].clone()
}

#[test]
fn gc_removes_each_leftover_and_never_a_live_session() {
    let Some(env) = manager("gc") else {
        return;
    };
    let systemd = env.systemd();
    env.sessctl()
        .args(["enable", "web", "--", "sleep", "100000"])
        .stdout(
            "sessctl-web.service: written, reloaded and enabled\nsessctl-web.service: started\n",
        )
        .run();
    let live = identity(&env);

    // A failed sessctl unit: restarted until systemd's start limit refuses it.
    env.sessctl()
        .args(["enable", "limit", "--", "sleep", "100000"])
        .stdout("sessctl-limit.service: written, reloaded and enabled\nsessctl-limit.service: started\n").run();
    wait_for("the start limit", || {
        let _ = systemd.restart("sessctl-limit.service");
        (systemd
            .status("sessctl-limit.service")
            .expect("status")
            .active_state
            == ActiveState::Failed)
            .then_some(())
    });
    // A failed unit that is not sessctl's stays as it is.
    write_unit(&env, "other.service", "Type=oneshot\nExecStart=/bin/false");
    let _ = systemd.start("other.service");
    // A sessctl unit file whose product config is gone.
    let unit_dir = env.config_home().join("systemd/user");
    let orphan = unit_dir.join("sessctl-orphan.service");
    fs::copy(env.unit_file("web"), &orphan).expect("orphan unit");
    systemd.reload().expect("Reload");
    // A product config whose unit file is gone.
    let stale = env.product_file("stale");
    let text = fs::read_to_string(env.product_file("web"))
        .expect("config")
        .replace("name = \"web\"", "name = \"stale\"");
    fs::write(&stale, text).expect("stale config");
    // A socket nobody listens on.
    let ghost = env.var("XDG_RUNTIME_DIR").join("sessctl/ghost");
    fs::create_dir_all(&ghost).expect("ghost dir");
    drop(UnixListener::bind(ghost.join("tmux.sock")).expect("a socket"));
    // Lock and state of a product that no longer exists.
    let state = env.var("XDG_STATE_HOME").join("sessctl");
    let gone = state.join("products/gone");
    fs::create_dir_all(&gone).expect("state dir");
    fs::write(gone.join("events.jsonl"), "").expect("events");
    fs::write(state.join("locks/gone.lock"), "").expect("lock");
    fs::write(state.join("locks/lonely.lock"), "").expect("a lone lock");
    // What the user owns stays: the pin and snapshots of a product that is gone, and the
    // snapshot a repair by file made.
    let kept = state.join("products/kept");
    fs::create_dir_all(kept.join("snapshots")).expect("kept state");
    fs::write(kept.join("pin.json"), r#"{"session_id":"x"}"#).expect("a pin");
    fs::write(kept.join("snapshots/s-x.jsonl"), "{}\n").expect("a snapshot");
    let loose = state.join("snapshots/20261123T000000.000000000Z-x.jsonl");
    fs::create_dir_all(loose.parent().expect("dir")).expect("loose dir");
    fs::write(&loose, "{}\n").expect("a loose snapshot");
    // An agent transcript is never sessctl's to remove.
    let transcript = env.var("HOME").join(".claude/projects/-src-web/abc.jsonl");
    fs::create_dir_all(transcript.parent().expect("dir")).expect("dir");
    fs::write(&transcript, "{}\n").expect("transcript");

    let kept_line = format!("kept state: {} (holds the product's pin or snapshots, which are yours; `sessctl disable kept --purge` removes them)\n", kept.display());
    let expected = |verb: &str, config: &str| {
        format!(
            "{reset} reset-failed: sessctl-limit.service\n\
             {verb} unit-file: {orphan}\n\
             {config}\
             {verb} socket: {socket}\n\
             {verb} state: {gone}\n\
             {kept_line}\
             {verb} state: {lock}\n",
            reset = if verb == "removed" {
                "reset"
            } else {
                "would reset"
            },
            orphan = orphan.display(),
            socket = ghost.join("tmux.sock").display(),
            gone = gone.display(),
            kept_line = kept_line,
            lock = state.join("locks/lonely.lock").display(),
        )
    };
    env.sessctl()
        .args(["gc", "--dry-run"])
        .stdout(&format!(
            "{}gc: 6 leftovers would be removed (dry run)\n",
            expected(
                "would remove",
                &format!("would remove config: {}\n", stale.display())
            )
        ))
        .run();
    assert!(orphan.exists() && stale.exists() && ghost.exists() && gone.exists());

    // No terminal and no --yes: the config is kept, everything else goes.
    env.sessctl()
        .args(["gc"])
        .stdout(&format!(
            "{}gc: 5 leftovers removed\n",
            expected(
                "removed",
                &format!(
                    "kept config: {} (has no unit file; pass --yes to remove it, or `sessctl enable` it again)\n",
                    stale.display()
                )
            )
        ))
        .run();
    assert!(!orphan.exists() && !ghost.exists() && !gone.exists());
    assert!(kept.join("pin.json").exists() && kept.join("snapshots/s-x.jsonl").exists());
    assert!(loose.exists(), "gc removed a repair's snapshot");
    for lock in ["gone", "lonely", "orphan", "ghost"] {
        assert!(
            !state.join(format!("locks/{lock}.lock")).exists(),
            "{lock}.lock left behind"
        );
    }
    assert_eq!(
        systemd
            .status("sessctl-limit.service")
            .expect("status")
            .active_state,
        ActiveState::Inactive
    );
    assert_eq!(
        systemd
            .status("other.service")
            .expect("status")
            .active_state,
        ActiveState::Failed
    );
    assert!(stale.exists());

    env.sessctl()
        .args(["gc", "--yes"])
        .stdout(&format!(
            "removed config: {}\n{kept_line}gc: 1 leftovers removed\n",
            stale.display()
        ))
        .run();
    assert!(!stale.exists());
    env.sessctl()
        .args(["gc"])
        .stdout(&format!("{kept_line}gc: nothing to remove\n"))
        .run();

    assert!(transcript.exists(), "gc touched an agent transcript");
    assert_eq!(identity(&env), live, "gc changed the live session");
    let log = fs::read_to_string(state.join("gc.jsonl")).expect("gc log");
    assert_eq!(log.lines().count(), 6, "{log}");
    assert!(log.contains("\"verdict\":\"removed unit-file\""), "{log}");
}

#[test]
fn gc_keeps_the_socket_of_a_running_session() {
    let Some(env) = manager("gcsock") else {
        return;
    };
    env.sessctl()
        .args(["enable", "web", "--", "sleep", "100000"])
        .stdout(
            "sessctl-web.service: written, reloaded and enabled\nsessctl-web.service: started\n",
        )
        .run();
    let live = identity(&env);
    env.sessctl().args(["gc", "--json"]).stdout_read().run();
    let out = env.sessctl().args(["gc", "--json"]).stdout_read().run();
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["actions"], Value::Array(vec![]));
    assert!(env.socket("web").exists());
    assert_eq!(identity(&env), live);
}

/// A sessctl killed mid-write leaves `.NAME.PID.tmp` beside the file it was replacing: doctor
/// names each, gc removes them and nothing else, and one whose writer still runs stays.
#[test]
fn files_a_killed_write_left_are_named_by_doctor_and_removed_by_gc() {
    let Some(env) = manager("gctmp") else {
        return;
    };
    env.sessctl()
        .args(["enable", "web", "--no-start", "--", "sleep", "100000"])
        .stdout_read()
        .run();
    // No process has PID 4194304 (above the kernel's pid_max); this test's own PID runs.
    let dead = 4_194_304;
    let state = env.var("XDG_STATE_HOME").join("sessctl/products/web");
    let left = [
        state.join(format!(".session.json.{dead}.tmp")),
        env.config_home()
            .join(format!("sessctl/products/.web.toml.{dead}.tmp")),
        env.config_home()
            .join(format!("systemd/user/.sessctl-web.service.{dead}.tmp")),
    ];
    let writing = state.join(format!(".events.jsonl.{}.tmp", std::process::id()));
    for file in left.iter().chain([&writing]) {
        fs::write(file, "half").expect("writing a temp file");
    }
    let doctor = doctor_json(&env);
    let mut named: Vec<String> = (doctor["findings"].as_array().expect("findings").iter())
        .filter(|f| f["id"] == "temp-file-left")
        .map(|f| f["evidence"][0].as_str().expect("a path").to_string())
        .collect();
    named.sort();
    let mut expected: Vec<String> = left.iter().map(|f| f.display().to_string()).collect();
    expected.sort();
    assert_eq!(named, expected, "{doctor:#}");

    let out = env.sessctl().args(["gc", "--json"]).stdout_read().run();
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let mut removed: Vec<String> = (report["actions"].as_array().expect("actions").iter())
        .filter(|a| a["kind"] == "temp-file" && a["outcome"] == "removed")
        .map(|a| a["target"].as_str().expect("a path").to_string())
        .collect();
    removed.sort();
    assert_eq!(removed, expected, "{report:#}");
    assert!(left.iter().all(|f| !f.exists()));
    assert!(
        writing.exists(),
        "a temp file whose writer runs was removed"
    );
    // The files they were to replace are whole.
    env.sessctl().args(["status", "web"]).stdout_read().run();
    assert!(env.unit_file("web").exists() && env.product_file("web").exists());
}

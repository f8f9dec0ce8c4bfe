//! `sessctl gc`: each kind of leftover is removed (or, dry, described), a product config
//! without a unit file only with --yes, and a live session next to them keeps its identity.

use sessctl::systemd::ActiveState;
use std::fs;
use std::os::unix::fs::PermissionsExt;
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
            "{reset} failed unit: sessctl-limit.service\n\
             {verb} unit file: {orphan}\n\
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
            "removed config: {}\n{kept_line}gc: 1 leftover removed\n",
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

fn lock(env: &Env, product: &str) -> std::path::PathBuf {
    env.var("XDG_STATE_HOME")
        .join(format!("sessctl/locks/{product}.lock"))
}

fn state_dir(env: &Env, product: &str) -> std::path::PathBuf {
    env.var("XDG_STATE_HOME")
        .join(format!("sessctl/products/{product}"))
}

/// `enable; disable; gc --yes` leaves nothing of a product but what is the user's (a pinned
/// product's pin), and gc says exactly what it removed and kept, `--dry-run` first.
#[test]
fn gc_leaves_nothing_of_a_disabled_product_and_says_what_it_did() {
    let Some(env) = manager("gcdisabled") else {
        return;
    };
    let agent = env.scratch.join("agent");
    fs::write(&agent, "#!/bin/sh\nexec sleep 100000\n").expect("the stand-in");
    fs::set_permissions(&agent, fs::Permissions::from_mode(0o755)).expect("chmod");
    env.sessctl()
        .args(["enable", "web", "--", "sleep", "100000"])
        .stdout_read()
        .run();
    env.sessctl()
        .args(["enable", "pinned", "--agent", "claude", "--"])
        .arg(&agent)
        .stdout_read()
        .run();
    for product in ["pinned", "web"] {
        env.sessctl()
            .args(["disable", product])
            .stdout(&format!(
                "sessctl-{product}.service: stopped, disabled and removed\n"
            ))
            .run();
    }
    let (web, pinned) = (state_dir(&env, "web"), state_dir(&env, "pinned"));
    assert!(
        web.join("last-exit.json").exists() && lock(&env, "web").exists(),
        "the disable left none of what gc is to remove"
    );
    let lines = |verb: &str| {
        format!(
            "{verb} config: {}\n\
             {verb} config: {}\n\
             {verb} state: {} (not the product's pin or snapshots, which are yours; `sessctl disable pinned --purge` removes them)\n\
             {verb} state: {}\n",
            env.product_file("pinned").display(),
            env.product_file("web").display(),
            pinned.display(),
            web.display(),
        )
    };
    env.sessctl()
        .args(["gc", "--dry-run"])
        .stdout(&format!(
            "{}gc: 4 leftovers would be removed (dry run)\n",
            lines("would remove")
        ))
        .run();
    env.sessctl()
        .args(["gc", "--yes"])
        .stdout(&format!("{}gc: 4 leftovers removed\n", lines("removed")))
        .run();

    for product in ["web", "pinned"] {
        assert!(!env.product_file(product).exists(), "{product}'s config");
        assert!(!lock(&env, product).exists(), "{product}'s lock");
    }
    assert!(!web.exists(), "web's state is left");
    let left: Vec<String> = (fs::read_dir(&pinned).expect("pinned's state"))
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(left, ["pin.json"], "only the user's pin stays");
    env.sessctl()
        .args(["gc", "--yes"])
        .stdout(&format!(
            "kept state: {} (holds the product's pin or snapshots, which are yours; `sessctl disable pinned --purge` removes them)\ngc: nothing to remove\n",
            pinned.display()
        ))
        .run();
}

/// A killed `disable` is finished by gc and a killed `stop` settled, and gc's text says
/// which, then what the finished disable left for it to remove.
#[test]
fn gc_says_it_finished_an_interrupted_disable_and_settled_a_stop() {
    let Some(env) = manager("gcfinish") else {
        return;
    };
    for (product, command, point) in [
        ("halt", "stop", "stop:after-intent"),
        ("web", "disable", "disable:after-intent"),
    ] {
        env.sessctl()
            .args(["enable", product, "--", "sleep", "100000"])
            .stdout_read()
            .run();
        env.sessctl()
            .args([command, product])
            .env(sessctl::fault::VARIABLE, point)
            .status_any()
            .stdout_read()
            .stderr_read()
            .run();
    }
    env.sessctl()
        .args(["gc", "--dry-run"])
        .stdout(
            "would settle interrupted change: sessctl stop halt (the session would be left as it is)\n\
             would finish interrupted change: sessctl disable web\n\
             gc: 2 interrupted changes would be finished (dry run)\n",
        )
        .run();
    env.sessctl()
        .args(["gc", "--yes"])
        .stdout(&format!(
            "settled interrupted change: sessctl stop halt (the session is left as it is)\n\
             finished interrupted change: sessctl disable web\n\
             removed config: {}\n\
             removed state: {}\n\
             gc: 2 interrupted changes finished, 2 leftovers removed\n",
            env.product_file("web").display(),
            state_dir(&env, "web").display(),
        ))
        .run();
    assert!(!env.unit_file("web").exists() && !lock(&env, "web").exists());
    assert!(
        env.socket("halt").exists(),
        "the settled stop's session is gone"
    );
    env.sessctl()
        .args(["gc", "--yes"])
        .stdout("gc: nothing to remove\n")
        .run();
}

/// A refused enable leaves no intent behind, nor anything of a product it would have made;
/// and one product's leftover that gc cannot finish is reported for that product alone.
#[test]
fn a_refused_enable_leaves_nothing_and_a_bad_leftover_stops_gc_for_no_other_product() {
    let Some(env) = manager("gcrefused") else {
        return;
    };
    let enable = |product: &str| {
        env.sessctl()
            .args(["enable", product, "--no-start", "--", "sleep", "100000"])
    };
    enable("web").stdout_read().run();
    let config = env.product_file("web");
    fs::write(&config, "name = [\n").expect("breaking the config");
    enable("web").status(1).stderr_read().run();
    let intent = state_dir(&env, "web").join("intent.json");
    assert!(!intent.exists(), "the refused enable left its intent");

    let products = config.parent().expect("the config folder").to_path_buf();
    let read_only = ReadOnly::bind(&products);
    enable("new")
        .status(1)
        .stderr(&format!(
            "sessctl: writing {}: Read-only file system (os error 30)\n",
            env.product_file("new").display()
        ))
        .run();
    drop(read_only);
    assert!(
        !state_dir(&env, "new").exists() && !lock(&env, "new").exists(),
        "the refused enable of a new product left its state or lock"
    );

    // A killed enable of the product whose config is broken: gc cannot finish it, says so,
    // and sweeps the others.
    fs::write(
        &intent,
        r#"{"action":"enable","pid":4194304,"start_ticks":1,"at":"2026-12-01T00:00:00Z"}"#,
    )
    .expect("an interrupted enable");
    let stale = env.product_file("stale");
    fs::copy(&config, &stale).expect("an orphan config");
    let gone = state_dir(&env, "gone");
    fs::create_dir_all(&gone).expect("a gone product's state");
    fs::write(gone.join("events.jsonl"), "").expect("its events");
    env.sessctl()
        .args(["gc", "--yes"])
        .status(1)
        .stdout(&format!(
            "removed config: {}\nremoved state: {}\ngc: 2 leftovers removed, 1 failed\n",
            stale.display(),
            gone.display()
        ))
        .stderr(&format!(
            "sessctl: gc: could not finish interrupted change: sessctl enable web: parsing product config {}: TOML parse error at line 1, column 10\n  |\n1 | name = [\n  |          ^\ninvalid array\nexpected `]`\n\n",
            config.display()
        ))
        .run();
    assert!(
        config.exists() && intent.exists(),
        "gc undid the broken product"
    );
}

/// A folder bind-mounted read-only over itself for one test, unmounted when dropped.
struct ReadOnly(std::path::PathBuf);

impl ReadOnly {
    fn bind(dir: &std::path::Path) -> ReadOnly {
        use nix::mount::{mount, MsFlags};
        let none: Option<&str> = None;
        mount(Some(dir), dir, none, MsFlags::MS_BIND, none).expect("binding the folder");
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        mount(none, dir, none, flags, none).expect("making it read-only");
        ReadOnly(dir.to_path_buf())
    }
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

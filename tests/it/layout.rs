//! sessctl's own state: product names that look like its directories, the move from the old
//! layout, gc racing enable, and a full disk under the event log and under `stop`, `restart`
//! and `disable --purge`.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::{manager, resume_json, Env};

fn state(env: &Env) -> PathBuf {
    env.var("XDG_STATE_HOME").join("sessctl")
}

/// Enables `product` as a pinned (claude) product whose stand-in ignores the conversation
/// flags it is given.
fn enable(env: &Env, product: &str, extra: &[&str]) {
    let agent = env.scratch.join("bin/agent");
    if !agent.exists() {
        use std::os::unix::fs::PermissionsExt;
        fs::create_dir_all(agent.parent().expect("dir")).expect("bin dir");
        fs::write(&agent, "#!/bin/sh\nexec sleep 100000\n").expect("the stand-in");
        fs::set_permissions(&agent, fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    env.sessctl()
        .args(["enable", product])
        .args(extra)
        .args(["--agent", "claude", "--"])
        .arg(&agent)
        .stdout_read()
        .run();
}

fn verdict(env: &Env, product: &str) -> String {
    resume_json(env, product)["verdict"]
        .as_str()
        .expect("a verdict")
        .to_string()
}

#[test]
fn products_named_like_sessctls_directories_disturb_nothing() {
    let Some(env) = manager("names") else {
        return;
    };
    let names = ["locks", "snapshots", "products", "web"];
    for name in names {
        enable(&env, name, &[]);
        assert_eq!(verdict(&env, name), "survived", "{name}");
    }
    let pins: Vec<String> = names
        .iter()
        .map(|n| {
            fs::read_to_string(state(&env).join("products").join(n).join("pin.json"))
                .expect("a pin")
        })
        .collect();
    assert_eq!(
        pins.iter().collect::<std::collections::HashSet<_>>().len(),
        names.len(),
        "every product has a pin of its own"
    );
    env.sessctl().args(["disable", "locks", "--purge"]).stdout("sessctl-locks.service: stopped, disabled and removed\nlocks: config and state removed\n").run();
    for (name, pin) in names.iter().zip(&pins).filter(|(n, _)| **n != "locks") {
        let dir = state(&env).join("products").join(name);
        assert_eq!(
            &fs::read_to_string(dir.join("pin.json")).expect("its pin"),
            pin
        );
        assert!(
            state(&env).join(format!("locks/{name}.lock")).exists(),
            "{name}'s lock"
        );
        assert_eq!(verdict(&env, name), "survived", "{name}");
    }
    env.sessctl()
        .args(["gc", "--yes"])
        .stdout("gc: nothing to remove\n")
        .run();
    for name in ["snapshots", "products", "web"] {
        assert_eq!(verdict(&env, name), "survived", "{name} after gc");
    }
}

#[test]
fn state_in_the_old_layout_waits_for_the_first_command_that_changes_things() {
    let Some(env) = manager("migrate") else {
        return;
    };
    for name in ["web", "locks", "products"] {
        enable(&env, name, &["--no-start"]);
    }
    let root = state(&env);
    let read = |p: &Path| fs::read_to_string(p).expect("a state file");
    let pins: Vec<String> = ["web", "locks", "products"]
        .iter()
        .map(|n| read(&root.join("products").join(n).join("pin.json")))
        .collect();
    // Put the state back where sessctl before 0.2 kept it: `sessctl/<name>/`, so that the
    // product `locks` shared the lock directory and `products` sat where the new root is.
    let tmp = root.join("old-products");
    fs::rename(root.join("products"), &tmp).expect("moving the new root aside");
    fs::rename(tmp.join("web"), root.join("web")).expect("web");
    for (name, entries) in [
        ("locks", ["pin.json", "events.jsonl"]),
        ("products", ["pin.json", "events.jsonl"]),
    ] {
        fs::create_dir_all(root.join(name)).expect("dir");
        for entry in entries {
            fs::rename(tmp.join(name).join(entry), root.join(name).join(entry)).expect(entry);
        }
    }
    fs::remove_dir_all(&tmp).expect("removing what is left");
    assert!(root.join("locks/pin.json").exists() && root.join("locks/web.lock").exists());

    // A command that only reads leaves it where it is, and says what waits.
    env.sessctl()
        .args(["log", "web"])
        .status_any()
        .stdout_read()
        .stderr(&format!(
            "sessctl: note: the state of locks, products, web is in the layout before 0.2 under {}, so this report leaves it out; the next command that changes things (`sessctl resume <product>`, `sessctl gc`) moves it\n",
            root.display()
        ))
        .run();
    assert!(root.join("web/pin.json").exists() && root.join("locks/pin.json").exists());

    // The first command that changes things moves it all, and the products work on.
    assert_eq!(verdict(&env, "web"), "started");
    for (name, pin) in ["web", "locks", "products"].iter().zip(&pins) {
        let dir = root.join("products").join(name);
        assert_eq!(&read(&dir.join("pin.json")), pin, "{name}'s pin moved");
        assert!(dir.join("events.jsonl").exists(), "{name}'s events moved");
        if *name != "web" {
            assert_eq!(verdict(&env, name), "started", "{name}");
        }
    }
    assert!(!root.join("web").exists() && !root.join("locks/pin.json").exists());
    assert!(
        root.join("locks/web.lock").exists(),
        "the locks stay where they were"
    );
}

#[test]
fn gc_racing_enable_two_hundred_times_never_loses_a_pin() {
    let Some(env) = manager("gcrace") else {
        return;
    };
    let pin = state(&env).join("products/racer/pin.json");
    for round in 0..200 {
        env.sessctl()
            .args(["disable", "racer", "--purge"])
            .status_any()
            // Whether gc already took the product is the race: either outcome is fine.
            .stdout_read()
            .stderr_read()
            .run();
        std::thread::scope(|s| {
            s.spawn(|| enable(&env, "racer", &["--no-start"]));
            s.spawn(|| {
                env.sessctl()
                    .args(["gc", "--yes"])
                    .status_any()
                    .stdout_read()
                    .run()
            });
        });
        assert!(
            pin.exists(),
            "round {round}: gc removed the pin of a product being enabled"
        );
        assert!(
            env.product_file("racer").exists(),
            "round {round}: the config is gone"
        );
    }
}

/// A small tmpfs mounted for one test, unmounted when dropped (also on a panic).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Tmpfs {
        fs::create_dir_all(at).expect("the mount point");
        let options = format!("size={size}");
        nix::mount::mount(
            Some("tmpfs"),
            at,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some(options.as_str()),
        )
        .expect("mounting a tmpfs");
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Fills the file system under `dir` until a write fails.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let filler = dir.join("filler");
    let mut file = fs::File::create(&filler).expect("the filler");
    let block = vec![b'x'; 4096];
    while file.write_all(&block).is_ok() {}
    let mut byte = [b'x'];
    while file.write_all(&byte).is_ok() {
        byte[0] = b'y';
    }
    filler
}

/// A manager whose sessctl keeps its state on a 256 KiB tmpfs of its own, for the tests
/// that fill it.
fn on_a_small_state_disk(label: &str) -> Option<(Env, Tmpfs)> {
    let mut env = manager(label)?;
    let small = env.scratch.join("small-state");
    let tmpfs = Tmpfs::mount(&small, "256k");
    env.set("XDG_STATE_HOME", Some(small.as_os_str()));
    Some((env, tmpfs))
}

#[test]
fn a_full_disk_never_tears_the_event_log_nor_fails_a_live_session() {
    let Some((env, disk)) = on_a_small_state_disk("full") else {
        return;
    };
    let small = &disk.0;
    env.sessctl()
        .args(["enable", "web", "--", "sleep", "100000"])
        .stdout(
            "sessctl-web.service: written, reloaded and enabled\nsessctl-web.service: started\n",
        )
        .run();
    assert_eq!(verdict(&env, "web"), "survived");
    let log = small.join("sessctl/products/web/events.jsonl");
    let filler = fill(small);

    // The session is fine, so the resume is too; the log that could not be written is a
    // warning naming it. (The log's last page may still take a few events: resume until the
    // disk refuses three.)
    let mut refused = 0;
    for _ in 0..64 {
        let out = env
            .sessctl()
            .args(["resume", "web", "--no-attach", "--json"])
            .stdout_read()
            .stderr_read()
            .run();
        let v: Value = serde_json::from_slice(&out.stdout).expect("resume JSON");
        assert_eq!(v["verdict"], "survived");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !stderr.is_empty() {
            assert!(
                stderr.starts_with("sessctl: warning: the event was not logged: appending to ")
                    && stderr.contains(&log.display().to_string()),
                "{stderr}"
            );
            refused += 1;
        }
        let text = fs::read_to_string(&log).expect("the log");
        assert!(text.ends_with('\n'), "a torn line was left: {text:?}");
        if refused == 3 {
            break;
        }
    }
    assert_eq!(refused, 3, "the full disk never refused an event");
    fs::remove_file(filler).expect("freeing the disk");
    let out = env
        .sessctl()
        .args(["log", "web", "--json"])
        .stdout_read()
        .run();
    let events: Value = serde_json::from_slice(&out.stdout).expect("log JSON");
    assert!(!events.as_array().expect("events").is_empty());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");

    // A line torn by a crash before this was so is skipped, with a note.
    let mut text = fs::read_to_string(&log).expect("the log");
    text.push_str("{\"time\":\"2026-11-23T00:00:00Z\",\"ev");
    fs::write(&log, &text).expect("tearing the log");
    let out = env.sessctl().args(["log", "web", "--json"]).stdout_read().stderr_redacted("sessctl: note: skipped line 28 of [test]/scratch/small-state/sessctl/products/web/events.jsonl, which is not a whole event (EOF while parsing a string at line 1 column 34)\n").run();
    let after: Value = serde_json::from_slice(&out.stdout).expect("log JSON");
    assert_eq!(after, events);
    let lines = text.lines().count();
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "sessctl: note: skipped line {lines} of {}, which is not a whole event (EOF while parsing a string at line 1 column 34)\n",
            log.display()
        )
    );
}

/// Ending or removing a session works when the state disk takes nothing: `restart`, `stop`
/// and `disable --purge` do what was asked, exit 0, and say in one line what they could not
/// record (the event log's own warnings aside, which the log's last page may spare).
#[test]
fn a_full_state_disk_never_blocks_stop_restart_or_purge() {
    let Some((env, disk)) = on_a_small_state_disk("fullstop") else {
        return;
    };
    let small = &disk.0;
    env.sessctl()
        .args(["enable", "web", "--", "sleep", "100000"])
        .stdout_read()
        .run();
    let intent = small.join("sessctl/products/web/intent.json");
    for (args, stdout) in [
        (vec!["restart", "web"], "sessctl-web.service: restarted\n"),
        (vec!["stop", "web"], "sessctl-web.service: stopped\n"),
        (
            vec!["disable", "web", "--purge"],
            "sessctl-web.service: stopped, disabled and removed\nweb: config and state removed\n",
        ),
    ] {
        // Full again: what the last command removed may have freed a page.
        fill(small);
        let out = env.sessctl().args(&args).stdout(stdout).stderr_read().run();
        let command = format!("sessctl {}", args.join(" "));
        let unrecorded = format!(
            "sessctl: warning: the state disk refused a write, so `{command}` goes on without a record of it or of the session it leaves: writing {}: No space left on device (os error 28)",
            intent.display()
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        let (said, others): (Vec<&str>, Vec<&str>) =
            stderr.lines().partition(|line| *line == unrecorded);
        assert_eq!(said.len(), 1, "{command}: {stderr}");
        assert!(
            others
                .iter()
                .all(|l| l.starts_with("sessctl: warning: the event was not logged: ")),
            "{command}: {stderr}"
        );
    }
    assert!(!env.unit_file("web").exists() && !env.product_file("web").exists());
    assert!(!small.join("sessctl/products/web").exists());
}

//! Chaos: sessctl SIGKILLed between two steps of a change, at every fault point of
//! `src/fault.rs` (compiled into the test build only, and set with `SESSCTL_FAULT`). After
//! each kill:
//! - `status` tells the truth: never a loss for a session the user asked to end;
//! - doctor names what the kill left, and never advises undoing a disable;
//! - the next call of the same command succeeds, or the next resume proves the session
//!   without a false `lost` (or, after a killed disable, refuses to undo it);
//! - `gc --yes` leaves the product clean: doctor finds nothing of it, no file is half-written,
//!   and nothing of a product being removed is left (its config, state and lock); straight
//!   after a killed enable, gc finishes it (the unit written and enabled).

use std::os::unix::process::ExitStatusExt;
use std::path::Path;

use rstest::rstest;
use serde_json::Value;

use crate::support::{doctor_json, manager, resume_json, Env};

/// What a case does before the kill.
#[derive(Clone, Copy, PartialEq)]
enum Before {
    /// Nothing: the product does not exist yet.
    Nothing,
    /// Enabled, not started.
    Stopped,
    /// Enabled and running.
    Running,
    /// A unit file whose config is gone: an orphan for gc.
    Orphan,
}

/// After the kill, which call comes first.
#[derive(Clone, Copy, Debug)]
enum Next {
    /// The same command again.
    Same,
    /// A resume.
    Resume,
    /// Straight to `gc --yes`, which must finish what the kill left.
    Gc,
}

/// The fault points of one command, what the product is before it, and the command's words
/// after `sessctl` (`P` stands for the product).
fn cases(command: &str) -> (Before, Vec<&'static str>, Vec<&'static str>) {
    match command {
        "enable" => (
            Before::Nothing,
            vec!["enable", "P", "--", "sleep", "100000"],
            vec![
                "enable:after-config",
                "enable:after-unit-file",
                "enable:after-reload",
                "enable:after-enable",
                "enable:after-start-job",
            ],
        ),
        "start" => (
            Before::Stopped,
            vec!["start", "P"],
            vec!["start:after-start-job"],
        ),
        "resume" => (
            Before::Stopped,
            vec!["resume", "P", "--no-attach"],
            vec!["resume:after-start-job"],
        ),
        "stop" => (
            Before::Running,
            vec!["stop", "P"],
            vec!["stop:after-intent", "stop:after-job"],
        ),
        "restart" => (
            Before::Running,
            vec!["restart", "P"],
            vec!["restart:after-intent", "restart:after-job"],
        ),
        "disable" => (
            Before::Running,
            vec!["disable", "P"],
            vec![
                "disable:after-intent",
                "disable:after-stop",
                "disable:after-disable",
                "disable:after-unit-file",
                "disable:after-reload",
            ],
        ),
        "purge" => (
            Before::Running,
            vec!["disable", "P", "--purge"],
            vec![
                "disable:after-intent",
                "disable:after-reload",
                "disable:after-config",
            ],
        ),
        "gc" => (
            Before::Orphan,
            vec!["gc", "--yes"],
            vec!["gc:after-disable", "gc:after-unit-file"],
        ),
        other => panic!("no cases for {other}"),
    }
}

#[rstest]
fn a_kill_between_two_steps_leaves_the_truth_and_the_next_call_succeeds(
    #[values(
        "enable", "start", "resume", "stop", "restart", "disable", "purge", "gc"
    )]
    command: &str,
) {
    let Some(env) = manager(&format!("chaos-{command}")) else {
        return;
    };
    let (before, words, points) = cases(command);
    let removes = words[0] == "disable";
    let ends = removes || matches!(command, "stop" | "restart");
    let nexts: &[Next] = match command {
        _ if ends => &[Next::Same, Next::Resume],
        "enable" => &[Next::Same, Next::Gc],
        _ => &[Next::Same],
    };
    let mut n = 0;
    for point in points {
        for &next in nexts {
            n += 1;
            let product = format!("c{n}");
            let args: Vec<String> = (words.iter()).map(|w| w.replace('P', &product)).collect();
            let case = format!("{point}, then {next:?}");
            prepare(&env, &product, before);

            let killed = env
                .sessctl()
                .args(&args)
                .env(sessctl::fault::VARIABLE, point)
                .status_any()
                .stdout_read()
                .stderr_read()
                .run();
            assert_eq!(
                killed.status.signal(),
                Some(9),
                "{case}: the fault point was not reached"
            );

            let status = status(&env, &product);
            assert!(status["lost"].is_null(), "{case}: a false loss: {status:#}");
            let findings = doctor(&env, &product);
            if removes {
                assert!(
                    findings
                        .iter()
                        .all(|f| !f["fix"].as_str().unwrap_or("").contains("sessctl enable")),
                    "{case}: doctor advises undoing the disable: {findings:#?}"
                );
                assert!(
                    findings
                        .iter()
                        .any(|f| f["id"] == "change-interrupted-disable"),
                    "{case}: doctor does not name the interrupted disable: {findings:#?}"
                );
            }

            match next {
                Next::Same => {
                    env.sessctl().args(&args).stdout_read().stderr_read().run();
                }
                Next::Resume if removes => {
                    env.sessctl()
                        .args(["resume", &product, "--no-attach"])
                        .status(2)
                        .stderr(&format!(
                            "sessctl: {product}: `sessctl {}` was interrupted; run it again to finish it\n",
                            words.join(" ").replace('P', &product)
                        ))
                        .run();
                }
                Next::Gc => {}
                Next::Resume => {
                    let proof = resume_json(&env, &product);
                    assert!(
                        matches!(proof["verdict"].as_str(), Some("survived" | "started")),
                        "{case}: {proof:#}"
                    );
                }
            }
            env.sessctl().args(["gc", "--yes"]).stdout_read().run();
            clean(&env, &product, &case, removes || command == "gc");
        }
    }
}

fn prepare(env: &Env, product: &str, before: Before) {
    if before == Before::Nothing {
        return;
    }
    env.sessctl()
        .args(["enable", product, "--no-start", "--", "sleep", "100000"])
        .stdout_read()
        .run();
    match before {
        Before::Running => {
            env.sessctl().args(["start", product]).stdout_read().run();
        }
        Before::Orphan => {
            std::fs::remove_file(env.product_file(product)).expect("removing the config")
        }
        _ => {}
    }
}

/// `status P --json`, parsed; null fields when the product is gone (a purge got that far).
fn status(env: &Env, product: &str) -> Value {
    let out = env
        .sessctl()
        .args(["status", product, "--json"])
        .status_any()
        .stdout_read()
        .stderr_read()
        .run();
    match out.status.code() {
        Some(0) => serde_json::from_slice(&out.stdout).expect("status --json is JSON"),
        Some(2) => Value::Null,
        other => panic!(
            "status {product}: exit {other:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// Doctor's findings about `product`.
fn doctor(env: &Env, product: &str) -> Vec<Value> {
    (doctor_json(env)["findings"]
        .as_array()
        .expect("findings")
        .iter())
    .filter(|f| f["product"] == product)
    .cloned()
    .collect()
}

/// After gc: doctor finds nothing of the product, no temporary file is left, and the product
/// is `gone` (its unit) or works (a resume starts or proves its session).
fn clean(env: &Env, product: &str, case: &str, gone: bool) {
    let findings = doctor(env, product);
    assert!(findings.is_empty(), "{case}: after gc: {findings:#?}");
    for dir in ["XDG_CONFIG_HOME", "XDG_STATE_HOME"] {
        let left = temp_files(&env.var(dir));
        assert!(left.is_empty(), "{case}: half-written files: {left:?}");
    }
    if gone {
        assert!(
            !env.unit_file(product).exists(),
            "{case}: the unit file is left"
        );
        let unit = format!("sessctl-{product}.service");
        let state = env
            .systemd()
            .unit_file(&unit)
            .expect("the unit's file state");
        assert_eq!(
            state.load_state,
            sessctl::systemd::LoadState::NotFound,
            "{case}: systemd still loads {unit}"
        );
        // Nothing of it is left: the config, and sessctl's records (none of these products
        // has a pin or snapshots of the user's to keep).
        let sessctl = env.var("XDG_STATE_HOME").join("sessctl");
        for left in [
            env.product_file(product),
            sessctl.join("products").join(product),
            sessctl.join(format!("locks/{product}.lock")),
        ] {
            assert!(
                !left.exists(),
                "{case}: after gc: {} is left",
                left.display()
            );
        }
    } else {
        let proof = resume_json(env, product);
        assert!(
            matches!(proof["verdict"].as_str(), Some("survived" | "started")),
            "{case}: after gc: {proof:#}"
        );
    }
}

fn temp_files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in walk(dir) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".tmp") {
            found.push(entry.path().display().to_string());
        }
    }
    found
}

fn walk(dir: &Path) -> Vec<std::fs::DirEntry> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.path().is_dir() {
            all.extend(walk(&entry.path()));
        }
        all.push(entry);
    }
    all
}

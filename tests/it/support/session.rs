//! What every real-client test asks of a product's session, whichever agent runs in it: the
//! setup and `enable` every client starts from, its status, its identity, systemd's restart of
//! it, and the processes it runs.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use sessctl::identity::Identity;

use super::client::Client;
use super::fake_api::{FakeApi, Request, Vendor};
use super::{manager, Env};

/// What every real client's setup starts from.
pub struct Started {
    pub env: Env,
    /// The fake API, in the manager's network namespace.
    pub api: FakeApi,
    /// The first product's working directory, made.
    pub project: PathBuf,
    pub binary: PathBuf,
}

/// `client` at `version`, a private manager labelled `label`, and `vendor`'s fake API in its
/// network namespace; or `None` (with the reason printed) when the client or the manager is
/// missing outside CI. Under `CI` a missing one fails the test.
pub fn start(client: Client, version: &str, label: &str, vendor: Vendor) -> Option<Started> {
    let binary = client.require(version)?;
    let env = manager(label)?;
    let api = FakeApi::serve(
        env.bed.as_ref().expect("a manager").netns(),
        &env.scratch.join("api.jsonl"),
        vendor,
    );
    let project = env.scratch.join("project");
    fs::create_dir_all(&project).expect("the project dir");
    Some(Started {
        env,
        api,
        project,
        binary,
    })
}

/// Enables `product` in `dir` running `agent` (the client and its flags, none of them the
/// test's own: the profile adds what every start needs), with `vars` and a terminal every
/// client draws on in its environment.
pub fn enable(env: &Env, product: &str, dir: &Path, vars: &[String], agent: &[&OsStr]) {
    enable_with_options(env, product, dir, vars, &[], agent);
}

/// [`enable`], with more options of `sessctl enable` (such as `--on-waiting CMD`).
pub fn enable_with_options(
    env: &Env,
    product: &str,
    dir: &Path,
    vars: &[String],
    options: &[&str],
    agent: &[&OsStr],
) {
    let vars = vars
        .iter()
        .map(String::as_str)
        .chain(["TERM=xterm-256color"]);
    env.sessctl()
        .args(["enable", product, "--dir"])
        .arg(dir)
        .args(vars.flat_map(|v| ["--env", v]))
        .args(options)
        .arg("--")
        .args(agent)
        .stdout_read()
        .run();
}

/// `sessctl restart PRODUCT`, which must say it restarted the unit.
pub fn restart(env: &Env, product: &str) {
    env.sessctl()
        .args(["restart", product])
        .stdout(&format!("{}: restarted\n", unit(product)))
        .run();
}

/// `sessctl stop PRODUCT`, which must say it stopped the unit.
pub fn stop(env: &Env, product: &str) {
    env.sessctl()
        .args(["stop", product])
        .stdout(&format!("{}: stopped\n", unit(product)))
        .run();
}

/// SIGKILLs `pid`.
pub fn sigkill(pid: u32) {
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).expect("SIGKILL");
}

/// SIGKILLs the agent of the session `before` names.
pub fn kill_agent(before: &Identity) {
    sigkill(before.agent_pid.expect("an agent PID"));
}

/// Asserts that the fake API answered `request`, and that it carries every one of `wanted`:
/// the conversation went on with its history.
#[track_caller]
pub fn assert_carries(request: &Request, wanted: &[&str]) {
    assert_eq!(request.status, 200, "the fake API refused the request");
    let text = request.text();
    let missing: Vec<&&str> = wanted.iter().filter(|w| !text.contains(**w)).collect();
    assert!(missing.is_empty(), "history lost, no {missing:?}: {text}");
}

pub fn unit(product: &str) -> String {
    format!("sessctl-{product}.service")
}

/// `sessctl status PRODUCT --json`.
pub fn status(env: &Env, product: &str) -> Value {
    let out = env
        .sessctl()
        .args(["status", product, "--json"])
        .stdout_read()
        .run();
    serde_json::from_slice(&out.stdout).expect("status --json is JSON")
}

/// The live session of `product` now: its identity from systemd and `/proc`.
pub fn identity(env: &Env, product: &str) -> Identity {
    sessctl::lifecycle::observe::identity(&env.systemd(), &unit(product))
        .expect("reading the identity")
        .0
}

/// Waits at most 15 s, the promise to a user, for systemd to run a new invocation of
/// `product`'s unit with its agent up; on a time-out fails with `screen()`, the pane.
#[track_caller]
pub fn wait_restarted(
    env: &Env,
    product: &str,
    old: &Identity,
    screen: impl Fn() -> String,
) -> Identity {
    let restarted = sessctl::poll::until(Duration::from_secs(15), || {
        let now = identity(env, product);
        Ok((now.is_live() && now.invocation_id != old.invocation_id).then_some(now))
    });
    match restarted {
        Ok(Some(now)) => now,
        other => panic!(
            "systemd did not restart {} with a live agent within 15 s ({other:?}); now {:?}, {:?}\n--- screen\n{}",
            unit(product),
            identity(env, product),
            env.systemd().details(&unit(product)),
            screen()
        ),
    }
}

/// The PID of a process of `env`'s private manager that runs exactly `argv`. Only its own:
/// another suite on the machine runs the same test, and the same command, at the same time.
pub fn running(env: &Env, argv: &[&str]) -> Option<u32> {
    let bed = env.bed.as_ref().expect("a private manager");
    let own = format!("/{}/", bed.name);
    fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| sessctl::procfs::cgroup(pid).is_some_and(|g| g.starts_with(&own)))
        .find(|&pid| {
            let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let words: Vec<&[u8]> = raw.split(|b| *b == 0).filter(|w| !w.is_empty()).collect();
            words.len() == argv.len() && words.iter().zip(argv).all(|(w, a)| *w == a.as_bytes())
        })
}

/// The ids of a report's findings, in order.
pub fn finding_ids(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["id"].as_str().expect("an id").to_string())
        .collect()
}

/// Restarts `product`'s unit through its manager until systemd's start limit
/// (6 starts in 120 s) refuses the next start.
pub fn restart_until_start_limit(env: &Env, product: &str) {
    let (systemd, unit) = (env.systemd(), unit(product));
    super::wait_for("the start limit", || {
        let _ = systemd.restart(&unit);
        (systemd.details(&unit).expect("details").result
            == sessctl::systemd::ServiceResult::StartLimitHit)
            .then_some(())
    });
}

/// SIGKILLs `product`'s agent with `kill`, again each time systemd brings it back, until the
/// unit fails at its start limit; returns how many kills that took. Each wait is bounded by the
/// 15 s promised to a user; more than 8 kills fail the test.
#[track_caller]
pub fn crash_until_start_limit(env: &Env, product: &str, kill: impl Fn(&Identity)) -> usize {
    let mut kills = 0;
    loop {
        let before = identity(env, product);
        kill(&before);
        kills += 1;
        // Some(true): restarted; Some(false): failed for good.
        let next = sessctl::poll::until(Duration::from_secs(15), || {
            let now = identity(env, product);
            let restarted = now.is_live() && now.invocation_id != before.invocation_id;
            Ok((restarted || now.active_state.as_str() == "failed").then_some(restarted))
        });
        match next {
            Ok(Some(true)) if kills < 8 => continue,
            Ok(Some(false)) => return kills,
            other => panic!(
                "after kill {kills}, {} neither restarted nor failed within 15 s ({other:?}): {:?}",
                unit(product),
                env.systemd().details(&unit(product))
            ),
        }
    }
}

//! What every real-client test asks of a product's session, whichever agent runs in it: its
//! status, its identity, systemd's restart of it, and the processes it runs.

use std::fs;
use std::time::Duration;

use serde_json::Value;
use sessctl::identity::Identity;

use super::Env;

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

/// Whether some process runs exactly `argv`.
pub fn running(argv: &[&str]) -> bool {
    fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| fs::read(e.path().join("cmdline")).ok())
        .any(|raw| {
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

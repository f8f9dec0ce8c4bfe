//! Load and churn on a real private manager: sessions resumed many times over, some
//! concurrently, while the manager is re-executed and reloaded; and products enabled,
//! started, resumed, stopped and purged a thousand times, after which nothing is left.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread;

use serde_json::Value;

use crate::support::{finish_within, manager, wait_for, Env, SESSCTL};

/// `sessctl ARGS` on the test's manager, as a process of its own: its JSON and exit code.
fn run_json(env: &Env, args: &[&str]) -> (Value, i32, String) {
    let child = std::process::Command::new(SESSCTL)
        .args(args)
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .envs(env.bed.as_ref().expect("a manager").env())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("spawning sessctl {args:?}: {err}"));
    let out = finish_within(child, &format!("sessctl {args:?}"));
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (json, out.status.code().unwrap_or(-1), stderr)
}

fn start_products(env: &Env, names: &[String]) {
    for name in names {
        env.sessctl()
            .args(["enable", name, "--", "sleep", "100000"])
            .stdout_read()
            .run();
    }
}

/// Resumes `product` until `done`, counting each in `runs`, and returns the failures: any exit
/// but 0, any verdict but survived, any session other than `first`.
fn resume_until(
    env: &Env,
    product: &str,
    first: &Value,
    done: &AtomicBool,
    runs: &AtomicU32,
) -> Vec<String> {
    let mut failures = Vec::new();
    while !done.load(Ordering::SeqCst) {
        let (proof, code, stderr) = run_json(env, &["resume", product, "--no-attach", "--json"]);
        if code != 0 || proof["verdict"] != "survived" || proof["after"] != *first {
            failures.push(format!("{product}: exit {code}: {proof} {stderr}"));
        }
        runs.fetch_add(1, Ordering::SeqCst);
    }
    failures
}

/// Waits until `runs` passed `at_least`: resumes keep running between two faults.
fn until_resumed(runs: &AtomicU32, at_least: u32) {
    wait_for("resumes between two faults", || {
        (runs.load(Ordering::SeqCst) >= at_least).then_some(())
    });
}

#[test]
fn reexec_and_reload_under_concurrent_resumes_fail_no_resume_and_lose_no_session() {
    let Some(env) = manager("reexec-load") else {
        return;
    };
    let names: Vec<String> = (0..4).map(|i| format!("p{i}")).collect();
    start_products(&env, &names);
    let firsts: Vec<Value> = (names.iter())
        .map(|n| run_json(&env, &["resume", n, "--no-attach", "--json"]).0["after"].clone())
        .collect();
    let (done, runs) = (AtomicBool::new(false), AtomicU32::new(0));
    let failures = thread::scope(|scope| {
        let workers: Vec<_> = (names.iter().zip(&firsts))
            .map(|(name, first)| {
                let (env, done, runs) = (&env, &done, &runs);
                scope.spawn(move || resume_until(env, name, first, done, runs))
            })
            .collect();
        let systemd = env.systemd();
        for fault in 0..20 {
            until_resumed(&runs, 4 * fault);
            // systemd sends no reply to Reexecute: it leaves the bus, and comes back.
            let _ = systemd.reexecute();
            until_resumed(&runs, 4 * fault + 2);
            wait_for("Reload after Reexecute", || systemd.reload().ok());
        }
        done.store(true, Ordering::SeqCst);
        (workers.into_iter())
            .flat_map(|w| w.join().expect("a resume worker"))
            .collect::<Vec<_>>()
    });
    let runs = runs.load(Ordering::SeqCst);
    assert!(
        failures.is_empty(),
        "{} of {runs} resumes failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

//! Load and churn on a real private manager: sessions resumed many times over, some
//! concurrently, while the manager is re-executed and reloaded; and products enabled,
//! started, resumed, stopped and purged a thousand times, after which nothing is left.

use std::path::Path;
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

/// Resumes `product` until `done`, counting each in `runs`, and returns the failures.
fn resume_until(
    env: &Env,
    product: &str,
    first: &Value,
    done: &AtomicBool,
    runs: &AtomicU32,
) -> Vec<String> {
    let mut failures = Vec::new();
    while !done.load(Ordering::SeqCst) {
        failures.extend(failed_resume(env, product, first));
        runs.fetch_add(1, Ordering::SeqCst);
    }
    failures
}

/// One resume of `product`, and what was wrong with it: an exit but 0, a verdict but
/// survived, a session other than `first`.
fn failed_resume(env: &Env, product: &str, first: &Value) -> Option<String> {
    let (proof, code, stderr) = run_json(env, &["resume", product, "--no-attach", "--json"]);
    (code != 0 || proof["verdict"] != "survived" || proof["after"] != *first)
        .then(|| format!("{product}: exit {code}: {proof} {stderr}"))
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

#[test]
fn fifty_products_started_at_once_take_a_thousand_resumes_without_a_change() {
    let Some(env) = manager("parallel-load") else {
        return;
    };
    let names: Vec<String> = (0..50).map(|i| format!("load{i}")).collect();
    thread::scope(|scope| {
        for name in &names {
            let env = &env;
            scope.spawn(move || start_products(env, std::slice::from_ref(name)));
        }
    });
    let firsts: Vec<Value> = (names.iter())
        .map(|n| run_json(&env, &["resume", n, "--no-attach", "--json"]).0["after"].clone())
        .collect();
    // Eight resumes at a time: each worker takes every eighth of 1,000, over all products,
    // so a product is sometimes resumed by two workers at once.
    let failures: Vec<String> = thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|w| {
                let (env, names, firsts) = (&env, &names, &firsts);
                scope.spawn(move || {
                    (w..1000)
                        .step_by(8)
                        .filter_map(|n| failed_resume(env, &names[n % 50], &firsts[n % 50]))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        (workers.into_iter())
            .flat_map(|w| w.join().expect("a resume worker"))
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of 1000 resumes failed or found another session:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// How many names the churn spreads over, how many cycles in all, and how many workers run
/// cycles side by side (each with names of its own).
const NAMES: usize = 50;
const CYCLES: usize = 1000;
const WORKERS: usize = 5;

/// One cycle of a product's life: enable (which starts it), resume, stop, disable --purge.
fn cycle(env: &Env, name: &str) -> std::time::Duration {
    let began = std::time::Instant::now();
    for args in [
        &["enable", name, "--", "sleep", "100000"][..],
        &["resume", name, "--no-attach"],
        &["stop", name],
        &["disable", name, "--purge"],
    ] {
        env.sessctl().args(args).stdout_read().run();
    }
    began.elapsed()
}

#[test]
fn a_thousand_cycles_over_fifty_names_leave_nothing_behind() {
    let Some(env) = manager("churn") else {
        return;
    };
    let names: Vec<String> = (0..NAMES).map(|i| format!("churn{i}")).collect();
    let times: Vec<(usize, std::time::Duration)> = thread::scope(|scope| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|w| {
                let (env, names) = (&env, &names);
                scope.spawn(move || {
                    let mine: Vec<&String> = names.iter().skip(w).step_by(WORKERS).collect();
                    (0..CYCLES / WORKERS)
                        .map(|n| (n * WORKERS + w, cycle(env, mine[n % mine.len()])))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        (workers.into_iter())
            .flat_map(|w| w.join().expect("a churn worker"))
            .collect()
    });
    assert_eq!(times.len(), CYCLES);
    let mean = |range: std::ops::Range<usize>| {
        let picked: Vec<_> = (times.iter()).filter(|(n, _)| range.contains(n)).collect();
        picked.iter().map(|(_, t)| t.as_secs_f64()).sum::<f64>() * 1000.0 / picked.len() as f64
    };
    // A report, never an assertion: timings belong to benchmarks.
    eprintln!(
        "churn: {CYCLES} cycles over {NAMES} names, {WORKERS} at a time: the first 100 took {:.1} ms each on average, the last 100 {:.1} ms",
        mean(0..100),
        mean(CYCLES - 100..CYCLES)
    );
    let left = leftovers(&env);
    assert!(
        left.is_empty(),
        "left after the churn:\n{}",
        left.join("\n")
    );
}

/// Everything of a product that a churn could leave: units loaded or on disk, their cgroups
/// and processes, tmux servers and sockets, files and directories in sessctl's config, state
/// and runtime folders, and lock files. Kept on purpose, as the README says, and so not
/// listed: what every product shares (the slice `app-sessctl.slice`, the stagger's
/// `start-slot` in the runtime folder), and sessctl's own empty folders and gc log.
fn leftovers(env: &Env) -> Vec<String> {
    let systemd = env.systemd();
    let mut left: Vec<String> = (systemd.loaded_units().expect("ListUnits").into_iter())
        .filter(|u| u.starts_with("sessctl-"))
        .map(|u| format!("loaded unit {u}"))
        .collect();
    // Every directory the manager loads units from, not only sessctl's own.
    for dir in systemd.unit_path().expect("UnitPath") {
        left.extend(
            (std::fs::read_dir(&dir).into_iter().flatten().flatten())
                .filter(|e| e.file_name().to_string_lossy().starts_with("sessctl-"))
                .map(|e| format!("unit file {}", e.path().display())),
        );
    }
    let cgroup = systemd.manager_cgroup().expect("the manager's cgroup");
    for root in [
        "/sys/fs/cgroup",
        "/sys/fs/cgroup/unified",
        "/sys/fs/cgroup/systemd",
    ] {
        let slice = Path::new(root)
            .join(cgroup.trim_start_matches('/'))
            .join("app.slice/app-sessctl.slice");
        for dir in tree(&slice).into_iter().filter(|d| d.is_dir()) {
            left.push(format!("cgroup {}", dir.display()));
        }
        let procs = std::fs::read_to_string(slice.join("cgroup.procs")).unwrap_or_default();
        left.extend(
            procs
                .lines()
                .map(|pid| format!("process {pid} in {}", slice.display())),
        );
    }
    let runtime = env.var("XDG_RUNTIME_DIR").join("sessctl");
    left.extend(
        tree(&runtime)
            .into_iter()
            .filter(|p| !p.ends_with("start-slot"))
            .map(|p| format!("runtime {}", p.display())),
    );
    let config = env.config_home();
    left.extend(
        tree(&config.join("sessctl/products"))
            .into_iter()
            .map(|p| format!("config {}", p.display())),
    );
    left.extend(
        tree(&config.join("systemd/user"))
            .into_iter()
            .filter(|p| !p.ends_with("app-sessctl.slice"))
            .map(|p| format!("unit dir {}", p.display())),
    );
    let state = env.var("XDG_STATE_HOME").join("sessctl");
    left.extend(
        tree(&state.join("products"))
            .into_iter()
            .map(|p| format!("state {}", p.display())),
    );
    left.extend(
        tree(&state.join("locks"))
            .into_iter()
            .map(|p| format!("lock {}", p.display())),
    );
    left
}

/// Everything under `dir`, not `dir` itself; empty when it does not exist.
fn tree(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            all.extend(tree(&path));
        }
        all.push(path);
    }
    all
}

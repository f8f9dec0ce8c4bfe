//! `cargo bench --bench resume`: on one live unit, the median wall time of
//! `sessctl resume <p> --no-attach` against `systemctl --user start <unit>`, process start
//! included, each over RUNS runs after WARMUP runs. Writes `bench/resume.md`.
//!
//! It runs on a private `systemd --user` (root with writable cgroups), so it never touches your
//! own manager, and removes it afterwards.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sessctl::testbed::Testbed;

#[path = "support/median.rs"]
mod median;
use median::{heading, median, row, TABLE_HEAD};

const RUNS: usize = 50;
const WARMUP: usize = 5;
const TARGET_MS: f64 = 3.0;

fn main() {
    if let Err(err) = run() {
        eprintln!("benchmark failed: {err:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let sessctl = env!("CARGO_BIN_EXE_sessctl");
    let bed = Testbed::start("bench")?;
    let env = bed.env();
    let command = |program: &str, args: &[&str]| {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    };
    let status = command(sessctl, &["enable", "bench", "--", "sleep", "1000000"]).status()?;
    anyhow::ensure!(status.success(), "sessctl enable failed: {status}");

    let resume = ["resume", "bench", "--no-attach"];
    let start = ["--user", "start", "sessctl-bench.service"];
    let ours = measure(|| command(sessctl, &resume).status())?;
    let theirs = measure(|| command("systemctl", &start).status())?;
    // The session must have survived all of it.
    let verify = command(sessctl, &["verify", "bench", "--rounds", "3"]).status()?;
    anyhow::ensure!(
        verify.success(),
        "the session did not survive the benchmark"
    );

    let (m_ours, m_theirs) = (median(&ours), median(&theirs));
    let ratio = m_theirs / m_ours;
    let mut report = heading(
        "resume",
        &format!("{RUNS} runs each after {WARMUP} warm-up runs, on one live unit of a private `systemd --user`; wall time per command, process start included."),
    );
    report.push_str(TABLE_HEAD);
    report.push_str(&row("`sessctl resume bench --no-attach`", &ours));
    report.push_str(&row(
        "`systemctl --user start sessctl-bench.service`",
        &theirs,
    ));
    writeln!(
        report,
        "\nsessctl is {ratio:.2}x as fast as systemctl. Targets: median at most {TARGET_MS} ms ({}), at least 2x ({}).",
        if m_ours <= TARGET_MS { "met" } else { "missed" },
        if ratio >= 2.0 { "met" } else { "missed" }
    )?;
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/resume.md");
    std::fs::write(&out, &report)?;
    print!("{report}");
    println!("\nwritten to {}", out.display());
    command(sessctl, &["disable", "bench", "--purge"]).status()?;
    Ok(())
}

/// Milliseconds per run of `f`, which spawns one command and waits for it.
fn measure(
    mut f: impl FnMut() -> std::io::Result<std::process::ExitStatus>,
) -> anyhow::Result<Vec<f64>> {
    for _ in 0..WARMUP {
        anyhow::ensure!(f()?.success(), "a warm-up run failed");
    }
    let mut samples = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = Instant::now();
        let status = f()?;
        let took: Duration = start.elapsed();
        anyhow::ensure!(status.success(), "a run failed: {status}");
        samples.push(took.as_secs_f64() * 1000.0);
    }
    Ok(samples)
}

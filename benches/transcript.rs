//! `cargo bench --bench transcript`: `sessctl transcript check` of a 1 GiB transcript of about
//! 580,000 records in the shape Claude Code 2.1 writes, with a warm page cache, against
//! `wc -l` of the same file (the floor: reading it once), interleaved, RUNS runs each.
//! Writes `bench/transcript.md`: throughput, the ratio to `wc -l`, and sessctl's peak RSS
//! against the README's stated bound.

#[path = "support/big_transcript.rs"]
mod big_transcript;

use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RUNS: usize = 7;
const BYTES: u64 = 1 << 30;
/// The bound the README states.
const MAX_RSS_MIB: f64 = 64.0;
const TARGET_GB_PER_S: f64 = 1.0;

fn main() {
    if let Err(err) = run() {
        eprintln!("benchmark failed: {err:#}");
        std::process::exit(1);
    }
}

/// Runs `cmd` to its end; its wall time and peak RSS in KiB.
fn measure(cmd: &mut Command) -> anyhow::Result<(Duration, i64)> {
    let start = Instant::now();
    let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
    let mut status = 0;
    // Safety: an all-zero rusage is valid, and wait4 fills it for this child alone.
    let mut usage: nix::libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { nix::libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    anyhow::ensure!(pid > 0 && status == 0, "{cmd:?} failed (status {status})");
    Ok((start.elapsed(), usage.ru_maxrss))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn run() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("big.jsonl");
    let lines = big_transcript::write(&file, BYTES)?;
    let bytes = std::fs::metadata(&file)?.len();
    let sessctl = env!("CARGO_BIN_EXE_sessctl");
    let mut check = Command::new(sessctl);
    check.args(["transcript", "check"]).arg(&file);
    let mut wc = Command::new("wc");
    wc.arg("-l").arg(&file);
    measure(&mut wc)?; // warms the page cache
    let (mut ours, mut floor, mut peak) = (Vec::new(), Vec::new(), 0);
    for _ in 0..RUNS {
        let (t, rss) = measure(&mut check)?;
        ours.push(t);
        peak = peak.max(rss);
        floor.push(measure(&mut wc)?.0);
    }
    let (ours, floor) = (median(ours), median(floor));
    let gbps = |t: Duration| bytes as f64 / t.as_secs_f64() / 1e9;
    let peak_mib = peak as f64 / 1024.0;
    let verdict = |ok: bool| if ok { "met" } else { "missed" };
    let mut out = String::new();
    writeln!(out, "# transcript benchmark\n")?;
    writeln!(out, "`cargo bench --bench transcript`: a {:.2} GiB transcript of {lines} lines (about 5 in 6 of them records with a uuid) in the shape Claude Code 2.1 writes, page cache warm, {RUNS} interleaved runs each, median wall time, process start included. {} CPUs.\n", bytes as f64 / (1u64 << 30) as f64, std::thread::available_parallelism().map_or(1, |n| n.get()))?;
    writeln!(out, "| command | median | throughput |\n|---|---|---|")?;
    writeln!(
        out,
        "| `sessctl transcript check` | {:.0} ms | {:.2} GB/s |",
        ours.as_secs_f64() * 1e3,
        gbps(ours)
    )?;
    writeln!(
        out,
        "| `wc -l` (reading it once) | {:.0} ms | {:.2} GB/s |\n",
        floor.as_secs_f64() * 1e3,
        gbps(floor)
    )?;
    writeln!(
        out,
        "sessctl takes {:.1}x the time of `wc -l`. Peak RSS of sessctl: {peak_mib:.1} MiB.\n",
        ours.as_secs_f64() / floor.as_secs_f64()
    )?;
    writeln!(
        out,
        "Targets: peak RSS at most {MAX_RSS_MIB} MiB ({}); at least {TARGET_GB_PER_S} GB/s ({}).",
        verdict(peak_mib <= MAX_RSS_MIB),
        verdict(gbps(ours) >= TARGET_GB_PER_S)
    )?;
    print!("{out}");
    let results = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/transcript.md");
    std::fs::write(results, out)?;
    Ok(())
}

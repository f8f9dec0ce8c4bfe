//! `cargo bench --bench transcript`: `sessctl transcript check` of a 1 GiB transcript of about
//! 580,000 records in the shape Claude Code 2.1 writes, with a warm page cache, against
//! `wc -l` of the same file (the floor: reading it once), interleaved, RUNS runs each.
//! Writes `bench/transcript.md`: throughput, the ratio to `wc -l`, and sessctl's peak RSS
//! against the README's stated bound.

#[path = "support/big_transcript.rs"]
mod big_transcript;
#[path = "support/peak_rss.rs"]
mod peak_rss;

use std::ffi::OsStr;
use std::fmt::Write as _;
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

/// Runs `program` with `args` to its end; its wall time and peak RSS in KiB.
fn measure(program: &str, args: &[&OsStr]) -> anyhow::Result<(Duration, u64)> {
    let start = Instant::now();
    let (out, kib) = peak_rss::run(program.as_ref(), args)?;
    anyhow::ensure!(out.status.success(), "{program} failed ({})", out.status);
    Ok((start.elapsed(), kib))
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
    let check: [&OsStr; 3] = ["transcript".as_ref(), "check".as_ref(), file.as_os_str()];
    let wc: [&OsStr; 2] = ["-l".as_ref(), file.as_os_str()];
    measure("wc", &wc)?; // warms the page cache
    let (mut ours, mut floor, mut peak) = (Vec::new(), Vec::new(), 0);
    for _ in 0..RUNS {
        let (t, rss) = measure(sessctl, &check)?;
        ours.push(t);
        peak = peak.max(rss);
        floor.push(measure("wc", &wc)?.0);
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

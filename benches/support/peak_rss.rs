//! The peak resident memory of one command, as GNU time measures it from a parent of its own.
//!
//! The kernel's ru_maxrss for a child (wait4, getrusage) starts from the memory of the process
//! that spawned it: the spawn shares or copies the spawner's pages before the exec. A test
//! binary that runs many tests at once is far bigger than the command it measures, so only a
//! small parent of the command's own, `/usr/bin/time`, sees the command's real peak.

use std::ffi::OsStr;
use std::process::{Command, Output, Stdio};

use anyhow::{ensure, Context};

/// Runs `program` with `args` under `/usr/bin/time`; its output (stdout captured, stderr
/// inherited) and its peak RSS in KiB.
pub fn run<I, S>(program: &OsStr, args: I) -> anyhow::Result<(Output, u64)>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let report = tempfile::NamedTempFile::new().context("a file for time's report")?;
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(report.path())
        .arg(program)
        .args(args)
        .stdout(Stdio::piped())
        .output()
        .context("running /usr/bin/time (Debian package time)")?;
    let text = std::fs::read_to_string(report.path()).context("reading time's report")?;
    // After a failing command, time writes "Command exited with non-zero status N" first.
    let kib = text.lines().last().unwrap_or("").trim().parse::<u64>();
    ensure!(kib.is_ok(), "time reported no peak RSS: {text:?}");
    Ok((out, kib.unwrap_or_default()))
}

//! `sessctl gc`: removes sessctl's own leftovers, asking before it removes a config.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, Result};

use crate::cli::Gc;
use crate::lifecycle::gc::{self, Confirm, Options, Report};
use crate::paths::Paths;

pub fn run(paths: &Paths, args: Gc) -> Result<()> {
    let mut ask = confirm;
    let terminal = !args.yes && std::io::stdin().is_terminal();
    let report = gc::gc(
        paths,
        Options {
            dry_run: args.dry_run,
            yes: args.yes,
            confirm: terminal.then_some(&mut ask as &mut Confirm),
        },
    )?;
    print(&report, args.json)
}

fn print(report: &Report, json: bool) -> Result<()> {
    if json {
        outln!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    for a in &report.actions {
        let verb = match a.outcome {
            "removed" if a.kind == "reset-failed" => "reset",
            "would-remove" if a.kind == "reset-failed" => "would reset",
            "removed" => "removed",
            "would-remove" => "would remove",
            _ => "kept",
        };
        let note = a
            .note
            .as_deref()
            .map_or(String::new(), |n| format!(" ({n})"));
        outln!("{verb} {}: {}{note}", a.kind, a.target);
    }
    let done = report
        .actions
        .iter()
        .filter(|a| a.outcome != "kept")
        .count();
    match (done, report.dry_run) {
        (0, _) => outln!("gc: nothing to remove"),
        (n, true) => outln!("gc: {n} leftovers would be removed (dry run)"),
        (n, false) => outln!("gc: {n} leftovers removed"),
    }
    Ok(())
}

fn confirm(question: &str) -> Result<bool> {
    out!("{question} [y/N] ");
    std::io::stdout().flush().context("writing the question")?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("reading the answer")?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

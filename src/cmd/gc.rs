//! `sessctl gc`: removes sessctl's own leftovers, asking before it removes a config.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, Result};

use crate::cli::Gc;
use crate::context::Ctx;
use crate::error;
use crate::lifecycle::gc::{self, Action, Confirm, Kind, Options, Outcome, Report};
use crate::state;

pub fn run(ctx: &Ctx, args: Gc) -> Result<()> {
    let mut ask = confirm;
    let terminal = !args.yes && std::io::stdin().is_terminal();
    let report = gc::gc(
        ctx,
        Options {
            dry_run: args.dry_run,
            yes: args.yes,
            confirm: terminal.then_some(&mut ask as &mut Confirm),
        },
    )?;
    print(&report, args.json)
}

/// Prints the report: what was done on stdout, what failed on stderr; exits 1 after a
/// failure (the other leftovers were swept all the same).
fn print(report: &Report, json: bool) -> Result<()> {
    if json {
        outln!("{}", serde_json::to_string_pretty(report)?);
    } else {
        for action in &report.actions {
            match &action.outcome {
                Outcome::Failed(err) => errln!("sessctl: gc: {}: {err}", line(action)),
                _ => outln!("{}", line(action)),
            }
        }
        outln!("gc: {}", summary(report));
    }
    let failed = (report.actions.iter()).any(|a| matches!(a.outcome, Outcome::Failed(_)));
    error::exit_with(if failed { error::FAILURE } else { 0 })
}

/// What happened to one leftover, as a person reads it.
fn line(action: &Action) -> String {
    let noun = match action.kind {
        Kind::Interrupted => "interrupted change",
        Kind::ResetFailed => "failed unit",
        Kind::UnitFile => "unit file",
        Kind::Config => "config",
        Kind::Socket => "socket",
        Kind::State => "state",
        Kind::TempFile => "temp file",
    };
    let (remove, removed) = match action.kind {
        Kind::ResetFailed => ("reset", "reset"),
        _ => ("remove", "removed"),
    };
    let target = &action.target;
    match &action.outcome {
        Outcome::Removed => format!("{removed} {noun}: {target}"),
        Outcome::WouldRemove => format!("would {remove} {noun}: {target}"),
        Outcome::Emptied(note) => format!("{removed} {noun}: {target} ({note})"),
        Outcome::WouldEmpty(note) => format!("would {remove} {noun}: {target} ({note})"),
        Outcome::Kept(why) => format!("kept {noun}: {target} ({why})"),
        Outcome::Finished(change) if settles(*change) => {
            format!("settled {noun}: {target} (the session is left as it is)")
        }
        Outcome::Finished(_) => format!("finished {noun}: {target}"),
        Outcome::WouldFinish(change) if settles(*change) => {
            format!("would settle {noun}: {target} (the session would be left as it is)")
        }
        Outcome::WouldFinish(_) => format!("would finish {noun}: {target}"),
        Outcome::Failed(_) if action.kind == Kind::Interrupted => {
            format!("could not finish {noun}: {target}")
        }
        Outcome::Failed(_) => format!("could not {remove} {noun}: {target}"),
    }
}

/// An interrupted stop or restart did what was asked, or never began: gc only settles it.
fn settles(change: state::Action) -> bool {
    match change {
        state::Action::Stop | state::Action::Restart => true,
        state::Action::Enable | state::Action::Disable | state::Action::Purge => false,
    }
}

/// "1 interrupted change finished, 2 leftovers removed", or "nothing to remove".
fn summary(report: &Report) -> String {
    let count = |of: fn(&Outcome) -> bool| report.actions.iter().filter(|a| of(&a.outcome)).count();
    let finished = count(|o| matches!(o, Outcome::Finished(_) | Outcome::WouldFinish(_)));
    let removed = count(|o| {
        matches!(
            o,
            Outcome::Removed | Outcome::WouldRemove | Outcome::Emptied(_) | Outcome::WouldEmpty(_)
        )
    });
    let failed = count(|o| matches!(o, Outcome::Failed(_)));
    let done = if report.dry_run { "would be " } else { "" };
    let parts: Vec<String> = [
        (
            finished,
            "interrupted change",
            "interrupted changes",
            "finished",
        ),
        (removed, "leftover", "leftovers", "removed"),
    ]
    .into_iter()
    .filter(|(n, ..)| *n > 0)
    .map(|(n, one, many, verb)| {
        let noun = if n == 1 { one } else { many };
        format!("{n} {noun} {done}{verb}")
    })
    .chain((failed > 0).then(|| format!("{failed} failed")))
    .collect();
    match (parts.is_empty(), report.dry_run) {
        (true, _) => "nothing to remove".to_string(),
        (false, true) => format!("{} (dry run)", parts.join(", ")),
        (false, false) => parts.join(", "),
    }
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

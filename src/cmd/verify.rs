//! `sessctl verify`: the proof as a command; N resumes, no attach, any identity change fails.

use anyhow::Result;
use serde::Serialize;

use crate::cli::Verify;
use crate::error::{silent, LOST, NEEDS_REPAIR};
use crate::identity::{self, Identity};
use crate::paths::Paths;
use crate::product::{self, Product};
use crate::resume::{self, Verdict};
use crate::systemd::Systemd;
use crate::unit;

/// The `verify --json` report.
#[derive(Debug, Serialize)]
struct Report {
    product: String,
    unit: String,
    rounds: u32,
    /// The first round found no session and started one.
    started: bool,
    /// The first round found the session lost, and a new session runs in its place.
    recovered: bool,
    /// Rounds whose verdict was not "survived" (a start in round 1 excepted).
    changes: Vec<Change>,
    /// The session after the last round.
    identity: Identity,
    uptime_seconds: Option<u64>,
}

#[derive(Debug, Serialize)]
struct Change {
    round: u32,
    verdict: Verdict,
    reason: Option<String>,
}

pub fn run(paths: &Paths, args: Verify) -> Result<()> {
    product::check_name(&args.product)?;
    Product::load(paths, &args.product)?;
    let systemd = Systemd::connect()?;
    let mut changes = Vec::new();
    let first = resume::resume(paths, &systemd, &args.product, "resume")?;
    let started = first.verdict == Verdict::Started;
    let recovered = first.recovered;
    let needs_repair = first.verdict == Verdict::NeedsRepair;
    if matches!(first.verdict, Verdict::Lost | Verdict::NeedsRepair) {
        changes.push(Change {
            round: 1,
            verdict: first.verdict,
            reason: first.reason,
        });
    }
    let mut identity = first.after;
    // A session that needs repair stays down: more rounds would only repeat the verdict.
    let rounds = if needs_repair { 1 } else { args.rounds };
    for round in 2..=rounds {
        let outcome = resume::resume(paths, &systemd, &args.product, "resume")?;
        if outcome.verdict != Verdict::Survived {
            changes.push(Change {
                round,
                verdict: outcome.verdict,
                reason: outcome.reason,
            });
        }
        identity = outcome.after;
    }
    let report = Report {
        product: args.product.clone(),
        unit: unit::unit_name(&args.product),
        rounds,
        started,
        recovered,
        uptime_seconds: identity.uptime_seconds(),
        changes,
        identity,
    };
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report)?;
    }
    match (needs_repair, report.changes.is_empty()) {
        (true, _) => Err(silent(NEEDS_REPAIR)),
        (false, true) => Ok(()),
        (false, false) => Err(silent(LOST)),
    }
}

fn print_text(r: &Report) -> Result<()> {
    outln!(
        "{}: {} resumes, {} identity changes",
        r.unit,
        r.rounds,
        r.changes.len()
    );
    if r.started {
        outln!("  round 1 found no session and started one");
    }
    for c in &r.changes {
        outln!(
            "  round {}: {}: {}",
            c.round,
            c.verdict.as_str(),
            c.reason.as_deref().unwrap_or("-")
        );
        if c.round == 1 && r.recovered {
            outln!("  round 1: recovered: a new session runs in its place");
        }
    }
    let uptime = r
        .uptime_seconds
        .map_or("-".to_string(), identity::human_duration);
    outln!("  {}, up {uptime}", r.identity.summary());
    Ok(())
}

//! `verify`: the proof as a command; N resumes, no attach, any identity change is reported.

use anyhow::Result;
use serde::Serialize;

use super::resume::{resume, Verdict};
use crate::context::Ctx;
use crate::identity::Identity;
use crate::product::{Product, ProductName};
use crate::state::EventKind;

use crate::unit;

/// The `verify --json` report.
#[derive(Debug, Serialize)]
pub struct Report {
    pub product: String,
    pub unit: String,
    pub rounds: u32,
    /// The first round found no session and started one.
    pub started: bool,
    /// The first round found the session lost, and a new session runs in its place.
    pub recovered: bool,
    /// Rounds whose verdict was not "survived" (a start in round 1 excepted).
    pub changes: Vec<Change>,
    /// The session after the last round.
    pub identity: Identity,
    pub uptime_seconds: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct Change {
    pub round: u32,
    pub verdict: Verdict,
    pub reason: Option<String>,
}

impl Report {
    /// The worst round: what decides the exit status.
    pub fn verdict(&self) -> Verdict {
        if self
            .changes
            .iter()
            .any(|c| c.verdict == Verdict::NeedsRepair)
        {
            Verdict::NeedsRepair
        } else if self.changes.is_empty() {
            Verdict::Survived
        } else {
            Verdict::Lost
        }
    }
}

/// Resumes product `name` `rounds` times, each a proof; a session that needs repair ends it after
/// round 1, since more rounds would only repeat the verdict.
pub fn verify(ctx: &Ctx, name: &ProductName, rounds: u32) -> Result<Report> {
    let paths = &ctx.paths;
    Product::load(paths, name)?;
    let systemd = ctx.systemd()?;
    let mut changes = Vec::new();
    let first = resume(paths, systemd, name, EventKind::Resume)?;
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
    let rounds = if needs_repair { 1 } else { rounds };
    for round in 2..=rounds {
        let outcome = resume(paths, systemd, name, EventKind::Resume)?;
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
        product: name.to_string(),
        unit: unit::unit_name(name),
        rounds,
        started,
        recovered,
        uptime_seconds: identity.uptime_seconds(),
        changes,
        identity,
    };
    Ok(report)
}

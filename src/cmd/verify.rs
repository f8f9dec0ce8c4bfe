//! `sessctl verify`: the proof as a command; N resumes, no attach, any identity change fails.

use anyhow::Result;

use crate::cli::Verify;
use crate::context::Ctx;
use crate::error::exit_with;
use crate::identity;
use crate::lifecycle::verify::{self, Report};
use crate::product::ProductName;

pub fn run(ctx: &Ctx, args: Verify) -> Result<()> {
    let report = verify::verify(ctx, &ProductName::parse(&args.product)?, args.rounds)?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report)?;
    }
    exit_with(report.verdict().code())
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

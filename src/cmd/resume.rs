//! `sessctl resume`: the resume button done right, with its proof.

use anyhow::Result;

use crate::cli::Resume;
use crate::context::Ctx;
use crate::error::{exit_with, Verdict};
use crate::lifecycle::resume::{self, Outcome};
use crate::product::ProductName;
use crate::state::EventKind;

pub fn run(ctx: &Ctx, args: Resume) -> Result<()> {
    let name = ProductName::parse(&args.product)?;
    let resumed = resume::resume_product(ctx, &name, EventKind::Resume)?;
    let outcome = &resumed.outcome;
    show(outcome, args.json)?;
    if outcome.verdict == Verdict::NeedsRepair {
        return exit_with(outcome.verdict.code());
    }
    let mut worst = outcome.verdict;
    let terminal = nix::unistd::isatty(std::io::stdin()).unwrap_or(false);
    if !args.no_attach && terminal && outcome.after.is_live() {
        resumed.attach(&ctx.paths)?;
        let again = resumed.judge(&ctx.paths)?;
        show(&again, args.json)?;
        if again.verdict == Verdict::Lost {
            worst = again.verdict;
        }
    }
    exit_with(worst.code())
}

fn show(outcome: &Outcome, json: bool) -> Result<()> {
    if json {
        outln!("{}", serde_json::to_string_pretty(outcome)?);
    } else {
        outln!("{}", outcome.line());
    }
    Ok(())
}

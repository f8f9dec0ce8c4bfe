//! `sessctl resume`: the resume button done right, with its proof.

use anyhow::Result;

use crate::cli::Resume;
use crate::error::{exit_with, Verdict};
use crate::lifecycle::resume::{self, Outcome};
use crate::paths::Paths;
use crate::state::EventKind;

pub fn run(paths: &Paths, args: Resume) -> Result<()> {
    let resumed = resume::resume_product(paths, &args.product, EventKind::Resume)?;
    let outcome = &resumed.outcome;
    show(outcome, args.json)?;
    if outcome.verdict == Verdict::NeedsRepair {
        return exit_with(outcome.verdict.code());
    }
    let mut worst = outcome.verdict;
    let terminal = nix::unistd::isatty(std::io::stdin()).unwrap_or(false);
    if !args.no_attach && terminal && outcome.after.is_live() {
        resumed.attach(paths)?;
        let again = resumed.judge(paths)?;
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

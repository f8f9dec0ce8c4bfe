//! `sessctl attach`: resumes the session as `resume` does (starting it, or recovering a lost
//! one), then runs a tmux client that cannot start a server of its own.

use anyhow::Result;

use crate::context::Ctx;
use crate::error::{exit_with, usage, Verdict};
use crate::lifecycle::resume;
use crate::product::{Product, ProductName};
use crate::state::EventKind;

pub fn run(ctx: &Ctx, name: &ProductName) -> Result<()> {
    let paths = &ctx.paths;
    Product::load(paths, name)?;
    if !nix::unistd::isatty(std::io::stdin()).unwrap_or(false) {
        return Err(usage(format!(
            "sessctl attach needs a terminal on stdin; run it from an interactive shell, or use `sessctl start {name}` to start the session without attaching"
        )));
    }
    let resumed = resume::resume_product(ctx, name, EventKind::Attach)?;
    let outcome = &resumed.outcome;
    // A loss is said before the terminal is handed to tmux, which would hide it.
    match outcome.verdict {
        Verdict::NeedsRepair => {
            errln!("{}", outcome.line());
            return exit_with(outcome.verdict.code());
        }
        Verdict::Lost => errln!("{}", outcome.line()),
        Verdict::Survived | Verdict::Started => {}
    }
    if !outcome.after.is_live() {
        return exit_with(Verdict::Lost.code());
    }
    resumed.attach(paths)?;
    exit_with(outcome.verdict.code())
}

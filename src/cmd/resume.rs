//! `sessctl resume`: the resume button done right, with its proof.

use std::path::Path;

use anyhow::Result;

use crate::cli::Resume;
use crate::error::{silent, LOST, NEEDS_REPAIR};
use crate::paths::Paths;
use crate::product::{self, Product};
use crate::resume::{self, Outcome, Verdict};
use crate::session;
use crate::systemd::Systemd;

pub fn run(paths: &Paths, args: Resume) -> Result<()> {
    product::check_name(&args.product)?;
    let product = Product::load(paths, &args.product)?;
    let systemd = Systemd::connect()?;
    let outcome = resume::resume(paths, &systemd, &product.name, "resume")?;
    show(&outcome, args.json)?;
    if outcome.verdict == Verdict::NeedsRepair {
        return Err(silent(NEEDS_REPAIR));
    }
    let mut lost = outcome.verdict == Verdict::Lost;
    let terminal = nix::unistd::isatty(std::io::stdin()).unwrap_or(false);
    if !args.no_attach && terminal && outcome.after.is_live() {
        session::attach(Path::new(&product.tmux), &paths.socket(&product.name)?)?;
        let again = resume::judge(paths, &systemd, &product.name, &outcome.after)?;
        show(&again, args.json)?;
        lost |= again.verdict == Verdict::Lost;
    }
    if lost {
        return Err(silent(LOST));
    }
    Ok(())
}

fn show(outcome: &Outcome, json: bool) -> Result<()> {
    if json {
        outln!("{}", serde_json::to_string_pretty(outcome)?);
    } else {
        outln!("{}", outcome.line());
    }
    Ok(())
}

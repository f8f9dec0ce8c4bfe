//! `sessctl attach`: resumes the session as `resume` does (starting it, or recovering a lost
//! one), then runs a tmux client that cannot start a server of its own.

use std::path::Path;

use anyhow::Result;

use crate::error::{silent, usage, LOST, NEEDS_REPAIR};
use crate::paths::Paths;
use crate::product::{self, Product};
use crate::resume::{self, Verdict};
use crate::session;
use crate::systemd::Systemd;

pub fn run(paths: &Paths, name: &str) -> Result<()> {
    product::check_name(name)?;
    let product = Product::load(paths, name)?;
    if !nix::unistd::isatty(std::io::stdin()).unwrap_or(false) {
        return Err(usage(format!(
            "sessctl attach needs a terminal on stdin; run it from an interactive shell, or use `sessctl start {name}` to start the session without attaching"
        )));
    }
    let outcome = resume::resume(paths, &Systemd::connect()?, name, "attach")?;
    // A loss is said before the terminal is handed to tmux, which would hide it.
    match outcome.verdict {
        Verdict::NeedsRepair => {
            eprintln!("{}", outcome.line());
            return Err(silent(NEEDS_REPAIR));
        }
        Verdict::Lost => eprintln!("{}", outcome.line()),
        Verdict::Survived | Verdict::Started => {}
    }
    if !outcome.after.is_live() {
        return Err(silent(LOST));
    }
    let (tmux, socket) = (Path::new(&product.tmux), paths.socket(name)?);
    session::wait_ready(tmux, &socket)?;
    session::attach(tmux, &socket)?;
    match outcome.verdict {
        Verdict::Lost => Err(silent(LOST)),
        _ => Ok(()),
    }
}

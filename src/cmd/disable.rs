//! `sessctl disable`: stops the session, disables and removes its unit; `--purge` also
//! removes the product's config and state.

use anyhow::Result;

use crate::cli::Disable;
use crate::lifecycle::control;
use crate::paths::Paths;

pub fn run(paths: &Paths, args: Disable) -> Result<()> {
    for step in control::disable(paths, &args.product, args.purge)? {
        outln!("{}", step.line(&args.product));
    }
    Ok(())
}

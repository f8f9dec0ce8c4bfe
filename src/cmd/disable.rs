//! `sessctl disable`: stops the session, disables and removes its unit; `--purge` also
//! removes the product's config and state.

use anyhow::Result;

use crate::cli::Disable;
use crate::context::Ctx;
use crate::lifecycle::control;
use crate::product::ProductName;

pub fn run(ctx: &Ctx, args: Disable) -> Result<()> {
    let name = ProductName::parse(&args.product)?;
    for step in control::disable(ctx, &name, args.purge)? {
        outln!("{}", step.line(&args.product));
    }
    Ok(())
}

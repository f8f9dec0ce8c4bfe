//! `sessctl render`: prints the unit `enable` writes, from the stored product config.

use anyhow::Result;

use crate::context::Ctx;
use crate::lifecycle::unit_file;
use crate::product::{Product, ProductName};

pub fn run(ctx: &Ctx, name: &ProductName) -> Result<()> {
    let paths = &ctx.paths;
    let product = Product::load(paths, name)?;
    out!("{}", unit_file::render(paths, &product)?);
    Ok(())
}

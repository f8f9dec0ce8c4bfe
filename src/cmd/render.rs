//! `sessctl render`: prints the unit `enable` writes, from the stored product config.

use anyhow::Result;

use crate::lifecycle::unit_file;
use crate::paths::Paths;
use crate::product::{self, Product};

pub fn run(paths: &Paths, name: &str) -> Result<()> {
    product::check_name(name)?;
    let product = Product::load(paths, name)?;
    out!("{}", unit_file::render(paths, &product)?);
    Ok(())
}

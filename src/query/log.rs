//! `log`: a product's event log, oldest first.

use anyhow::Result;

use crate::paths::Paths;
use crate::product::{Product, ProductName};
use crate::state::{self, Event};

/// The events of product `name`: an unknown product is an error, a product without events
/// has none.
pub fn events(paths: &Paths, name: &ProductName) -> Result<Vec<Event>> {
    Product::config_text(paths, name)?;
    state::events(&paths.state_dir(name))
}

//! A live terminal on a product's session, for the dashboard: a tmux client of the product's
//! own server, read-only unless typing is asked for. It takes no lock: like `attach`, a
//! viewer holds nothing any other call waits for, and it can never start a session (tmux -N).

use std::path::Path;

use anyhow::Result;

use crate::paths::Paths;
use crate::product::{self, Product};
use crate::session;
pub use crate::session::{resize, Size, Viewer};

/// A viewer of product `name`'s session, `write` when its keys are to reach the agent.
pub fn open(paths: &Paths, name: &str, write: bool, size: Size) -> Result<Viewer> {
    product::check_name(name)?;
    let product = Product::load(paths, name)?;
    let socket = paths.socket(name)?;
    session::viewer(Path::new(&product.tmux), &socket, write, size)
}

//! The names a command line offers: the agents `--agent` accepts, and the products that exist
//! for a completion. Reads the product configs' folder only.

use anyhow::Result;

use crate::agent::Agent;
use crate::paths::Paths;
use crate::product::Product;

/// Every agent profile's name, in `--agent`'s order.
pub fn agents() -> impl Iterator<Item = &'static str> {
    Agent::all().map(Agent::name)
}

/// The products configured now, by name.
pub fn products(paths: &Paths) -> Result<Vec<String>> {
    Product::names(paths)
}

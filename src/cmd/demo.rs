//! `sessctl demo`: placeholder replaced below.
use anyhow::Result;
pub fn run() -> Result<()> {
    anyhow::bail!("demo not written yet")
}

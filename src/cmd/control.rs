//! `sessctl start`, `stop` and `restart`: one systemd job each, waited for to its result.

use anyhow::Result;

use crate::lifecycle::control::{self, Step};
use crate::paths::Paths;

pub fn start(paths: &Paths, name: &str) -> Result<()> {
    say(name, control::start(paths, name)?)
}

pub fn stop(paths: &Paths, name: &str) -> Result<()> {
    say(name, control::stop(paths, name)?)
}

pub fn restart(paths: &Paths, name: &str) -> Result<()> {
    say(name, control::restart(paths, name)?)
}

fn say(name: &str, step: Step) -> Result<()> {
    outln!("{}", step.line(name));
    Ok(())
}

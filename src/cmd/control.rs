//! `sessctl start`, `stop` and `restart`: one systemd job each, waited for to its result.

use anyhow::Result;

use crate::context::Ctx;
use crate::lifecycle::control::{self, Step};
use crate::product::ProductName;

pub fn start(ctx: &Ctx, name: &ProductName) -> Result<()> {
    say(name, control::start(ctx, name)?)
}

pub fn stop(ctx: &Ctx, name: &ProductName) -> Result<()> {
    say(name, control::stop(ctx, name)?)
}

pub fn restart(ctx: &Ctx, name: &ProductName) -> Result<()> {
    say(name, control::restart(ctx, name)?)
}

fn say(name: &str, step: Step) -> Result<()> {
    outln!("{}", step.line(name));
    Ok(())
}

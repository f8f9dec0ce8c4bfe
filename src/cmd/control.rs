//! `sessctl start`, `stop` and `restart`: one systemd job each, waited for to its result.
//! `--json` prints what the dashboard's API answers for the same action ([`Done`]).

use anyhow::Result;

use crate::context::Ctx;
use crate::lifecycle::control::{self, Done, Step};
use crate::product::ProductName;

pub fn start(ctx: &Ctx, name: &ProductName, json: bool) -> Result<()> {
    say(name, control::start(ctx, name)?, json)
}

pub fn stop(ctx: &Ctx, name: &ProductName, json: bool) -> Result<()> {
    say(name, control::stop(ctx, name)?, json)
}

pub fn restart(ctx: &Ctx, name: &ProductName, json: bool) -> Result<()> {
    say(name, control::restart(ctx, name)?, json)
}

fn say(name: &ProductName, step: Step, json: bool) -> Result<()> {
    match json {
        true => outln!("{}", serde_json::to_string_pretty(&Done::new(name, step))?),
        false => outln!("{}", step.line(name)),
    }
    Ok(())
}

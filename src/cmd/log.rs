//! `sessctl log`: the product's event log.

use anyhow::Result;

use crate::context::Ctx;
use crate::product::ProductName;
use crate::query;

pub fn run(ctx: &Ctx, name: &ProductName, json: bool) -> Result<()> {
    let events = query::log::events(&ctx.paths, name)?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&events)?);
        return Ok(());
    }
    for e in &events {
        let mut line = format!("{}  {:<8}", e.time, e.event);
        if let Some(verdict) = &e.verdict {
            line.push_str(&format!(" {verdict}"));
        }
        if let (Some(main), Some(invocation)) = (e.main_pid, &e.invocation_id) {
            line.push_str(&format!("  main PID {main}, invocation {invocation}"));
        }
        if let Some(agent) = e.agent_pid {
            line.push_str(&format!(", agent PID {agent}"));
        }
        if let Some(reason) = &e.reason {
            line.push_str(&format!("  ({reason})"));
        }
        outln!("{line}");
    }
    Ok(())
}

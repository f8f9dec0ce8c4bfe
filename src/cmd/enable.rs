//! `sessctl enable`: validates a product, writes its config and unit, enables and starts it,
//! and never restarts a live session.

use anyhow::Result;

use crate::cli::Enable;
use crate::context::Ctx;
use crate::lifecycle::control::{self, Request};

pub fn run(ctx: &Ctx, args: Enable) -> Result<()> {
    let request = Request {
        product: args.product,
        dir: args.dir,
        env: args.env,
        agent: args.agent,
        keep_snapshots: args.keep_snapshots,
        stagger: args.stagger,
        silence: args.silence,
        on_waiting: args.on_waiting,
        command: args.command,
    };
    let wanted = control::wanted(&request)?;
    for step in control::enable(ctx, &wanted, args.no_start)? {
        outln!("{}", step.line(&wanted.name));
    }
    Ok(())
}

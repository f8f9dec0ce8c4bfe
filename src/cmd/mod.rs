//! The subcommands: each parses its arguments, calls one `query` or `lifecycle` function and
//! formats what it returns. None imports another.
//!
//! May import: `cli`, `query`, `lifecycle`, and the data and base modules for their types.

mod attach;
mod control;
mod disable;
mod doctor;
mod enable;
mod gc;
mod internal;
mod log;
mod render;
mod resume;
mod status;
mod transcript;
mod verify;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::lifecycle::control::Step;
use crate::paths::Paths;
use crate::unit;

pub fn run(cli: Cli) -> Result<()> {
    let paths = Paths::from_env;
    match cli.command {
        Command::Enable(args) => enable::run(&paths()?, args),
        Command::Disable(args) => disable::run(&paths()?, args),
        Command::Render(args) => render::run(&paths()?, &args.product),
        Command::Start(args) => control::start(&paths()?, &args.product),
        Command::Stop(args) => control::stop(&paths()?, &args.product),
        Command::Restart(args) => control::restart(&paths()?, &args.product),
        Command::Resume(args) => resume::run(&paths()?, args),
        Command::Verify(args) => verify::run(&paths()?, args),
        Command::Log(args) => log::run(&paths()?, &args.product, args.json),
        Command::Doctor(args) => doctor::run(&paths()?, args),
        Command::Gc(args) => gc::run(&paths()?, args),
        Command::Transcript(cmd) => transcript::run(&paths()?, cmd),
        Command::Status(args) => status::status(&paths()?, args.product.as_deref(), args.json),
        Command::List(args) => status::list(&paths()?, args.json),
        Command::Attach(args) => attach::run(&paths()?, &args.product),
        Command::Demo => crate::demo::run(),
        Command::Internal(cmd) => internal::run(cmd),
    }
}

/// What a change did, as the line a person reads.
fn step_line(product: &str, step: &Step) -> String {
    let unit = unit::unit_name(product);
    match step {
        Step::Pinned { session_id } => format!("{unit}: pinned to conversation {session_id}"),
        Step::Unchanged => format!("{unit}: unchanged"),
        Step::Written { live: true } => format!("{unit}: rewritten, reloaded and enabled"),
        Step::Written { live: false } => format!("{unit}: written, reloaded and enabled"),
        Step::RestartPending => format!(
            "{unit}: restart pending; the live session keeps running until `sessctl restart {product}`"
        ),
        Step::AlreadyActive => format!("{unit}: already active"),
        Step::NotStarted => format!("{unit}: not started (--no-start)"),
        Step::Started => format!("{unit}: started"),
        Step::Stopped => format!("{unit}: stopped"),
        Step::Restarted => format!("{unit}: restarted"),
        Step::Removed => format!("{unit}: stopped, disabled and removed"),
        Step::Purged => format!("{product}: config and state removed"),
    }
}

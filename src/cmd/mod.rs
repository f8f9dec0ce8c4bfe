//! The subcommands: each parses its arguments, calls one `query` or `lifecycle` function and
//! formats what it returns. None imports another.
//!
//! May import: `cli`, `query`, `lifecycle`, `server`, and the data and base modules for their
//! types.

mod attach;
mod control;
mod dashboard;
mod disable;
mod doctor;
mod enable;
mod gc;
mod internal;
mod log;
mod render;
mod resume;
mod serve;
mod status;
mod transcript;
mod verify;

use anyhow::Result;

use crate::cli::{Cli, Command};
use crate::paths::Paths;

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
        Command::Serve(args) => serve::run(paths()?, args),
        Command::Dashboard(cmd) => dashboard::run(&paths()?, cmd),
        Command::Internal(cmd) => internal::run(cmd),
    }
}

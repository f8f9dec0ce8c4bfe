//! sessctl keeps one long-lived AI coding-agent session per product alive as a systemd user
//! service. `unit` renders, `systemd` talks to the user manager, `session` runs tmux; the
//! commands in `cmd` compose them.

// First, so that its macros are in scope in every module after it.
#[macro_use]
mod output;
pub mod agent;
pub mod cli;
mod cmd;
pub mod error;
pub mod identity;
pub mod paths;
pub mod poll;
pub mod procfs;
pub mod product;
pub mod resume;
pub mod session;
pub mod snapshot;
pub mod stagger;
pub mod state;
pub mod store;
pub mod systemd;
pub mod testbed;
pub mod transcript;
pub mod unit;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

/// Runs sessctl with the process's arguments and maps the outcome to the documented exit code.
pub fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cmd::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that went away (`sessctl list | head -1`) wanted no more: not a failure.
        Err(err) if output::is_closed_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            let message = format!("{err:#}");
            if !message.is_empty() {
                let _ = writeln!(std::io::stderr(), "sessctl: {message}");
            }
            ExitCode::from(error::code_of(&err))
        }
    }
}

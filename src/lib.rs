//! sessctl keeps one long-lived AI coding-agent session per product alive as a systemd user
//! service. `unit` renders, `systemd` talks to the user manager, `session` runs tmux; the
//! commands in `cmd` compose them.

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
        Err(err) => {
            let message = format!("{err:#}");
            if !message.is_empty() {
                let _ = writeln!(std::io::stderr(), "sessctl: {message}");
            }
            ExitCode::from(error::code_of(&err))
        }
    }
}

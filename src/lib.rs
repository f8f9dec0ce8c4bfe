//! sessctl keeps one long-lived AI coding-agent session per product alive as a systemd user
//! service. The layers, highest first; a module imports only lower layers, or its own without
//! a cycle (ARCHITECTURE.md has the rules, `tests/it/architecture.rs` checks them and this
//! table):
//!
//! | layer | modules | what they hold |
//! |---|---|---|
//! | root | `lib`, `main` | the entry: parse, run, map the outcome to an exit code |
//! | commands | `cmd`, `demo` | parse, call one lifecycle or query function, format |
//! | cli | `cli` | the command line as data (imports nothing of sessctl) |
//! | server | `server` | the dashboard: HTTP pages and API over query and lifecycle |
//! | fleet | `fleet` | other hosts' products, through the sessctl installed there |
//! | query | `query` | read-only reports: no lock, no write |
//! | lifecycle | `lifecycle` | every change to a session, under the product's lock |
//! | testbed | `testbed` | a private systemd --user (feature `testbed` only) |
//! | records | `paths`, `product`, `state`, `pin`, `snapshot`, `stagger`, `login`, `hosts`, `context` | sessctl's own files; a command's context |
//! | adapters | `systemd`, `session`, `procfs`, `agent`, `tls`, `journal`, `push`, `remote` | one external system each |
//! | model | `unit`, `identity`, `transcript` | data and the rules on it |
//! | base | `error`, `fault`, `output`, `poll`, `pty`, `store`, `uuid` | the exit codes, stdout, files, locks, pseudo-terminals |

// First, so that its macros are in scope in every module after it.
#[macro_use]
mod output;
pub(crate) mod agent;
pub mod cli;
mod cmd;
pub(crate) mod context;
mod demo;
pub mod error;
pub mod fault;
mod fleet;
pub mod hosts;
pub mod identity;
pub mod journal;
pub mod lifecycle;
mod login;
pub(crate) mod paths;
pub(crate) mod pin;
pub mod poll;
pub mod procfs;
pub mod product;
mod pty;
pub(crate) mod push;
pub(crate) mod query;
pub mod remote;
mod server;
pub mod session;
pub(crate) mod snapshot;
pub mod stagger;
pub mod state;
pub(crate) mod store;
pub mod systemd;
#[cfg(feature = "testbed")]
pub mod testbed;
mod tls;
pub mod transcript;
pub mod unit;
pub(crate) mod uuid;

use std::io::Write;
use std::process::ExitCode;

/// What the `--json` of `list` and `status`, `resume --no-attach`, `log`, `doctor`, and
/// `start`, `stop` and `restart` print, as types that parse it back: a sessctl reading another
/// host's answer prints it with the same formatter. Fields unknown here are ignored.
pub mod json {
    pub use crate::lifecycle::control::Done;
    pub use crate::lifecycle::resume::Outcome as Resume;
    pub use crate::query::doctor::Report as Doctor;
    pub use crate::query::status::Report as Status;
    pub use crate::state::Event;
}

use clap::FromArgMatches;

/// Runs sessctl with the process's arguments and maps the outcome to the documented exit code.
pub fn main() -> ExitCode {
    // A shell asking for completions (SESSCTL_COMPLETE=bash sessctl -- sessctl en) is
    // answered and exits here, before anything else can write to stdout.
    clap_complete::CompleteEnv::with_factory(cmd::completing)
        .var(cli::COMPLETE_VAR)
        .complete();
    let cli = match cmd::command()
        .try_get_matches()
        .and_then(|matches| cli::Cli::from_arg_matches(&matches))
    {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
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

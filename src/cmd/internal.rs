//! `sessctl internal`: the steps the rendered unit runs inside the service, and the ones its
//! tmux server runs for it; each is `lifecycle::host`'s. Also the remote half of `--host`
//! (`internal call`), which says the hello `remote` reads and becomes the command asked for.

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::Command;

use anyhow::{anyhow, Context, Result};

use crate::cli::{AgentLaunch, Internal};
use crate::context::Ctx;
use crate::error::{exit_with, LOST};
use crate::fleet;
use crate::lifecycle::host::{self, Host, Launch};
use crate::lifecycle::{permission, terminal};
use crate::paths::{Paths, ProductName};
use crate::state::Behavior;

pub fn run(cmd: Internal) -> Result<()> {
    match cmd {
        Internal::Host {
            tmux,
            socket,
            state,
            stagger,
            silence,
            on_waiting,
            pin,
            keep_snapshots,
            agent,
            command,
        } => {
            let host = Host {
                tmux,
                socket,
                state,
                stagger,
                silence,
                on_waiting,
                pin: pin.map(|file| (file, agent)),
                keep_snapshots,
                command,
            };
            host::host(host).map(|never| match never {})
        }
        Internal::WaitReady { tmux, socket } => host::wait_ready(&tmux, &socket),
        Internal::Pane(launch) => host::pane(&launch_of(launch)),
        Internal::Launch(launch) => host::launch(&launch_of(launch)).map(|never| match never {}),
        Internal::Stopped { state, unit } => host::stopped(&state, &unit),
        Internal::Notify {
            state,
            kind,
            on_waiting,
            ..
        } => host::notify(&state, kind.as_deref(), on_waiting.as_deref()),
        Internal::OnWaitingEnded { state } => host::on_waiting_ended(&state),
        Internal::Permission { state, wait } => host::permission(&state, wait),
        Internal::Call { args } => call(args),
        Internal::View { product, write } => view(&ProductName::parse(&product)?, write),
        Internal::Decide {
            product,
            id,
            decision,
            by,
        } => decide(&ProductName::parse(&product)?, &id, &decision, &by),
    }
}

/// Prints the hello line, then execs this same program with `args`: no process stays between
/// ssh and the command, so its output, exit code and signals reach the caller untouched.
fn call(args: Vec<OsString>) -> Result<()> {
    let hello = fleet::hello_line()?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{hello}")
        .and_then(|()| stdout.flush())
        .context("writing the hello line")?;
    let exe = std::env::current_exe().context("finding this sessctl's own program")?;
    let err = Command::new(&exe).args(args).exec();
    Err(anyhow!("running {}: {err}", exe.display()))
}

/// Shows `name`'s session on this terminal for another host's dashboard: its history, then
/// its tmux client in this process's place.
fn view(name: &ProductName, write: bool) -> Result<()> {
    let Some(here) = terminal::here(&Paths::from_env()?, name)? else {
        return exit_with(LOST);
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&here.history)
        .and_then(|()| stdout.flush())
        .context("writing the pane's history")?;
    here.show(write).map(|never| match never {})
}

/// Answers `name`'s question `id` for another host's dashboard, and prints what it answered.
fn decide(name: &ProductName, id: &str, decision: &str, by: &str) -> Result<()> {
    let behavior = match decision {
        "allow" => Behavior::Allow,
        _ => Behavior::Deny,
    };
    let ctx = Ctx::new(Paths::from_env()?);
    let asked = permission::decide(&ctx, name, id, behavior, by)?;
    out!(
        "{}",
        serde_json::to_string(&asked).context("writing the answer")?
    );
    Ok(())
}

fn launch_of(args: AgentLaunch) -> Launch {
    Launch {
        state: args.state,
        slot: args.slot,
        stagger: args.stagger,
        pin: args.pin.zip(args.agent),
        command: args.command,
    }
}

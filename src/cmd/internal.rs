//! `sessctl internal`: the steps the rendered unit runs inside the service.

use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::agent::{self, Agent, AgentEnv, Pin};
use crate::cli::Internal;
use crate::procfs;
use crate::session;
use crate::snapshot;

pub fn run(cmd: Internal) -> Result<()> {
    match cmd {
        Internal::Host {
            tmux,
            socket,
            pin,
            keep_snapshots,
            agent,
            command,
        } => {
            let command = match pin {
                Some(file) => pinned_command(&file, keep_snapshots, agent, command)?,
                None => command,
            };
            session::host(&tmux, &socket, &command).map(|never| match never {})
        }
        Internal::WaitReady { tmux, socket } => session::wait_ready(&tmux, &socket),
    }
}

/// The agent's command line for this start of the conversation pinned in `file`. Runs inside
/// the unit, so this process's environment and directory are the agent's.
fn pinned_command(
    file: &Path,
    keep_snapshots: u32,
    agent: Agent,
    command: Vec<String>,
) -> Result<Vec<String>> {
    let Some(pin) = Pin::load(file)? else {
        return Ok(command);
    };
    // One writer per conversation, however the other one was launched.
    let own = procfs::cgroup(std::process::id());
    if let Some(w) = agent::other_writers(&pin.session_id, own.as_deref()).first() {
        bail!(
            "conversation {} is already being written by {w}; not starting a second agent on it",
            pin.session_id
        );
    }
    let env = AgentEnv::caller();
    // Before every start, the conversation as it was.
    if let Some(transcript) = agent.transcript(&env, &pin.session_id)? {
        let dir = file.with_file_name("snapshots");
        snapshot::take(&transcript, &dir)?;
        snapshot::prune(&dir, keep_snapshots as usize)?;
    }
    let cwd = std::env::current_dir().context("reading the session's directory")?;
    let cwd = cwd
        .to_str()
        .with_context(|| format!("the session's directory {cwd:?} is not valid UTF-8"))?;
    agent.pinned_argv(&env, cwd, &command, &pin)
}

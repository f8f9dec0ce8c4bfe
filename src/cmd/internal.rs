//! `sessctl internal`: the steps the rendered unit runs inside the service.

use anyhow::{bail, Result};

use crate::agent::{self, Pin};
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
                Some(file) => match Pin::load(&file)? {
                    Some(pin) => {
                        // One writer per conversation, however the other one was launched.
                        let own = procfs::cgroup(std::process::id());
                        if let Some(w) =
                            agent::other_writers(&pin.session_id, own.as_deref()).first()
                        {
                            bail!("conversation {} is already being written by {w}; not starting a second agent on it", pin.session_id);
                        }
                        // Before every start, the conversation as it was.
                        if let Some(transcript) = agent.transcript(&pin.session_id) {
                            let dir = file.with_file_name("snapshots");
                            snapshot::take(&transcript, &dir)?;
                            snapshot::prune(&dir, keep_snapshots as usize)?;
                        }
                        agent.pinned_argv(&command, &pin)
                    }
                    None => command,
                },
                None => command,
            };
            session::host(&tmux, &socket, &command).map(|never| match never {})
        }
        Internal::WaitReady { tmux, socket } => session::wait_ready(&tmux, &socket),
    }
}

//! `sessctl internal`: the steps the rendered unit runs inside the service.

use anyhow::Result;

use crate::cli::Internal;
use crate::session;

pub fn run(cmd: Internal) -> Result<()> {
    match cmd {
        Internal::Host {
            tmux,
            socket,
            command,
        } => session::host(&tmux, &socket, &command).map(|never| match never {}),
        Internal::WaitReady { tmux, socket } => session::wait_ready(&tmux, &socket),
    }
}

//! `sessctl internal`: the steps the rendered unit runs inside the service.

use anyhow::Result;

use crate::agent::{self, Pin};
use crate::cli::Internal;
use crate::session;

pub fn run(cmd: Internal) -> Result<()> {
    match cmd {
        Internal::Host {
            tmux,
            socket,
            pin,
            command,
        } => {
            let command = match pin {
                Some(file) => match Pin::load(&file)? {
                    Some(pin) => agent::pinned_argv(&command, &pin),
                    None => command,
                },
                None => command,
            };
            session::host(&tmux, &socket, &command).map(|never| match never {})
        }
        Internal::WaitReady { tmux, socket } => session::wait_ready(&tmux, &socket),
    }
}

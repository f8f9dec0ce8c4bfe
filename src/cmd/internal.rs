//! `sessctl internal`: the steps the rendered unit runs inside the service, and the ones its
//! tmux server runs for it; each is `lifecycle::host`'s.

use anyhow::Result;

use crate::cli::{AgentLaunch, Internal};
use crate::lifecycle::host::{self, Host, Launch};

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
    }
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

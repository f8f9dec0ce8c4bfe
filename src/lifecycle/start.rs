//! Starting a session on purpose: on the conversation the agent last wrote, never beside a
//! second writer of it, never over a stray tmux server on the product's socket.

use anyhow::{bail, Result};

use crate::agent::AgentEnv;
use crate::error::usage;
use crate::paths::Paths;
use crate::pin::Pin;
use crate::product::Product;
use crate::session;
use crate::state::{self, Event, EventKind, Locked, Writer};
use crate::systemd::{ActiveState, Systemd, UnitStatus};
use crate::unit;

/// Starts `product`'s session and waits for the start job: refused while another process
/// works on its pinned conversation; a failed state (a start limit hit) is cleared first. The
/// caller remembers the session with `observe::observe`.
pub fn start_session(
    lock: &Locked,
    paths: &Paths,
    systemd: &Systemd,
    product: &Product,
    status: &UnitStatus,
) -> Result<()> {
    // Only a pinned conversation is looked for where the agent went on with it, in folders
    // the manager's environment places: an unpinned start spares the manager the round trip.
    let env = match Pin::load(&paths.pin_file(&product.name))? {
        Some(_) => agent_env(systemd, product)?,
        None => AgentEnv::of(&product.env, None),
    };
    start_with(lock, paths, systemd, product, &env, status)
}

/// [`start_session`] with the agent's environment already read.
pub(super) fn start_with(
    lock: &Locked,
    paths: &Paths,
    systemd: &Systemd,
    product: &Product,
    env: &AgentEnv,
    status: &UnitStatus,
) -> Result<()> {
    if let Some(missing) = product.missing_line() {
        return Err(usage(format!("{}: cannot start: {missing}", product.name)));
    }
    // A start resumes the conversation where the agent last wrote it.
    follow(lock, product, env)?;
    refuse_second_writer(paths, systemd, &product.name)?;
    let socket = paths.socket(&product.name)?;
    if !status.is_running() && session::server_listening(&socket) {
        bail!(
            "a tmux server outside {} listens on the product's socket {}; `sessctl doctor` names its process: stop it, then try again",
            status.unit,
            socket.display()
        );
    }
    if status.active_state == ActiveState::Failed {
        systemd.reset_failed(&status.unit)?;
    }
    systemd.start(&status.unit)
}

/// The environment `product`'s agent runs with, as the unit gives it.
pub fn agent_env(systemd: &Systemd, product: &Product) -> Result<AgentEnv> {
    Ok(AgentEnv::of(&product.env, Some(&systemd.environment()?)))
}

/// One writer per conversation: refuses while a process outside the product's unit works on
/// its pinned conversation, wherever that process was launched.
pub fn refuse_second_writer(paths: &Paths, systemd: &Systemd, product: &str) -> Result<()> {
    let Some(pin) = Pin::load(&paths.pin_file(product))? else {
        return Ok(());
    };
    let own = systemd.details(&unit::unit_name(product))?.control_group;
    match crate::procfs::other_writers(&pin.session_id, Some(&own)).first() {
        Some(writer) => bail!(
            "conversation {} of {product} is already being written by {writer}; stop that process, then try again",
            pin.session_id
        ),
        None => Ok(()),
    }
}

/// Re-pins `product` when its agent went on with its pinned conversation in a new file;
/// returns the new id. (The first conversation of an agent that picks its own ids is pinned
/// by the unit, which alone knows when it began.)
pub fn follow(lock: &Locked, product: &Product, env: &AgentEnv) -> Result<Option<String>> {
    let Some(mut pin) = Pin::load(&lock.dir().pin())? else {
        return Ok(None);
    };
    let Some(moved) =
        (product.agent.profile()).successor(env, &product.dir, Some(&pin.session_id))?
    else {
        return Ok(None);
    };
    let now = state::rfc3339(std::time::SystemTime::now());
    pin.repin(&moved.session_id, moved.reason, &now);
    pin.save(lock)?;
    state::append(
        lock,
        &Event::new(EventKind::Repin, None).did(moved.how.as_str(), Some(&moved.session_id)),
    );
    Ok(Some(moved.session_id))
}

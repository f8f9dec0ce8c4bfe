//! The product's unit file: its text as `enable` writes it, and the marker of a change that
//! waits for a restart.

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::paths::Paths;
use crate::product::Product;
use crate::state::{Locked, Writer};
use crate::store;
use crate::unit::{self, ServiceSpec};

/// The running sessctl binary's path, as the units it writes name it.
pub fn sessctl_binary() -> Result<String> {
    let exe = std::env::current_exe().context("locating the sessctl binary")?;
    exe.into_os_string()
        .into_string()
        .map_err(|exe| anyhow::anyhow!("the sessctl binary's path {exe:?} is not valid UTF-8"))
}

/// The product's unit text as `enable` writes it, hosted by the running sessctl binary.
pub fn render(paths: &Paths, product: &Product) -> Result<String> {
    let sessctl = &sessctl_binary()?;
    let agent_env = (product.agent.profile().unit_env().iter())
        .filter(|(key, _)| !product.env.contains_key(*key))
        .map(|(key, value)| (key.to_string(), value.to_string()));
    let env: Vec<(String, String)> = agent_env.chain(product.env.clone()).collect();
    let pin = product
        .agent
        .profile()
        .pins()
        .then(|| paths.pin_file(&product.name).to_string_lossy().into_owned());
    let keep = product.keep_snapshots.to_string();
    let stagger = product.stagger.to_string();
    let silence = product.silence.to_string();
    let state = paths.state_dir(&product.name);
    let state = state
        .to_str()
        .with_context(|| format!("the state directory {state:?} is not valid UTF-8"))?;
    unit::render_service(&ServiceSpec {
        state,
        stagger: &stagger,
        silence: &silence,
        on_waiting: product.on_waiting.as_deref(),
        pin: pin.as_deref(),
        keep_snapshots: &keep,
        agent: product.agent.name(),
        product: &product.name,
        dir: &product.dir,
        command: &product.command,
        env: &env,
        sessctl,
        tmux: &product.tmux,
    })
}

/// Writes the product's unit file `text`.
pub fn write(lock: &Locked, paths: &Paths, text: &str) -> Result<()> {
    store::write_atomic(&paths.unit_file(lock.name()), text.as_bytes())
}

/// The marker that a unit file changed under a live session: it holds that session's
/// InvocationID, so it means "restart pending" exactly until the session is replaced.
pub fn pending_marker(paths: &Paths, product: &str) -> PathBuf {
    paths.restart_marker(product)
}

/// Marks the live session `invocation_id` as running on an older unit file.
pub fn mark_pending(lock: &Locked, invocation_id: &str) -> Result<()> {
    store::write_atomic(&lock.dir().restart_marker(), invocation_id.as_bytes())
}

/// The session that ran on an older unit file was replaced.
pub fn clear_pending(lock: &Locked) -> Result<()> {
    store::remove_file(&lock.dir().restart_marker())
}

pub fn restart_pending(paths: &Paths, product: &str, invocation_id: &str) -> Result<bool> {
    let marker = store::read_optional(&pending_marker(paths, product))?;
    Ok(!invocation_id.is_empty() && marker.as_deref().map(str::trim) == Some(invocation_id))
}

//! `sessctl start`, `stop` and `restart`: one systemd job each, waited for to its result.

use anyhow::Result;

use crate::agent;
use crate::paths::Paths;
use crate::product::{self, Product};
use crate::resume;
use crate::store::{self, Lock};
use crate::systemd::Systemd;
use crate::unit;

pub fn start(paths: &Paths, name: &str) -> Result<()> {
    let (systemd, _lock) = prepare(paths, name)?;
    let product = Product::load(paths, name)?;
    let unit = unit::unit_name(name);
    let before = systemd.status(&unit)?;
    let was_running = before.is_running();
    if !was_running {
        resume::start_session(paths, &systemd, &product, &before)?;
        resume::observe(paths, &systemd, name, "start")?;
    }
    outln!(
        "{unit}: {}",
        if was_running {
            "already active"
        } else {
            "started"
        }
    );
    Ok(())
}

pub fn stop(paths: &Paths, name: &str) -> Result<()> {
    let (systemd, _lock) = prepare(paths, name)?;
    let unit = unit::unit_name(name);
    systemd.stop(&unit)?;
    resume::forget(paths, name, "stop")?;
    outln!("{unit}: stopped");
    Ok(())
}

pub fn restart(paths: &Paths, name: &str) -> Result<()> {
    let (systemd, _lock) = prepare(paths, name)?;
    let product = Product::load(paths, name)?;
    let unit = unit::unit_name(name);
    agent::follow(paths, &product, &resume::agent_env(&systemd, &product)?)?;
    resume::refuse_second_writer(paths, &systemd, name)?;
    systemd.restart(&unit)?;
    resume::observe(paths, &systemd, name, "restart")?;
    store::remove_file(&super::pending_marker(paths, name))?;
    outln!("{unit}: restarted");
    Ok(())
}

/// Checks the product exists, connects, and takes its lock, in that order. The config is not
/// parsed here: a stop must work on a config that no longer parses.
fn prepare(paths: &Paths, name: &str) -> Result<(Systemd, Lock)> {
    product::check_name(name)?;
    Product::config_text(paths, name)?;
    let systemd = Systemd::connect()?;
    let lock = Lock::acquire(&paths.lock_file(name))?;
    Ok((systemd, lock))
}

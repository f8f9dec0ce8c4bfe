//! The dashboard's user service: its socket and server units written, enabled and started, or
//! stopped and removed. Only the dashboard's own two units are ever touched: a session lives
//! in its own unit, so no step here can end one.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Result};

use crate::paths::Paths;
use crate::store::{self, Lock};
use crate::systemd::Systemd;
use crate::unit::{self, DASHBOARD_SERVICE, DASHBOARD_SOCKET};

use super::unit_file;

/// Refuses an address other machines can reach: the token would cross the network in clear
/// text, since the dashboard speaks no TLS yet.
pub fn check_loopback(addr: SocketAddr) -> Result<()> {
    if !addr.ip().is_loopback() {
        bail!(
            "{addr} is not a loopback address, and the dashboard speaks no TLS yet: listen on 127.0.0.1 and reach it through `tailscale serve` or an SSH tunnel (README)"
        );
    }
    Ok(())
}

/// What `enable` and `disable` did, one line each.
pub type Lines = Vec<String>;

/// Writes the dashboard's units for `listen`, reloads, enables the socket and starts it; a
/// socket already listening elsewhere is moved (its server restarted with it).
pub fn enable(paths: &Paths, listen: SocketAddr) -> Result<Lines> {
    check_loopback(listen)?;
    let sessctl = unit_file::sessctl_binary()?;
    let [socket_text, service_text] = unit::render_dashboard(&sessctl, &listen.to_string())?;
    let systemd = Systemd::connect()?;
    let _lock = lock(paths)?;
    let socket_changed = store::write_if_changed(&file(paths, DASHBOARD_SOCKET), &socket_text)?;
    let service_changed = store::write_if_changed(&file(paths, DASHBOARD_SERVICE), &service_text)?;
    let mut lines = Vec::new();
    if socket_changed || service_changed {
        systemd.reload()?;
        lines.push(format!("{DASHBOARD_SOCKET}: written and reloaded"));
    }
    systemd.enable(DASHBOARD_SOCKET)?;
    let running = systemd.active_state(DASHBOARD_SOCKET)?.is_running();
    if running && socket_changed {
        // A socket cannot change its address in place; the server goes with it, the
        // sessions stay where they are.
        systemd.stop(DASHBOARD_SERVICE)?;
        systemd.restart(DASHBOARD_SOCKET)?;
    } else if running && service_changed {
        systemd.stop(DASHBOARD_SERVICE)?;
    } else {
        systemd.start(DASHBOARD_SOCKET)?;
    }
    lines.push(format!(
        "{DASHBOARD_SOCKET}: enabled and listening on http://{listen}/"
    ));
    Ok(lines)
}

/// Stops the dashboard's server and socket, disables the socket and removes both units.
pub fn disable(paths: &Paths) -> Result<Lines> {
    let systemd = Systemd::connect()?;
    let _lock = lock(paths)?;
    for unit in [DASHBOARD_SERVICE, DASHBOARD_SOCKET] {
        if systemd.unit_file(unit)?.load_state != "not-found" {
            systemd.stop(unit)?;
        }
    }
    if file(paths, DASHBOARD_SOCKET).exists() {
        systemd.disable(DASHBOARD_SOCKET)?;
    }
    for unit in [DASHBOARD_SOCKET, DASHBOARD_SERVICE] {
        store::remove_file(&file(paths, unit))?;
    }
    systemd.reload()?;
    Ok(vec![format!(
        "{DASHBOARD_SOCKET}, {DASHBOARD_SERVICE}: stopped, disabled and removed"
    )])
}

/// The address the installed socket unit listens on, if one is installed in the user's
/// unit directory.
pub fn listening_on(paths: &Paths) -> Result<Option<String>> {
    let text = store::read_optional(&file(paths, DASHBOARD_SOCKET))?;
    Ok(text.and_then(|text| {
        text.lines()
            .find_map(|l| l.strip_prefix("ListenStream="))
            .map(str::to_string)
    }))
}

fn file(paths: &Paths, unit: &str) -> PathBuf {
    paths.unit_dir().join(unit)
}

/// One change to the dashboard's units at a time. Product names start with a letter or digit,
/// so no product's lock is named like this one.
fn lock(paths: &Paths) -> Result<Lock> {
    Lock::acquire(&paths.state_root().join("locks/.dashboard.lock"))
}

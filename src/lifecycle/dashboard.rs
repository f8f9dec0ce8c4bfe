//! The dashboard's user service: its socket and server units written, enabled and started, or
//! stopped and removed. Only the dashboard's own two units are ever touched: a session lives
//! in its own unit, so no step here can end one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::context::Ctx;
use crate::error::{quoted, usage};
use crate::login;
use crate::paths::Paths;
use crate::store::{self, Lock};

use crate::tls;

/// The certificate and key the dashboard serves HTTPS with.
pub use crate::tls::Files as Tls;
use crate::unit::{self, DASHBOARD_SERVICE, DASHBOARD_SOCKET};

use super::unit_file;

/// Refuses an address other machines can reach unless the dashboard speaks TLS there: the
/// token would cross the network in clear text.
pub fn check_reach(addr: SocketAddr, tls: Option<&tls::Files>) -> Result<()> {
    if !addr.ip().is_loopback() && tls.is_none() {
        return Err(usage(format!(
            "{addr} is not a loopback address, and the dashboard would carry its token there in clear text: give --tls-cert and --tls-key, or listen on 127.0.0.1 and reach it through `tailscale serve` or an SSH tunnel (README)"
        )));
    }
    Ok(())
}

/// Where the dashboard listens unless told otherwise.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    7878,
));

/// The host name browsers reach a loopback dashboard by. Browsers resolve every `*.localhost`
/// name to loopback themselves, and a cookie set for this name is never sent to the other
/// servers on `127.0.0.1` or `localhost`, as one set for `127.0.0.1` would be (cookies ignore
/// ports).
pub const HOST_NAME: &str = "sessctl.localhost";

/// Where browsers reach a dashboard listening on `addr`: on loopback, by [`HOST_NAME`]; with
/// TLS, `https://` and the address (the host name its certificate names goes in its place).
pub fn served_url(addr: SocketAddr, tls: bool) -> String {
    match (tls, addr.ip().is_loopback()) {
        (false, true) => format!("http://{HOST_NAME}:{}/", addr.port()),
        (false, false) => format!("http://{addr}/"),
        (true, _) => format!("https://{addr}/"),
    }
}

/// The TLS files made absolute (a unit runs elsewhere) and checked by loading them.
fn checked_tls(tls: Option<tls::Files>) -> Result<Option<tls::Files>> {
    let Some(files) = tls else {
        return Ok(None);
    };
    let absolute = |path: &std::path::Path| {
        std::path::absolute(path)
            .with_context(|| format!("resolving {}", quoted(&path.to_string_lossy())))
    };
    let files = tls::Files {
        cert: absolute(&files.cert)?,
        key: absolute(&files.key)?,
    };
    tls::load(&files)?;
    Ok(Some(files))
}

/// What `enable` and `disable` did, one line each.
pub type Lines = Vec<String>;

/// Writes the dashboard's units for `listen`, reloads, enables the socket and starts it; a
/// socket already listening elsewhere is moved (its server restarted with it).
pub fn enable(
    ctx: &Ctx,
    listen: SocketAddr,
    tls: Option<tls::Files>,
    hosts: &[String],
) -> Result<Lines> {
    let tls = checked_tls(tls)?;
    check_reach(listen, tls.as_ref())?;
    let sessctl = unit_file::sessctl_binary()?;
    let tls_args = match &tls {
        Some(files) => Some((utf8(&files.cert)?, utf8(&files.key)?)),
        None => None,
    };
    let [socket_text, service_text] =
        unit::render_dashboard(&sessctl, &listen.to_string(), tls_args, hosts)?;
    let (paths, systemd) = (&ctx.paths, ctx.systemd()?);
    let _lock = lock(paths)?;
    let socket_changed = store::write_if_changed(&file(paths, DASHBOARD_SOCKET), &socket_text)?;
    let service_changed = store::write_if_changed(&file(paths, DASHBOARD_SERVICE), &service_text)?;
    let mut lines = Vec::new();
    if socket_changed || service_changed {
        systemd.reload()?;
        lines.push(format!("{DASHBOARD_SOCKET}: written and reloaded"));
    }
    systemd.enable(DASHBOARD_SOCKET)?;
    systemd.enable(DASHBOARD_SERVICE)?;
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
    // The server runs from now on, not from the first visit: it sends the push notices.
    systemd.start(DASHBOARD_SERVICE)?;
    lines.push(format!(
        "{DASHBOARD_SOCKET}: enabled, listening on {listen}; open {}",
        served_url(listen, tls.is_some())
    ));
    Ok(lines)
}

/// Stops the dashboard's server and socket, disables the socket and removes both units.
pub fn disable(ctx: &Ctx) -> Result<Lines> {
    let (paths, systemd) = (&ctx.paths, ctx.systemd()?);
    let _lock = lock(paths)?;
    for unit in [DASHBOARD_SERVICE, DASHBOARD_SOCKET] {
        if systemd.unit_file(unit)?.load_state != crate::systemd::LoadState::NotFound {
            systemd.stop(unit)?;
        }
    }
    for unit in [DASHBOARD_SOCKET, DASHBOARD_SERVICE] {
        if file(paths, unit).exists() {
            systemd.disable(unit)?;
        }
    }
    for unit in [DASHBOARD_SOCKET, DASHBOARD_SERVICE] {
        store::remove_file(&file(paths, unit))?;
    }
    systemd.reload()?;
    Ok(vec![format!(
        "{DASHBOARD_SOCKET}, {DASHBOARD_SERVICE}: stopped, disabled and removed"
    )])
}

/// Where browsers reach the installed dashboard (`served_url`), if its units are in the
/// user's unit directory.
pub fn url(paths: &Paths) -> Result<Option<String>> {
    let socket = store::read_optional(&file(paths, DASHBOARD_SOCKET))?;
    let Some(listen) = socket.as_deref().and_then(|text| {
        text.lines()
            .find_map(|l| l.strip_prefix("ListenStream="))
            .and_then(|l| l.parse::<SocketAddr>().ok())
    }) else {
        return Ok(None);
    };
    let service = store::read_optional(&file(paths, DASHBOARD_SERVICE))?.unwrap_or_default();
    Ok(Some(served_url(listen, service.contains(" --tls-cert "))))
}

/// A one-time login link to the installed dashboard (else to one on [`DEFAULT_LISTEN`]),
/// good for `lifetime`: `sessctl dashboard url`'s and `pair`'s differ only in that.
pub fn login_link(paths: &Paths, lifetime: Duration) -> Result<String> {
    let at = url(paths)?.unwrap_or_else(|| served_url(DEFAULT_LISTEN, false));
    let token = login::token(paths)?;
    Ok(format!(
        "{at}login?code={}",
        login::new_code(paths, &token, lifetime)?
    ))
}

/// The dashboard's token, made on first use.
pub fn token(paths: &Paths) -> Result<String> {
    login::token(paths)
}

/// A new token for the dashboard; every login session and link made with the old one ends.
pub fn new_token(paths: &Paths) -> Result<String> {
    login::token(paths)?;
    login::new_token(paths)
}

/// Logs out the browsers `which` names; how many.
pub fn revoke(paths: &Paths, which: login::Which) -> Result<usize> {
    let token = login::token(paths)?;
    login::revoke(paths, &token, which)
}

fn utf8(path: &std::path::Path) -> Result<&str> {
    path.to_str().ok_or_else(|| {
        usage(format!(
            "{} is not valid UTF-8, which a unit file cannot hold; move the file",
            quoted(&path.to_string_lossy())
        ))
    })
}

fn file(paths: &Paths, unit: &str) -> PathBuf {
    paths.unit_dir().join(unit)
}

/// One change to the dashboard's units at a time. Product names start with a letter or digit,
/// so no product's lock is named like this one.
fn lock(paths: &Paths) -> Result<Lock> {
    Lock::acquire(&paths.dashboard_lock())
}

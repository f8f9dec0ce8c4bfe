//! Doctor's environment checks: the runtime directory, the user bus, linger, logind's
//! KillUserProcesses, tmux, and memory-controller delegation.

use std::path::{Path, PathBuf};

use anyhow::Result;

use super::{Finding, FindingId, Severity};
use crate::context::Ctx;
use crate::product::{self, Product};
use crate::session;
use crate::systemd::{self, Systemd, UnitCheck};

/// The oldest tmux whose server can run in the foreground (`tmux -D`).
const TMUX_MIN: (u32, u32) = (3, 2);

pub fn check(products: &[Product]) -> Result<Vec<Finding>> {
    let mut found = Vec::new();
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        found.push(Finding::new(
            FindingId::RuntimeDirUnset,
            Severity::Error,
            "XDG_RUNTIME_DIR is not set (common after su or sudo): sessctl cannot find the user bus or the tmux sockets",
            vec!["environment: XDG_RUNTIME_DIR unset".into()],
            "log in as the user (ssh, a desktop session, or `machinectl shell USER@`), or `export XDG_RUNTIME_DIR=/run/user/$(id -u)`",
        ));
    }
    found.extend(linger()?);
    found.extend(kill_user_processes()?);
    found.extend(tmux(products)?);
    Ok(found)
}

/// Connects to the user manager, or records why it cannot.
pub fn manager<'c>(ctx: &'c Ctx, found: &mut Vec<Finding>) -> Option<&'c Systemd> {
    match ctx.systemd() {
        Ok(systemd) => Some(systemd),
        Err(err) => {
            found.push(Finding::new(
            FindingId::BusUnreachable,
                Severity::Error,
                "the systemd user manager cannot be reached over the user bus: no session can be started, resumed or checked",
                vec![format!("{err:#}")],
                "start a user manager with its bus (`apt-get install dbus-user-session`, then log in again), and make sure DBUS_SESSION_BUS_ADDRESS or XDG_RUNTIME_DIR points at it",
            ));
            None
        }
    }
}

fn user_name() -> Result<String> {
    let uid = nix::unistd::getuid();
    Ok(nix::unistd::User::from_uid(uid)?.map_or_else(|| uid.to_string(), |u| u.name))
}

/// Linger, from logind over the system bus where it runs, else from its flag file.
/// `SESSCTL_LINGER_DIR` names the flag directory and skips logind (for tests and containers).
fn linger() -> Result<Vec<Finding>> {
    let user = user_name()?;
    let uid = nix::unistd::getuid().as_raw();
    let flag = |file: PathBuf| {
        let on = file.exists();
        (
            on,
            format!(
                "{} {}",
                file.display(),
                if on { "exists" } else { "does not exist" }
            ),
        )
    };
    let (on, evidence) = match std::env::var_os("SESSCTL_LINGER_DIR") {
        Some(dir) => flag(PathBuf::from(dir).join(&user)),
        None => match systemd::logind_linger(uid) {
            Some(on) => (
                on,
                format!(
                    "logind reports Linger={} for {user}",
                    if on { "yes" } else { "no" }
                ),
            ),
            None => flag(Path::new("/var/lib/systemd/linger").join(&user)),
        },
    };
    if on {
        return Ok(Vec::new());
    }
    Ok(vec![Finding::new(
            FindingId::LingerOff,
        Severity::Warning,
        format!("linger is off for {user}: the user manager, and every session in it, stops at logout and does not start at boot"),
        vec![evidence],
        format!("loginctl enable-linger {user}"),
    )])
}

/// logind's KillUserProcesses=, from logind.conf and its drop-ins (the last setting wins).
/// `SESSCTL_LOGIND_CONF` names the main file instead of /etc/systemd/logind.conf.
fn kill_user_processes() -> Result<Vec<Finding>> {
    let user = user_name()?;
    let mut setting: Option<(bool, String)> = None;
    let mut excluded = false;
    let mut unread = Vec::new();
    for file in logind_files() {
        let text = match std::fs::read_to_string(&file) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            // Skipped, it could hide the very setting this check looks for.
            Err(err) => {
                unread.push(format!("{}: {err}", file.display()));
                continue;
            }
        };
        let mut in_login = false;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.starts_with('[') {
                in_login = line == "[Login]";
            } else if let (true, Some((key, value))) = (in_login, line.split_once('=')) {
                match key.trim() {
                    "KillUserProcesses" => {
                        let yes = matches!(value.trim(), "yes" | "true" | "1" | "on");
                        setting = Some((yes, format!("{}:{}: {line}", file.display(), n + 1)));
                    }
                    "KillExcludeUsers" => excluded = value.split_whitespace().any(|u| u == user),
                    _ => {}
                }
            }
        }
    }
    let mut found = Vec::new();
    if !unread.is_empty() {
        found.push(Finding::new(
            FindingId::LogindConfUnreadable,
            Severity::Warning,
            "doctor cannot read part of logind's configuration, so it cannot tell whether logind kills every process of a login session at logout (KillUserProcesses=)",
            unread,
            "make the files readable (or remove what is not a file), then run doctor again",
        ));
    }
    match setting {
        Some((true, evidence)) if !excluded => found.push(Finding::new(
            FindingId::KillUserProcesses,
            Severity::Warning,
            "logind kills every process of a login session at logout (KillUserProcesses=yes): a session launched from a terminal or SSH login, rather than by sessctl, dies with it",
            vec![evidence],
            format!("set KillUserProcesses=no in that file, or add {user} to KillExcludeUsers=, then `systemctl restart systemd-logind`; and launch sessions only through sessctl"),
        )),
        _ => {}
    }
    Ok(found)
}

fn logind_files() -> Vec<PathBuf> {
    let (main, dropin_dirs) = match std::env::var_os("SESSCTL_LOGIND_CONF").map(PathBuf::from) {
        Some(main) => {
            let dir = PathBuf::from(format!("{}.d", main.display()));
            (main, vec![dir])
        }
        None => (
            PathBuf::from("/etc/systemd/logind.conf"),
            [
                "/usr/lib/systemd/logind.conf.d",
                "/usr/local/lib/systemd/logind.conf.d",
                "/run/systemd/logind.conf.d",
                "/etc/systemd/logind.conf.d",
            ]
            .map(PathBuf::from)
            .to_vec(),
        ),
    };
    // Drop-ins apply in file-name order; of two with one name, the later directory wins.
    let mut dropins: std::collections::BTreeMap<std::ffi::OsString, PathBuf> = Default::default();
    for dir in dropin_dirs {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "conf") {
                dropins.insert(entry.file_name(), path);
            }
        }
    }
    std::iter::once(main).chain(dropins.into_values()).collect()
}

/// tmux on PATH and every tmux a product's unit runs: present, and new enough for `-D`.
fn tmux(products: &[Product]) -> Result<Vec<Finding>> {
    let mut binaries: Vec<String> = Vec::new();
    match product::resolve_program("tmux") {
        Ok(path) => binaries.push(path),
        Err(_) => {
            return Ok(vec![Finding::new(
            FindingId::TmuxMissing,
            Severity::Error,
            "tmux is not installed (not found in PATH): sessctl cannot host or attach any session",
            vec![format!(
                "PATH={}",
                std::env::var("PATH").unwrap_or_default()
            )],
            "apt-get install tmux (3.2 or newer)",
        )])
        }
    }
    for p in products {
        if !binaries.contains(&p.tmux) {
            binaries.push(p.tmux.clone());
        }
    }
    let mut found = Vec::new();
    for binary in binaries {
        let path = Path::new(&binary);
        if !path.exists() {
            found.push(Finding::new(
            FindingId::TmuxMissing,
                Severity::Error,
                format!("{binary} does not exist: the units that run it cannot start"),
                vec![format!("{binary}: no such file")],
                "reinstall tmux, then run `sessctl doctor` again for the enable command of each product",
            ));
            continue;
        }
        let version = session::version(path)?;
        if version.is_some_and(|v| v < TMUX_MIN) {
            let (major, minor) = version.unwrap_or_default();
            found.push(Finding::new(
            FindingId::TmuxTooOld,
                Severity::Error,
                format!("{binary} is tmux {major}.{minor}; sessctl needs 3.2 or newer for a foreground server (tmux -D)"),
                vec![format!("{binary} -V: tmux {major}.{minor}")],
                "install tmux 3.2 or newer",
            ));
        }
    }
    Ok(found)
}

/// Whether the memory controller reaches the user manager, so Memory*= settings work.
/// `SESSCTL_CGROUP_ROOT` names the cgroup2 mount instead of `/sys/fs/cgroup` (or its
/// `unified` on a hybrid host), for tests and containers.
pub fn memory(systemd: &Systemd, units: &[String], views: &[UnitCheck]) -> Result<Vec<Finding>> {
    let cgroup = systemd.manager_cgroup()?;
    let base = match std::env::var_os("SESSCTL_CGROUP_ROOT") {
        Some(root) => PathBuf::from(root),
        None if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() => "/sys/fs/cgroup".into(),
        None => "/sys/fs/cgroup/unified".into(),
    };
    let file = format!("{}{cgroup}/cgroup.controllers", base.display());
    let Ok(controllers) = std::fs::read_to_string(&file) else {
        return Ok(Vec::new());
    };
    if controllers.split_whitespace().any(|c| c == "memory") {
        return Ok(Vec::new());
    }
    let limited: Vec<&String> = (units.iter().zip(views))
        .filter(|(_, view)| view.memory_limited)
        .map(|(unit, _)| unit)
        .collect();
    let severity = if limited.is_empty() {
        Severity::Note
    } else {
        Severity::Warning
    };
    let mut evidence = vec![format!("{file}: \"{}\"", controllers.trim())];
    evidence.extend(
        limited
            .iter()
            .map(|u| format!("{u} sets MemoryHigh= or MemoryMax=")),
    );
    Ok(vec![Finding::new(
            FindingId::MemoryNotDelegated,
        severity,
        "the memory controller is not delegated to the user manager: MemoryHigh= and MemoryMax= in user units do nothing",
        evidence,
        "as root: `systemctl edit user@.service`, add `[Service]` and `Delegate=cpu cpuset io memory pids`, then log in again",
    )])
}

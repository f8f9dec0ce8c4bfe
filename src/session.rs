//! The tmux host of a session: one tmux server and socket per product, the only module that
//! runs tmux.
//!
//! Inside the unit, `internal host` writes a tmux config that creates the session and then
//! execs `tmux -D` in its place, so the foreground tmux server is the unit's main process
//! (tmux(1): `-D` does not daemonise; with `-D` no command may be given, hence the config).
//! Every client call here passes `-N`, so a call that finds no server can never start a stray
//! one in the caller's cgroup, where it would die with the caller.
//!
//! Adapter for tmux. May import: `poll`, `procfs`, `pty`, `store`.

use std::convert::Infallible;
use std::ffi::OsStr;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::poll;
use crate::pty;
use crate::store;

/// The one tmux session each product's server hosts.
pub const SESSION: &str = "main";

/// How long the unit's start job waits for the session to exist before it fails.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// The longest sleep between two probes of a start: a start is attachable within tens of
/// milliseconds, and every one the probe oversleeps is one more before `start` returns.
const READY_POLL: Duration = Duration::from_millis(5);

/// Runs as the unit's ExecStart: writes the server config beside the socket and becomes the
/// tmux server, running `argv` in its session. Returns only on failure.
/// tmux's silence monitor, for an agent that cannot say it waits: after `seconds` without
/// output the session is marked waiting, and its next output clears the mark. Both run
/// `notify`, a shell command (`<notify> silence`, `<notify> --clear`).
pub struct Silence {
    pub seconds: u32,
    pub notify: String,
}

pub fn host(
    tmux: &Path,
    socket: &Path,
    argv: &[String],
    silence: Option<&Silence>,
) -> Result<Infallible> {
    let dir = socket
        .parent()
        .context("a socket path without a directory")?;
    // Without -N, `tmux -D` on a socket another server answers becomes that server's client:
    // the unit would then report the stranger's session as its own.
    if server_listening(socket) {
        bail!(
            "a tmux server outside this unit already listens on {}; sessctl neither joins nor replaces it: `sessctl doctor` names its process, stop it and start again",
            socket.display()
        );
    }
    let conf = dir.join("tmux.conf");
    store::write_atomic(&conf, server_config(argv, silence).as_bytes())?;
    let err = Command::new(tmux)
        .arg("-D")
        .arg("-S")
        .arg(socket)
        .arg("-f")
        .arg(&conf)
        .exec();
    Err(err).with_context(|| format!("executing {}", tmux.display()))
}

/// The terminal type a dashboard viewer's client declares: xterm.js's.
const VIEWER_TERM: &str = "xterm-256color";

/// The server config: `exit-empty` comes back on (`-D` turns it off) so the server, and with
/// it the unit, ends when the agent does. Lines that scroll off a pane reach a terminal of the
/// viewer's type as line feeds, never as one "scroll up N" (`indn`): xterm.js, like xterm,
/// keeps in its scrollback only lines a line feed pushed off. The argv goes through `env`
/// because tmux runs a single-word command through `sh -c`, which would reinterpret it.
fn server_config(argv: &[String], silence: Option<&Silence>) -> String {
    let mut line = format!("new-session -d -s {SESSION} -- '/usr/bin/env' '--'");
    for arg in argv {
        line.push(' ');
        line.push_str(&tmux_quote(arg));
    }
    let monitor = silence.map_or(String::new(), silence_config);
    format!(
        "# Written by sessctl; recreated on every start.\nset -s exit-empty on\nset -as terminal-overrides ',{VIEWER_TERM}:indn@'\n{monitor}{line}\n"
    )
}

/// The silence alert fires only where `silence-action` applies, and the default (`other`)
/// leaves out the session's one window; `visual-*` turns the bell an alert rings in an
/// attached terminal into a brief message. With no client attached tmux flags the window
/// after one alert and skips every later one until the flag is cleared: `kill-session -C`
/// clears alert flags and nothing else (tmux(1)), so the next quiet is seen too. Activity is
/// watched only once silence was seen, so a streaming agent runs no command per burst of
/// output: the first output clears the mark and stops watching.
fn silence_config(silence: &Silence) -> String {
    let run = |args: &str| tmux_quote(&format!("{} {args}", silence.notify));
    format!(
        "set -g silence-action any\nset -g visual-silence on\nset -g activity-action any\nset -g visual-activity on\nset -wg monitor-silence {seconds}\nset-hook -g alert-silence {{\n  run-shell -b {on}\n  kill-session -C\n  set -w monitor-activity on\n}}\nset-hook -g alert-activity {{\n  run-shell -b {off}\n  set -w monitor-activity off\n}}\n",
        seconds = silence.seconds,
        on = run("silence"),
        off = run("--clear"),
    )
}

/// Single quotes keep everything literal in tmux's config syntax; a quote itself is closed,
/// escaped and reopened, as in sh.
fn tmux_quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}

/// Waits, with bounded backoff, until the product's session exists with its agent started.
pub fn wait_ready(tmux: &Path, socket: &Path) -> Result<()> {
    // systemd gives control processes the main PID: once the host is gone, stop waiting.
    let host = std::env::var("MAINPID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok());
    let ready = poll::until_capped(READY_TIMEOUT, READY_POLL, || {
        if let Some((server, pane)) = session_processes(tmux, socket)? {
            // Only the unit's own server counts: a stranger's on the socket is no start.
            if let Some(pid) = host.filter(|&pid| pid != server) {
                bail!(
                    "tmux session {SESSION} on {} is served by PID {server}, not by the unit's main process {pid}",
                    socket.display()
                );
            }
            // The pane's process starts the agent as its child: until then, nothing runs.
            if !crate::procfs::children(pane).is_empty() {
                return Ok(Some(()));
            }
        }
        if let Some(pid) = host.filter(|&pid| crate::procfs::start_ticks(pid).is_none()) {
            bail!("the session's host (PID {pid}) exited before tmux session {SESSION} appeared");
        }
        Ok(None)
    })?;
    ready.with_context(|| {
        format!(
            "tmux session {SESSION} on {} did not appear within {}s",
            socket.display(),
            READY_TIMEOUT.as_secs()
        )
    })
}

/// Whether a tmux server listens on `socket`: a socket file nobody accepts on is a leftover.
pub fn server_listening(socket: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(socket).is_ok()
}

/// Whether the product's server runs and hosts its session.
pub fn has_session(tmux: &Path, socket: &Path) -> Result<bool> {
    if !socket.exists() {
        return Ok(false);
    }
    let status = client(tmux, socket)
        .args(["has-session", "-t", SESSION])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .with_context(|| format!("running {} has-session", tmux.display()))?;
    Ok(status.success())
}

/// The PIDs of the server that hosts the product's session and of its pane's process, if the
/// session exists.
fn session_processes(tmux: &Path, socket: &Path) -> Result<Option<(u32, u32)>> {
    if !socket.exists() {
        return Ok(None);
    }
    let out = client(tmux, socket)
        .args(["display-message", "-p", "-t", SESSION, "#{pid} #{pane_pid}"])
        .stderr(Stdio::null())
        .output()
        .with_context(|| format!("running {} display-message", tmux.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let pids = text
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<Vec<u32>, _>>();
    Ok(match pids {
        Ok(pids) if out.status.success() && pids.len() == 2 => Some((pids[0], pids[1])),
        _ => None,
    })
}

/// Attaches this terminal to the session until the user detaches or the session ends.
pub fn attach(tmux: &Path, socket: &Path) -> Result<()> {
    let status = client(tmux, socket)
        .args(attach_args(true))
        .status()
        .with_context(|| format!("running {} attach-session", tmux.display()))?;
    if !status.success() {
        bail!(
            "tmux attach-session on {} ended with {status}",
            socket.display()
        );
    }
    Ok(())
}

pub use crate::pty::{resize, Size, Viewer};

/// The pane's history: the lines that scrolled off its screen, oldest first, wrapped lines
/// joined, with the escape sequences of their colours (`capture-pane -e -J`); empty while
/// nothing has. A tmux client is sent only the screen, so a viewer shows this above it.
pub fn history(tmux: &Path, socket: &Path) -> Result<Vec<u8>> {
    // Both in one command list, which the server runs as one: the size read is the size of
    // the history captured. With no history `-E -1` would be the screen's first line.
    let out = client(tmux, socket)
        .args([
            "display-message",
            "-p",
            "-t",
            SESSION,
            "#{history_size}",
            ";",
        ])
        .args([
            "capture-pane",
            "-p",
            "-e",
            "-J",
            "-t",
            SESSION,
            "-S",
            "-",
            "-E",
            "-1",
        ])
        .stderr(Stdio::null())
        .output()
        .with_context(|| format!("running {} capture-pane", tmux.display()))?;
    if !out.status.success() {
        bail!(
            "tmux capture-pane on {} ended with {}",
            socket.display(),
            out.status
        );
    }
    let (size, lines) = split_first_line(&out.stdout);
    Ok(match size.trim_ascii() {
        b"0" => Vec::new(),
        _ => lines.to_vec(),
    })
}

fn split_first_line(text: &[u8]) -> (&[u8], &[u8]) {
    match text.iter().position(|&b| b == b'\n') {
        Some(end) => (&text[..end], &text[end + 1..]),
        None => (text, &[]),
    }
}

/// Starts a [`Viewer`]. `-N` as every client here, so it never starts a server of its own;
/// `-r` unless `write`, so tmux itself ignores its keys. The client's complaints (a session
/// that ended meanwhile) go nowhere: the terminal shows the session and nothing but the
/// session.
pub fn viewer(tmux: &Path, socket: &Path, write: bool, size: Size) -> Result<Viewer> {
    let args: Vec<&OsStr> = (client_args(socket).into_iter())
        .chain(attach_args(write).into_iter().map(OsStr::new))
        .collect();
    pty::spawn(
        tmux.as_os_str(),
        &args,
        Some(VIEWER_TERM),
        Stdio::null(),
        size,
    )
}

/// Becomes a viewer's tmux client on this process's own terminal: another host's dashboard
/// shows this one's session through ssh (`sessctl internal view`). Returns only on failure.
pub fn view_here(tmux: &Path, socket: &Path, write: bool) -> Result<Infallible> {
    let err = client(tmux, socket)
        .args(attach_args(write))
        .env("TERM", VIEWER_TERM)
        .exec();
    Err(err).with_context(|| format!("executing {} attach-session", tmux.display()))
}

/// A client's `attach-session`: read-only (`-r`) unless `write`.
fn attach_args(write: bool) -> Vec<&'static str> {
    let mut args = vec!["attach-session", "-t", SESSION];
    if !write {
        args.push("-r");
    }
    args
}

/// `tmux -V` as (major, minor), e.g. "tmux 3.3a" is (3, 3); `None` for a version string
/// without numbers ("tmux master").
pub fn version(tmux: &Path) -> Result<Option<(u32, u32)>> {
    let out = Command::new(tmux)
        .arg("-V")
        .output()
        .with_context(|| format!("running {} -V", tmux.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(parse_version(&text))
}

fn parse_version(text: &str) -> Option<(u32, u32)> {
    let digits = text
        .trim()
        .rsplit(' ')
        .next()?
        .trim_start_matches(|c: char| !c.is_ascii_digit());
    let (major, rest) = digits.split_once('.')?;
    let minor: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((major.parse().ok()?, minor.parse().ok()?))
}

fn client(tmux: &Path, socket: &Path) -> Command {
    let mut cmd = Command::new(tmux);
    cmd.args(client_args(socket));
    cmd
}

/// What every client call here passes first: `-N` (never start a server) and the socket.
fn client_args(socket: &Path) -> [&OsStr; 3] {
    [OsStr::new("-N"), OsStr::new("-S"), socket.as_os_str()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("tmux 3.3a\n"), Some((3, 3)));
        assert_eq!(parse_version("tmux next-3.4"), Some((3, 4)));
        assert_eq!(parse_version("tmux 2.9"), Some((2, 9)));
        assert_eq!(parse_version("tmux master"), None);
    }

    #[test]
    fn config_quotes_every_argument() {
        let argv = vec![
            "/bin/a b".to_string(),
            "it's".to_string(),
            "#{x} $y ;".to_string(),
        ];
        let conf = server_config(&argv, None);
        assert!(conf.contains(
            r#"new-session -d -s main -- '/usr/bin/env' '--' '/bin/a b' 'it'\''s' '#{x} $y ;'"#
        ));
        assert!(conf.contains("set -s exit-empty on\n"));
        assert!(conf.contains("set -as terminal-overrides ',xterm-256color:indn@'\n"));
    }
}

//! Reading processes from `/proc`: start times, children, and the user's processes with what
//! doctor needs to tell which session they belong to.
//!
//! Adapter for `/proc`. Imports nothing of sessctl.

use std::fs;
use std::path::PathBuf;

use nix::unistd::Uid;

/// The kernel's name for a tmux server.
const TMUX_SERVER: &str = "tmux: server";

/// One process, as `/proc` shows it.
#[derive(Debug, Clone)]
pub struct Process {
    pub pid: u32,
    pub ppid: u32,
    /// The kernel's short name; tmux servers call themselves "tmux: server".
    pub comm: String,
    pub argv: Vec<String>,
    pub cwd: Option<PathBuf>,
    /// The environment of a tmux server (`KEY=VALUE` each), which places its default socket;
    /// empty for any other process, whose environment nobody asks for: reading it for every
    /// process of a user with 200 sessions was a third of doctor's sweep of /proc.
    pub environ: Vec<String>,
}

impl Process {
    pub fn is_tmux_server(&self) -> bool {
        self.comm == TMUX_SERVER
    }

    /// The value of `name` in the process's environment.
    pub fn env(&self, name: &str) -> Option<&str> {
        self.environ
            .iter()
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    }
}

/// Field 22 of `/proc/<pid>/stat` (start time in clock ticks after boot); `None` for a process
/// that is gone or a zombie.
pub fn start_ticks(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses; the fields after the last ')' do not.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// Whether `pid` has a controlling terminal (`tty_nr` of proc_pid_stat(5) is not 0).
pub fn has_terminal(pid: u32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // state, ppid, pgrp, session, tty_nr: after the command name, as in `start_ticks`.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(4))
        .is_some_and(|tty| tty != "0")
}

/// The children of `pid`'s main thread.
pub fn children(pid: u32) -> Vec<u32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .map(|text| {
            text.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// The process's cgroup path (the unified hierarchy's, else the `name=systemd` one).
pub fn cgroup(pid: u32) -> Option<String> {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let unified = text.lines().find_map(|l| l.strip_prefix("0::"));
    let named = text
        .lines()
        .find_map(|l| l.split_once(":name=systemd:").map(|(_, p)| p));
    unified
        .filter(|p| *p != "/")
        .or(named)
        .or(unified)
        .map(str::to_string)
}

/// Every live process owned by `uid`. Processes that vanish while being read are skipped.
/// Sorted by PID, so parents usually come before their children.
pub fn processes_of(uid: Uid) -> Vec<Process> {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            (entry.metadata().ok()?.uid() == uid.as_raw()).then_some(pid)
        })
        .collect();
    pids.sort_unstable();
    pids.into_iter().filter_map(read).collect()
}

/// The environment of process `pid` (`KEY=VALUE` each); empty when it cannot be read.
pub fn environ(pid: u32) -> Vec<String> {
    split(fs::read(format!("/proc/{pid}/environ")).unwrap_or_default())
}

/// The NUL-separated words of a /proc file.
fn split(raw: Vec<u8>) -> Vec<String> {
    let raw = raw.strip_suffix(&[0]).unwrap_or(&raw);
    if raw.is_empty() {
        return Vec::new();
    }
    raw.split(|b| *b == 0)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

fn read(pid: u32) -> Option<Process> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (head, rest) = stat.rsplit_once(')')?;
    let comm = head.split_once('(')?.1.to_string();
    let mut fields = rest.split_whitespace();
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    let ppid = fields.next()?.parse().ok()?;
    let argv = split(fs::read(format!("/proc/{pid}/cmdline")).ok()?);
    // Kernel threads have no command line.
    if argv.is_empty() {
        return None;
    }
    let environ = match comm == TMUX_SERVER {
        true => environ(pid),
        false => Vec::new(),
    };
    Some(Process {
        pid,
        ppid,
        comm,
        argv,
        cwd: fs::read_link(format!("/proc/{pid}/cwd")).ok(),
        environ,
    })
}

/// A process other than the product's own session that works on conversation `session_id`:
/// one whose command line names it (`--resume <id>`, `--session-id <id>`). Two writers on one
/// transcript interleave their records and break its chain.
#[derive(Debug, Clone)]
pub struct Writer {
    pub pid: u32,
    pub argv: Vec<String>,
    pub cgroup: Option<String>,
}

/// The processes of this user, outside the cgroup `own_cgroup` (the product's unit), that work
/// on conversation `session_id`.
pub fn other_writers(session_id: &str, own_cgroup: Option<&str>) -> Vec<Writer> {
    let me = std::process::id();
    processes_of(nix::unistd::getuid())
        .into_iter()
        .filter(|p| p.pid != me && p.argv.iter().any(|a| a == session_id))
        .map(|p| Writer {
            pid: p.pid,
            cgroup: cgroup(p.pid),
            argv: p.argv,
        })
        .filter(|w| own_cgroup.is_none() || w.cgroup.as_deref() != own_cgroup)
        .collect()
}

impl std::fmt::Display for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A process in a unit sits in a cgroup named after it; anywhere else it runs outside
        // any unit (a login shell's cgroup, or one systemd does not manage).
        let unit = self
            .cgroup
            .as_deref()
            .and_then(|c| c.rsplit('/').next())
            .filter(|leaf| leaf.ends_with(".service") || leaf.ends_with(".scope"));
        let place = match unit {
            Some(unit) => format!("in unit {unit}"),
            None => "outside any unit".to_string(),
        };
        write!(f, "PID {} ({}) {place}", self.pid, self.argv.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_found_with_its_start_time() {
        let me = std::process::id();
        assert!(start_ticks(me).is_some());
        let found = processes_of(nix::unistd::getuid());
        let this = found.iter().find(|p| p.pid == me).expect("this process");
        assert_eq!(this.cwd.as_deref(), std::env::current_dir().ok().as_deref());
        assert!(cgroup(me).is_some());
    }
}

//! The user journal (systemd-journald), over its native protocol: each event of a product's
//! log is also an entry that `journalctl --user -t sessctl SESSCTL_PRODUCT=<p>` finds; and a
//! unit's last lines, read back with `journalctl` ([`tail`]).
//!
//! It owns the closed set of event kinds, [`EventKind`], because each kind's MESSAGE_ID is a
//! journal identity fixed for good; `state` logs them.
//!
//! The product's JSONL log stays the record that always exists: with no journal listening,
//! an entry is dropped without a word, so sessctl runs the same with or without journald.
//!
//! May import: nothing of sessctl; `state` hands it an event's words.

use std::fmt;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};
use libsystemd::logging::{journal_send, Priority};
use serde::{Deserialize, Serialize};

/// What happened to a product's session, as its event log and the journal name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    Enable,
    Start,
    Resume,
    Attach,
    Stop,
    Restart,
    Disable,
    /// A session sessctl saw is gone. Logs written before 0.3 name it `loss`.
    #[serde(alias = "loss")]
    Lost,
    Recovered,
    Settled,
    AgentStart,
    Exit,
    OnWaiting,
    Adopt,
    Repin,
    Restore,
    Gc,
    /// The agent asked permission for a tool call, and how it was answered.
    Permission,
}

impl EventKind {
    /// Every kind, for the table of MESSAGE_IDs in docs/files.md.
    pub const ALL: [EventKind; 18] = [
        EventKind::Enable,
        EventKind::Start,
        EventKind::Resume,
        EventKind::Attach,
        EventKind::Stop,
        EventKind::Restart,
        EventKind::Disable,
        EventKind::Lost,
        EventKind::Recovered,
        EventKind::Settled,
        EventKind::AgentStart,
        EventKind::Exit,
        EventKind::OnWaiting,
        EventKind::Adopt,
        EventKind::Repin,
        EventKind::Restore,
        EventKind::Gc,
        EventKind::Permission,
    ];

    /// The kind as the log writes it (its serde name).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Enable => "enable",
            EventKind::Start => "start",
            EventKind::Resume => "resume",
            EventKind::Attach => "attach",
            EventKind::Stop => "stop",
            EventKind::Restart => "restart",
            EventKind::Disable => "disable",
            EventKind::Lost => "lost",
            EventKind::Recovered => "recovered",
            EventKind::Settled => "settled",
            EventKind::AgentStart => "agent-start",
            EventKind::Exit => "exit",
            EventKind::OnWaiting => "on-waiting",
            EventKind::Adopt => "adopt",
            EventKind::Repin => "repin",
            EventKind::Restore => "restore",
            EventKind::Gc => "gc",
            EventKind::Permission => "permission",
        }
    }

    /// The kind's MESSAGE_ID (sd-id128), fixed for good: a catalog or a `journalctl
    /// MESSAGE_ID=` filter may name it. docs/files.md lists them.
    pub fn message_id(self) -> &'static str {
        match self {
            EventKind::Enable => "9eab07099a604f07b7c990bab576a187",
            EventKind::Start => "3dcbcf397a87476990417e6f3c143349",
            EventKind::Resume => "b27af6525b7f4d46a7ac98c54662ac14",
            EventKind::Attach => "88f8764cee794e71a5f6bf3b2f9bbc00",
            EventKind::Stop => "3d16d8407859476ebab6bbf0e5ea20a5",
            EventKind::Restart => "d86bc25839e043c180abc6a28749decc",
            EventKind::Disable => "1c83baaef15f495da4f06ad9636e0f05",
            EventKind::Lost => "b08ce1e3cb4d475b9241ad1851c8c1d3",
            EventKind::Recovered => "afac81c8159e42f895e17fb8031a7ee2",
            EventKind::Settled => "cd68d77d8e784c31b26d445e640f3b20",
            EventKind::AgentStart => "4a4d50e15cdb4c58afad85f6dd3acbb0",
            EventKind::Exit => "e3968fd1f059435f9e8afa038f10aa1e",
            EventKind::OnWaiting => "b2ac3031607441ca8d2c88cd9749f0ef",
            EventKind::Adopt => "fdcee69bed2340bcb4db3c48e2f9f024",
            EventKind::Repin => "d487f623afb945be9c95c588004d7ddb",
            EventKind::Restore => "deebf4b8e6364f17a2fc6c32f1524135",
            EventKind::Gc => "f89800d93f5f4bfe868012f75aed50df",
            EventKind::Permission => "e6f28c81646f4a2b982199ad2b94fb20",
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so that `{:<8}` aligns the log's columns.
        f.pad(self.as_str())
    }
}

/// Sends one entry: `message`, identified as sessctl, with the product, the event kind, its
/// MESSAGE_ID and `fields` (names already in the journal's upper case). A session lost is a
/// warning; everything else is information.
pub fn send(product: &str, kind: EventKind, message: &str, fields: &[(&str, String)]) {
    let priority = match kind {
        EventKind::Lost => Priority::Warning,
        _ => Priority::Info,
    };
    let standard = [
        ("SYSLOG_IDENTIFIER", "sessctl"),
        ("SESSCTL_PRODUCT", product),
        ("SESSCTL_EVENT", kind.as_str()),
        ("MESSAGE_ID", kind.message_id()),
    ];
    let all = standard
        .into_iter()
        .chain(fields.iter().map(|(k, v)| (*k, v.as_str())));
    // No journal (a container, a system without journald, a test's private manager): the
    // JSONL log has the event, and a warning here would be noise on every command.
    let _ = journal_send(priority, message, all);
}

/// The unit's last `lines` lines in the user journal, when this machine runs journald; empty
/// without one (a container, the private test manager). journald has no D-Bus API for reading,
/// so this is the one place that runs `journalctl`.
pub fn tail(unit: &str, lines: usize) -> Result<Vec<String>> {
    if !Path::new("/run/systemd/journal/socket").exists() {
        return Ok(Vec::new());
    }
    let out = Command::new("journalctl")
        .args([
            "--user",
            "--unit",
            unit,
            "--output",
            "cat",
            "--no-pager",
            "--quiet",
        ])
        .arg(format!("--lines={lines}"))
        .output()
        .context("running journalctl")?;
    if !out.status.success() {
        bail!("journalctl {}", out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_kind_is_written_as_its_name_and_has_its_own_message_id() {
        let mut ids = HashSet::new();
        for kind in EventKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<EventKind>(&json).unwrap(), kind);
            assert!(
                ids.insert(kind.message_id()),
                "{kind} shares its MESSAGE_ID"
            );
        }
    }

    #[test]
    fn the_old_name_of_lost_still_reads() {
        let kind: EventKind = serde_json::from_str("\"loss\"").unwrap();
        assert_eq!(kind, EventKind::Lost);
    }
}

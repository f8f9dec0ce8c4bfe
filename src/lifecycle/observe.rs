//! Reading a session: its identity from systemd and `/proc`, and whether the session sessctl
//! last saw is gone; and recording either, for the commands that change sessions.
//!
//! The readings ([`identity_of`], [`judge_loss`]) take no lock and write nothing, so `query`
//! reads with them too. The writers ([`observe`], [`forget`], [`loss_since_seen`]) run under
//! the product's lock; a loss is logged at most once (`state::claim_loss`), by the first
//! command that changes the product after it (`resume`, and `attach` through it).

use anyhow::Result;

use crate::error::Verdict;
use crate::identity::Identity;
use crate::journal;
use crate::paths::Paths;
use crate::procfs::{self, start_ticks};
use crate::state::{self, Event, EventKind, LastExit, Locked, Record, Writer};
use crate::systemd::{Systemd, UnitStatus};
use crate::unit;

/// Reads the unit's state over D-Bus and its processes from `/proc`.
pub fn identity(systemd: &Systemd, unit: &str) -> Result<(Identity, UnitStatus)> {
    let status = systemd.status(unit)?;
    Ok((identity_of(&status), status))
}

/// The identity of the session whose unit systemd reports as `status`: the processes are
/// read here, from /proc.
pub fn identity_of(status: &UnitStatus) -> Identity {
    let main = status.main_pid;
    // tmux server -> the pane's process (`sessctl internal pane`) -> the agent. The server
    // also forks jobs of its own for a moment (the silence monitor's `run-shell`): the pane's
    // process is the one child with a terminal, its pty.
    let pane = (main != 0)
        .then(|| {
            only(
                procfs::children(main)
                    .into_iter()
                    .filter(|&c| procfs::has_terminal(c)),
            )
        })
        .flatten();
    let agent = pane.and_then(|pane| only(procfs::children(pane).into_iter()));
    Identity {
        active_state: status.active_state,
        invocation_id: status.invocation_id.clone(),
        main_pid: main,
        main_start_ticks: (main != 0).then(|| start_ticks(main)).flatten(),
        agent_pid: agent,
        agent_start_ticks: agent.and_then(start_ticks),
        exec_main_start_timestamp: status.exec_main_start_timestamp,
        n_restarts: status.n_restarts,
    }
}

/// The one process of `pids`; none when there are none or several.
fn only(mut pids: impl Iterator<Item = u32>) -> Option<u32> {
    match (pids.next(), pids.next()) {
        (Some(one), None) => Some(one),
        _ => None,
    }
}

/// After a command changed the session on purpose (start, restart, enable): remember the
/// session now running and log `event`.
pub fn observe(lock: &Locked, systemd: &Systemd, event: EventKind) -> Result<Identity> {
    let (now, _) = identity(systemd, &unit::unit_name(lock.name()))?;
    let record = state::load_record(lock.dir().0)?;
    state::remember(lock, &now, record.as_ref())?;
    state::append(lock, &Event::new(event, Some(&now)));
    Ok(now)
}

/// After a command ended the session on purpose (stop, disable): that is not a loss.
pub fn forget(lock: &Locked, event: EventKind) -> Result<()> {
    state::forget(lock)?;
    state::append(lock, &Event::new(event, None));
    Ok(())
}

/// The session sessctl last recorded (none before its first start), beside what systemd
/// reports of the unit now.
#[derive(Clone, Copy)]
pub struct Sighting<'a> {
    pub record: Option<&'a Record>,
    pub now: &'a Identity,
    pub status: &'a UnitStatus,
}

/// Whether the session sessctl last saw is gone, and why, judged from what systemd reports
/// now. Writes nothing: `status` and `list` report a loss that only a resume records.
pub fn judge_loss(
    paths: &Paths,
    systemd: &Systemd,
    product: &str,
    seen: Sighting,
) -> Result<Option<String>> {
    let Sighting {
        record,
        now,
        status,
    } = seen;
    let Some(record) = record else {
        return Ok(None);
    };
    // A stop, restart or disable under way, or killed midway, was asked for.
    if super::intent::ending(paths, product)? {
        return Ok(None);
    }
    let Some(change) = record.identity.change_to(now) else {
        return Ok(None);
    };
    let dir = paths.state_dir(product);
    // The agent's last end tells the story if nobody asked for it and it came after the
    // session sessctl saw began.
    let end = LastExit::load(&dir)?
        .filter(|end| !end.requested && end.at_us >= record.identity.exec_main_start_timestamp);
    let reason = match end {
        Some(end) if now.is_live() => {
            let pinned = paths.pin_file(product).exists();
            let same = if pinned {
                " on the same conversation"
            } else {
                ""
            };
            format!("{}; systemd restarted it{same}", end.describe())
        }
        Some(end) => explain(systemd, status, end.describe())?,
        None => explain(
            systemd,
            status,
            format!("since sessctl last saw it, {change}"),
        )?,
    };
    Ok(Some(reason))
}

/// [`judge_loss`], and a loss found written to the event log once, whoever records it first.
/// The record stays until the resume replaces it.
pub fn loss_since_seen(
    lock: &Locked,
    paths: &Paths,
    systemd: &Systemd,
    seen: Sighting,
) -> Result<Option<String>> {
    let reason = judge_loss(paths, systemd, lock.name(), seen)?;
    if let (Some(reason), Some(record)) = (&reason, seen.record) {
        if state::claim_loss(lock, &record.identity)? {
            log_loss(lock, &record.identity, reason);
        }
    }
    Ok(reason)
}

pub(super) fn log_loss(lock: &Locked, seen: &Identity, reason: &str) {
    state::append(
        lock,
        &Event::new(EventKind::Lost, Some(seen)).judged(Verdict::Lost, Some(reason)),
    )
}

/// `change`, with what systemd says about how the unit last ended, and the journal's last
/// lines when there is a journal.
pub(super) fn explain(systemd: &Systemd, status: &UnitStatus, change: String) -> Result<String> {
    let details = systemd.details(&status.unit)?;
    let text = format!(
        "{change}; systemd: {} ({}), Result={}, ExecMainStatus={}, NRestarts={}",
        status.active_state,
        details.sub_state,
        details.result,
        details.exec_main_status,
        status.n_restarts
    );
    Ok(match journal::tail(&status.unit, 3) {
        Ok(lines) if lines.is_empty() => text,
        Ok(lines) => format!("{text}; journal: {}", lines.join(" | ")),
        Err(err) => format!("{text}; journal unreadable: {err:#}"),
    })
}

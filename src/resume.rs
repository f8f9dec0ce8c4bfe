//! Resuming a session and proving it survived: shared by `resume`, `verify`, and by every
//! command that starts, stops or inspects a session and so must keep sessctl's memory of it.
//!
//! Locking. Every step that reads a session's identity to judge it, or changes the session
//! (enable, start, stop, restart, disable, attach's start, resume), holds the product's `flock`
//! (`$XDG_STATE_HOME/sessctl/locks/<product>.lock`) from its first reading to its last write.
//! So concurrent calls run one after another: twenty resumes of a stopped product find it
//! stopped exactly once, and the other nineteen find the session that one started; a resume
//! racing a stop or a restart judges a session no other sessctl call is changing. The kernel
//! drops a `flock` when its holder dies, so a resume killed mid-start leaves no stale lock; the
//! start job it issued belongs to systemd and completes or fails there, and the next call
//! judges what systemd then reports. Attaching happens after the lock is released, so a long
//! attach never blocks other calls; the judgement after it takes the lock again. `status` and
//! `list` only read, and take no lock: they never wait behind a start, and the loss they may
//! log is claimed with an O_EXCL marker instead (`state::claim_loss`).

use anyhow::{bail, Result};
use serde::Serialize;

use crate::agent::{self, AgentEnv, Pin};
use crate::identity::{self, Identity};
use crate::paths::Paths;
use crate::product::Product;
use crate::session;
use crate::state::{self, Event, LastExit, Record};
use crate::store::Lock;
use crate::systemd::{Systemd, UnitStatus};
use crate::unit;

/// What happened to the session across a resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Same invocation, same main PID, same agent PID (each with the same start time).
    Survived,
    /// There was no session, and now there is one.
    Started,
    /// It was running, and now it is not or it is a different process.
    Lost,
    /// There is no session, and starting one would only run into a transcript that fails check.
    NeedsRepair,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Survived => "survived",
            Verdict::Started => "started",
            Verdict::Lost => "lost",
            Verdict::NeedsRepair => "needs-repair",
        }
    }
}

/// The proof a resume gives; its JSON form is the documented `resume --json` object.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub product: String,
    pub unit: String,
    pub verdict: Verdict,
    /// Why the session was lost; null otherwise.
    pub reason: Option<String>,
    /// The session was lost and a new one runs on the same conversation: this call started it,
    /// or systemd already had. `after` is the new session.
    pub recovered: bool,
    /// Of the session after the resume; null when there is none.
    pub uptime_seconds: Option<u64>,
    pub before: Identity,
    pub after: Identity,
}

impl Outcome {
    /// The one line a person reads.
    pub fn line(&self) -> String {
        let uptime = self
            .uptime_seconds
            .map_or("-".to_string(), identity::human_duration);
        match self.verdict {
            Verdict::Survived => format!(
                "{}: survived, up {uptime} ({})",
                self.unit,
                self.after.summary()
            ),
            Verdict::Started => format!("{}: started ({})", self.unit, self.after.summary()),
            Verdict::Lost if self.recovered => format!(
                "{}: lost: {}\n{}: recovered ({})",
                self.unit,
                self.reason.as_deref().unwrap_or("the session changed"),
                self.unit,
                self.after.summary()
            ),
            Verdict::Lost => format!(
                "{}: lost: {}",
                self.unit,
                self.reason.as_deref().unwrap_or("the session changed")
            ),
            Verdict::NeedsRepair => format!(
                "{}: needs repair: {}",
                self.unit,
                self.reason
                    .as_deref()
                    .unwrap_or("the transcript fails check")
            ),
        }
    }
}

/// Resumes `product`'s session: a live session is never started, restarted or reloaded; a
/// missing one is started. A session sessctl saw running that has since been lost is reported
/// as lost, and in the same call a new one is started on the same conversation (unless the
/// guard says the client cannot resume it). `event` names the command in the event log.
pub fn resume(paths: &Paths, systemd: &Systemd, product: &str, event: &str) -> Result<Outcome> {
    let unit = unit::unit_name(product);
    let _lock = Lock::acquire(&paths.lock_file(product))?;
    let (before, status) = identity::read(systemd, &unit)?;
    let record = state::load_record(paths, product)?;
    let loss = loss_since_seen(paths, systemd, product, record.as_ref(), &before, &status)?;
    let (verdict, reason, after, recovered) = if let Some(reason) = loss {
        if before.is_live() {
            (Verdict::Lost, Some(reason), before.clone(), true)
        } else {
            match start_unless_guarded(paths, systemd, product, &status)? {
                Ok(after) => (Verdict::Lost, Some(reason), after, true),
                Err(why) => {
                    let reason = format!("{reason}; not started again: {why}");
                    (Verdict::Lost, Some(reason), before.clone(), false)
                }
            }
        }
    } else if before.is_live() {
        let (after, status) = identity::read(systemd, &unit)?;
        match before.change_to(&after) {
            None => (Verdict::Survived, None, after, false),
            Some(change) => {
                let reason = explain(systemd, &status, change)?;
                log_loss(paths, product, &after, &reason);
                let recovered = after.is_live();
                (Verdict::Lost, Some(reason), after, recovered)
            }
        }
    } else {
        match start_unless_guarded(paths, systemd, product, &status)? {
            Ok(after) => (Verdict::Started, None, after, false),
            Err(why) => (Verdict::NeedsRepair, Some(why), before.clone(), false),
        }
    };
    state::remember(paths, product, &after, record.as_ref())?;
    if recovered {
        state::append(paths, product, &Event::new("recovered", Some(&after)));
    }
    let outcome = Outcome {
        product: product.to_string(),
        unit,
        verdict,
        uptime_seconds: after.uptime_seconds(),
        reason,
        recovered,
        before,
        after,
    };
    state::append(
        paths,
        product,
        &Event::new(event, Some(&outcome.after))
            .verdict(verdict.as_str(), outcome.reason.as_deref()),
    );
    Ok(outcome)
}

/// Starts the session and proves it runs, or says why the guard refuses the start: a start
/// would only meet the transcript the client cannot resume (the crash-loop guard).
fn start_unless_guarded(
    paths: &Paths,
    systemd: &Systemd,
    product: &str,
    status: &UnitStatus,
) -> Result<std::result::Result<Identity, String>> {
    let settings = Product::load(paths, product)?;
    let env = agent_env(systemd, &settings)?;
    if let Some(why) = agent::needs_repair(paths, &settings, &env)? {
        return Ok(Err(why));
    }
    start_with(paths, systemd, &settings, &env, status)?;
    let (after, status) = identity::read(systemd, &status.unit)?;
    if !after.is_live() {
        let why = format!("{} started, but no session runs in it", status.unit);
        bail!("{}", explain(systemd, &status, why)?);
    }
    Ok(Ok(after))
}

/// Judges the session against `before` (the identity a resume proved) after an attach
/// returned: survived or lost, never started.
pub fn judge(
    paths: &Paths,
    systemd: &Systemd,
    product: &str,
    before: &Identity,
) -> Result<Outcome> {
    let unit = unit::unit_name(product);
    let _lock = Lock::acquire(&paths.lock_file(product))?;
    let (after, status) = identity::read(systemd, &unit)?;
    let record = state::load_record(paths, product)?;
    let reason = match before.change_to(&after) {
        Some(change) => Some(explain(systemd, &status, change)?),
        None => None,
    };
    if let Some(reason) = &reason {
        log_loss(paths, product, &after, reason);
    }
    state::remember(paths, product, &after, record.as_ref())?;
    let verdict = if reason.is_some() {
        Verdict::Lost
    } else {
        Verdict::Survived
    };
    state::append(
        paths,
        product,
        &Event::new("attach", Some(&after)).verdict(verdict.as_str(), reason.as_deref()),
    );
    Ok(Outcome {
        product: product.to_string(),
        unit,
        verdict,
        uptime_seconds: after.uptime_seconds(),
        reason,
        recovered: false,
        before: before.clone(),
        after,
    })
}

/// Starts `product`'s session on purpose and waits for the start job: refused while another
/// process works on its pinned conversation; a failed state (a start limit hit) is cleared
/// first. The caller holds the product's lock, and remembers the session with [`observe`].
pub fn start_session(
    paths: &Paths,
    systemd: &Systemd,
    product: &Product,
    status: &UnitStatus,
) -> Result<()> {
    start_with(
        paths,
        systemd,
        product,
        &agent_env(systemd, product)?,
        status,
    )
}

/// [`start_session`] with the agent's environment already read.
fn start_with(
    paths: &Paths,
    systemd: &Systemd,
    product: &Product,
    env: &AgentEnv,
    status: &UnitStatus,
) -> Result<()> {
    // A start resumes the conversation where the agent last wrote it.
    agent::follow(paths, product, env)?;
    refuse_second_writer(paths, systemd, &product.name)?;
    let socket = paths.socket(&product.name)?;
    if !status.is_running() && session::server_listening(&socket) {
        bail!(
            "a tmux server outside {} listens on the product's socket {}; `sessctl doctor` names its process: stop it, then try again",
            status.unit,
            socket.display()
        );
    }
    if status.active_state == "failed" {
        systemd.reset_failed(&status.unit)?;
    }
    systemd.start(&status.unit)
}

/// The environment `product`'s agent runs with, as the unit gives it.
pub fn agent_env(systemd: &Systemd, product: &Product) -> Result<AgentEnv> {
    Ok(AgentEnv::of(product, Some(&systemd.environment()?)))
}

/// One writer per conversation: refuses while a process outside the product's unit works on
/// its pinned conversation, wherever that process was launched.
pub fn refuse_second_writer(paths: &Paths, systemd: &Systemd, product: &str) -> Result<()> {
    let Some(pin) = Pin::load(&paths.pin_file(product))? else {
        return Ok(());
    };
    let own = systemd.details(&unit::unit_name(product))?.control_group;
    match agent::other_writers(&pin.session_id, Some(&own)).first() {
        Some(writer) => bail!(
            "conversation {} of {product} is already being written by {writer}; stop that process, then try again",
            pin.session_id
        ),
        None => Ok(()),
    }
}

/// After a command changed the session on purpose (start, restart, enable): remember the
/// session now running and log `event`. The caller holds the product's lock.
pub fn observe(paths: &Paths, systemd: &Systemd, product: &str, event: &str) -> Result<Identity> {
    let (now, _) = identity::read(systemd, &unit::unit_name(product))?;
    let record = state::load_record(paths, product)?;
    state::remember(paths, product, &now, record.as_ref())?;
    state::append(paths, product, &Event::new(event, Some(&now)));
    Ok(now)
}

/// After a command ended the session on purpose (stop, disable): that is not a loss.
pub fn forget(paths: &Paths, product: &str, event: &str) -> Result<()> {
    state::forget(paths, product)?;
    state::append(paths, product, &Event::new(event, None));
    Ok(())
}

/// Whether the session sessctl last saw is gone, judged from what systemd reports `now`. A
/// loss is written to the event log once, whoever notices it first (`status`, `list`,
/// `resume`), with no lock needed; the record stays until a resume reports it.
pub fn loss_since_seen(
    paths: &Paths,
    systemd: &Systemd,
    product: &str,
    record: Option<&Record>,
    now: &Identity,
    status: &UnitStatus,
) -> Result<Option<String>> {
    let Some(record) = record else {
        return Ok(None);
    };
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
    if state::claim_loss(paths, product, &record.identity)? {
        log_loss(paths, product, &record.identity, &reason);
    }
    Ok(Some(reason))
}

fn log_loss(paths: &Paths, product: &str, seen: &Identity, reason: &str) {
    state::append(
        paths,
        product,
        &Event::new("lost", Some(seen)).verdict("lost", Some(reason)),
    )
}

/// `change`, with what systemd says about how the unit last ended, and the journal's last
/// lines when there is a journal.
fn explain(systemd: &Systemd, status: &UnitStatus, change: String) -> Result<String> {
    let details = systemd.details(&status.unit)?;
    let text = format!(
        "{change}; systemd: {} ({}), Result={}, ExecMainStatus={}, NRestarts={}",
        status.active_state,
        details.sub_state,
        details.result,
        details.exec_main_status,
        status.n_restarts
    );
    Ok(match systemd.journal_tail(&status.unit, 3) {
        Ok(lines) if lines.is_empty() => text,
        Ok(lines) => format!("{text}; journal: {}", lines.join(" | ")),
        Err(err) => format!("{text}; journal unreadable: {err:#}"),
    })
}

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
//! attach never blocks other calls; the judgement after it takes the lock again.

use anyhow::{bail, Result};
use serde::Serialize;

use crate::agent::{self, AgentEnv, Pin};
use crate::identity::{self, Identity};
use crate::paths::Paths;
use crate::product::Product;
use crate::state::{self, Event, Record};
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
/// missing one is started, unless sessctl saw one running that has since been lost, which is
/// reported first (the next resume starts a new one).
pub fn resume(paths: &Paths, systemd: &Systemd, product: &str) -> Result<Outcome> {
    let unit = unit::unit_name(product);
    let _lock = Lock::acquire(&paths.lock_file(product))?;
    let (before, status) = identity::read(systemd, &unit)?;
    let record = state::load_record(paths, product)?;
    let (verdict, reason, after) = if let Some(reason) =
        loss_since_seen(paths, systemd, product, record.as_ref(), &before, &status)?
    {
        (Verdict::Lost, Some(reason), before.clone())
    } else if before.is_live() {
        let (after, status) = identity::read(systemd, &unit)?;
        match before.change_to(&after) {
            None => (Verdict::Survived, None, after),
            Some(change) => {
                let reason = explain(systemd, &status, change)?;
                log_loss(paths, product, &after, &reason);
                (Verdict::Lost, Some(reason), after)
            }
        }
    } else {
        let settings = Product::load(paths, product)?;
        let env = agent_env(systemd, &settings)?;
        if let Some(why) = agent::needs_repair(paths, &settings, &env)? {
            // The crash-loop guard: a start would only meet the same failure.
            (Verdict::NeedsRepair, Some(why), before.clone())
        } else {
            start_with(paths, systemd, &settings, &env, &status)?;
            let (after, status) = identity::read(systemd, &unit)?;
            if !after.is_live() {
                let why = format!("{unit} started, but no session runs in it");
                bail!("{}", explain(systemd, &status, why)?);
            }
            (Verdict::Started, None, after)
        }
    };
    state::remember(paths, product, &after, record.as_ref())?;
    let outcome = Outcome {
        product: product.to_string(),
        unit,
        verdict,
        uptime_seconds: after.uptime_seconds(),
        reason,
        before,
        after,
    };
    state::append(
        paths,
        product,
        &Event::new("resume", Some(&outcome.after))
            .verdict(verdict.as_str(), outcome.reason.as_deref()),
    );
    Ok(outcome)
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
/// `resume`); the record stays until a resume reports it.
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
    let reason = explain(
        systemd,
        status,
        format!("since sessctl last saw it, {change}"),
    )?;
    if !record.loss_logged {
        state::append(
            paths,
            product,
            &Event::new("loss", Some(&record.identity)).verdict("lost", Some(&reason)),
        );
        state::save_record(
            paths,
            product,
            &Record {
                loss_logged: true,
                ..record.clone()
            },
        )?;
    }
    Ok(Some(reason))
}

fn log_loss(paths: &Paths, product: &str, seen: &Identity, reason: &str) {
    state::append(
        paths,
        product,
        &Event::new("loss", Some(seen)).verdict("lost", Some(reason)),
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

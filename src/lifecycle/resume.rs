//! Resuming a session and proving it survived: `resume`, `attach` and `verify` call it.

use std::time::Duration;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use crate::context::Ctx;
pub use crate::error::Verdict;
use crate::identity::{self, Identity};
use crate::paths::Paths;
use crate::poll;
use crate::product::{Product, ProductName};
use crate::session;
use crate::state::{self, Event, EventKind, Locked};
use crate::systemd::{Systemd, UnitStatus};
use crate::unit;

use super::guard::needs_repair;
use super::observe::{explain, identity as read, log_loss, loss_since_seen, Sighting};
use super::start::{agent_env, follow, start_with};

/// The proof a resume gives; its JSON form is the documented `resume --json` object.
#[derive(Debug, Clone, Serialize, Deserialize)]
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

/// A resume done from the command line: its proof, and what an attach and the judgement
/// after it need.
pub struct Resumed {
    pub outcome: Outcome,
    pub product: Product,
    name: ProductName,
    systemd: Systemd,
}

/// Resumes product `name` (see [`resume`]); `event` names the command in the event log.
pub fn resume_product(ctx: &Ctx, name: &ProductName, event: EventKind) -> Result<Resumed> {
    let paths = &ctx.paths;
    super::intent::refuse_undoing(paths, name)?;
    let product = Product::load(paths, name)?;
    let systemd = ctx.systemd()?;
    let outcome = resume(paths, systemd, name, event)?;
    Ok(Resumed {
        outcome,
        product,
        name: name.clone(),
        systemd: systemd.clone(),
    })
}

impl Resumed {
    /// Hands this terminal to the session, as a tmux client that cannot start a server of its
    /// own, until the user detaches.
    pub fn attach(&self, paths: &Paths) -> Result<()> {
        let tmux = std::path::Path::new(&self.product.tmux);
        let socket = paths.socket(&self.product.name)?;
        session::wait_ready(tmux, &socket)?;
        session::attach(tmux, &socket)
    }

    /// The session after an attach, judged against the one the resume proved.
    pub fn judge(&self, paths: &Paths) -> Result<Outcome> {
        judge(paths, &self.systemd, &self.name, &self.outcome.after)
    }
}

/// Resumes `product`'s session: a live session is never started, restarted or reloaded; a
/// missing one is started. A session sessctl saw running that has since been lost is reported
/// as lost, and in the same call a new one is started on the same conversation (unless the
/// guard says the client cannot resume it). `event` names the command in the event log.
pub fn resume(
    paths: &Paths,
    systemd: &Systemd,
    product: &ProductName,
    event: EventKind,
) -> Result<Outcome> {
    let unit = unit::unit_name(product);
    let lock = Locked::acquire(paths, product)?;
    super::intent::settle(&lock)?;
    let (before, status) = read(systemd, &unit)?;
    let record = state::load_record(&paths.state_dir(product))?;
    let seen = Sighting {
        record: record.as_ref(),
        now: &before,
        status: &status,
    };
    let loss = loss_since_seen(&lock, paths, systemd, seen)?;
    let (verdict, reason, after, recovered) = if let Some(reason) = loss {
        if before.is_live() {
            (Verdict::Lost, Some(reason), before.clone(), true)
        } else {
            match start_unless_guarded(&lock, paths, systemd, &status)? {
                Ok(after) => (Verdict::Lost, Some(reason), after, true),
                Err(why) => {
                    let reason = format!("{reason}; not started again: {why}");
                    (Verdict::Lost, Some(reason), before.clone(), false)
                }
            }
        }
    } else if before.is_live() {
        let (after, status) = read(systemd, &unit)?;
        match before.change_to(&after) {
            None => (Verdict::Survived, None, after, false),
            Some(change) => {
                let reason = explain(systemd, &status, change)?;
                log_loss(&lock, &after, &reason);
                let recovered = after.is_live();
                (Verdict::Lost, Some(reason), after, recovered)
            }
        }
    } else {
        match start_unless_guarded(&lock, paths, systemd, &status)? {
            Ok(after) => (Verdict::Started, None, after, false),
            Err(why) => (Verdict::NeedsRepair, Some(why), before.clone(), false),
        }
    };
    if verdict == Verdict::Survived {
        keep_pinned(&lock, paths, systemd)?;
    }
    state::remember(&lock, &after, record.as_ref())?;
    if recovered {
        state::append(&lock, &Event::new(EventKind::Recovered, Some(&after)));
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
        &lock,
        &Event::new(event, Some(&outcome.after)).judged(verdict, outcome.reason.as_deref()),
    );
    Ok(outcome)
}

/// Moves the pin of a live session to where its agent went on (a new file, or the first
/// conversation of an agent that picks its own ids), so the next start resumes it. A config
/// that no longer parses leaves the pin as it is; `status` reports the config.
fn keep_pinned(lock: &Locked, paths: &Paths, systemd: &Systemd) -> Result<()> {
    let Ok(settings) = Product::load(paths, lock.name()) else {
        return Ok(());
    };
    if settings.agent.profile().pins() {
        follow(lock, &settings, &agent_env(systemd, &settings)?)?;
    }
    Ok(())
}

/// Starts the session and proves it runs, or says why the guard refuses the start: a start
/// would only meet the transcript the client cannot resume (the crash-loop guard).
fn start_unless_guarded(
    lock: &Locked,
    paths: &Paths,
    systemd: &Systemd,
    status: &UnitStatus,
) -> Result<std::result::Result<Identity, String>> {
    let settings = Product::load(paths, lock.name())?;
    let env = agent_env(systemd, &settings)?;
    if let Some(why) = needs_repair(paths, &settings, &env)? {
        return Ok(Err(why));
    }
    let status = settled(systemd, status)?;
    start_with(lock, paths, systemd, &settings, &env, &status)?;
    crate::fault::point("resume:after-start-job");
    let (after, status) = read(systemd, &status.unit)?;
    if !after.is_live() {
        let why = format!("{} started, but no session runs in it", status.unit);
        bail!("{}", explain(systemd, &status, why)?);
    }
    Ok(Ok(after))
}

/// How long a start waits for a unit on its way between two states: one whose session ended
/// stops within a second or so (its ExecStopPost is `sessctl internal stopped`) and is
/// restarted by systemd 2 s later (RestartSec); one starting has its session within the
/// stagger.
const SETTLE_WITHIN: Duration = Duration::from_secs(15);

/// The unit's status once it has a live session or has ended. In between, a start job is
/// the wrong question: on a unit still active around a session that ended it does nothing
/// (and the resume would find no session), and on one stopping or waiting to be restarted it
/// waits on, or is merged into, what systemd does next. After [`SETTLE_WITHIN`] the status
/// is taken as it is.
fn settled(systemd: &Systemd, status: &UnitStatus) -> Result<UnitStatus> {
    let probe = || {
        let (now, status) = read(systemd, &status.unit)?;
        Ok((now.is_live() || now.active_state.is_down()).then_some(status))
    };
    match poll::until(SETTLE_WITHIN, probe)? {
        Some(status) => Ok(status),
        None => Ok(read(systemd, &status.unit)?.1),
    }
}

/// Judges the session against `before` (the identity a resume proved) after an attach
/// returned: survived or lost, never started.
pub fn judge(
    paths: &Paths,
    systemd: &Systemd,
    product: &ProductName,
    before: &Identity,
) -> Result<Outcome> {
    let unit = unit::unit_name(product);
    let lock = Locked::acquire(paths, product)?;
    let (after, status) = read(systemd, &unit)?;
    let record = state::load_record(&paths.state_dir(product))?;
    let reason = match before.change_to(&after) {
        Some(change) => Some(explain(systemd, &status, change)?),
        None => None,
    };
    if let Some(reason) = &reason {
        log_loss(&lock, &after, reason);
    }
    state::remember(&lock, &after, record.as_ref())?;
    let verdict = if reason.is_some() {
        Verdict::Lost
    } else {
        Verdict::Survived
    };
    state::append(
        &lock,
        &Event::new(EventKind::Attach, Some(&after)).judged(verdict, reason.as_deref()),
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

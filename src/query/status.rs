//! `status` and `list`: what systemd reports about each product's session, plus what only
//! sessctl knows (unit-file drift, a pending restart, a loss, the guard's verdict).

use std::path::PathBuf;

use anyhow::Result;
use futures_util::future::try_join;
use serde::{Deserialize, Serialize};

use crate::agent::AgentEnv;
use crate::context::Ctx;
use crate::identity::Identity;
use crate::lifecycle::{guard, intent, observe, unit_file};
use crate::paths::Paths;
use crate::pin::Pin;
use crate::product::{Product, ProductName};
use crate::state::{self, Asked, LastExit, Waiting};
use crate::store;
use crate::systemd::{ActiveState, Core, ServiceResult, SubState, Systemd, UnitView};
use crate::unit;

/// The reports of the products `name` names: one, or every product when `None`.
pub fn status(ctx: &Ctx, name: Option<&ProductName>) -> Result<Vec<Report>> {
    let paths = &ctx.paths;
    let names = names(paths, name)?;
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let systemd = ctx.systemd()?;
    let units = Units {
        manager_env: systemd.environment()?,
        views: systemd.views(&unit_names(&names))?,
    };
    reports(paths, systemd, &names, units)
}

/// The products `name` names: one, or every product when `None`.
pub fn names(paths: &Paths, name: Option<&ProductName>) -> Result<Vec<String>> {
    match name {
        Some(name) => {
            Product::config_text(paths, name)?;
            Ok(vec![name.to_string()])
        }
        None => Product::names(paths),
    }
}

/// What systemd says that the reports of some products need: the manager's environment, and
/// a view of each product's unit, in the products' order.
pub struct Units {
    pub manager_env: Vec<String>,
    pub views: Vec<UnitView>,
}

/// Reads [`Units`] in one batch, from async code (the server).
pub async fn units(core: &Core, names: &[String]) -> Result<Units> {
    let units = unit_names(names);
    let (manager_env, views) = try_join(core.environment(), core.views(&units)).await?;
    Ok(Units { manager_env, views })
}

fn unit_names(names: &[String]) -> Vec<String> {
    names.iter().map(|name| unit::unit_name(name)).collect()
}

/// The reports of the products `names`, from what systemd said of their units.
pub fn reports(
    paths: &Paths,
    systemd: &Systemd,
    names: &[String],
    units: Units,
) -> Result<Vec<Report>> {
    names
        .iter()
        .zip(units.views)
        .map(|(name, view)| report(paths, systemd, &units.manager_env, name, view))
        .collect()
}

/// One product's report; its JSON form is the documented `--json` schema.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub product: String,
    pub unit: String,
    pub active_state: ActiveState,
    pub sub_state: SubState,
    pub main_pid: u32,
    /// The process in the tmux pane; null when there is none.
    pub agent_pid: Option<u32>,
    /// Seconds since the main process started; null when no session runs.
    pub uptime_seconds: Option<u64>,
    /// The restarts systemd made since the unit was last started on purpose (NRestarts).
    pub n_restarts: u32,
    /// How the agent last ended, as its tmux server recorded it; null before its first end.
    pub last_exit: Option<LastExit>,
    pub cgroup: String,
    pub invocation_id: String,
    /// The unit file on disk against a fresh render of the config.
    pub unit_file: UnitFileDrift,
    pub need_daemon_reload: bool,
    pub restart_pending: bool,
    /// systemd's start limit stopped the unit's restarts: the end of a crash loop. Absent
    /// from an older sessctl's JSON, which is read as false.
    #[serde(default)]
    pub start_limit_hit: bool,
    /// Why the session sessctl last saw is gone; null when it is not.
    pub lost: Option<String>,
    /// A stop, restart, enable or disable that is under way, or was interrupted, and how to
    /// finish it; null when there is none.
    pub change: Option<String>,
    /// The conversation a pinned agent is kept on; null for agents sessctl does not pin.
    pub conversation: Option<Conversation>,
    /// For a session that is down: why starting it would fail, and the repair to run.
    pub needs_repair: Option<String>,
    /// Why the product's config cannot be read or parsed, and the fix; null when it can.
    pub broken: Option<String>,
    /// What a start needs that is gone (the work directory, the agent's program, tmux), and
    /// the fix; null when nothing is.
    pub missing: Option<String>,
    /// The proof the last resume gave, from the event log; null before the first.
    pub last_resume: Option<LastResume>,
    /// Since when, and why, the agent waits for its human; null when it does not (or cannot
    /// say), and always null for a session that is not running.
    pub waiting: Option<Waiting>,
    /// The agent's open questions for permission to run a tool, oldest first, which the
    /// dashboard answers (`lifecycle::permission`); left out when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<Asked>,
}

/// How the product's unit file on disk compares with a fresh render of its config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnitFileDrift {
    /// The same as a fresh render.
    Current,
    /// Differs from a fresh render.
    Drifted,
    Missing,
    /// Not judged: the product's config cannot be read, so there is nothing to render.
    Unknown,
}

impl UnitFileDrift {
    pub fn as_str(self) -> &'static str {
        match self {
            UnitFileDrift::Current => "current",
            UnitFileDrift::Drifted => "drifted",
            UnitFileDrift::Missing => "missing",
            UnitFileDrift::Unknown => "unknown",
        }
    }
}

spelled_as_str!(UnitFileDrift);

/// A resume's verdict and the session it proved, as the event log recorded it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LastResume {
    /// survived, started, lost, recovered (lost, and a new session runs on the same
    /// conversation) or needs-repair.
    pub verdict: String,
    /// UTC, RFC 3339.
    pub at: String,
    pub main_pid: Option<u32>,
    pub agent_pid: Option<u32>,
    pub reason: Option<String>,
}

fn last_resume(paths: &Paths, name: &str) -> Result<Option<LastResume>> {
    Ok(
        state::last_resume(&paths.state_dir(name))?.map(|(event, recovered)| LastResume {
            verdict: match recovered {
                true => "recovered".to_string(),
                false => event.verdict.map(|v| v.to_string()).unwrap_or_default(),
            },
            at: event.time,
            main_pid: event.main_pid,
            agent_pid: event.agent_pid,
            reason: event.reason,
        }),
    )
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Conversation {
    pub session_id: String,
    /// Null until the agent has written it.
    pub transcript: Option<PathBuf>,
    pub bytes: Option<u64>,
    /// Its last write, UTC.
    pub modified: Option<String>,
}

fn conversation(paths: &Paths, product: &Product, env: &AgentEnv) -> Result<Option<Conversation>> {
    let Some(pin) = Pin::load(&paths.pin_file(&product.name))? else {
        return Ok(None);
    };
    let transcript = product.agent.profile().transcript(env, &pin.session_id)?;
    let meta = transcript.as_ref().and_then(|t| std::fs::metadata(t).ok());
    Ok(Some(Conversation {
        session_id: pin.session_id,
        transcript,
        bytes: meta.as_ref().map(|m| m.len()),
        modified: meta.and_then(|m| m.modified().ok()).map(state::rfc3339),
    }))
}

/// One product's report; a product whose config cannot be read or parsed is reported as
/// broken, with what systemd says of its unit, so that one bad file hides no other product.
fn report(
    paths: &Paths,
    systemd: &Systemd,
    manager_env: &[String],
    name: &str,
    view: UnitView,
) -> Result<Report> {
    let now = observe::identity_of(&view.status);
    let product = match Product::load(paths, name) {
        Ok(product) => product,
        Err(err) if crate::error::code_of(&err) != crate::error::USAGE => {
            let mut report = unit_report(paths, name, &now, view)?;
            report.broken = Some(format!(
                "{err:#}; fix the file, or remove the product with `sessctl disable {name} --purge`"
            ));
            return Ok(report);
        }
        Err(err) => return Err(err),
    };
    let env = AgentEnv::of(&product.env, Some(manager_env));
    // No product lock: status never waits behind a start, and writes nothing. A loss it sees
    // is recorded by the next resume (`observe::loss_since_seen`).
    let record = state::load_record(&paths.state_dir(name))?;
    let lost = observe::judge_loss(
        paths,
        systemd,
        name,
        observe::Sighting {
            record: record.as_ref(),
            now: &now,
            status: &view.status,
        },
    )?;
    let on_disk = store::read_optional(&paths.unit_file(name))?;
    let running = view.status.is_running();
    let mut report = unit_report(paths, name, &now, view)?;
    report.unit_file = match on_disk {
        None => UnitFileDrift::Missing,
        Some(text) if text == unit_file::render(paths, &product)? => UnitFileDrift::Current,
        Some(_) => UnitFileDrift::Drifted,
    };
    report.restart_pending =
        running && unit_file::restart_pending(paths, name, &report.invocation_id)?;
    report.lost = lost;
    report.missing = product.missing_line();
    report.conversation = conversation(paths, &product, &env)?;
    report.waiting = waiting(paths, name, running)?;
    if running {
        report.permissions = Asked::pending(&paths.state_dir(name))?;
    }
    report.needs_repair = match running {
        true => None,
        false => guard::remembered(paths, &product, &env)?,
    };
    Ok(report)
}

/// The product's waiting mark, for a session that runs; a session that does not waits for
/// nobody, whatever mark its last run left.
pub fn waiting(paths: &Paths, name: &str, running: bool) -> Result<Option<Waiting>> {
    match running {
        true => Waiting::load(&paths.state_dir(name)),
        false => Ok(None),
    }
}

/// What systemd and the product's state say of its unit, whatever its config.
fn unit_report(paths: &Paths, name: &str, now: &Identity, view: UnitView) -> Result<Report> {
    let UnitView {
        status: s,
        sub_state,
        control_group,
        need_daemon_reload,
        result,
    } = view;
    Ok(Report {
        product: name.to_string(),
        uptime_seconds: now.uptime_seconds(),
        agent_pid: now.agent_pid,
        unit: s.unit,
        active_state: s.active_state,
        sub_state,
        main_pid: s.main_pid,
        n_restarts: s.n_restarts,
        last_exit: LastExit::load(&paths.state_dir(name))?,
        cgroup: control_group,
        invocation_id: s.invocation_id,
        unit_file: UnitFileDrift::Unknown,
        need_daemon_reload,
        restart_pending: false,
        start_limit_hit: result == ServiceResult::StartLimitHit && !s.active_state.is_running(),
        lost: None,
        change: intent::pending(paths, name)?
            .map(|(found, running)| intent::describe(name, &found, running)),
        conversation: None,
        needs_repair: None,
        broken: None,
        missing: None,
        last_resume: last_resume(paths, name)?,
        waiting: None,
        permissions: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unit_file_drift_prints_as_its_json_spells_it() {
        for (drift, word) in [
            (UnitFileDrift::Current, "current"),
            (UnitFileDrift::Drifted, "drifted"),
            (UnitFileDrift::Missing, "missing"),
            (UnitFileDrift::Unknown, "unknown"),
        ] {
            assert_eq!(drift.to_string(), word);
            assert_eq!(
                serde_json::to_value(drift).expect("serialize"),
                serde_json::json!(word)
            );
        }
    }
}

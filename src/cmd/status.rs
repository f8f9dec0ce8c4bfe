//! `sessctl status` and `sessctl list`: what systemd reports about each product's session,
//! plus what only sessctl knows (unit-file drift, a pending restart).

use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use crate::agent::{self, AgentEnv, Pin};
use crate::identity;
use crate::paths::Paths;
use crate::product::{self, Product};
use crate::resume;
use crate::state::{self, LastExit};
use crate::store;
use crate::systemd::Systemd;
use crate::unit;

/// One product's report; its JSON form is the documented `--json` schema.
#[derive(Debug, Serialize)]
struct Report {
    product: String,
    unit: String,
    active_state: String,
    sub_state: String,
    main_pid: u32,
    /// The process in the tmux pane; null when there is none.
    agent_pid: Option<u32>,
    /// Seconds since the main process started; null when no session runs.
    uptime_seconds: Option<u64>,
    /// The restarts systemd made since the unit was last started on purpose (NRestarts).
    n_restarts: u32,
    /// How the agent last ended, as its tmux server recorded it; null before its first end.
    last_exit: Option<LastExit>,
    cgroup: String,
    invocation_id: String,
    /// "current", "drifted" (differs from a fresh render), "missing", or "unknown" for a broken
    /// product.
    unit_file: &'static str,
    need_daemon_reload: bool,
    restart_pending: bool,
    /// Why the session sessctl last saw is gone; null when it is not.
    lost: Option<String>,
    /// The conversation a pinned agent is kept on; null for agents sessctl does not pin.
    conversation: Option<Conversation>,
    /// For a session that is down: why starting it would fail, and the repair to run.
    needs_repair: Option<String>,
    /// Why the product's config cannot be read or parsed, and the fix; null when it can.
    broken: Option<String>,
}

#[derive(Debug, Serialize)]
struct Conversation {
    session_id: String,
    /// Null until the agent has written it.
    transcript: Option<PathBuf>,
    bytes: Option<u64>,
    /// Its last write, UTC.
    modified: Option<String>,
}

fn conversation(paths: &Paths, product: &Product, env: &AgentEnv) -> Result<Option<Conversation>> {
    let Some(pin) = Pin::load(&paths.pin_file(&product.name))? else {
        return Ok(None);
    };
    let transcript = product.agent.transcript(env, &pin.session_id)?;
    let meta = transcript.as_ref().and_then(|t| std::fs::metadata(t).ok());
    Ok(Some(Conversation {
        session_id: pin.session_id,
        transcript,
        bytes: meta.as_ref().map(|m| m.len()),
        modified: meta.and_then(|m| m.modified().ok()).map(state::rfc3339),
    }))
}

pub fn status(paths: &Paths, name: Option<&str>, json: bool) -> Result<()> {
    let names = match name {
        Some(name) => {
            product::check_name(name)?;
            Product::config_text(paths, name)?;
            vec![name.to_string()]
        }
        None => Product::names(paths)?,
    };
    let reports = collect(paths, &names)?;
    if json {
        match name {
            Some(_) => print_json(&reports[0])?,
            None => print_json(&reports)?,
        }
    } else {
        for report in &reports {
            print_long(report)?;
        }
    }
    Ok(())
}

pub fn list(paths: &Paths, json: bool) -> Result<()> {
    let reports = collect(paths, &Product::names(paths)?)?;
    if json {
        return print_json(&reports);
    }
    outln!(
        "{:<24} {:<22} {:>8} {:>10} {:>8}  UNIT FILE",
        "PRODUCT",
        "STATE",
        "PID",
        "UPTIME",
        "RESTARTS"
    );
    for r in &reports {
        outln!(
            "{:<24} {:<22} {:>8} {:>10} {:>8}  {}",
            r.product,
            format!("{} ({})", r.active_state, r.sub_state),
            r.main_pid,
            r.uptime_seconds
                .map_or("-".to_string(), identity::human_duration),
            r.n_restarts,
            if r.broken.is_some() {
                "broken config"
            } else {
                r.unit_file
            }
        );
    }
    Ok(())
}

fn collect(paths: &Paths, names: &[String]) -> Result<Vec<Report>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let systemd = Systemd::connect()?;
    let manager_env = systemd.environment()?;
    names
        .iter()
        .map(|name| report(paths, &systemd, &manager_env, name))
        .collect()
}

/// One product's report; a product whose config cannot be read or parsed is reported as
/// broken, with what systemd says of its unit, so that one bad file hides no other product.
fn report(paths: &Paths, systemd: &Systemd, manager_env: &[String], name: &str) -> Result<Report> {
    let product = match Product::load(paths, name) {
        Ok(product) => product,
        Err(err) if crate::error::code_of(&err) != crate::error::USAGE => {
            let (now, s) = identity::read(systemd, &unit::unit_name(name))?;
            let mut report = unit_report(paths, systemd, name, &now, s)?;
            report.broken = Some(format!(
                "{err:#}; fix the file, or remove the product with `sessctl disable {name} --purge`"
            ));
            return Ok(report);
        }
        Err(err) => return Err(err),
    };
    let env = AgentEnv::of(&product, Some(manager_env));
    let unit = unit::unit_name(name);
    // No product lock: status never waits behind a start. A loss it sees is logged once
    // all the same (see `state::claim_loss`).
    agent::follow(paths, &product, &env)?;
    let (now, s) = identity::read(systemd, &unit)?;
    let record = state::load_record(paths, name)?;
    let lost = resume::loss_since_seen(paths, systemd, name, record.as_ref(), &now, &s)?;
    let on_disk = store::read_optional(&paths.unit_file(name))?;
    let running = s.is_running();
    let mut report = unit_report(paths, systemd, name, &now, s)?;
    report.unit_file = match on_disk {
        None => "missing",
        Some(text) if text == super::render_unit(paths, &product)? => "current",
        Some(_) => "drifted",
    };
    report.restart_pending = running && super::restart_pending(paths, name, &report.invocation_id)?;
    report.lost = lost;
    report.conversation = conversation(paths, &product, &env)?;
    report.needs_repair = match running {
        true => None,
        false => agent::needs_repair(paths, &product, &env)?,
    };
    Ok(report)
}

/// What systemd and the product's state say of its unit, whatever its config.
fn unit_report(
    paths: &Paths,
    systemd: &Systemd,
    name: &str,
    now: &identity::Identity,
    s: crate::systemd::UnitStatus,
) -> Result<Report> {
    let unit = unit::unit_name(name);
    let need_daemon_reload = systemd.unit_file(&unit)?.need_daemon_reload;
    let details = systemd.details(&unit)?;
    Ok(Report {
        product: name.to_string(),
        uptime_seconds: now.uptime_seconds(),
        agent_pid: now.agent_pid,
        unit,
        active_state: s.active_state,
        sub_state: details.sub_state,
        main_pid: s.main_pid,
        n_restarts: s.n_restarts,
        last_exit: LastExit::load(&paths.state_dir(name))?,
        cgroup: details.control_group,
        invocation_id: s.invocation_id,
        unit_file: "unknown",
        need_daemon_reload,
        restart_pending: false,
        lost: None,
        conversation: None,
        needs_repair: None,
        broken: None,
    })
}

fn print_json<T: Serialize>(value: &T) -> Result<()> {
    outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn print_long(r: &Report) -> Result<()> {
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    outln!("{}: {} ({})", r.unit, r.active_state, r.sub_state);
    outln!("  main pid         {}", r.main_pid);
    outln!(
        "  agent pid        {}",
        r.agent_pid.map_or("-".to_string(), |p| p.to_string())
    );
    outln!(
        "  uptime           {}",
        r.uptime_seconds
            .map_or("-".to_string(), identity::human_duration)
    );
    outln!("  restarts         {}", r.n_restarts);
    if let Some(end) = &r.last_exit {
        outln!("  last exit        {}", end.describe());
    }
    outln!(
        "  cgroup           {}",
        if r.cgroup.is_empty() { "-" } else { &r.cgroup }
    );
    outln!("  unit file        {}", r.unit_file);
    outln!("  needs reload     {}", yes_no(r.need_daemon_reload));
    outln!("  restart pending  {}", yes_no(r.restart_pending));
    if let Some(c) = &r.conversation {
        outln!("  conversation     {}", c.session_id);
        match (&c.transcript, c.bytes, &c.modified) {
            (Some(t), Some(bytes), Some(modified)) => {
                outln!(
                    "  transcript       {} ({bytes} bytes, last written {modified})",
                    t.display()
                )
            }
            _ => outln!("  transcript       not written yet"),
        }
    }
    if let Some(why) = &r.needs_repair {
        outln!("  needs repair     {why}");
    }
    if let Some(lost) = &r.lost {
        outln!("  lost             {lost}");
    }
    if let Some(broken) = &r.broken {
        outln!("  broken           {broken}");
    }
    Ok(())
}

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
use crate::store::{self, Lock};
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
    /// "current", "drifted" (differs from a fresh render) or "missing".
    unit_file: &'static str,
    need_daemon_reload: bool,
    restart_pending: bool,
    /// Why the session sessctl last saw is gone; null when it is not.
    lost: Option<String>,
    /// The conversation a pinned agent is kept on; null for agents sessctl does not pin.
    conversation: Option<Conversation>,
    /// For a session that is down: why starting it would fail, and the repair to run.
    needs_repair: Option<String>,
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
            Product::load(paths, name)?;
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
            print_long(report);
        }
    }
    Ok(())
}

pub fn list(paths: &Paths, json: bool) -> Result<()> {
    let reports = collect(paths, &Product::names(paths)?)?;
    if json {
        return print_json(&reports);
    }
    println!(
        "{:<24} {:<22} {:>8} {:>10} {:>8}  UNIT FILE",
        "PRODUCT", "STATE", "PID", "UPTIME", "RESTARTS"
    );
    for r in &reports {
        println!(
            "{:<24} {:<22} {:>8} {:>10} {:>8}  {}",
            r.product,
            format!("{} ({})", r.active_state, r.sub_state),
            r.main_pid,
            r.uptime_seconds
                .map_or("-".to_string(), identity::human_duration),
            r.n_restarts,
            r.unit_file
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

fn report(paths: &Paths, systemd: &Systemd, manager_env: &[String], name: &str) -> Result<Report> {
    let product = Product::load(paths, name)?;
    let env = AgentEnv::of(&product, Some(manager_env));
    let unit = unit::unit_name(name);
    let (now, s, lost) = {
        // The loss check may write the event log; the lock makes "logged once" hold.
        let _lock = Lock::acquire(&paths.lock_file(name))?;
        agent::follow(paths, &product, &env)?;
        let (now, s) = identity::read(systemd, &unit)?;
        let record = state::load_record(paths, name)?;
        let lost = resume::loss_since_seen(paths, systemd, name, record.as_ref(), &now, &s)?;
        (now, s, lost)
    };
    let on_disk = store::read_optional(&paths.unit_file(name))?;
    let unit_file = match on_disk {
        None => "missing",
        Some(text) if text == super::render_unit(paths, &product)? => "current",
        Some(_) => "drifted",
    };
    let need_daemon_reload = systemd.unit_file(&unit)?.need_daemon_reload;
    let details = systemd.details(&unit)?;
    Ok(Report {
        product: name.to_string(),
        restart_pending: s.is_running() && super::restart_pending(paths, name, &s.invocation_id)?,
        uptime_seconds: now.uptime_seconds(),
        agent_pid: now.agent_pid,
        lost,
        conversation: conversation(paths, &product, &env)?,
        needs_repair: match s.is_running() {
            true => None,
            false => agent::needs_repair(paths, &product, &env)?,
        },
        unit,
        active_state: s.active_state,
        sub_state: details.sub_state,
        main_pid: s.main_pid,
        n_restarts: s.n_restarts,
        last_exit: LastExit::load(&paths.state_dir(name))?,
        cgroup: details.control_group,
        invocation_id: s.invocation_id,
        unit_file,
        need_daemon_reload,
    })
}

fn print_json<T: Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn print_long(r: &Report) {
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    println!("{}: {} ({})", r.unit, r.active_state, r.sub_state);
    println!("  main pid         {}", r.main_pid);
    println!(
        "  agent pid        {}",
        r.agent_pid.map_or("-".to_string(), |p| p.to_string())
    );
    println!(
        "  uptime           {}",
        r.uptime_seconds
            .map_or("-".to_string(), identity::human_duration)
    );
    println!("  restarts         {}", r.n_restarts);
    if let Some(end) = &r.last_exit {
        println!("  last exit        {}", end.describe());
    }
    println!(
        "  cgroup           {}",
        if r.cgroup.is_empty() { "-" } else { &r.cgroup }
    );
    println!("  unit file        {}", r.unit_file);
    println!("  needs reload     {}", yes_no(r.need_daemon_reload));
    println!("  restart pending  {}", yes_no(r.restart_pending));
    if let Some(c) = &r.conversation {
        println!("  conversation     {}", c.session_id);
        match (&c.transcript, c.bytes, &c.modified) {
            (Some(t), Some(bytes), Some(modified)) => {
                println!(
                    "  transcript       {} ({bytes} bytes, last written {modified})",
                    t.display()
                )
            }
            _ => println!("  transcript       not written yet"),
        }
    }
    if let Some(why) = &r.needs_repair {
        println!("  needs repair     {why}");
    }
    if let Some(lost) = &r.lost {
        println!("  lost             {lost}");
    }
}

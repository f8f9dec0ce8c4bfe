//! Doctor's sweep of the user's processes, the "three launch points" check: every tmux server
//! and agent of the user, and the unit it really lives in (GetUnitByPID). A session process
//! outside its product's unit dies with whatever unit or login it does live in.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::{Finding, FindingId, Severity};
use crate::agent::{Agent, AgentEnv};
use crate::paths::Paths;
use crate::procfs::{self, Process};
use crate::product::Product;
use crate::systemd::Systemd;
use crate::unit;

pub fn check(systemd: &Systemd, paths: &Paths, products: &[Product]) -> Result<Vec<Finding>> {
    let uid = nix::unistd::getuid();
    let procs = procfs::processes_of(uid);
    let by_pid: HashMap<u32, &Process> = procs.iter().map(|p| (p.pid, p)).collect();
    let sockets: HashMap<PathBuf, &Product> = products
        .iter()
        .filter_map(|p| Some((paths.socket(&p.name).ok()?, p)))
        .collect();
    let my_default = default_socket(std::env::var("TMUX_TMPDIR").ok().as_deref(), uid.as_raw());
    let agent_names: Vec<&str> = Agent::programs()
        .map(|p| -> &str { p })
        .chain(
            products
                .iter()
                .filter_map(|p| p.command.first().map(|c| base(c))),
        )
        .collect();

    let manager_env = systemd.environment()?;
    // The products whose agent keeps its data where a shared server's environment says.
    let serving = |server: Agent, process: &Process| -> Vec<&Product> {
        let its = AgentEnv::of(&Default::default(), Some(&procfs::environ(process.pid)));
        (products.iter())
            .filter(|p| p.agent == server)
            .filter(|p| AgentEnv::of(&p.env, Some(&manager_env)).same_home(&its, server))
            .collect()
    };
    let mut found = Vec::new();
    let mut reported = std::collections::HashSet::new();
    for server in procs.iter().filter(|p| p.is_tmux_server()) {
        let socket = socket_of(server, uid.as_raw());
        if let Some(product) = sockets.get(&socket) {
            found.extend(outside(systemd, product, server, "tmux server")?);
        }
    }
    for agent in procs
        .iter()
        .filter(|p| !p.is_tmux_server() && agent_name(p, &agent_names).is_some())
    {
        // Wherever it runs and whoever started it, it serves more than one session.
        if let Some(server) = Agent::shared_server_of(&agent.argv) {
            let serving = serving(server, agent);
            found.extend(shared_server(systemd, agent, server, products, &serving)?);
            continue;
        }
        let host = ancestors(agent, &by_pid).find(|p| p.is_tmux_server());
        match host {
            // An agent in a product's server is judged with its server above.
            Some(server) if sockets.contains_key(&socket_of(server, uid.as_raw())) => {}
            // One finding per server, however many agents it hosts.
            Some(server) if socket_of(server, uid.as_raw()) == my_default => {
                if reported.insert(server.pid) {
                    found.push(default_socket_agent(systemd, agent, server)?);
                }
            }
            Some(_) => {}
            None => {
                let owner = products.iter().find(|p| {
                    p.command.first() == agent.argv.first()
                        && agent.cwd.as_deref() == Some(Path::new(&p.dir))
                });
                if let Some(product) = owner {
                    found.extend(outside(systemd, product, agent, "agent")?);
                }
            }
        }
    }
    Ok(found)
}

/// A finding when `process`, part of `product`'s session, lives outside its unit.
fn outside(
    systemd: &Systemd,
    product: &Product,
    process: &Process,
    what: &str,
) -> Result<Option<Finding>> {
    let expected = unit::unit_name(&product.name);
    // A process of a service sits in the cgroup named after it: seen in /proc, that settles
    // it without two round trips to the manager for each of 200 servers.
    let leaf = procfs::cgroup(process.pid);
    if leaf.is_some_and(|c| c.rsplit('/').next() == Some(expected.as_str())) {
        return Ok(None);
    }
    let (actual, cgroup) = where_(systemd, process.pid)?;
    if actual.as_deref() == Some(expected.as_str()) {
        return Ok(None);
    }
    let dies = match &actual {
        Some(unit) => format!("it dies when {unit} stops"),
        None => "it dies with the terminal or login that started it".to_string(),
    };
    Ok(Some(
        Finding::new(
            FindingId::ProcessOutsideUnit,
            Severity::Error,
            format!(
                "{}'s {what} (PID {}) runs in {}, not in {expected}: {dies}",
                product.name,
                process.pid,
                actual.as_deref().unwrap_or("no unit of the user manager")
            ),
            vec![evidence(process, actual.as_deref(), &cgroup)],
            format!(
                "kill {} and start the session where systemd keeps it: `sessctl resume {}`; then fix what launched it (an attach without -N, a dashboard: see doctor's launcher findings)",
                process.pid, product.name
            ),
        )
        .on(Some(&product.name), actual.as_deref()),
    ))
}

/// A finding for `agent`'s server that serves every conversation of its home (`serving`
/// products among them): wherever it runs, one product's stop or one terminal's end takes every
/// other product's agent with it. One serving no product of the user's, outside their units,
/// is none of sessctl's business.
fn shared_server(
    systemd: &Systemd,
    server: &Process,
    agent: Agent,
    products: &[Product],
    serving: &[&Product],
) -> Result<Option<Finding>> {
    let (actual, cgroup) = where_(systemd, server.pid)?;
    let host = products
        .iter()
        .find(|p| actual.as_deref() == Some(unit::unit_name(&p.name).as_str()));
    let restart = || {
        let names: Vec<&str> = serving.iter().map(|p| p.name.as_str()).collect();
        format!(
            "kill {}, then `sessctl restart` {}",
            server.pid,
            names.join(", ")
        )
    };
    let (place, dies, fix) = match (host, &actual) {
        (Some(host), _) => (
            format!("{}'s unit", host.name),
            format!("`sessctl stop {}` stops it under every other product using it", host.name),
            format!(
                "`sessctl restart {}`: sessctl starts {agent} with its server inside each product's own unit",
                host.name
            ),
        ),
        _ if serving.is_empty() => return Ok(None),
        (None, Some(unit)) => (
            unit.clone(),
            format!("every product using it dies when {unit} stops"),
            restart(),
        ),
        (None, None) => (
            "no unit of the user manager".into(),
            "every product using it dies with the terminal or login that started it".into(),
            restart(),
        ),
    };
    Ok(Some(
        Finding::new(
        FindingId::AgentSharedServer,
        Severity::Error,
        format!(
            "{agent}'s shared server (PID {}), which runs the conversations of every {agent} session of its home, lives in {place}: {dies}",
            server.pid
        ),
        vec![evidence(server, actual.as_deref(), &cgroup)],
        fix,
    )
        .on(host.map(|p| p.name.as_str()), actual.as_deref()),
    ))
}

fn default_socket_agent(systemd: &Systemd, agent: &Process, server: &Process) -> Result<Finding> {
    let (actual, cgroup) = where_(systemd, server.pid)?;
    let dies = match &actual {
        Some(unit) => format!("it dies when {unit} stops"),
        None => "it dies with the terminal or login that started it".to_string(),
    };
    let dir = agent
        .cwd
        .as_deref()
        .map_or("DIR".to_string(), |d| d.display().to_string());
    Ok(Finding::new(
        FindingId::DefaultSocketAgent,
        Severity::Error,
        format!(
            "an agent ({}, PID {}) runs in a tmux server on the shared default socket (PID {}): {dies}, and any kill-server ends it",
            agent_name(agent, &Agent::programs().collect::<Vec<_>>()).unwrap_or(&agent.comm),
            agent.pid,
            server.pid
        ),
        vec![evidence(server, actual.as_deref(), &cgroup), evidence(agent, None, &procfs::cgroup(agent.pid))],
        format!(
            "move it under sessctl: `sessctl enable PRODUCT --dir {} -- {}`, then quit this one",
            crate::product::shell_quote(&dir),
            agent.argv.iter().map(|a| crate::product::shell_quote(a)).collect::<Vec<_>>().join(" ")
        ),
    )
    .on(None, actual.as_deref()))
}

/// The unit `pid` lives in, if the user manager knows it, and its cgroup. A failure to ask
/// is an error, never "outside every unit": that would be a false finding.
fn where_(systemd: &Systemd, pid: u32) -> Result<(Option<String>, Option<String>)> {
    Ok((systemd.unit_of_pid(pid)?, procfs::cgroup(pid)))
}

fn evidence(process: &Process, unit: Option<&str>, cgroup: &Option<String>) -> String {
    format!(
        "PID {} ({}) in cgroup {}{}: {}",
        process.pid,
        process.comm,
        cgroup.as_deref().unwrap_or("?"),
        unit.map_or(String::new(), |u| format!(", unit {u}")),
        process.argv.join(" ")
    )
}

fn ancestors<'a>(
    p: &Process,
    by_pid: &'a HashMap<u32, &'a Process>,
) -> impl Iterator<Item = &'a Process> {
    let mut next = by_pid.get(&p.ppid).copied();
    std::iter::from_fn(move || {
        let cur = next?;
        next = by_pid.get(&cur.ppid).copied().filter(|_| cur.ppid > 1);
        Some(cur)
    })
    .take(64)
}

/// The agent name `p` runs as: its kernel name, or the base name of its program or script.
fn agent_name<'a>(p: &'a Process, names: &[&str]) -> Option<&'a str> {
    std::iter::once(p.comm.as_str())
        .chain(p.argv.iter().take(2).map(|a| base(a)))
        .find(|w| names.contains(w))
}

fn base(word: &str) -> &str {
    word.rsplit('/').next().unwrap_or(word)
}

/// The socket a tmux server listens on, from its command line: `-S PATH`, `-L NAME`, or the
/// default, under the `TMUX_TMPDIR` it was started with.
fn socket_of(server: &Process, uid: u32) -> PathBuf {
    let tmpdir = server.env("TMUX_TMPDIR");
    let mut args = server.argv.iter().skip(1);
    while let Some(arg) = args.next() {
        let (flag, attached) = arg.split_at(arg.len().min(2));
        let value = || {
            if attached.is_empty() {
                args.clone().next().cloned()
            } else {
                Some(attached.to_string())
            }
        };
        match flag {
            "-S" => return value().map(PathBuf::from).unwrap_or_default(),
            "-L" => {
                return value()
                    .map(|n| label_socket(tmpdir, uid, &n))
                    .unwrap_or_default()
            }
            _ => {}
        }
    }
    default_socket(tmpdir, uid)
}

fn label_socket(tmpdir: Option<&str>, uid: u32, label: &str) -> PathBuf {
    Path::new(tmpdir.filter(|t| !t.is_empty()).unwrap_or("/tmp"))
        .join(format!("tmux-{uid}"))
        .join(label)
}

fn default_socket(tmpdir: Option<&str>, uid: u32) -> PathBuf {
    label_socket(tmpdir, uid, "default")
}

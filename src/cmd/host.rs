//! `sessctl host add|list|remove`: other hosts by name, in hosts.toml. None connects; `remove`
//! ends the shared connection to the host it removes.

use anyhow::Result;
use serde::Serialize;

use crate::cli::HostCmd;
use crate::fleet;
use crate::hosts::{Added, Host, HostName, Hosts};
use crate::paths::Paths;

/// One host as `host list --json` prints it.
#[derive(Serialize)]
struct Listed<'a> {
    name: &'a HostName,
    dest: String,
    /// Null for the default, `sessctl`.
    sessctl: Option<&'a str>,
}

pub fn run(paths: &Paths, command: HostCmd) -> Result<()> {
    match command {
        HostCmd::Add {
            name,
            dest,
            sessctl,
        } => {
            let name = HostName::parse(&name)?;
            let host = Host::parse(&dest, sessctl)?;
            let dest = host.dest.clone();
            match Hosts::add(paths, name.clone(), host)? {
                Added::New => outln!("host {name}: added ({dest})"),
                Added::Unchanged => outln!("host {name}: unchanged ({dest})"),
            }
        }
        HostCmd::List(args) => list(&Hosts::load(paths)?, args.json)?,
        HostCmd::Remove { name } => {
            let (name, host) = Hosts::remove(paths, &name)?;
            fleet::disconnect(paths, host.dest.clone())?;
            outln!("host {name}: removed ({})", host.dest);
        }
    }
    Ok(())
}

fn list(hosts: &Hosts, json: bool) -> Result<()> {
    if json {
        let listed: Vec<Listed> = hosts
            .hosts
            .iter()
            .map(|(name, host)| Listed {
                name,
                dest: host.dest.to_string(),
                sessctl: host.sessctl.as_deref(),
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&listed)?);
        return Ok(());
    }
    if hosts.hosts.is_empty() {
        outln!("no hosts; add one with `sessctl host add NAME [user@]host[:port]`");
        return Ok(());
    }
    let width = |f: fn(&str, &Host) -> usize, head: &str| {
        hosts
            .hosts
            .iter()
            .map(|(n, h)| f(n.as_str(), h))
            .fold(head.len(), usize::max)
    };
    let name_w = width(|n, _| n.len(), "NAME");
    let dest_w = width(|_, h| h.dest.to_string().len(), "DEST");
    outln!("{:<name_w$}  {:<dest_w$}  SESSCTL", "NAME", "DEST");
    for (name, host) in &hosts.hosts {
        let program = host.program();
        outln!(
            "{:<name_w$}  {:<dest_w$}  {program}",
            name.as_str(),
            host.dest.to_string()
        );
    }
    Ok(())
}

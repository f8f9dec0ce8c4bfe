//! `sessctl status` and `sessctl list`: the query's reports, as text or JSON.

use anyhow::Result;
use serde::Serialize;

use crate::context::Ctx;
use crate::error::{self, exit_with};
use crate::fleet::{self, Host, Reply};
use crate::identity;
use crate::product::ProductName;
use crate::query::status::{self, LastResume, Report};

pub fn status(ctx: &Ctx, name: Option<&ProductName>, json: bool) -> Result<()> {
    print_status(&status::status(ctx, name)?, name, json)
}

fn print_status(reports: &[Report], name: Option<&ProductName>, json: bool) -> Result<()> {
    if json {
        match name {
            Some(_) => print_json(&reports[0])?,
            None => print_json(&reports)?,
        }
    } else {
        for report in reports {
            print_long(report)?;
        }
    }
    Ok(())
}

pub fn list(ctx: &Ctx, json: bool) -> Result<()> {
    print_list(&status::status(ctx, None)?, json)
}

fn print_list(reports: &[Report], json: bool) -> Result<()> {
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
    for r in reports {
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
                r.unit_file.as_str()
            }
        );
    }
    Ok(())
}

/// `list`, or `status [PRODUCT]` when `list` is false, of other hosts, asked at once. One
/// host prints as it would there. Several print a section each, headed by the host and its
/// sessctl (in JSON an object each, with the error of a host that failed); a host that failed
/// says why on stderr, and the worst exit code is the command's.
pub fn on_hosts(hosts: &[Host], name: Option<&ProductName>, list: bool, json: bool) -> Result<()> {
    let print = |reports: &[Report]| match list {
        true => print_list(reports, json),
        false => print_status(reports, name, json),
    };
    let mut replies = fleet::each(hosts, |host| host.reports(name, list));
    if replies.len() == 1 {
        return print(&replies.remove(0)?.value);
    }
    let (mut worst, mut printed, mut sections) = (0, false, Vec::new());
    for (host, reply) in hosts.iter().zip(replies) {
        let section = match reply {
            Ok(reply) => {
                if !json {
                    if printed {
                        outln!("");
                    }
                    outln!("host {} (sessctl {})", host.name, reply.sessctl);
                    print(&reply.value)?;
                    printed = true;
                }
                Section::answered(host, reply)
            }
            Err(err) => {
                errln!("sessctl: {err:#}");
                worst = worst.max(error::code_of(&err));
                Section::failed(host, &err)
            }
        };
        sections.push(section);
    }
    if json {
        print_json(&sections)?;
    }
    exit_with(worst)
}

/// One host's part of `--host A,B list --json`.
#[derive(Serialize)]
struct Section {
    host: String,
    /// The version of sessctl that answered; null when the host did not.
    sessctl: Option<String>,
    /// Why the host did not answer; null when it did.
    error: Option<String>,
    products: Vec<Report>,
}

impl Section {
    fn answered(host: &Host, reply: Reply<Vec<Report>>) -> Section {
        Section {
            host: host.name.clone(),
            sessctl: Some(reply.sessctl),
            error: None,
            products: reply.value,
        }
    }

    fn failed(host: &Host, err: &anyhow::Error) -> Section {
        Section {
            host: host.name.clone(),
            sessctl: None,
            error: Some(format!("{err:#}")),
            products: Vec::new(),
        }
    }
}

/// `survived at T (main PID 12, agent PID 34)`, with the reason of a loss.
fn last_resume_line(last: &LastResume) -> String {
    let pid = |p: Option<u32>| p.map_or("-".to_string(), |p| p.to_string());
    let mut line = format!(
        "{} at {} (main PID {}, agent PID {})",
        last.verdict,
        last.at,
        pid(last.main_pid),
        pid(last.agent_pid)
    );
    if let Some(reason) = &last.reason {
        line.push_str(&format!(": {reason}"));
    }
    line
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
    if r.start_limit_hit {
        outln!(
            "  start limit      hit: systemd stopped its restarts; `sessctl resume {}` starts it again",
            r.product
        );
    }
    if let Some(end) = &r.last_exit {
        outln!("  last exit        {}", end.describe());
    }
    if let Some(waiting) = &r.waiting {
        outln!(
            "  waiting          since {} ({})",
            waiting.since,
            waiting.kind
        );
    }
    if let Some(last) = &r.last_resume {
        outln!("  last resume      {}", last_resume_line(last));
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
    if let Some(missing) = &r.missing {
        outln!("  missing          {missing}");
    }
    if let Some(change) = &r.change {
        outln!("  change           {change}");
    }
    if let Some(broken) = &r.broken {
        outln!("  broken           {broken}");
    }
    Ok(())
}

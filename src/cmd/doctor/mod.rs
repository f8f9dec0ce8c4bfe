//! `sessctl doctor`: the sweep for everything that can kill a session. One launch mistake was
//! once wired into three places, and fixing one moved the bug to the next click; so doctor
//! checks everywhere a session can be launched: sessctl's own units, the environment, every
//! other user unit, and every tmux server and agent process of the user.

mod environment;
mod launchers;
mod own_units;
mod processes;

use anyhow::Result;
use serde::Serialize;

use crate::cli::Doctor;
use crate::error::{silent, Exit, FAILURE};
use crate::paths::Paths;
use crate::product::{self, Product};

/// How bad a finding is: errors and warnings make doctor exit 1; notes do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Note,
}

/// One problem: what it is, the evidence, and the exact fix. Its JSON form is documented.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Stable identifier, e.g. `launcher-forks-session`.
    pub id: &'static str,
    pub severity: Severity,
    /// The sessctl product it concerns, if any.
    pub product: Option<String>,
    /// The unit it concerns, if any.
    pub unit: Option<String>,
    /// What is wrong and what it does to a session, in one line.
    pub summary: String,
    /// Files and lines, unit properties, PIDs and cgroups.
    pub evidence: Vec<String>,
    /// The command to run or the edit to make.
    pub fix: String,
}

/// The `doctor --json` object.
#[derive(Debug, Serialize)]
struct Report {
    healthy: bool,
    findings: Vec<Finding>,
}

/// Exit status 2: doctor itself could not run (findings are 1).
const COULD_NOT_RUN: u8 = 2;

pub fn run(paths: &Paths, args: Doctor) -> Result<()> {
    let report = sweep(paths, &args).map_err(|err| Exit {
        code: COULD_NOT_RUN,
        message: format!("doctor could not run: {err:#}"),
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report);
    }
    if report.healthy {
        Ok(())
    } else {
        Err(silent(FAILURE))
    }
}

fn sweep(paths: &Paths, args: &Doctor) -> Result<Report> {
    let products = match &args.product {
        Some(name) => {
            product::check_name(name)?;
            vec![Product::load(paths, name)?]
        }
        None => Product::names(paths)?
            .iter()
            .map(|name| Product::load(paths, name))
            .collect::<Result<_>>()?,
    };
    let mut findings = environment::check(&products)?;
    // Without the manager, what is left to check is the environment that keeps it away.
    if let Some(systemd) = environment::manager(&mut findings) {
        findings.extend(environment::memory(&systemd, &products)?);
        for product in &products {
            findings.extend(own_units::check(paths, &systemd, product)?);
        }
        findings.extend(launchers::check(&systemd, paths)?);
        findings.extend(processes::check(&systemd, paths, &products)?);
    }
    findings.sort_by(|a, b| a.severity.cmp(&b.severity).then(a.id.cmp(b.id)));
    let healthy = findings.iter().all(|f| f.severity == Severity::Note);
    Ok(Report { healthy, findings })
}

fn print_text(report: &Report) {
    for f in &report.findings {
        let severity = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        };
        println!("{severity}[{}]: {}", f.id, f.summary);
        for e in &f.evidence {
            println!("  evidence: {e}");
        }
        println!("  fix: {}", f.fix);
    }
    let count = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
    if report.healthy {
        println!("doctor: healthy ({} notes)", count(Severity::Note));
    } else {
        println!(
            "doctor: {} errors, {} warnings, {} notes",
            count(Severity::Error),
            count(Severity::Warning),
            count(Severity::Note)
        );
    }
}

/// The first line of `file` that starts with `prefix` and contains `needle`, as
/// `file:line: text` (lines count from 1).
fn locate(file: &str, prefix: &str, needle: &str) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .enumerate()
        .find(|(_, line)| line.trim_start().starts_with(prefix) && line.contains(needle))
        .map(|(n, line)| format!("{file}:{}: {}", n + 1, line.trim()))
}

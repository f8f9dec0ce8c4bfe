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
use crate::error::{code_of, silent, Exit, FAILURE, USAGE};
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
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report)?;
    }
    if report.healthy {
        Ok(())
    } else {
        Err(silent(FAILURE))
    }
}

fn sweep(paths: &Paths, args: &Doctor) -> Result<Report> {
    let names = match &args.product {
        Some(name) => {
            product::check_name(name)?;
            vec![name.clone()]
        }
        None => Product::names(paths)?,
    };
    let (products, mut findings) = load(paths, &names)?;
    findings.extend(environment::check(&products)?);
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

/// The products to check, and a finding for each config that cannot be parsed: one bad file
/// hides no other product.
fn load(paths: &Paths, names: &[String]) -> Result<(Vec<Product>, Vec<Finding>)> {
    let (mut products, mut findings) = (Vec::new(), Vec::new());
    for name in names {
        match Product::load(paths, name) {
            Ok(product) => products.push(product),
            Err(err) if code_of(&err) != USAGE => findings.push(Finding {
                id: "product-config-broken",
                severity: Severity::Error,
                product: Some(name.clone()),
                unit: None,
                summary: format!(
                    "{name}'s config cannot be used, so its unit cannot be checked or rewritten"
                ),
                evidence: vec![format!("{err:#}")],
                fix: format!(
                    "fix {}, or remove the product with `sessctl disable {name} --purge`",
                    paths.product_file(name).display()
                ),
            }),
            Err(err) => return Err(err),
        }
    }
    Ok((products, findings))
}

fn print_text(report: &Report) -> Result<()> {
    for f in &report.findings {
        let severity = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        };
        outln!("{severity}[{}]: {}", f.id, f.summary);
        for e in &f.evidence {
            outln!("  evidence: {e}");
        }
        outln!("  fix: {}", f.fix);
    }
    let count = |s: Severity| report.findings.iter().filter(|f| f.severity == s).count();
    if report.healthy {
        outln!("doctor: healthy ({} notes)", count(Severity::Note));
    } else {
        outln!(
            "doctor: {} errors, {} warnings, {} notes",
            count(Severity::Error),
            count(Severity::Warning),
            count(Severity::Note)
        );
    }
    Ok(())
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

//! `doctor`: the sweep for everything that can kill a session. One launch mistake was
//! once wired into three places, and fixing one moved the bug to the next click; so doctor
//! checks everywhere a session can be launched: sessctl's own units, the environment, every
//! other user unit, and every tmux server and agent process of the user.

mod environment;
mod launchers;
mod own_units;
mod processes;

use anyhow::Result;
use serde::Serialize;

use crate::error::{code_of, USAGE};
use crate::lifecycle::intent;
use crate::paths::Paths;
use crate::product::{self, Product};
use crate::unit;

pub use crate::error::Severity;

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

impl Finding {
    /// A finding about the machine; [`Finding::on`] names the product or unit it concerns.
    pub fn new(
        id: &'static str,
        severity: Severity,
        summary: String,
        evidence: Vec<String>,
        fix: String,
    ) -> Finding {
        Finding {
            id,
            severity,
            product: None,
            unit: None,
            summary,
            evidence,
            fix,
        }
    }

    /// The finding, about `product` (if any) and `unit`.
    pub fn on(mut self, product: Option<&str>, unit: &str) -> Finding {
        self.product = product.map(str::to_string);
        self.unit = Some(unit.to_string());
        self
    }
}

/// The `doctor --json` object.
#[derive(Debug, Serialize)]
pub struct Report {
    /// No errors and no warnings (notes do not count).
    pub healthy: bool,
    /// Worst first.
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).min()
    }
}

/// Sweeps everything that can kill a session, or only `product`'s unit and processes (the
/// environment and other units always).
pub fn sweep(paths: &Paths, product: Option<&str>) -> Result<Report> {
    let names = match product {
        Some(name) => {
            product::check_name(name)?;
            vec![name.to_string()]
        }
        None => Product::names(paths)?,
    };
    let (products, mut findings) = load(paths, &names)?;
    findings.extend(abandoned_writes(paths, product)?);
    let interrupted = interrupted(paths, product)?;
    // A product being disabled is checked as the disable leaves it, not as a unit to keep:
    // "not enabled" with `sessctl enable` as the fix would undo what the user asked for.
    let removing: Vec<&str> = (interrupted.iter())
        .filter(|f| f.id == "change-interrupted-disable")
        .filter_map(|f| f.product.as_deref())
        .collect();
    findings.extend(environment::check(&products)?);
    // Without the manager, what is left to check is the environment that keeps it away.
    if let Some(systemd) = environment::manager(&mut findings) {
        let units: Vec<String> = products.iter().map(|p| unit::unit_name(&p.name)).collect();
        let views = systemd.checks(&units)?;
        findings.extend(environment::memory(&systemd, &units, &views)?);
        let manager_env = systemd.environment()?;
        for (product, view) in products.iter().zip(&views) {
            if !removing.contains(&product.name.as_str()) {
                findings.extend(own_units::check(paths, &manager_env, product, view)?);
            }
        }
        findings.extend(launchers::check(&systemd, paths)?);
        findings.extend(processes::check(&systemd, paths, &products)?);
    }
    findings.extend(interrupted);
    findings.sort_by(|a, b| a.severity.cmp(&b.severity).then(a.id.cmp(b.id)));
    let healthy = findings.iter().all(|f| f.severity == Severity::Note);
    Ok(Report { healthy, findings })
}

/// A finding for each file a killed sessctl left half-written (of `only`'s product, when
/// given). The file it would have replaced is whole; gc removes these.
fn abandoned_writes(paths: &Paths, only: Option<&str>) -> Result<Vec<Finding>> {
    Ok(paths
        .abandoned_writes()?
        .into_iter()
        .filter(|(product, _)| only.is_none_or(|only| only == product))
        .map(|(product, file)| Finding {
            id: "temp-file-left",
            severity: Severity::Note,
            summary: format!(
                "a write of {product}'s files was interrupted and left its temporary file"
            ),
            product: Some(product),
            unit: None,
            evidence: vec![file.display().to_string()],
            fix: "sessctl gc".to_string(),
        })
        .collect())
}

/// A finding for each change a killed sessctl left midway (of `only`'s product, when given).
fn interrupted(paths: &Paths, only: Option<&str>) -> Result<Vec<Finding>> {
    Ok(intent::interrupted(paths)?
        .into_iter()
        .filter(|(product, _)| only.is_none_or(|only| only == product))
        .map(|(product, found)| Finding {
            id: if found.action.removes() {
                "change-interrupted-disable"
            } else {
                "change-interrupted"
            },
            severity: Severity::Warning,
            summary: intent::describe(&product, &found, false),
            evidence: vec![paths.intent_file(&product).display().to_string()],
            fix: found.action.command(&product),
            product: Some(product),
            unit: None,
        })
        .collect())
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

/// The first line of `file` that starts with `prefix` and contains `needle`, as
/// `file:line: text` (lines count from 1).
fn locate(file: &str, prefix: &str, needle: &str) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .enumerate()
        .find(|(_, line)| line.trim_start().starts_with(prefix) && line.contains(needle))
        .map(|(n, line)| format!("{file}:{}: {}", n + 1, line.trim()))
}

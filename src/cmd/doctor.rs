//! `sessctl doctor`: the sweep's findings, as text or JSON, and its exit status.

use anyhow::Result;

use crate::cli::Doctor;
use crate::context::Ctx;
use crate::error::{self, Exit, FAILURE};
use crate::product::ProductName;
use crate::query::doctor::{self, Report, Severity};

pub fn run(ctx: &Ctx, args: Doctor) -> Result<()> {
    let only = args
        .product
        .as_deref()
        .map(ProductName::parse)
        .transpose()?;
    let report = doctor::sweep(ctx, only.as_ref()).map_err(|err| Exit {
        code: FAILURE,
        message: format!("doctor could not run: {err:#}"),
    })?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report)?;
    }
    error::exit_with(error::doctor_code(report.worst()))
}

fn print_text(report: &Report) -> Result<()> {
    for f in &report.findings {
        let severity = f.severity.as_str();
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

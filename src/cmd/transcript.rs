//! `sessctl transcript`: check and repair agent transcripts without ever changing the
//! original, list and restore snapshots.

use anyhow::Result;

use crate::cli::Transcript;
use crate::context::Ctx;
use crate::error;
use crate::lifecycle::transcript::{self as lifecycle, Adopted, Repair, Repaired};
use crate::product::ProductName;
use crate::query::transcript as query;
use crate::transcript::{Report, Severity};

pub fn run(ctx: &Ctx, cmd: Transcript) -> Result<()> {
    match cmd {
        Transcript::Check { target, json } => {
            let report = query::check(ctx, &target)?;
            print_report(&report, json)?;
            error::exit_with(error::transcript_code(report.worst()))
        }
        Transcript::Repair {
            target,
            adopt,
            allow_loss,
        } => repair(ctx, &target, adopt, allow_loss),
        Transcript::Snapshots { product, json } => {
            let all = query::snapshots(&ctx.paths, &ProductName::parse(&product)?)?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&all)?);
                return Ok(());
            }
            for s in &all {
                outln!("{}  {} bytes", s.name, s.bytes);
            }
            Ok(())
        }
        Transcript::Restore { product, snapshot } => {
            let restored = lifecycle::restore(ctx, &ProductName::parse(&product)?, &snapshot)?;
            let id = &restored.session_id;
            outln!(
                "{product}: restored {snapshot} as conversation {id} ({})",
                restored.file.display()
            );
            outln!("{product}: pinned to {id}; its next start resumes it (`sessctl restart {product}` switches a running session)");
            Ok(())
        }
    }
}

fn repair(ctx: &Ctx, target: &str, adopt: bool, allow_loss: bool) -> Result<()> {
    if adopt {
        return repair_adopt(ctx, target, allow_loss);
    }
    match lifecycle::repair(ctx, target, false)? {
        Repaired::Done(repair) => print_repair(&repair),
        Repaired::Nothing(file) => nothing_to_repair(&file),
    }
}

fn repair_adopt(ctx: &Ctx, target: &str, allow_loss: bool) -> Result<()> {
    let (repair, restarted) = match lifecycle::repair_adopt(ctx, target, allow_loss)? {
        Adopted::Done { repair, restarted } => (repair, restarted),
        Adopted::Nothing(file) => return nothing_to_repair(&file),
    };
    print_repair(&repair)?;
    let id = &repair.log.fork_session;
    let name = repair
        .product
        .as_ref()
        .map_or(target, |(p, _)| p.name.as_str());
    if restarted {
        outln!("{name}: pinned to {id}; the session was stopped for the repair and started again on it");
    } else {
        outln!("{name}: pinned to {id}; its next start resumes it");
    }
    Ok(())
}

fn nothing_to_repair(file: &std::path::Path) -> Result<()> {
    outln!(
        "{}: nothing to repair (the client resumes it as it is)",
        file.display()
    );
    Ok(())
}

fn print_report(report: &Report, json: bool) -> Result<()> {
    if json {
        outln!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    let verdict = match report.worst() {
        None | Some(Severity::Note) => "clean",
        Some(Severity::Warning) => "warnings",
        Some(Severity::Error) => "errors",
    };
    if report.file.as_os_str().is_empty() {
        // A pinned conversation with no transcript: name the conversation instead.
        let id = report.session_id.as_deref().unwrap_or("?");
        outln!("conversation {id}: {verdict} (no transcript)");
    } else {
        outln!(
            "{}: {verdict} ({} lines, {} records, {} on the resumed chain, {} API messages)",
            report.file.display(),
            report.lines,
            report.records,
            report.chain_length,
            report.api_messages
        );
    }
    for f in &report.findings {
        let severity = f.severity.as_str();
        let place = if f.line > 0 {
            format!(" line {}", f.line)
        } else {
            String::new()
        };
        outln!("{severity}[{}]{place}: {}", f.id, f.detail);
    }
    Ok(())
}

fn print_repair(repair: &Repair) -> Result<()> {
    let (log, sidecar, worst) = (&repair.log, &repair.sidecar, repair.worst);
    outln!(
        "{}: repaired into {}",
        log.original.display(),
        log.fork.display()
    );
    outln!(
        "  conversation {} (from {})",
        log.fork_session,
        log.original_session.as_deref().unwrap_or("?")
    );
    for c in &log.changes {
        outln!("  line {}: {}", c.line, c.detail);
    }
    outln!("  snapshot of the original: {}", log.snapshot.display());
    outln!("  log of the changes: {}", sidecar.display());
    let verdict = match worst {
        None | Some(Severity::Note) => "clean",
        Some(_) => "warnings only",
    };
    outln!("  check of the copy: {verdict}");
    Ok(())
}

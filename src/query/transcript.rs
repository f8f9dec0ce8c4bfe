//! `transcript check` and `transcript snapshots`: judge a conversation as resume would load
//! it, and list the snapshots kept of it; nothing is written.
//!
//! [`check`] is the one query that reads a whole transcript: that is what `transcript check`
//! is asked to do (once, streaming, in bounded memory). No other query may
//! (`tests/it/architecture.rs` holds the exception to this function).

use anyhow::{Context, Result};

use crate::context::Ctx;
use crate::lifecycle::target::{missing, resolve, Target};
use crate::paths::Paths;
use crate::product::{Product, ProductName};
use crate::snapshot::{self, Snapshot};
use crate::transcript::{self, Finding, FindingId, Report, Severity};

/// `transcript check`: the report on `target`, with what only a product adds (a missing or
/// empty transcript, retention). Reads the file once, in bounded memory.
pub fn check(ctx: &Ctx, target: &str) -> Result<Report> {
    let target = resolve(ctx, target)?;
    let mut report = match &target.file {
        Some(file) => transcript::analyze(file)?.report,
        None => {
            let (product, pin) = target.product.as_ref().context("a product target")?;
            missing(product, pin, &target.env)
        }
    };
    if target.product.is_some() {
        if report.records == 0 && target.file.is_some() {
            report.findings.push(Finding {
                id: FindingId::EmptyTranscript,
                severity: Severity::Error,
                line: 0,
                uuid: None,
                detail: "the pinned transcript holds no conversation: a resume starts from nothing"
                    .into(),
            });
        }
        report.findings.extend(retention(&target)?);
    }
    Ok(report)
}

/// The snapshots of `name`'s pinned conversation, oldest first.
pub fn snapshots(paths: &Paths, name: &ProductName) -> Result<Vec<Snapshot>> {
    Product::config_text(paths, name)?;
    snapshot::list(&paths.snapshots_dir(name))
}

/// The setting of the product's agent that will delete its pinned conversation, as a finding.
fn retention(target: &Target) -> Result<Vec<Finding>> {
    let Some((product, _)) = &target.product else {
        return Ok(Vec::new());
    };
    Ok(product
        .agent
        .profile()
        .retention_risk(&target.env)?
        .map(|risk| Finding {
            id: FindingId::Retention,
            severity: Severity::Warning,
            line: 0,
            uuid: None,
            detail: risk.to_string(),
        })
        .into_iter()
        .collect())
}

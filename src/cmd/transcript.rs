//! `sessctl transcript check` and `repair`: judge a conversation as resume would load it, and
//! mend it in a copy, never in place.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::agent::{self, Pin};
use crate::cli::Transcript;
use crate::error::{silent, usage};
use crate::paths::Paths;
use crate::product::{self, Product};
use crate::snapshot;
use crate::state::{self, Event};
use crate::store::{self, Lock};
use crate::transcript::{self, Finding, Report, Severity};

pub fn run(paths: &Paths, cmd: Transcript) -> Result<()> {
    match cmd {
        Transcript::Check { target, json } => check(paths, &target, json),
        Transcript::Repair { target, adopt } => repair(paths, &target, adopt),
        Transcript::Snapshots { product, json } => snapshots(paths, &product, json),
        Transcript::Restore { product, snapshot } => restore(paths, &product, &snapshot),
    }
}

/// A transcript file, and the product pinned to it when the target named a product.
struct Target {
    file: Option<PathBuf>,
    product: Option<(Product, Pin)>,
}

fn resolve(paths: &Paths, target: &str) -> Result<Target> {
    let path = Path::new(target);
    if path.is_file() {
        return Ok(Target {
            file: Some(path.to_path_buf()),
            product: None,
        });
    }
    if target.contains('/') || target.ends_with(".jsonl") {
        return Err(usage(format!(
            "no transcript file {target:?}; pass an existing .jsonl file or a product name"
        )));
    }
    product::check_name(target)?;
    let product = Product::load(paths, target)?;
    if product.agent != agent::Agent::Claude {
        return Err(usage(format!(
            "{target} runs a {} agent; sessctl transcript reads Claude Code transcripts, so pass a Claude Code .jsonl file",
            product.agent.name()
        )));
    }
    let pin = Pin::load(&paths.pin_file(target))?.ok_or_else(|| {
        usage(format!(
            "product {target:?} has no pinned conversation yet: it is chosen before its first start; pass the transcript file instead"
        ))
    })?;
    Ok(Target {
        file: agent::find_transcript(&pin.session_id),
        product: Some((product, pin)),
    })
}

fn check(paths: &Paths, target: &str, json: bool) -> Result<()> {
    let target = resolve(paths, target)?;
    let mut report = match &target.file {
        Some(file) => transcript::analyze(file)?.report,
        None => {
            let (product, pin) = target.product.as_ref().context("a product target")?;
            missing(product, pin)
        }
    };
    if target.product.is_some() {
        if report.records == 0 && target.file.is_some() {
            report.findings.push(Finding {
                id: "empty-transcript",
                severity: Severity::Error,
                line: 0,
                uuid: None,
                detail: "the pinned transcript holds no conversation: a resume starts from nothing"
                    .into(),
            });
        }
        report.findings.extend(retention()?);
    }
    print_report(&report, json)?;
    match report.exit_code() {
        0 => Ok(()),
        code => Err(silent(code)),
    }
}

fn missing(product: &Product, pin: &Pin) -> Report {
    Report {
        file: PathBuf::new(),
        lines: 0,
        records: 0,
        session_id: Some(pin.session_id.clone()),
        leaf: None,
        chain_length: 0,
        api_messages: 0,
        findings: vec![Finding {
            id: "missing-transcript",
            severity: Severity::Error,
            line: 0,
            uuid: None,
            detail: format!(
                "{}'s pinned conversation {} has no transcript under {}: the next start begins a new, empty conversation",
                product.name,
                pin.session_id,
                agent::claude_projects().map_or("~/.claude/projects".into(), |p| p.display().to_string())
            ),
        }],
    }
}

fn retention() -> Result<Vec<Finding>> {
    Ok(agent::retention_risk()?
        .map(|risk| Finding {
            id: "retention",
            severity: Severity::Warning,
            line: 0,
            uuid: None,
            detail: risk.to_string(),
        })
        .into_iter()
        .collect())
}

fn print_report(report: &Report, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    let verdict = match report.exit_code() {
        0 => "clean",
        1 => "warnings",
        _ => "the next request will fail",
    };
    if report.file.as_os_str().is_empty() {
        // A pinned conversation with no transcript: name the conversation instead.
        let id = report.session_id.as_deref().unwrap_or("?");
        println!("conversation {id}: {verdict} (no transcript)");
    } else {
        println!(
            "{}: {verdict} ({} lines, {} records, {} on the resumed chain, {} API messages)",
            report.file.display(),
            report.lines,
            report.records,
            report.chain_length,
            report.api_messages
        );
    }
    for f in &report.findings {
        let severity = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let place = if f.line > 0 {
            format!(" line {}", f.line)
        } else {
            String::new()
        };
        println!("{severity}[{}]{place}: {}", f.id, f.detail);
    }
    Ok(())
}

/// The sidecar log a repair writes beside its copy.
#[derive(Serialize)]
struct Sidecar<'a> {
    original: &'a Path,
    original_bytes: u64,
    original_session: Option<&'a str>,
    snapshot: &'a Path,
    fork: &'a Path,
    fork_session: &'a str,
    changes: &'a [transcript::Change],
    sessctl: &'static str,
    time: String,
}

fn repair(paths: &Paths, target: &str, adopt: bool) -> Result<()> {
    let target = resolve(paths, target)?;
    if adopt && target.product.is_none() {
        return Err(usage(
            "--adopt needs a product, not a file: name the product whose conversation this is",
        ));
    }
    let file = match (&target.file, &target.product) {
        (Some(file), _) => file.clone(),
        (None, Some((product, pin))) => bail!("{}", missing(product, pin).findings[0].detail),
        (None, None) => bail!("no transcript to repair"),
    };
    let analysis = transcript::analyze(&file)?;
    if analysis.report.exit_code() < 2 {
        println!(
            "{}: nothing to repair (the next request will not fail)",
            file.display()
        );
        return Ok(());
    }
    let snapshots = match &target.product {
        Some((product, _)) => paths.state_dir(&product.name).join("snapshots"),
        None => paths.state_home.join("sessctl/snapshots"),
    };
    let snapshot = snapshot::take(&file, &snapshots)?;
    let new_id = agent::new_uuid()?;
    let fork = file.with_file_name(format!("{new_id}.jsonl"));
    let changes = transcript::write_fork(&file, &analysis, &new_id, &fork)?;
    let checked = transcript::analyze(&fork)?.report;
    if checked.exit_code() == 2 {
        let why: Vec<String> = checked
            .findings
            .iter()
            .map(|f| format!("{}: {}", f.id, f.detail))
            .collect();
        std::fs::remove_file(&fork)
            .with_context(|| format!("removing the failed copy {}", fork.display()))?;
        bail!(
            "the repaired copy still fails check, so it was removed: {}",
            why.join("; ")
        );
    }
    let sidecar_path = file.with_file_name(format!("{new_id}.sessctl.json"));
    let sidecar = Sidecar {
        original: &file,
        original_bytes: std::fs::metadata(&file).map_or(0, |m| m.len()),
        original_session: analysis.report.session_id.as_deref(),
        snapshot: &snapshot,
        fork: &fork,
        fork_session: &new_id,
        changes: &changes,
        sessctl: env!("CARGO_PKG_VERSION"),
        time: state::rfc3339(std::time::SystemTime::now()),
    };
    let text = serde_json::to_string_pretty(&sidecar).context("serialising the repair log")?;
    store::write_atomic(&sidecar_path, text.as_bytes())?;

    println!("{}: repaired into {}", file.display(), fork.display());
    println!(
        "  conversation {new_id} (from {})",
        analysis.report.session_id.as_deref().unwrap_or("?")
    );
    for c in &changes {
        println!("  line {}: {}", c.line, c.detail);
    }
    println!("  snapshot of the original: {}", snapshot.display());
    println!("  log of the changes: {}", sidecar_path.display());
    println!(
        "  check of the copy: {}",
        if checked.exit_code() == 0 {
            "clean"
        } else {
            "warnings only"
        }
    );
    if let (true, Some((product, mut pin))) = (adopt, target.product) {
        let _lock = Lock::acquire(&paths.lock_file(&product.name))?;
        let now = state::rfc3339(std::time::SystemTime::now());
        pin.repin(&new_id, "adopted a repaired copy", &now);
        pin.save(&paths.pin_file(&product.name))?;
        state::append(
            paths,
            &product.name,
            &Event::new("adopt", None).verdict("repaired", Some(&new_id)),
        )?;
        println!(
            "{}: pinned to {new_id}; its next start resumes it (`sessctl restart {}` switches a running session)",
            product.name, product.name
        );
    }
    Ok(())
}

fn snapshots(paths: &Paths, name: &str, json: bool) -> Result<()> {
    product::check_name(name)?;
    Product::load(paths, name)?;
    let all = snapshot::list(&paths.state_dir(name).join("snapshots"))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    } else {
        for s in &all {
            println!("{}  {} bytes", s.name, s.bytes);
        }
    }
    Ok(())
}

fn restore(paths: &Paths, name: &str, snapshot_name: &str) -> Result<()> {
    product::check_name(name)?;
    let product = Product::load(paths, name)?;
    let pin_file = paths.pin_file(name);
    let mut pin = Pin::load(&pin_file)?.ok_or_else(|| {
        usage(format!(
            "product {name:?} has no pinned conversation to restore into"
        ))
    })?;
    let dir = paths.state_dir(name).join("snapshots");
    if !snapshot::list(&dir)?
        .iter()
        .any(|s| s.name == snapshot_name)
    {
        return Err(usage(format!(
            "no snapshot {snapshot_name:?} of {name}; `sessctl transcript snapshots {name}` lists them"
        )));
    }
    // Beside the conversation it came from, so the agent's own resume finds it.
    let project = match agent::find_transcript(&pin.session_id)
        .and_then(|t| t.parent().map(Path::to_path_buf))
    {
        Some(folder) => folder,
        None => agent::claude_projects()
            .context("neither $CLAUDE_CONFIG_DIR nor $HOME is set")?
            .join(agent::encode_dir(&product.dir)),
    };
    let _lock = Lock::acquire(&paths.lock_file(name))?;
    let new_id = agent::new_uuid()?;
    let dest = snapshot::restore(&dir, snapshot_name, &project, &new_id)?;
    let now = state::rfc3339(std::time::SystemTime::now());
    pin.repin(&new_id, &format!("restored snapshot {snapshot_name}"), &now);
    pin.save(&pin_file)?;
    state::append(
        paths,
        name,
        &Event::new("restore", None).verdict("restored", Some(snapshot_name)),
    )?;
    println!(
        "{name}: restored {snapshot_name} as conversation {new_id} ({})",
        dest.display()
    );
    println!("{name}: pinned to {new_id}; its next start resumes it (`sessctl restart {name}` switches a running session)");
    Ok(())
}

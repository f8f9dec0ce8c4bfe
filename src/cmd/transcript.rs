//! `sessctl transcript check` and `repair`: judge a conversation as resume would load it, and
//! mend it in a copy, never in place.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::agent::{self, AgentEnv, Pin};
use crate::cli::Transcript;
use crate::error::{silent, usage};
use crate::paths::Paths;
use crate::product::{self, Product};
use crate::snapshot;
use crate::state::{self, Event};
use crate::store::{self, Lock};
use crate::systemd::Systemd;
use crate::transcript::{self, Finding, Report, Severity};

pub fn run(paths: &Paths, cmd: Transcript) -> Result<()> {
    match cmd {
        Transcript::Check { target, json } => check(paths, &target, json),
        Transcript::Repair {
            target,
            adopt,
            allow_loss,
        } => repair(paths, &target, adopt, allow_loss),
        Transcript::Snapshots { product, json } => snapshots(paths, &product, json),
        Transcript::Restore { product, snapshot } => restore(paths, &product, &snapshot),
    }
}

/// A transcript file, and the product pinned to it when the target named a product.
struct Target {
    file: Option<PathBuf>,
    product: Option<(Product, Pin)>,
    /// Where the agent keeps its data: the product's environment for a product.
    env: AgentEnv,
}

fn resolve(paths: &Paths, target: &str) -> Result<Target> {
    let path = Path::new(target);
    if path.is_file() {
        return Ok(Target {
            file: Some(path.to_path_buf()),
            product: None,
            env: AgentEnv::caller(),
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
    let env = product_env(&product);
    Ok(Target {
        file: agent::find_transcript(&env, &pin.session_id)?,
        product: Some((product, pin)),
        env,
    })
}

/// Where the product's agent keeps its data: the unit's environment decides; with no manager
/// to ask, the caller's stands in.
fn product_env(product: &Product) -> AgentEnv {
    let manager = Systemd::connect().and_then(|s| s.environment()).ok();
    AgentEnv::of(product, manager.as_deref())
}

fn check(paths: &Paths, target: &str, json: bool) -> Result<()> {
    let target = resolve(paths, target)?;
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
                id: "empty-transcript",
                severity: Severity::Error,
                line: 0,
                uuid: None,
                detail: "the pinned transcript holds no conversation: a resume starts from nothing"
                    .into(),
            });
        }
        report.findings.extend(retention(&target.env)?);
    }
    print_report(&report, json)?;
    match report.exit_code() {
        0 => Ok(()),
        code => Err(silent(code)),
    }
}

fn missing(product: &Product, pin: &Pin, env: &AgentEnv) -> Report {
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
                env.claude_projects().map_or("~/.claude/projects".into(), |p| p.display().to_string())
            ),
        }],
    }
}

fn retention(env: &AgentEnv) -> Result<Vec<Finding>> {
    Ok(agent::retention_risk(env)?
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
        outln!("{}", serde_json::to_string_pretty(report)?);
        return Ok(());
    }
    let verdict = match report.exit_code() {
        0 => "clean",
        1 => "warnings",
        _ => "errors",
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
        let severity = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let place = if f.line > 0 {
            format!(" line {}", f.line)
        } else {
            String::new()
        };
        outln!("{severity}[{}]{place}: {}", f.id, f.detail);
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

fn repair(paths: &Paths, target: &str, adopt: bool, allow_loss: bool) -> Result<()> {
    let target = resolve(paths, target)?;
    if adopt && target.product.is_none() {
        return Err(usage(
            "--adopt needs a product, not a file: name the product whose conversation this is",
        ));
    }
    let file = match (&target.file, &target.product) {
        (Some(file), _) => file.clone(),
        (None, Some((product, pin))) => {
            bail!("{}", missing(product, pin, &target.env).findings[0].detail)
        }
        (None, None) => bail!("no transcript to repair"),
    };
    let analysis = transcript::analyze(&file)?;
    let new_id = agent::new_uuid()?;
    let Some((fork, changes, checked)) = checked_fork(&file, &analysis, &new_id)? else {
        outln!(
            "{}: nothing to repair (the client resumes it as it is)",
            file.display()
        );
        return Ok(());
    };
    let snapshot = snapshot::take(
        &file,
        &match &target.product {
            Some((product, _)) => paths.snapshots_dir(&product.name),
            None => paths.loose_snapshots_dir(),
        },
    )?;
    let sidecar = file.with_file_name(format!("{new_id}.sessctl.json"));
    let log = Sidecar {
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
    let text = serde_json::to_string_pretty(&log).context("serialising the repair log")?;
    store::write_atomic(&sidecar, text.as_bytes())?;
    print_repair(&log, &sidecar, checked.exit_code())?;
    match (adopt, target.product) {
        (true, Some((product, pin))) => adopt_fork(paths, &product, pin, &log, allow_loss),
        _ => Ok(()),
    }
}

/// Writes the repaired copy of `file` as conversation `new_id` and checks it: `None` when
/// there was nothing to change; an error (and no copy) when it must not stand.
fn checked_fork(
    file: &Path,
    analysis: &transcript::Analysis,
    new_id: &str,
) -> Result<Option<(PathBuf, Vec<transcript::Change>, Report)>> {
    let fork = file.with_file_name(format!("{new_id}.jsonl"));
    let changes = transcript::write_fork(file, analysis, new_id, &fork)?;
    let checked = transcript::analyze(&fork);
    let refusal = match &checked {
        _ if changes.is_empty() => Some(None),
        Err(err) => Some(Some(format!("the copy cannot be read back: {err:#}"))),
        Ok(copy) => refuse_fork(analysis, copy, &changes),
    };
    match refusal {
        None => Ok(Some((fork, changes, checked?.report))),
        Some(why) => {
            std::fs::remove_file(&fork)
                .with_context(|| format!("removing the refused copy {}", fork.display()))?;
            match why {
                None => Ok(None),
                Some(why) => bail!("{why}; the copy was removed and the original is untouched"),
            }
        }
    }
}

fn print_repair(log: &Sidecar, sidecar: &Path, exit_code: u8) -> Result<()> {
    outln!(
        "{}: repaired into {}",
        log.original.display(),
        log.fork.display()
    );
    outln!(
        "  conversation {} (from {})",
        log.fork_session,
        log.original_session.unwrap_or("?")
    );
    for c in log.changes {
        outln!("  line {}: {}", c.line, c.detail);
    }
    outln!("  snapshot of the original: {}", log.snapshot.display());
    outln!("  log of the changes: {}", sidecar.display());
    let verdict = if exit_code == 0 {
        "clean"
    } else {
        "warnings only"
    };
    outln!("  check of the copy: {verdict}");
    Ok(())
}

/// Pins `product` to the repaired copy; one that drops records of the conversation only with
/// `allow_loss`.
fn adopt_fork(
    paths: &Paths,
    product: &Product,
    mut pin: Pin,
    log: &Sidecar,
    allow_loss: bool,
) -> Result<()> {
    let dropped = log
        .changes
        .iter()
        .filter(|c| c.kind == "drop-record")
        .count();
    if dropped > 0 && !allow_loss {
        return Err(usage(format!(
            "the repaired copy {} drops {dropped} records of the conversation (listed in its log); it was kept but not adopted: pass --allow-loss to adopt it anyway",
            log.fork.display()
        )));
    }
    let name = &product.name;
    let _lock = Lock::acquire(&paths.lock_file(name))?;
    let now = state::rfc3339(std::time::SystemTime::now());
    pin.repin(log.fork_session, "adopted a repaired copy", &now);
    pin.save(&paths.pin_file(name))?;
    state::append(
        paths,
        name,
        &Event::new("adopt", None).verdict("repaired", Some(log.fork_session)),
    );
    outln!(
        "{name}: pinned to {}; its next start resumes it (`sessctl restart {name}` switches a running session)",
        log.fork_session
    );
    Ok(())
}

/// Why a written fork must not stand, if it must not: it holds no conversation, it still
/// fails check, or it lost records of the resumed chain that no change names.
fn refuse_fork(
    original: &transcript::Analysis,
    copy: &transcript::Analysis,
    changes: &[transcript::Change],
) -> Option<Option<String>> {
    if transcript::has_conversation(original) && !transcript::has_conversation(copy) {
        return Some(Some("the repaired copy would hold no conversation".into()));
    }
    let errors: Vec<String> = copy
        .report
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| format!("{}: {}", f.id, f.detail))
        .collect();
    if !errors.is_empty() {
        return Some(Some(format!(
            "the repaired copy still fails check: {}",
            errors.join("; ")
        )));
    }
    let named: std::collections::HashSet<&str> = changes
        .iter()
        .filter(|c| c.kind == "drop-record")
        .filter_map(|c| c.uuid.as_deref())
        .collect();
    let unnamed: Vec<String> = transcript::lost_records(original, copy)
        .into_iter()
        .filter(|uuid| !named.contains(uuid.as_str()))
        .collect();
    (!unnamed.is_empty()).then(|| {
        Some(format!(
            "the repaired copy would silently lose {} records of the conversation ({})",
            unnamed.len(),
            unnamed.join(", ")
        ))
    })
}

fn snapshots(paths: &Paths, name: &str, json: bool) -> Result<()> {
    product::check_name(name)?;
    Product::load(paths, name)?;
    let all = snapshot::list(&paths.snapshots_dir(name))?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&all)?);
    } else {
        for s in &all {
            outln!("{}  {} bytes", s.name, s.bytes);
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
    let dir = paths.snapshots_dir(name);
    if !snapshot::list(&dir)?
        .iter()
        .any(|s| s.name == snapshot_name)
    {
        return Err(usage(format!(
            "no snapshot {snapshot_name:?} of {name}; `sessctl transcript snapshots {name}` lists them"
        )));
    }
    // In the project folder of the product's directory: the only one the client's resume
    // looks in.
    let project = product_env(&product)
        .claude_projects()
        .context("neither CLAUDE_CONFIG_DIR nor HOME is set for the product's agent")?
        .join(agent::encode_dir(&product.dir));
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
    );
    outln!(
        "{name}: restored {snapshot_name} as conversation {new_id} ({})",
        dest.display()
    );
    outln!("{name}: pinned to {new_id}; its next start resumes it (`sessctl restart {name}` switches a running session)");
    Ok(())
}

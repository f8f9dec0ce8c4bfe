//! `transcript repair` and `transcript restore`: mend a conversation into a copy, or bring
//! back a snapshot, and pin the product to it. Every write for a product (snapshot, copy,
//! sidecar log, pin, event) is made under the product's lock; the original is never changed.
//! The agent's files are reached through its `Profile`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::target as query;
use super::{intent, observe, start};
use crate::context::Ctx;
use crate::error::{quoted, usage};
use crate::paths::Paths;
use crate::pin::Pin;
use crate::product::{Product, ProductName};
use crate::snapshot;
use crate::state::{self, Action, Event, EventKind, Locked, Writer};
use crate::store;
use crate::transcript::{self, Report, Severity};
use crate::unit;

/// The sidecar log a repair writes beside its copy.
#[derive(Debug, Serialize)]
pub struct Sidecar {
    pub original: PathBuf,
    pub original_bytes: u64,
    pub original_session: Option<String>,
    pub snapshot: PathBuf,
    pub fork: PathBuf,
    pub fork_session: String,
    pub changes: Vec<transcript::Change>,
    pub sessctl: &'static str,
    pub time: String,
}

/// What a repair came to.
#[derive(Debug)]
pub enum Repaired {
    /// The client resumes this file as it is.
    Nothing(PathBuf),
    Done(Box<Repair>),
}

/// A repair done: its log, where the log is, the check of the copy, and the product to
/// adopt it (with its pin) when the target named one.
#[derive(Debug)]
pub struct Repair {
    pub log: Sidecar,
    pub sidecar: PathBuf,
    pub worst: Option<Severity>,
    pub product: Option<(Product, Pin)>,
}

/// Mends `target`'s transcript into a copy under a new id, never in place, after a snapshot
/// of the original; `Ok(None)` when the client resumes it as it is. `adopt` only checks that
/// there is a product to adopt the copy ([`repair_adopt`] does it). A product's snapshot,
/// copy and log are written under its lock; a file named by path has no product to lock.
pub fn repair(ctx: &Ctx, target: &str, adopt: bool) -> Result<Repaired> {
    let paths = &ctx.paths;
    let target = query::resolve(ctx, target)?;
    if adopt && target.product.is_none() {
        return Err(usage(
            "--adopt needs a product, not a file: name the product whose conversation this is",
        ));
    }
    let lock = match &target.product {
        Some((product, _)) => Some(Locked::acquire(paths, &ProductName::parse(&product.name)?)?),
        None => None,
    };
    repair_locked(paths, target, lock.as_ref())
}

/// [`repair`] of a resolved target, under `lock`, its product's (none for a file named by
/// path, which has no product).
fn repair_locked(paths: &Paths, target: query::Target, lock: Option<&Locked>) -> Result<Repaired> {
    let file = match (&target.file, &target.product) {
        (Some(file), _) => file.clone(),
        (None, Some((product, pin))) => {
            bail!(
                "{}",
                query::missing(product, pin, &target.env).findings[0].detail
            )
        }
        (None, None) => bail!("no transcript to repair"),
    };
    let analysis = transcript::analyze(&file)?;
    let new_id = crate::uuid::new_v4()?;
    let Some((fork, changes, checked)) = checked_fork(&file, &analysis, &new_id)? else {
        return Ok(Repaired::Nothing(file));
    };
    let shelf = match lock {
        Some(lock) => snapshot::Shelf::of(lock),
        None => snapshot::Shelf::loose(paths),
    };
    let snapshot = snapshot::take(&file, &shelf)?;
    let sidecar = file.with_file_name(format!("{new_id}.sessctl.json"));
    let log = Sidecar {
        original_bytes: std::fs::metadata(&file).map_or(0, |m| m.len()),
        original: file,
        original_session: analysis.report.session_id.clone(),
        snapshot,
        fork,
        fork_session: new_id,
        changes,
        sessctl: env!("CARGO_PKG_VERSION"),
        time: state::rfc3339(std::time::SystemTime::now()),
    };
    let text = serde_json::to_string_pretty(&log).context("serialising the repair log")?;
    store::write_atomic(&sidecar, text.as_bytes())?;
    Ok(Repaired::Done(Box::new(Repair {
        log,
        sidecar,
        worst: checked.worst(),
        product: target.product,
    })))
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

/// What `transcript repair --adopt` came to.
#[derive(Debug)]
pub enum Adopted {
    /// The client resumes the file as it is; a running session was left alone.
    Nothing(PathBuf),
    /// Repaired and pinned. `restarted`: the session was running, so it was stopped before
    /// the copy was made and started again on the copy.
    Done {
        repair: Box<Repair>,
        restarted: bool,
    },
}

/// Repairs the product's conversation into a copy and pins the product to it, all under the
/// product's lock. A running session is stopped first, the copy made of what its agent left,
/// and the session started on the copy: a copy made while the agent still writes the original
/// would miss every turn after it, and the next start would resume the copy without them.
/// A process outside the product's unit that works on the conversation is never stopped: the
/// adoption is refused, naming it.
pub fn repair_adopt(ctx: &Ctx, target: &str, allow_loss: bool) -> Result<Adopted> {
    let paths = &ctx.paths;
    let resolved = query::resolve(ctx, target)?;
    let Some((product, pin)) = resolved.product else {
        return Err(usage(
            "--adopt needs a product, not a file: name the product whose conversation this is",
        ));
    };
    let name = ProductName::parse(&product.name)?;
    intent::refuse_undoing(paths, &name)?;
    let lock = Locked::acquire(paths, &name)?;
    // With no manager to ask, no unit of it runs; a process outside every unit still counts.
    let systemd = ctx.systemd().ok();
    let unit = unit::unit_name(&name);
    let live = match systemd {
        Some(systemd) => {
            start::refuse_second_writer(paths, systemd, &name)
                .map_err(|err| anyhow::anyhow!("{err:#}; nothing was repaired or adopted"))?;
            systemd.status(&unit)?.is_running()
        }
        None => {
            if let Some(writer) = crate::procfs::other_writers(&pin.session_id, None).first() {
                bail!(
                    "conversation {} of {name} is being written by {writer}; stop that process, then run `sessctl transcript repair {name} --adopt` again",
                    pin.session_id
                );
            }
            false
        }
    };
    let systemd = systemd.filter(|_| live);
    let Some(systemd) = systemd else {
        return repair_and_pin(ctx, &lock, allow_loss, false);
    };
    // A session whose conversation the client resumes as it is goes on undisturbed.
    if let Some(file) = &resolved.file {
        if transcript::analyze(file)?.report.findings.is_empty() {
            return Ok(Adopted::Nothing(file.clone()));
        }
    }
    let change = intent::begin(&lock, Action::Restart)?;
    systemd.stop(&unit)?;
    observe::forget(&lock, EventKind::Stop)?;
    let adopted = repair_and_pin(ctx, &lock, allow_loss, true);
    // Started again whatever the repair came to: on the copy when it was adopted, else on
    // the conversation as it was.
    let product = Product::load(paths, &name)?;
    let status = systemd.status(&unit)?;
    start::start_session(&lock, paths, systemd, &product, &status).with_context(|| {
        format!("starting {name} again after `transcript repair --adopt` stopped it")
    })?;
    observe::observe(&lock, systemd, EventKind::Start)?;
    change.end(&lock)?;
    adopted
}

/// Under the product's lock, with nothing writing the conversation: repairs it, and pins
/// the product to the copy; one that drops records of the conversation only with
/// `allow_loss`.
fn repair_and_pin(ctx: &Ctx, lock: &Locked, allow_loss: bool, restarted: bool) -> Result<Adopted> {
    let paths = &ctx.paths;
    let target = query::resolve(ctx, lock.name())?;
    let repair = match repair_locked(paths, target, Some(lock))? {
        Repaired::Nothing(file) => return Ok(Adopted::Nothing(file)),
        Repaired::Done(repair) => repair,
    };
    let Some((_, pin)) = &repair.product else {
        bail!("a repaired file has no product to adopt it");
    };
    let log = &repair.log;
    let dropped = log
        .changes
        .iter()
        .filter(|c| c.kind == transcript::ChangeKind::DropRecord)
        .count();
    if dropped > 0 && !allow_loss {
        return Err(usage(format!(
            "the repaired copy {} drops {dropped} records of the conversation (listed in its log); it was kept but not adopted: pass --allow-loss to adopt it anyway",
            log.fork.display()
        )));
    }
    let mut pin = pin.clone();
    let now = state::rfc3339(std::time::SystemTime::now());
    pin.repin(&log.fork_session, "adopted a repaired copy", &now);
    pin.save(lock)?;
    state::append(
        lock,
        &Event::new(EventKind::Adopt, None).did("repaired", Some(&log.fork_session)),
    );
    Ok(Adopted::Done { repair, restarted })
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
        .filter(|c| c.kind == transcript::ChangeKind::DropRecord)
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

/// A snapshot restored: the new conversation and its file.
#[derive(Debug)]
pub struct Restored {
    pub session_id: String,
    pub file: PathBuf,
}

/// Restores snapshot `snapshot_name` of `name`'s conversation as a new conversation in the
/// product's project folder, and pins the product to it.
pub fn restore(ctx: &Ctx, name: &ProductName, snapshot_name: &str) -> Result<Restored> {
    let paths = &ctx.paths;
    let product = Product::load(paths, name)?;
    // From the pin's reading to its write, as every writer of a product's files.
    let lock = Locked::acquire(paths, name)?;
    let mut pin = Pin::load(&lock.dir().pin())?.ok_or_else(|| {
        usage(format!(
            "product {} has no pinned conversation to restore into",
            quoted(name)
        ))
    })?;
    let shelf = snapshot::Shelf::of(&lock);
    if !snapshot::list(shelf.dir())?
        .iter()
        .any(|s| s.name == snapshot_name)
    {
        return Err(usage(format!(
            "no snapshot {} of {name}; `sessctl transcript snapshots {name}` lists them",
            quoted(snapshot_name)
        )));
    }
    // In the project folder of the product's directory: the only one the client's resume
    // looks in.
    let project = (product.agent.profile())
        .project_dir(&query::product_env(ctx, &product), &product.dir)
        .with_context(|| {
            format!(
                "{name}'s {} agent has no conversation folder to restore into (for Claude Code: neither CLAUDE_CONFIG_DIR nor HOME is set for it)",
                product.agent.name()
            )
        })?;
    let new_id = crate::uuid::new_v4()?;
    let dest = snapshot::restore(&shelf, snapshot_name, &project, &new_id)?;
    let now = state::rfc3339(std::time::SystemTime::now());
    pin.repin(&new_id, &format!("restored snapshot {snapshot_name}"), &now);
    pin.save(&lock)?;
    state::append(
        &lock,
        &Event::new(EventKind::Restore, None).did("restored", Some(snapshot_name)),
    );
    Ok(Restored {
        session_id: new_id,
        file: dest,
    })
}

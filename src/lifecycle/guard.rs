//! The crash-loop guard: why a pinned product's conversation cannot be resumed, if it cannot.
//! It blocks only what the client would fail to resume: a transcript that is gone though
//! snapshots show it existed (a start would begin an empty conversation under the old id), a
//! file that cannot be read, or a shape proven to get the API's 400. A conversation the client
//! resumes, mending it as it loads, is never blocked.
//!
//! The verdict is kept in `guard.json` keyed on the transcript's size and mtime, so a resume
//! scans a transcript once per change, not once per click, and `status` reads only the
//! remembered verdict.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::agent::AgentEnv;
use crate::paths::Paths;
use crate::pin::Pin;
use crate::product::Product;
use crate::store;

/// The guard's verdict, scanning the transcript when it changed since the last verdict.
pub fn needs_repair(paths: &Paths, product: &Product, env: &AgentEnv) -> Result<Option<String>> {
    let (key, file) = match current(paths, product, env)? {
        Current::Unchecked => return Ok(None),
        Current::Vanished(why) => return Ok(why),
        Current::File(key, file) => (key, file),
    };
    let cache = cache_file(paths, &product.name);
    if let Some(known) = remembered_for(&cache, &key)? {
        return Ok(known);
    }
    let verdict = match crate::transcript::analyze(&file) {
        Err(err) => Some(format!("the transcript cannot be read: {err:#}")),
        Ok(analysis) => analysis
            .report
            .findings
            .iter()
            .find(|f| f.blocks_resume())
            .map(|f| {
                format!(
                    "the transcript {} fails to resume: {}; run `sessctl transcript repair {} --adopt`",
                    file.display(),
                    f.detail,
                    product.name
                )
            }),
    };
    let remembered = Guard { verdict, ..key };
    // Only a cache: a verdict that cannot be remembered is computed again next time.
    if let Ok(text) = serde_json::to_string(&remembered) {
        let _ = store::write_atomic(&cache, text.as_bytes());
    }
    Ok(remembered.verdict)
}

/// The verdict the guard remembers for the transcript as it is now, without reading it: what
/// `status` shows. `None` when no verdict was reached on this version of the file.
pub fn remembered(paths: &Paths, product: &Product, env: &AgentEnv) -> Result<Option<String>> {
    match current(paths, product, env)? {
        Current::Unchecked => Ok(None),
        Current::Vanished(why) => Ok(why),
        Current::File(key, _) => {
            Ok(remembered_for(&cache_file(paths, &product.name), &key)?.flatten())
        }
    }
}

/// What the guard judges: nothing, a transcript that is not there, or this version of a file.
enum Current {
    Unchecked,
    Vanished(Option<String>),
    File(Guard, PathBuf),
}

fn current(paths: &Paths, product: &Product, env: &AgentEnv) -> Result<Current> {
    if !product.agent.profile().checks_transcripts() {
        return Ok(Current::Unchecked);
    }
    let Some(pin) = Pin::load(&paths.pin_file(&product.name))? else {
        return Ok(Current::Unchecked);
    };
    let id = pin.session_id;
    let Some(file) = product.agent.profile().transcript(env, &id)? else {
        return Ok(Current::Vanished(vanished(paths, &product.name, &id)?));
    };
    let meta = std::fs::metadata(&file).with_context(|| format!("reading {}", file.display()))?;
    let key = Guard {
        session_id: id,
        bytes: meta.len(),
        modified_ns: meta
            .modified()
            .ok()
            .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos()),
        verdict: None,
    };
    Ok(Current::File(key, file))
}

fn cache_file(paths: &Paths, product: &str) -> PathBuf {
    paths.guard_file(product)
}

/// The remembered verdict on the version of the transcript `key` names, if there is one.
fn remembered_for(cache: &Path, key: &Guard) -> Result<Option<Option<String>>> {
    Ok(store::read_optional(cache)?
        .and_then(|text| serde_json::from_str::<Guard>(&text).ok())
        .filter(|g| g.same_file(key))
        .map(|g| g.verdict))
}

/// Why conversation `id`, which has no transcript, cannot be started: its newest snapshot shows
/// the transcript existed, so a start would begin an empty conversation under the old id.
/// Without a snapshot, it is a conversation not yet begun.
fn vanished(paths: &Paths, product: &str, id: &str) -> Result<Option<String>> {
    let taken = crate::snapshot::list(&paths.snapshots_dir(product))?
        .into_iter()
        .rev()
        .find(|s| s.name.ends_with(&format!("-{id}")));
    Ok(taken.map(|s| {
        format!(
            "the transcript of conversation {id} is gone, though snapshot {} shows it existed: a start would begin an empty conversation; run `sessctl transcript restore {product} {}`",
            s.name, s.name
        )
    }))
}

/// The guard's remembered verdict on one version of a transcript.
#[derive(Debug, Serialize, Deserialize)]
struct Guard {
    session_id: String,
    bytes: u64,
    modified_ns: u128,
    verdict: Option<String>,
}

impl Guard {
    fn same_file(&self, other: &Guard) -> bool {
        (&self.session_id, self.bytes, self.modified_ns)
            == (&other.session_id, other.bytes, other.modified_ns)
    }
}

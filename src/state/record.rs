//! The session sessctl last saw for a product (`session.json`), so that a loss is noticed even
//! when nobody watched it happen, and the markers (`lost.<invocation>`) that claim the logging
//! of a loss once.
//!
//! May import: `identity`, `paths`, `store`.

use std::fs::OpenOptions;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::lock::{Locked, Writer};
use crate::identity::Identity;
use crate::paths::StateDir;
use crate::store;

/// The session sessctl last saw for a product. (Records written before 0.3 also hold a
/// `loss_logged` flag, which the `lost.<invocation>` marker replaced.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub identity: Identity,
}

/// The record in the product state directory `dir`, if any.
pub fn load_record(dir: &Path) -> Result<Option<Record>> {
    store::read_json(&StateDir(dir).session_record())
}

pub fn save_record(lock: &Locked, record: &Record) -> Result<()> {
    store::write_json(&lock.dir().session_record(), record, "the session record")
}

/// Remembers `identity` as the product's session when it is live, else forgets the session.
/// `previous` is the record as the caller read it under the product's lock: an unchanged one
/// costs no I/O, which matters on a resume's hot path.
pub fn remember(lock: &Locked, identity: &Identity, previous: Option<&Record>) -> Result<()> {
    if identity.is_live() {
        let record = Record {
            identity: identity.clone(),
        };
        if previous == Some(&record) {
            return Ok(());
        }
        if let Some(previous) = previous {
            store::remove_file(&loss_marker(lock, &previous.identity))?;
        }
        save_record(lock, &record)
    } else if previous.is_some() {
        forget(lock)
    } else {
        Ok(())
    }
}

/// Forgets the product's session: a deliberate stop is not a loss.
pub fn forget(lock: &Locked) -> Result<()> {
    if let Some(record) = load_record(lock.dir().0)? {
        store::remove_file(&loss_marker(lock, &record.identity))?;
    }
    store::remove_file(&lock.dir().session_record())
}

/// Claims the logging of the loss of `seen`: true the first time only (the marker
/// `lost.<invocation>` is created with O_EXCL), so a loss is logged once however many later
/// calls find it.
pub fn claim_loss(lock: &Locked, seen: &Identity) -> Result<bool> {
    let marker = loss_marker(lock, seen);
    let dir = lock.dir().0;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&marker)
    {
        Ok(_) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(err) => Err(err).with_context(|| format!("creating {}", marker.display())),
    }
}

fn loss_marker(lock: &Locked, seen: &Identity) -> std::path::PathBuf {
    lock.dir().loss_marker(&seen.invocation_id)
}

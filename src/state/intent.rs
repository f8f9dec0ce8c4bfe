//! A change under way on a product (`intent.json`), so that one killed midway is finished or
//! settled by the next call, and its session's end is never taken for a loss.
//!
//! May import: `paths`, `store`, and `time` of this module.

use std::path::Path;
use std::time::SystemTime;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::lock::{Locked, Writer};
use super::time::rfc3339;
use crate::paths::StateDir;
use crate::store;

/// A change that ends or replaces a session, or writes a product's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Enable,
    Stop,
    Restart,
    Disable,
    /// `disable --purge`.
    Purge,
}

impl Action {
    /// The command that asked for it, as a person would type it again.
    pub fn command(self, product: &str) -> String {
        match self {
            Action::Enable => format!("sessctl enable {product}"),
            Action::Stop => format!("sessctl stop {product}"),
            Action::Restart => format!("sessctl restart {product}"),
            Action::Disable => format!("sessctl disable {product}"),
            Action::Purge => format!("sessctl disable {product} --purge"),
        }
    }

    /// A disable asked for the product to go: only another disable, or an enable that keeps
    /// the product after all, may take its place.
    pub fn removes(self) -> bool {
        matches!(self, Action::Disable | Action::Purge)
    }
}

/// A change under way, kept in the product's state as `intent.json`: written under the
/// product's lock before the change's first step and removed after its last. One found under
/// the lock was therefore interrupted (its writer died with the lock); one found without it
/// may be under way, which its writer's PID and start time tell. Either way the session's end
/// or replacement was asked for, and is never taken for a loss.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    pub action: Action,
    /// The sessctl process making the change, and its start time (`/proc/<pid>/stat`).
    pub pid: u32,
    pub start_ticks: Option<u64>,
    /// UTC, RFC 3339.
    pub at: String,
}

impl Intent {
    /// The change under way in the product state directory `dir`, if any.
    pub fn load(dir: &Path) -> Result<Option<Intent>> {
        store::read_json(&StateDir(dir).intent())
    }

    /// Records that this process (started at `start_ticks`) begins `action`.
    pub fn begin(lock: &Locked, action: Action, start_ticks: Option<u64>) -> Result<()> {
        let intent = Intent {
            action,
            pid: std::process::id(),
            start_ticks,
            at: rfc3339(SystemTime::now()),
        };
        store::write_json(&lock.dir().intent(), &intent, "the change under way")
    }

    /// The change is over: finished, or settled by a later call.
    pub fn end(lock: &Locked) -> Result<()> {
        store::remove_file(&lock.dir().intent())
    }
}

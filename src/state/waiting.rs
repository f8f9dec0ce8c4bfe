//! The mark that the agent waits for its human (`waiting.json`): set from inside the unit by
//! the agent's hooks or its silence, cleared by its next prompt, read by `status`.
//!
//! May import: `paths`, `store`, and `time` of this module.

use std::path::Path;
use std::time::SystemTime;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::lock::Writer;
use super::time::rfc3339;
use crate::paths::StateDir;
use crate::store;

/// The agent waits for its human: since when, and what said so (`stop`: it finished a response;
/// `notification`: it asks for something, a permission or an answer). Kept in the product's
/// state as `waiting.json` until the next prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiting {
    /// UTC, RFC 3339.
    pub since: String,
    pub kind: String,
}

impl Waiting {
    /// The mark in the product state directory `dir`, if any.
    pub fn load(dir: &Path) -> Result<Option<Waiting>> {
        store::read_json(&StateDir(dir).waiting())
    }

    /// Marks the agent of state directory `dir` as waiting, now, for `kind`, and returns the
    /// mark when it is new. A mark already there stays as it is: the wait began then (tmux
    /// repeats its silence alert, and a client's notification may follow its finished
    /// response).
    pub fn record(writer: &impl Writer, kind: &str) -> Result<Option<Waiting>> {
        if Waiting::load(writer.dir().0)?.is_some() {
            return Ok(None);
        }
        let waiting = Waiting {
            since: rfc3339(SystemTime::now()),
            kind: kind.to_string(),
        };
        store::write_json(&writer.dir().waiting(), &waiting, "the waiting mark")?;
        Ok(Some(waiting))
    }

    /// The agent got its input: it no longer waits.
    pub fn clear(writer: &impl Writer) -> Result<()> {
        store::remove_file(&writer.dir().waiting())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wait_keeps_its_start_until_it_is_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let own = crate::state::UnitClaim::new(dir.path());
        Waiting::record(&own, "stop").unwrap();
        let first = Waiting::load(dir.path()).unwrap().unwrap();
        Waiting::record(&own, "notification").unwrap();
        assert_eq!(Waiting::load(dir.path()).unwrap(), Some(first));
        Waiting::clear(&own).unwrap();
        assert_eq!(Waiting::load(dir.path()).unwrap(), None);
        Waiting::record(&own, "silence").unwrap();
        assert_eq!(Waiting::load(dir.path()).unwrap().unwrap().kind, "silence");
    }
}

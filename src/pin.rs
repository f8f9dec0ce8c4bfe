//! The conversation a product is pinned to, in `$XDG_STATE_HOME/sessctl/products/<product>/pin.json`:
//! plain data and its file. May import: `state` (for the right to write it), `store`.

use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::state::{Locked, Writer};
use crate::store;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    pub session_id: String,
    /// Earlier pins, oldest first, each with why it was left.
    #[serde(default)]
    pub history: Vec<PastPin>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PastPin {
    pub session_id: String,
    pub reason: String,
    pub until: String,
}

impl Pin {
    /// A first pin, with no history.
    pub fn new(session_id: String) -> Pin {
        Pin {
            session_id,
            history: Vec::new(),
        }
    }

    pub fn load(path: &Path) -> Result<Option<Pin>> {
        store::read_json(path)
    }

    /// Writes this pin unless a pin is there already; whether it wrote. Link-or-fail, so the
    /// unit's own processes, which cannot take the product's lock, may create it too.
    pub fn create(&self, writer: &impl Writer) -> Result<bool> {
        let text = serde_json::to_string_pretty(self)?;
        store::create_private(&writer.dir().pin(), text.as_bytes())
    }

    /// Writes this pin over whatever pin is there: only under the product's lock.
    pub fn save(&self, lock: &Locked) -> Result<()> {
        store::write_json(&lock.dir().pin(), self, "the pin")
    }

    /// Moves the pin to `session_id`, remembering the old one and why.
    pub fn repin(&mut self, session_id: &str, reason: &str, now: &str) {
        let old = std::mem::replace(&mut self.session_id, session_id.to_string());
        self.history.push(PastPin {
            session_id: old,
            reason: reason.into(),
            until: now.into(),
        });
    }
}

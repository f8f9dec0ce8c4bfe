//! The conversation a product is pinned to, in `$XDG_STATE_HOME/sessctl/products/<product>/pin.json`:
//! plain data and its file. May import: `store`.

use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};

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

    /// Writes this pin to `path` unless a pin is there already; whether it wrote.
    pub fn create(&self, path: &Path) -> Result<bool> {
        let text = serde_json::to_string_pretty(self)?;
        store::create_private(path, text.as_bytes())
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        store::write_json(path, self, "the pin")
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

//! What one command works with, made once where the command starts (`cmd`, or the dashboard
//! for a request) and passed down: where sessctl keeps things, and one connection to the user
//! manager, opened on first use. No query or lifecycle function opens a connection of its own,
//! so a command that reads many units and then changes one talks to the manager over one
//! connection, and a caller decides which manager that is.
//!
//! Records layer. May import: `paths`, `systemd`.

use std::sync::OnceLock;

use anyhow::Result;

use crate::paths::Paths;
use crate::systemd::Systemd;

pub struct Ctx {
    pub paths: Paths,
    systemd: OnceLock<Systemd>,
}

impl Ctx {
    /// A context that connects to the user manager of the environment when first asked.
    pub fn new(paths: Paths) -> Ctx {
        Ctx {
            paths,
            systemd: OnceLock::new(),
        }
    }

    /// A context on a connection the caller already holds (the dashboard's).
    pub fn with_systemd(paths: Paths, systemd: Systemd) -> Ctx {
        Ctx {
            paths,
            systemd: OnceLock::from(systemd),
        }
    }

    /// The connection to the user manager, opened on the first call.
    pub fn systemd(&self) -> Result<&Systemd> {
        if let Some(systemd) = self.systemd.get() {
            return Ok(systemd);
        }
        let opened = Systemd::connect()?;
        Ok(self.systemd.get_or_init(|| opened))
    }
}

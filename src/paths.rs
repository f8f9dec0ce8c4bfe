//! Where sessctl keeps things, resolved once from the XDG base-directory variables.

use std::path::PathBuf;

use anyhow::{bail, Result};

use crate::unit;

/// The directories of one user, as the XDG base-directory spec defines them.
#[derive(Debug, Clone)]
pub struct Paths {
    pub config_home: PathBuf,
    pub state_home: PathBuf,
    /// `$XDG_RUNTIME_DIR`; unset after `su` and in some cron jobs.
    pub runtime_dir: Option<PathBuf>,
}

impl Paths {
    pub fn from_env() -> Result<Self> {
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let base = |var: &str, fallback: &str| -> Result<PathBuf> {
            // The spec says relative values are invalid and must be ignored.
            match std::env::var_os(var).map(PathBuf::from) {
                Some(dir) if dir.is_absolute() => Ok(dir),
                _ => match &home {
                    Some(home) => Ok(home.join(fallback)),
                    None => bail!("neither ${var} nor $HOME is set; set one of them"),
                },
            }
        };
        Ok(Paths {
            config_home: base("XDG_CONFIG_HOME", ".config")?,
            state_home: base("XDG_STATE_HOME", ".local/state")?,
            runtime_dir: std::env::var_os("XDG_RUNTIME_DIR")
                .map(PathBuf::from)
                .filter(|dir| dir.is_absolute()),
        })
    }

    pub fn products_dir(&self) -> PathBuf {
        self.config_home.join("sessctl/products")
    }

    pub fn product_file(&self, product: &str) -> PathBuf {
        self.products_dir().join(format!("{product}.toml"))
    }

    /// The user unit directory that has precedence over the distribution's.
    pub fn unit_dir(&self) -> PathBuf {
        self.config_home.join("systemd/user")
    }

    pub fn unit_file(&self, product: &str) -> PathBuf {
        self.unit_dir().join(unit::unit_name(product))
    }

    pub fn state_dir(&self, product: &str) -> PathBuf {
        self.state_home.join("sessctl").join(product)
    }

    /// The conversation a pinned agent is kept on.
    pub fn pin_file(&self, product: &str) -> PathBuf {
        self.state_dir(product).join("pin.json")
    }

    /// Kept outside the product's runtime directory, which systemd deletes on every stop.
    pub fn lock_file(&self, product: &str) -> PathBuf {
        self.state_home
            .join("sessctl/locks")
            .join(format!("{product}.lock"))
    }

    /// The product's tmux socket; the unit's `%t/sessctl/<product>/tmux.sock`.
    pub fn socket(&self, product: &str) -> Result<PathBuf> {
        match &self.runtime_dir {
            Some(dir) => Ok(dir.join("sessctl").join(product).join("tmux.sock")),
            None => bail!(
                "$XDG_RUNTIME_DIR is not set, so the tmux socket cannot be found; log in as the user (not via su), or export XDG_RUNTIME_DIR=/run/user/$(id -u)"
            ),
        }
    }
}

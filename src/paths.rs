//! Where sessctl keeps things, resolved once from the XDG base-directory variables: the whole
//! on-disk layout, and its migration from the layout before 0.2.
//!
//! Under `$XDG_STATE_HOME/sessctl/`:
//! - `products/<name>/`: a product's state (`pin.json`, `session.json`, `events.jsonl`,
//!   `snapshots/`, ...), so that no product name can reach sessctl's own entries;
//! - `locks/<name>.lock`: the per-product locks, never removed while the product exists;
//! - `snapshots/`: snapshots of transcripts repaired by file, with no product;
//! - `gc.jsonl`: gc's own log;
//! - `dashboard/logins.json`: the dashboard's login sessions.
//!
//! Before 0.2 a product's state sat in `sessctl/<name>/` beside `locks/`, so a product named
//! `locks` shared the lock directory. The first call that resolves the layout moves such
//! state into `products/` (see [`Paths::migrate`]).
//!
//! Records layer. May import: `error`, `store`, `unit`.

use std::path::PathBuf;

use anyhow::{bail, Result};

use crate::error::{quoted, usage};
use crate::store;
use crate::unit;

/// The files and folders of a product's state directory; the files come first.
const PRODUCT_ENTRIES: [&str; 6] = [
    "pin.json",
    "session.json",
    "events.jsonl",
    "restart-pending",
    "guard.json",
    "snapshots",
];
const PRODUCT_FILES: usize = 5;

/// sessctl's own entries in its state root, which the old layout shared with products of
/// the same name.
const SHARED: [&str; 4] = ["products", "locks", "snapshots", "dashboard"];

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
        let paths = Paths {
            config_home: base("XDG_CONFIG_HOME", ".config")?,
            state_home: base("XDG_STATE_HOME", ".local/state")?,
            runtime_dir: std::env::var_os("XDG_RUNTIME_DIR")
                .map(PathBuf::from)
                .filter(|dir| dir.is_absolute()),
        };
        paths.migrate()?;
        Ok(paths)
    }

    /// Moves product state left in the layout before 0.2 (`sessctl/<name>/`) into
    /// `sessctl/products/<name>/`, one rename per entry, under a lock of its own: a call that
    /// dies half-way leaves every entry in one place or the other, and the next call goes on.
    /// On a migrated tree this is one directory listing.
    pub fn migrate(&self) -> Result<()> {
        let pending = self.unmigrated()?;
        if pending.is_empty() {
            return Ok(());
        }
        let _lock = store::Lock::acquire(&self.state_root().join("locks/.layout.lock"))?;
        for (name, from) in self.unmigrated()? {
            let to = self.state_dir(&name);
            if from.is_dir() && !SHARED.contains(&name.as_str()) && !to.exists() {
                store::rename(&from, &to)?;
                continue;
            }
            for entry in PRODUCT_ENTRIES {
                let source = from.join(entry);
                if source.exists() {
                    let target = to.join(entry);
                    if target.exists() {
                        bail!(
                            "cannot move {} to {}: it exists already; move one of them aside, then run sessctl again",
                            source.display(),
                            target.display()
                        );
                    }
                    store::rename(&source, &target)?;
                }
            }
        }
        Ok(())
    }

    /// Old-layout product state: (product, its old directory).
    fn unmigrated(&self) -> Result<Vec<(String, PathBuf)>> {
        let mut found = Vec::new();
        for entry in store::entries(&self.state_root())? {
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let dir = entry.path();
            // The files alone tell: in the new layout `products/snapshots` is a product's
            // state, in the old one it was the snapshots of a product named `products`.
            let holds_state = PRODUCT_ENTRIES[..PRODUCT_FILES]
                .iter()
                .any(|f| dir.join(f).exists());
            let old = !SHARED.contains(&name.as_str()) && dir.join("snapshots").is_dir();
            if dir.is_dir() && check_name(&name).is_ok() && (holds_state || old) {
                found.push((name, dir));
            }
        }
        Ok(found)
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

    /// sessctl's own root in the state directory.
    pub fn state_root(&self) -> PathBuf {
        self.state_home.join("sessctl")
    }

    /// Where every product's state directory lives.
    pub fn products_state(&self) -> PathBuf {
        self.state_root().join("products")
    }

    pub fn state_dir(&self, product: &str) -> PathBuf {
        self.products_state().join(product)
    }

    /// Snapshots of a product's pinned conversation.
    pub fn snapshots_dir(&self, product: &str) -> PathBuf {
        self.state_dir(product).join("snapshots")
    }

    /// Snapshots of transcripts repaired by file, which belong to no product.
    pub fn loose_snapshots_dir(&self) -> PathBuf {
        self.state_root().join("snapshots")
    }

    /// The dashboard's token; its mode is 0600.
    pub fn dashboard_token(&self) -> PathBuf {
        self.config_home.join("sessctl/dashboard.token")
    }

    /// The dashboard's login sessions and one-time codes (digests only), in a 0700 folder.
    pub fn login_sessions(&self) -> PathBuf {
        self.state_root().join("dashboard/logins.json")
    }

    /// Serialises changes to [`Paths::login_sessions`]. Product names start with a letter or a
    /// digit, so no product's lock is named like this one.
    pub fn login_lock(&self) -> PathBuf {
        self.state_root().join("locks/.dashboard-logins.lock")
    }

    /// gc's own log: it outlives the products it cleans up.
    pub fn gc_log(&self) -> PathBuf {
        self.state_root().join("gc.jsonl")
    }

    /// The conversation a pinned agent is kept on.
    pub fn pin_file(&self, product: &str) -> PathBuf {
        self.state_dir(product).join("pin.json")
    }

    /// Kept outside the product's runtime directory, which systemd deletes on every stop.
    pub fn lock_file(&self, product: &str) -> PathBuf {
        self.state_root()
            .join("locks")
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

    /// The files a killed sessctl began to write and never put in place, with their products,
    /// in the three places sessctl writes a product's files: its config, its unit, its state.
    pub fn abandoned_writes(&self) -> Result<Vec<(String, PathBuf)>> {
        let mut found = Vec::new();
        for (name, file) in store::abandoned_temp_files(&self.products_dir())? {
            found.extend(name.strip_suffix(".toml").map(|p| (p.to_string(), file)));
        }
        for (name, file) in store::abandoned_temp_files(&self.unit_dir())? {
            let product = name
                .strip_prefix("sessctl-")
                .and_then(|n| n.strip_suffix(".service"));
            found.extend(product.map(|p| (p.to_string(), file)));
        }
        for entry in store::entries(&self.products_state())? {
            let Ok(product) = entry.file_name().into_string() else {
                continue;
            };
            if !entry.path().is_dir() {
                continue;
            }
            for (_, file) in store::abandoned_temp_files(&entry.path())? {
                found.push((product.clone(), file));
            }
        }
        // Never another program's file, nor the dashboard's.
        found.retain(|(product, _)| check_name(product).is_ok());
        Ok(found)
    }

    /// Refuses a product whose tmux socket path would not fit in a Unix socket address
    /// (`sun_path`, 108 bytes with its terminating NUL): tmux could never listen there, and
    /// the unit would only restart in a loop.
    pub fn check_socket_fits(&self, product: &str) -> Result<()> {
        const SUN_PATH: usize = 107;
        let socket = self.socket(product)?;
        let len = socket.as_os_str().len();
        if len <= SUN_PATH {
            return Ok(());
        }
        let longest = SUN_PATH.saturating_sub(len - product.len());
        Err(usage(format!(
            "product name {} makes its tmux socket path {len} bytes long, and a Unix socket path holds at most {SUN_PATH}; choose a name of at most {longest} characters, or a shorter $XDG_RUNTIME_DIR",
            quoted(product)
        )))
    }
}
/// Accepts `[A-Za-z0-9][A-Za-z0-9_.-]{0,63}`; the refusal suggests a valid name.
pub fn check_name(name: &str) -> Result<()> {
    let valid = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if valid && unit::unit_name(name) == unit::DASHBOARD_SERVICE {
        return Err(usage(format!(
            "product name {} is reserved: {} is the dashboard's own unit; choose another name",
            quoted(name),
            unit::DASHBOARD_SERVICE
        )));
    }
    if valid {
        return Ok(());
    }
    Err(usage(format!(
        "invalid product name {}: use 1 to 64 of A-Z a-z 0-9 _ . - starting with a letter or digit, for example {:?}",
        quoted(name),
        suggest_name(name)
    )))
}

fn suggest_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() || "_.".contains(c) {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
    let out: String = out.chars().take(64).collect();
    let out = out.trim_end_matches('-');
    if out.is_empty() {
        "product".to_string()
    } else {
        out.to_string()
    }
}

/// Names gc needs that it once built by hand.
impl Paths {
    /// The folder of the per-product locks.
    pub fn locks_dir(&self) -> PathBuf {
        self.state_root().join("locks")
    }

    /// The folder of the products' runtime folders, each with its tmux socket.
    pub fn runtime_products(&self) -> Option<PathBuf> {
        self.runtime_dir.as_ref().map(|dir| dir.join("sessctl"))
    }

    /// What of a product's state is the user's: its pin and its snapshots. Everything else in
    /// its state directory is sessctl's own.
    pub fn users_state(&self, product: &str) -> [PathBuf; 2] {
        [self.pin_file(product), self.snapshots_dir(product)]
    }

    /// The record of a change under way (`state::Intent`).
    pub fn intent_file(&self, product: &str) -> PathBuf {
        self.state_dir(product).join("intent.json")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("web")]
    #[case("A.b_c-9")]
    #[case("0")]
    fn valid_names(#[case] name: &str) {
        check_name(name).unwrap();
        assert_eq!(suggest_name(name), name);
    }

    #[rstest]
    #[case("my app", "my-app")]
    #[case("-lead", "lead")]
    #[case("", "product")]
    #[case("a/b", "a-b")]
    #[case("ünï", "n")]
    fn invalid_names_get_a_valid_suggestion(#[case] name: &str, #[case] suggestion: &str) {
        assert!(check_name(name).is_err());
        assert_eq!(suggest_name(name), suggestion);
        check_name(suggestion).unwrap();
    }

    #[test]
    fn long_names_are_cut_to_64() {
        let long = "x".repeat(70);
        assert!(check_name(&long).is_err());
        assert_eq!(suggest_name(&long).len(), 64);
    }
}

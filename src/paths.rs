//! Where sessctl keeps things, resolved once from the XDG base-directory variables: the whole
//! on-disk layout, and its migration from the layout before 0.2.
//!
//! Under `$XDG_STATE_HOME/sessctl/`:
//! - `products/<name>/`: a product's state (`pin.json`, `session.json`, `events.jsonl`,
//!   `snapshots/`, ...), so that no product name can reach sessctl's own entries;
//! - `locks/<name>.lock`: the per-product locks, never removed while the product exists;
//! - `snapshots/`: snapshots of transcripts repaired by file, with no product;
//! - `gc.jsonl`: gc's own log;
//! - `dashboard/logins.json`: the dashboard's login sessions; `dashboard/push-vapid.pem`: its
//!   Web Push key pair.
//!
//! Under `$XDG_RUNTIME_DIR/sessctl/`: `<name>/tmux.sock`, a product's tmux socket,
//! `start-slot`, the start stagger's slot file shared by every product, and `.ssh/`, the control
//! sockets of ssh's shared connections to other hosts.
//!
//! Under `$XDG_CONFIG_HOME/sessctl/`: `products/<name>.toml`, `hosts.toml` (other hosts by
//! name), the dashboard's token and roots.
//!
//! Every name in these trees is built here: [`Paths`] for what is reached from the XDG
//! directories, [`StateDir`] for the entries of one product's state directory.
//!
//! Before 0.2 a product's state sat in `sessctl/<name>/` beside `locks/`, so a product named
//! `locks` shared the lock directory. The first command that changes things moves such state
//! into `products/` ([`Paths::migrate`], run as `lifecycle::move_old_layout`); resolving the
//! layout never writes.
//!
//! Records layer. May import: `error`, `store`, `unit`.

use std::path::{Path, PathBuf};

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
    /// The directories the environment names; reads nothing on disk.
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
    pub fn unmigrated(&self) -> Result<Vec<(String, PathBuf)>> {
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
        StateDir(&self.state_dir(product)).snapshots()
    }

    /// A change under way on the product ([`StateDir::intent`]).
    pub fn intent_file(&self, product: &str) -> PathBuf {
        StateDir(&self.state_dir(product)).intent()
    }

    /// The transcript guard's remembered verdict ([`StateDir::guard`]).
    pub fn guard_file(&self, product: &str) -> PathBuf {
        StateDir(&self.state_dir(product)).guard()
    }

    /// A unit file changed under a live session ([`StateDir::restart_marker`]).
    pub fn restart_marker(&self, product: &str) -> PathBuf {
        StateDir(&self.state_dir(product)).restart_marker()
    }

    /// Snapshots of transcripts repaired by file, which belong to no product.
    pub fn loose_snapshots_dir(&self) -> PathBuf {
        self.state_root().join("snapshots")
    }

    /// The dashboard's token; its mode is 0600.
    pub fn dashboard_token(&self) -> PathBuf {
        self.config_home.join("sessctl/dashboard.token")
    }

    /// The directories the dashboard may create products under (`dashboard enable --root`).
    pub fn dashboard_roots(&self) -> PathBuf {
        self.config_home.join("sessctl/dashboard-roots.json")
    }

    /// The dashboard's login sessions and one-time codes (digests only), in a 0700 folder.
    pub fn login_sessions(&self) -> PathBuf {
        self.state_root().join("dashboard/logins.json")
    }

    /// The dashboard's VAPID key pair, which signs its Web Push messages (0600, PEM).
    pub fn push_key(&self) -> PathBuf {
        self.state_root().join("dashboard/push-vapid.pem")
    }

    /// Serialises changes to [`Paths::login_sessions`]. Product names start with a letter or a
    /// digit, so no product's lock is named like this one.
    pub fn login_lock(&self) -> PathBuf {
        self.locks_dir().join(".dashboard-logins.lock")
    }

    /// gc's own log: it outlives the products it cleans up.
    pub fn gc_log(&self) -> PathBuf {
        self.state_root().join("gc.jsonl")
    }

    /// The conversation a pinned agent is kept on.
    pub fn pin_file(&self, product: &str) -> PathBuf {
        StateDir(&self.state_dir(product)).pin()
    }

    /// The per-product locks, and sessctl's own, whose names start with a dot.
    pub fn locks_dir(&self) -> PathBuf {
        self.state_root().join("locks")
    }

    /// Kept outside the product's runtime directory, which systemd deletes on every stop.
    pub fn lock_file(&self, product: &str) -> PathBuf {
        self.locks_dir().join(format!("{product}.lock"))
    }

    /// Serialises the move from the layout before 0.2 ([`Paths::migrate`]).
    pub fn layout_lock(&self) -> PathBuf {
        self.locks_dir().join(".layout.lock")
    }

    /// One change to the dashboard's units at a time.
    pub fn dashboard_lock(&self) -> PathBuf {
        self.locks_dir().join(".dashboard.lock")
    }

    /// Other hosts by name (`sessctl host add`), written by hand or by sessctl.
    pub fn hosts_file(&self) -> PathBuf {
        self.config_home.join("sessctl/hosts.toml")
    }

    /// Serialises changes to [`Paths::hosts_file`]; dotted, as no product's lock can be.
    pub fn hosts_lock(&self) -> PathBuf {
        self.locks_dir().join(".hosts.lock")
    }

    /// The control sockets of ssh's shared connections, one per host (`remote::Link`).
    pub fn ssh_dir(&self) -> Result<PathBuf> {
        Ok(self.runtime_root()?.join(SSH_DIR))
    }

    /// sessctl's own root in the runtime directory: the products' sockets and the start slot.
    pub fn runtime_root(&self) -> Result<PathBuf> {
        match &self.runtime_dir {
            Some(dir) => Ok(dir.join("sessctl")),
            None => bail!(
                "$XDG_RUNTIME_DIR is not set, so the tmux socket cannot be found; log in as the user (not via su), or export XDG_RUNTIME_DIR=/run/user/$(id -u)"
            ),
        }
    }

    /// The product's tmux socket; the unit's `%t/sessctl/<product>/tmux.sock`.
    pub fn socket(&self, product: &str) -> Result<PathBuf> {
        Ok(self.runtime_root()?.join(product).join(SOCKET))
    }

    /// The start stagger's slot file, shared by every product (`stagger`).
    pub fn start_slot(&self) -> Result<PathBuf> {
        Ok(self.runtime_root()?.join(START_SLOT))
    }

    /// [`Paths::start_slot`] as seen from a product's socket, which is all the unit's host is
    /// given of the runtime directory.
    pub fn start_slot_beside(socket: &Path) -> Option<PathBuf> {
        Some(socket.parent()?.parent()?.join(START_SLOT))
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
/// A product name that [`check_name`] accepts, parsed once where a name comes in (the
/// command line, a request's path), so that nothing below checks it again or can be handed
/// one that reaches another product's files.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct ProductName(String);

impl ProductName {
    pub fn parse(name: &str) -> Result<ProductName> {
        check_name(name)?;
        Ok(ProductName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for ProductName {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ProductName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The file name of a product's tmux socket in its runtime directory.
pub const SOCKET: &str = "tmux.sock";
/// The start slot's name beside the products' runtime directories, which a product of that
/// name would collide with: [`check_name`] refuses it.
const START_SLOT: &str = "start-slot";
/// The folder of ssh's control sockets beside the products' runtime directories: dotted, as no
/// product's name can be, so it reserves no name a product may already have.
const SSH_DIR: &str = ".ssh";

/// The entries of a product's state directory ([`Paths::state_dir`]), by name. It takes the
/// directory rather than the product because the unit's host is handed only the directory.
#[derive(Debug, Clone, Copy)]
pub struct StateDir<'a>(pub &'a Path);

impl<'a> StateDir<'a> {
    /// The product the directory belongs to: its last component (`products/<name>`).
    pub fn product(self) -> Option<&'a str> {
        self.0.file_name().and_then(|n| n.to_str())
    }

    /// The conversation a pinned agent is kept on.
    pub fn pin(self) -> PathBuf {
        self.0.join("pin.json")
    }

    /// Snapshots of the pinned conversation.
    pub fn snapshots(self) -> PathBuf {
        self.0.join("snapshots")
    }

    /// The session sessctl last saw.
    pub fn session_record(self) -> PathBuf {
        self.0.join("session.json")
    }

    /// The product's event log, one JSON line per event.
    pub fn events_log(self) -> PathBuf {
        self.0.join("events.jsonl")
    }

    /// The claim that the loss of the session with InvocationID `invocation_id` was logged.
    pub fn loss_marker(self, invocation_id: &str) -> PathBuf {
        self.0.join(format!("{LOSS_PREFIX}{invocation_id}"))
    }

    /// The agent's open questions for permission, and their answers.
    pub fn permissions(self) -> PathBuf {
        self.0.join("permissions")
    }

    /// A change under way.
    pub fn intent(self) -> PathBuf {
        self.0.join("intent.json")
    }

    /// The transcript guard's remembered verdict.
    pub fn guard(self) -> PathBuf {
        self.0.join("guard.json")
    }

    /// A unit file changed under a live session.
    pub fn restart_marker(self) -> PathBuf {
        self.0.join("restart-pending")
    }

    /// How the agent last ended.
    pub fn last_exit(self) -> PathBuf {
        self.0.join("last-exit.json")
    }

    /// The agent waits for its human.
    pub fn waiting(self) -> PathBuf {
        self.0.join("waiting.json")
    }

    /// Its modification time says when the pane last launched an agent that pins: a
    /// conversation of the product's directory written before it is not this product's. The
    /// file's own time, not the clock, because the file system stamps the conversation's file
    /// with its coarser clock, which can lag the precise one by a few milliseconds.
    pub fn agent_launched(self) -> PathBuf {
        self.0.join("agent-launched")
    }
}

const LOSS_PREFIX: &str = "lost.";

/// Whether `name` is `[A-Za-z0-9][A-Za-z0-9_.-]{0,63}`: the names of products and of hosts.
pub fn is_plain_name(name: &str) -> bool {
    name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// Accepts [`is_plain_name`]s but sessctl's own; the refusal suggests a valid name.
pub fn check_name(name: &str) -> Result<()> {
    let valid = is_plain_name(name);
    if valid && unit::unit_name(name) == unit::DASHBOARD_SERVICE {
        return Err(usage(format!(
            "product name {} is reserved: {} is the dashboard's own unit; choose another name",
            quoted(name),
            unit::DASHBOARD_SERVICE
        )));
    }
    if name == START_SLOT {
        return Err(usage(format!(
            "product name {} is reserved: $XDG_RUNTIME_DIR/sessctl/{START_SLOT} is the start stagger's own file; choose another name",
            quoted(name)
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

/// A plain name ([`is_plain_name`]) made of `name`'s letters, for a refusal to suggest.
pub fn suggest_name(name: &str) -> String {
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

/// What of a product's files the user owns.
impl Paths {
    /// What of a product's state is the user's: its pin and its snapshots. Everything else in
    /// its state directory is sessctl's own.
    pub fn users_state(&self, product: &str) -> [PathBuf; 2] {
        [self.pin_file(product), self.snapshots_dir(product)]
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

    fn sample() -> Paths {
        Paths {
            config_home: PathBuf::from("/c"),
            state_home: PathBuf::from("/s"),
            runtime_dir: Some(PathBuf::from("/r")),
        }
    }

    /// What a product owns: each path and everything under it.
    fn owned(paths: &Paths, product: &str) -> Vec<PathBuf> {
        let state = paths.state_dir(product);
        let dir = StateDir(&state);
        let entries = [
            dir.pin(),
            dir.snapshots(),
            dir.session_record(),
            dir.events_log(),
            dir.loss_marker("0123abcd"),
            dir.intent(),
            dir.guard(),
            dir.restart_marker(),
            dir.last_exit(),
            dir.waiting(),
            dir.agent_launched(),
        ];
        let socket = paths.socket(product).unwrap();
        let mut all = vec![
            paths.product_file(product),
            paths.unit_file(product),
            paths.lock_file(product),
            socket.parent().unwrap().to_path_buf(),
            socket,
            state.clone(),
        ];
        all.extend(entries);
        assert_eq!(dir.product(), Some(product));
        assert_eq!(paths.pin_file(product), dir.pin());
        assert_eq!(paths.intent_file(product), dir.intent());
        assert_eq!(paths.guard_file(product), dir.guard());
        assert_eq!(paths.restart_marker(product), dir.restart_marker());
        all
    }

    /// sessctl's own files, which no product may reach.
    fn own(paths: &Paths) -> Vec<PathBuf> {
        vec![
            paths.gc_log(),
            paths.login_sessions(),
            paths.push_key(),
            paths.login_lock(),
            paths.layout_lock(),
            paths.dashboard_lock(),
            paths.dashboard_token(),
            paths.loose_snapshots_dir(),
            paths.start_slot().unwrap(),
            paths.hosts_file(),
            paths.hosts_lock(),
            paths.ssh_dir().unwrap(),
        ]
    }

    fn overlap(a: &Path, b: &Path) -> bool {
        a.starts_with(b) || b.starts_with(a)
    }

    /// Product names chosen to hit every fixed name sessctl uses; those `check_name` accepts
    /// must reach neither each other's files nor sessctl's own.
    #[test]
    fn no_product_reaches_another_products_files_or_sessctls_own() {
        let paths = sample();
        let names = [
            "web",
            "web.lock",
            "web.toml",
            "locks",
            "products",
            "snapshots",
            "dashboard",
            "gc.jsonl",
            "dashboard.token",
            "start-slot",
            "ssh",
            "hosts",
            "hosts.toml",
            "tmux.sock",
            "pin.json",
            "lost.web",
            "sessctl",
            "sessctl-web",
        ];
        let valid: Vec<&str> = names
            .into_iter()
            .filter(|n| check_name(n).is_ok())
            .collect();
        assert!(
            !valid.contains(&"start-slot"),
            "the start slot's name is reserved"
        );
        for a in &valid {
            let mine = owned(&paths, a);
            for (i, x) in mine.iter().enumerate() {
                assert!(
                    !mine[i + 1..].contains(x),
                    "{a}: {} named twice",
                    x.display()
                );
                for o in own(&paths) {
                    assert!(
                        !overlap(x, &o),
                        "{a}: {} meets {}",
                        x.display(),
                        o.display()
                    );
                }
            }
            for b in valid.iter().filter(|b| b != &a) {
                for x in &mine {
                    for y in owned(&paths, b) {
                        assert!(!overlap(x, &y), "{a} and {b} meet at {}", x.display());
                    }
                }
            }
        }
    }

    #[test]
    fn long_names_are_cut_to_64() {
        let long = "x".repeat(70);
        assert!(check_name(&long).is_err());
        assert_eq!(suggest_name(&long).len(), 64);
    }
}

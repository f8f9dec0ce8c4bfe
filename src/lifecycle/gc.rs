//! `gc`: removes sessctl's own leftovers, which pile up when cleanup fails silently,
//! and never a running session, another program's unit, or what the user owns: transcripts,
//! pins and snapshots stay (`disable --purge` removes a product's pin and snapshots).
//!
//! Each removal happens under the product's lock and is judged again there, so a gc racing
//! an `enable` never removes the state of the product being written.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::paths::Paths;
use crate::product::{self, Product};
use crate::session;
use crate::state::{self, Event, EventKind};
use crate::store::{self, Lock};
use crate::systemd::{ActiveState, Systemd};
use crate::unit;

/// One thing gc did, would do, or kept; its JSON form is what `gc --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Action {
    /// interrupted, reset-failed, unit-file, config, socket, state or temp-file.
    pub kind: &'static str,
    /// The unit, file or directory; for `interrupted`, the command finished.
    pub target: String,
    pub product: String,
    /// removed, would-remove, or kept; `interrupted`: finished or would-finish.
    pub outcome: &'static str,
    /// Why it was kept, when it was.
    pub note: Option<String>,
}

/// What `gc --json` prints.
#[derive(Debug, Serialize)]
pub struct Report {
    pub dry_run: bool,
    pub actions: Vec<Action>,
}

/// Asks the user a yes/no question.
pub type Confirm = dyn FnMut(&str) -> Result<bool>;

/// How far gc may go. A config with no unit is the user's to lose: it goes only with `yes`,
/// or when `confirm` (asked with the question) says so.
pub struct Options<'a> {
    pub dry_run: bool,
    pub yes: bool,
    pub confirm: Option<&'a mut Confirm>,
}

/// Every sweep, in the order their leftovers depend on each other.
pub fn gc(paths: &Paths, options: Options) -> Result<Report> {
    let systemd = Systemd::connect()?;
    let mut gc = Collector {
        paths,
        systemd: &systemd,
        dry_run: options.dry_run,
        actions: Vec::new(),
        configs: Product::names(paths)?.into_iter().collect(),
        unit_files: sessctl_unit_files(paths)?,
    };
    gc.interrupted()?;
    gc.failed_units()?;
    gc.orphan_unit_files()?;
    gc.orphan_configs(options)?;
    gc.sockets()?;
    let with_state = gc.states()?;
    gc.locks(&with_state)?;
    gc.temp_files()?;
    Ok(Report {
        dry_run: gc.dry_run,
        actions: gc.actions,
    })
}

struct Collector<'a> {
    paths: &'a Paths,
    systemd: &'a Systemd,
    dry_run: bool,
    actions: Vec<Action>,
    /// The products with a config, and sessctl's unit files by product, as gc began.
    configs: BTreeSet<String>,
    unit_files: BTreeMap<String, PathBuf>,
}

impl Collector<'_> {
    /// A change a killed sessctl left: a disable or enable is finished as the user asked it,
    /// an interrupted stop or restart settled. Runs first: a disable it finishes leaves
    /// nothing for the sweeps after it.
    fn interrupted(&mut self) -> Result<()> {
        for (product, intent) in super::intent::interrupted(self.paths)? {
            let target = intent.action.command(&product);
            let outcome = if self.dry_run {
                "would-finish"
            } else {
                super::control::finish_interrupted(self.paths, self.systemd, &product)?;
                "finished"
            };
            self.record(Action {
                kind: "interrupted",
                target,
                product,
                outcome,
                note: None,
            })?;
        }
        if !self.dry_run {
            self.configs = Product::names(self.paths)?.into_iter().collect();
            self.unit_files = sessctl_unit_files(self.paths)?;
        }
        Ok(())
    }

    /// A sessctl unit that failed: its failed state is reset (a start limit forgotten).
    fn failed_units(&mut self) -> Result<()> {
        let systemd = self.systemd;
        for unit in systemd.loaded_units()? {
            let Some(product) = product_of(&unit) else {
                continue;
            };
            if systemd.status(&unit)?.active_state == ActiveState::Failed {
                self.act("reset-failed", &unit, product, || {
                    systemd.reset_failed(&unit).map(|()| Done::Removed)
                })?;
            }
        }
        Ok(())
    }

    /// A unit file whose product has no config, unless its session runs.
    fn orphan_unit_files(&mut self) -> Result<()> {
        let (paths, systemd) = (self.paths, self.systemd);
        for (product, file) in self.unit_files.clone() {
            let shown = file.display().to_string();
            if self.configs.contains(&product) || self.running(&product, "unit-file", &shown)? {
                continue;
            }
            let unit = unit::unit_name(&product);
            self.act("unit-file", &shown, &product, || {
                if paths.product_file(&product).exists() {
                    return Ok(Done::Kept("its product was enabled meanwhile".into()));
                }
                systemd.disable(&unit)?;
                crate::fault::point("gc:after-disable");
                store::remove_file(&file)?;
                crate::fault::point("gc:after-unit-file");
                systemd.reload()?;
                Ok(Done::Removed)
            })?;
        }
        Ok(())
    }

    /// A config with no unit file: the user's settings, so only with `--yes` or a "y".
    fn orphan_configs(&mut self, mut options: Options) -> Result<()> {
        let paths = self.paths;
        let orphans: Vec<String> = (self.configs.iter())
            .filter(|p| !self.unit_files.contains_key(*p))
            .cloned()
            .collect();
        for product in orphans {
            let config = paths.product_file(&product);
            let shown = config.display().to_string();
            let question = format!("remove {shown}, which has no unit file?");
            // Dry runs only describe.
            let remove = options.yes
                || options.dry_run
                || match options.confirm.as_mut() {
                    Some(confirm) => confirm(&question)?,
                    None => false,
                };
            if !remove {
                self.keep(
                    "config",
                    &shown,
                    &product,
                    "has no unit file; pass --yes to remove it, or `sessctl enable` it again",
                );
                continue;
            }
            self.act("config", &shown, &product, || {
                if paths.unit_file(&product).exists() {
                    return Ok(Done::Kept("its product was enabled meanwhile".into()));
                }
                store::remove_file(&config)?;
                remove_state(paths, &product)
            })?;
        }
        Ok(())
    }

    /// A product's runtime folder whose tmux socket nobody listens on.
    fn sockets(&mut self) -> Result<()> {
        let Some(runtime) = &self.paths.runtime_dir else {
            return Ok(());
        };
        for (product, dir) in subdirs(&runtime.join("sessctl"))? {
            let socket = dir.join("tmux.sock");
            let shown = socket.display().to_string();
            if !socket.exists()
                || session::server_listening(&socket)
                || self.running(&product, "socket", &shown)?
            {
                continue;
            }
            self.act("socket", &shown, &product, || {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("removing {}", dir.display()))?;
                Ok(Done::Removed)
            })?;
        }
        Ok(())
    }

    fn gone(&self, product: &str) -> bool {
        !self.configs.contains(product) && !self.unit_files.contains_key(product)
    }

    /// The state of a product that is gone: sessctl's own records, never the user's pin or
    /// snapshots. Returns the products whose state (and so their lock) was judged.
    fn states(&mut self) -> Result<BTreeSet<String>> {
        let paths = self.paths;
        let mut with_state = BTreeSet::new();
        for (product, dir) in subdirs(&paths.products_state())? {
            let shown = dir.display().to_string();
            if !self.gone(&product) {
                continue;
            }
            with_state.insert(product.clone());
            if holds_users_data(&dir) {
                self.keep("state", &shown, &product, &users_data(&product));
            } else if !self.running(&product, "state", &shown)? {
                self.act("state", &shown, &product, || remove_state(paths, &product))?;
            } else {
                with_state.remove(&product);
            }
        }
        Ok(with_state)
    }

    /// A lock file of a product that is gone and has no state (a lock goes with its state).
    fn locks(&mut self, with_state: &BTreeSet<String>) -> Result<()> {
        let paths = self.paths;
        for lock in files(&paths.state_root().join("locks"))? {
            let Some(product) = lock.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            if product::check_name(product).is_err()
                || !self.gone(product)
                || with_state.contains(product)
            {
                continue;
            }
            self.act("state", &lock.display().to_string(), product, || {
                if product_exists(paths, product) {
                    return Ok(Done::Kept("its product was enabled meanwhile".into()));
                }
                store::remove_file(&lock)?;
                Ok(Done::Removed)
            })?;
        }
        Ok(())
    }

    /// A file a killed sessctl began to write and never put in place: never the file it
    /// would have replaced, which is whole, old or new.
    fn temp_files(&mut self) -> Result<()> {
        for (product, file) in self.paths.abandoned_writes()? {
            self.act("temp-file", &file.display().to_string(), &product, || {
                store::remove_file(&file)?;
                Ok(Done::Removed)
            })?;
        }
        Ok(())
    }

    /// Does (or, dry, describes) one removal under the product's lock, and logs it. `work`
    /// judges again under the lock, and may keep what it finds in use after all.
    fn act(
        &mut self,
        kind: &'static str,
        target: &str,
        product: &str,
        work: impl FnOnce() -> Result<Done>,
    ) -> Result<()> {
        if self.dry_run {
            return self.record(Action {
                kind,
                target: target.into(),
                product: product.into(),
                outcome: "would-remove",
                note: None,
            });
        }
        let lock_file = self.paths.lock_file(product);
        let had_lock = lock_file.exists();
        let lock = Lock::acquire(&lock_file)?;
        let done = work()?;
        // Taking the lock must not itself leave a leftover for a product that is gone. The
        // lock is removed while held: a waiter then finds its file unlinked and locks anew.
        if !had_lock && !product_exists(self.paths, product) {
            store::remove_file(&lock_file)?;
        }
        drop(lock);
        match done {
            Done::Removed => self.record(Action {
                kind,
                target: target.into(),
                product: product.into(),
                outcome: "removed",
                note: None,
            }),
            Done::Kept(why) => {
                self.keep(kind, target, product, &why);
                Ok(())
            }
        }
    }

    fn keep(&mut self, kind: &'static str, target: &str, product: &str, why: &str) {
        self.actions.push(Action {
            kind,
            target: target.into(),
            product: product.into(),
            outcome: "kept",
            note: Some(why.into()),
        });
    }

    /// A running session is never touched: records that `target` was kept for it.
    fn running(&mut self, product: &str, kind: &'static str, target: &str) -> Result<bool> {
        let running = product::check_name(product).is_ok()
            && self.systemd.status(&unit::unit_name(product))?.is_running();
        if running {
            self.keep(kind, target, product, "its session is running");
        }
        Ok(running)
    }

    fn record(&mut self, action: Action) -> Result<()> {
        if matches!(action.outcome, "removed" | "finished") {
            let event = Event::new(EventKind::Gc, None).did(
                &format!("{} {}", action.outcome, action.kind),
                Some(&action.target),
            );
            append_log(self.paths, &event);
            if self.paths.product_file(&action.product).exists() {
                state::append(&self.paths.state_dir(&action.product), &event);
            }
        }
        self.actions.push(action);
        Ok(())
    }
}

/// gc's own log, `$XDG_STATE_HOME/sessctl/gc.jsonl`: it outlives the products it cleans up.
fn append_log(paths: &Paths, event: &Event) {
    state::append_or_warn(&paths.gc_log(), event)
}

/// What one removal came to.
enum Done {
    Removed,
    /// Judged again under the lock, it was kept: why.
    Kept(String),
}

/// Whether `product` has a config or a unit file, as seen now (under its lock).
fn product_exists(paths: &Paths, product: &str) -> bool {
    paths.product_file(product).exists() || paths.unit_file(product).exists()
}

/// Whether a product's state directory holds what the user owns: a pin or snapshots.
fn holds_users_data(dir: &Path) -> bool {
    dir.join("pin.json").exists() || dir.join("snapshots").exists()
}

fn users_data(product: &str) -> String {
    format!("holds the product's pin or snapshots, which are yours; `sessctl disable {product} --purge` removes them")
}

/// sessctl's own records of a product that is gone; the user's pin and snapshots stay.
fn remove_state(paths: &Paths, product: &str) -> Result<Done> {
    if product_exists(paths, product) {
        return Ok(Done::Kept("its product was enabled meanwhile".into()));
    }
    let dir = paths.state_dir(product);
    for own in [
        "session.json",
        "events.jsonl",
        "restart-pending",
        "guard.json",
        "intent.json",
    ] {
        store::remove_file(&dir.join(own))?;
    }
    match std::fs::remove_dir(&dir) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) if err.kind() == std::io::ErrorKind::DirectoryNotEmpty => {
            return Ok(Done::Kept(users_data(product)));
        }
        Err(err) => return Err(err).with_context(|| format!("removing {}", dir.display())),
    }
    store::remove_file(&paths.lock_file(product))?;
    Ok(Done::Removed)
}

/// The product a unit name belongs to: `sessctl-<product>.service`, never the dashboard's.
fn product_of(unit: &str) -> Option<&str> {
    // The dashboard's unit, and the --on-waiting commands' (`@` is in no product's name).
    if unit == unit::DASHBOARD_SERVICE || unit.contains('@') {
        return None;
    }
    unit.strip_prefix("sessctl-")?.strip_suffix(".service")
}

/// sessctl's unit files in the user unit directory, by product.
fn sessctl_unit_files(paths: &Paths) -> Result<BTreeMap<String, PathBuf>> {
    Ok(files(&paths.unit_dir())?
        .into_iter()
        .filter_map(|f| {
            let product = product_of(f.file_name()?.to_str()?)?.to_string();
            Some((product, f))
        })
        .collect())
}

fn files(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(store::entries(dir)?
        .into_iter()
        .filter(|e| e.path().is_file())
        .map(|e| e.path())
        .collect())
}

/// Subdirectories of `dir` named like products.
fn subdirs(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    Ok(store::entries(dir)?
        .into_iter()
        .filter(|e| e.path().is_dir())
        .filter_map(|e| Some((e.file_name().to_str()?.to_string(), e.path())))
        .collect())
}

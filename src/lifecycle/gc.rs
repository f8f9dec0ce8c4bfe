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

use crate::context::Ctx;
use crate::paths::Paths;
use crate::product::{self, Product, ProductName};
use crate::session;
use crate::state::{self, Event, EventKind, Locked};
use crate::store;
use crate::systemd::{ActiveState, Systemd};
use crate::unit;

/// What a leftover is; its kebab-case name is what `gc --json` prints as `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "&'static str")]
pub enum Kind {
    /// A change a killed sessctl left (`intent.json`); the target is its command.
    Interrupted,
    ResetFailed,
    UnitFile,
    Config,
    Socket,
    /// A gone product's state directory or lock.
    State,
    TempFile,
}

impl From<Kind> for &'static str {
    fn from(kind: Kind) -> &'static str {
        match kind {
            Kind::Interrupted => "interrupted",
            Kind::ResetFailed => "reset-failed",
            Kind::UnitFile => "unit-file",
            Kind::Config => "config",
            Kind::Socket => "socket",
            Kind::State => "state",
            Kind::TempFile => "temp-file",
        }
    }
}

/// What came of one leftover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Removed,
    WouldRemove,
    /// sessctl's own files went; what the user owns stayed beside them (the note says what).
    Emptied(String),
    WouldEmpty(String),
    /// Left as it is, and why.
    Kept(String),
    /// The interrupted change was finished (a disable or enable) or settled (a stop or
    /// restart, the session left as it is).
    Finished(state::Action),
    WouldFinish(state::Action),
    /// Trying failed, with the error: the other products are swept all the same.
    Failed(String),
}

impl Outcome {
    /// The stable name `gc --json` prints as `outcome`.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Removed | Outcome::Emptied(_) => "removed",
            Outcome::WouldRemove | Outcome::WouldEmpty(_) => "would-remove",
            Outcome::Kept(_) => "kept",
            Outcome::Finished(_) => "finished",
            Outcome::WouldFinish(_) => "would-finish",
            Outcome::Failed(_) => "failed",
        }
    }

    /// What `gc --json` prints as `note`.
    pub fn note(&self) -> Option<&str> {
        match self {
            Outcome::Emptied(note)
            | Outcome::WouldEmpty(note)
            | Outcome::Kept(note)
            | Outcome::Failed(note) => Some(note),
            Outcome::Removed
            | Outcome::WouldRemove
            | Outcome::Finished(_)
            | Outcome::WouldFinish(_) => None,
        }
    }
}

/// One thing gc did, would do, kept or failed to do.
#[derive(Debug, Clone, Serialize)]
#[serde(into = "Wire")]
pub struct Action {
    pub kind: Kind,
    /// The unit, file or directory; for `interrupted`, the command finished.
    pub target: String,
    pub product: String,
    pub outcome: Outcome,
}

/// An [`Action`] as `gc --json` prints it: `outcome` a name, and why in `note`.
#[derive(Serialize)]
struct Wire {
    kind: Kind,
    target: String,
    product: String,
    outcome: &'static str,
    note: Option<String>,
}

impl From<Action> for Wire {
    fn from(action: Action) -> Wire {
        Wire {
            kind: action.kind,
            outcome: action.outcome.name(),
            note: action.outcome.note().map(str::to_string),
            target: action.target,
            product: action.product,
        }
    }
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

/// Every sweep, in the order their leftovers depend on each other. What one product's
/// leftover makes fail is reported for it (outcome `failed`), and the sweep goes on.
pub fn gc(ctx: &Ctx, options: Options) -> Result<Report> {
    let mut gc = Collector {
        paths: &ctx.paths,
        systemd: ctx.systemd()?,
        dry_run: options.dry_run,
        actions: Vec::new(),
        configs: BTreeSet::new(),
        unit_files: BTreeMap::new(),
        unsettled: BTreeSet::new(),
    };
    gc.look()?;
    gc.interrupted()?;
    gc.failed_units()?;
    gc.orphan_unit_files();
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
    /// The products with a config, and sessctl's unit files by product, as last looked at.
    configs: BTreeSet<String>,
    unit_files: BTreeMap<String, PathBuf>,
    /// Products whose interrupted change could not be finished: the other sweeps leave them
    /// as they are, since what they hold is a change half made.
    unsettled: BTreeSet<String>,
}

impl Collector<'_> {
    fn look(&mut self) -> Result<()> {
        self.configs = Product::names(self.paths)?.into_iter().collect();
        self.unit_files = sessctl_unit_files(self.paths)?;
        Ok(())
    }

    /// A change a killed sessctl left: a disable or enable is finished as the user asked it,
    /// an interrupted stop or restart settled. Runs first: a disable it finishes leaves
    /// nothing for the sweeps after it but the config, which `orphan_configs` judges.
    fn interrupted(&mut self) -> Result<()> {
        for (product, found) in super::intent::interrupted_each(self.paths)? {
            let (target, outcome) = match found {
                Err(err) => (
                    self.paths.intent_file(&product).display().to_string(),
                    Outcome::Failed(format!("{err:#}")),
                ),
                Ok(intent) => (
                    intent.action.command(&product),
                    match self.dry_run {
                        true => Outcome::WouldFinish(intent.action),
                        false => self.finish(&product),
                    },
                ),
            };
            if matches!(outcome, Outcome::Failed(_)) {
                self.unsettled.insert(product.clone());
            }
            self.record(Kind::Interrupted, &target, &product, outcome);
        }
        if !self.dry_run {
            self.look()?;
        }
        Ok(())
    }

    /// Finishes (or settles) `product`'s interrupted change under its lock.
    fn finish(&self, product: &str) -> Outcome {
        let finished = ProductName::parse(product)
            .and_then(|name| super::control::finish_interrupted(self.paths, self.systemd, &name));
        match finished {
            Ok(Some(action)) => Outcome::Finished(action),
            Ok(None) => Outcome::Kept("finished meanwhile".into()),
            Err(err) => Outcome::Failed(format!("{err:#}")),
        }
    }

    /// A sessctl unit that failed: its failed state is reset (a start limit forgotten).
    fn failed_units(&mut self) -> Result<()> {
        let systemd = self.systemd;
        for unit in systemd.loaded_units()? {
            let Some(product) = product_of(&unit) else {
                continue;
            };
            match systemd.status(&unit) {
                Ok(status) if status.active_state != ActiveState::Failed => {}
                Ok(_) => {
                    self.act(Kind::ResetFailed, &unit, product, |_| {
                        systemd.reset_failed(&unit).map(|()| Done::Removed)
                    });
                }
                Err(err) => self.fail(Kind::ResetFailed, &unit, product, &err),
            }
        }
        Ok(())
    }

    /// A unit file whose product has no config, unless its session runs.
    fn orphan_unit_files(&mut self) {
        let (paths, systemd) = (self.paths, self.systemd);
        for (product, file) in self.unit_files.clone() {
            let shown = file.display().to_string();
            if self.configs.contains(&product)
                || self.unsettled.contains(&product)
                || self.running(&product, Kind::UnitFile, &shown)
            {
                continue;
            }
            let unit = unit::unit_name(&product);
            self.act(Kind::UnitFile, &shown, &product, |_| {
                if paths.product_file(&product).exists() {
                    return Ok(Done::Kept(ENABLED_MEANWHILE.into()));
                }
                systemd.disable(&unit)?;
                crate::fault::point("gc:after-disable");
                store::remove_file(&file)?;
                crate::fault::point("gc:after-unit-file");
                systemd.reload()?;
                Ok(Done::Removed)
            });
        }
    }

    /// A config with no unit file: the user's settings, so only with `--yes` or a "y". Once it
    /// goes, its product is gone, and `states` judges what else of it is left.
    fn orphan_configs(&mut self, mut options: Options) -> Result<()> {
        let paths = self.paths;
        let orphans: Vec<String> = (self.configs.iter())
            .filter(|p| !self.unit_files.contains_key(*p) && !self.unsettled.contains(*p))
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
                let why = "has no unit file; pass --yes to remove it, or `sessctl enable` it again";
                self.record(Kind::Config, &shown, &product, Outcome::Kept(why.into()));
                continue;
            }
            let removed = self.act(Kind::Config, &shown, &product, |_| {
                if paths.unit_file(&product).exists() {
                    return Ok(Done::Kept(ENABLED_MEANWHILE.into()));
                }
                store::remove_file(&config)?;
                Ok(Done::Removed)
            });
            if removed {
                self.configs.remove(&product);
            }
        }
        Ok(())
    }

    /// A product's runtime folder whose tmux socket nobody listens on.
    fn sockets(&mut self) -> Result<()> {
        let Ok(runtime) = self.paths.runtime_root() else {
            return Ok(());
        };
        for (product, dir) in subdirs(&runtime)? {
            let socket = self.paths.socket(&product)?;
            let shown = socket.display().to_string();
            if !socket.exists()
                || product::check_name(&product).is_err()
                || session::server_listening(&socket)
                || self.running(&product, Kind::Socket, &shown)
            {
                continue;
            }
            self.act(Kind::Socket, &shown, &product, |_| {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("removing {}", dir.display()))?;
                Ok(Done::Removed)
            });
        }
        Ok(())
    }

    fn gone(&self, product: &str) -> bool {
        !self.configs.contains(product)
            && !self.unit_files.contains_key(product)
            && !self.unsettled.contains(product)
    }

    /// The state of a product that is gone: everything sessctl keeps there, never the user's
    /// pin or snapshots. Returns the products whose state (and so their lock) was judged.
    fn states(&mut self) -> Result<BTreeSet<String>> {
        let paths = self.paths;
        let mut with_state = BTreeSet::new();
        for (product, dir) in subdirs(&paths.products_state())? {
            let shown = dir.display().to_string();
            // A folder sessctl could not have made is not its to remove.
            if product::check_name(&product).is_err()
                || !self.gone(&product)
                || self.running(&product, Kind::State, &shown)
            {
                continue;
            }
            with_state.insert(product.clone());
            let users = holds_users_data(paths, &product);
            if users && sessctls_records(paths, &product)?.is_empty() {
                let outcome = Outcome::Kept(users_data(&product));
                self.record(Kind::State, &shown, &product, outcome);
                continue;
            }
            let would = match users {
                true => Outcome::WouldEmpty(not_users_data(&product)),
                false => Outcome::WouldRemove,
            };
            self.act_or(Kind::State, &shown, &product, would, |lock| {
                remove_state(paths, lock)
            });
        }
        Ok(with_state)
    }

    /// A lock file of a product that is gone and has no state (a lock goes with its state).
    fn locks(&mut self, with_state: &BTreeSet<String>) -> Result<()> {
        let paths = self.paths;
        for lock in files(&paths.locks_dir())? {
            let Some(product) = lock.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            if product::check_name(product).is_err()
                || !self.gone(product)
                || with_state.contains(product)
            {
                continue;
            }
            self.act(Kind::State, &lock.display().to_string(), product, |lock| {
                if product_exists(paths, product) {
                    return Ok(Done::Kept(ENABLED_MEANWHILE.into()));
                }
                lock.unlink()?;
                Ok(Done::Removed)
            });
        }
        Ok(())
    }

    /// A file a killed sessctl began to write and never put in place: never the file it
    /// would have replaced, which is whole, old or new.
    fn temp_files(&mut self) -> Result<()> {
        let mut abandoned = self.paths.abandoned_writes()?;
        abandoned.sort();
        for (product, file) in abandoned {
            self.act(
                Kind::TempFile,
                &file.display().to_string(),
                &product,
                |_| {
                    store::remove_file(&file)?;
                    Ok(Done::Removed)
                },
            );
        }
        Ok(())
    }

    /// [`Collector::act_or`] for a leftover that goes whole.
    fn act(
        &mut self,
        kind: Kind,
        target: &str,
        product: &str,
        work: impl FnOnce(&Locked) -> Result<Done>,
    ) -> bool {
        self.act_or(kind, target, product, Outcome::WouldRemove, work)
    }

    /// Does (or, dry, describes as `would`) one removal under the product's lock, and logs
    /// it. `work` judges again under the lock, and may keep what it finds in use after all.
    /// Returns whether the leftover went (or would go).
    fn act_or(
        &mut self,
        kind: Kind,
        target: &str,
        product: &str,
        would: Outcome,
        work: impl FnOnce(&Locked) -> Result<Done>,
    ) -> bool {
        let outcome = match self.dry_run {
            true => would,
            false => match self.locked(product, work) {
                Ok(Done::Removed) => Outcome::Removed,
                Ok(Done::Emptied) => Outcome::Emptied(not_users_data(product)),
                Ok(Done::Kept(why)) => Outcome::Kept(why),
                Err(err) => Outcome::Failed(format!("{err:#}")),
            },
        };
        let went = !matches!(outcome, Outcome::Kept(_) | Outcome::Failed(_));
        self.record(kind, target, product, outcome);
        went
    }

    /// `work` under `product`'s lock.
    fn locked(&self, product: &str, work: impl FnOnce(&Locked) -> Result<Done>) -> Result<Done> {
        let name = ProductName::parse(product)?;
        let had_lock = self.paths.lock_file(product).exists();
        let lock = Locked::acquire(self.paths, &name)?;
        let done = work(&lock)?;
        // Taking the lock must not itself leave a leftover for a product that is gone.
        if !had_lock && !product_exists(self.paths, product) {
            lock.unlink()?;
        }
        Ok(done)
    }

    /// A running session is never touched: records that `target` was kept for it. A session
    /// systemd cannot tell about is taken as running, and the failure is reported.
    fn running(&mut self, product: &str, kind: Kind, target: &str) -> bool {
        if product::check_name(product).is_err() {
            return false;
        }
        match self.systemd.status(&unit::unit_name(product)) {
            Ok(status) if !status.is_running() => false,
            Ok(_) => {
                let why = "its session is running".to_string();
                self.record(kind, target, product, Outcome::Kept(why));
                true
            }
            Err(err) => {
                self.fail(kind, target, product, &err);
                true
            }
        }
    }

    fn fail(&mut self, kind: Kind, target: &str, product: &str, err: &anyhow::Error) {
        self.record(kind, target, product, Outcome::Failed(format!("{err:#}")));
    }

    /// Logs `event` to a product that still exists, under its lock. Only the log is at stake,
    /// so a lock that cannot be taken is said, never the failure of what gc did.
    fn log_to_product(&self, product: &str, event: &Event) {
        let locked =
            ProductName::parse(product).and_then(|name| Locked::acquire(self.paths, &name));
        match locked {
            Ok(lock) => state::append(&lock, event),
            Err(err) => errln!("sessctl: warning: the event was not logged for {product}: {err:#}"),
        }
    }

    fn record(&mut self, kind: Kind, target: &str, product: &str, outcome: Outcome) {
        if matches!(
            outcome,
            Outcome::Removed | Outcome::Emptied(_) | Outcome::Finished(_)
        ) {
            let kind_name: &str = kind.into();
            let event = Event::new(EventKind::Gc, None)
                .did(&format!("{} {kind_name}", outcome.name()), Some(target));
            append_log(self.paths, &event);
            if self.paths.product_file(product).exists() {
                self.log_to_product(product, &event);
            }
        }
        self.actions.push(Action {
            kind,
            target: target.into(),
            product: product.into(),
            outcome,
        });
    }
}

/// gc's own log, `$XDG_STATE_HOME/sessctl/gc.jsonl`: it outlives the products it cleans up.
fn append_log(paths: &Paths, event: &Event) {
    state::append_or_warn(&paths.gc_log(), event)
}

const ENABLED_MEANWHILE: &str = "its product was enabled meanwhile";

/// What one removal came to.
enum Done {
    Removed,
    /// sessctl's records went; the user's pin or snapshots stayed.
    Emptied,
    /// Judged again under the lock, it was kept: why.
    Kept(String),
}

/// Whether `product` has a config or a unit file, as seen now (under its lock).
fn product_exists(paths: &Paths, product: &str) -> bool {
    paths.product_file(product).exists() || paths.unit_file(product).exists()
}

/// Whether a product's state directory holds what the user owns: a pin or snapshots.
fn holds_users_data(paths: &Paths, product: &str) -> bool {
    paths.users_state(product).iter().any(|p| p.exists())
}

fn users_data(product: &str) -> String {
    format!("holds the product's pin or snapshots, which are yours; `sessctl disable {product} --purge` removes them")
}

fn not_users_data(product: &str) -> String {
    format!("not the product's pin or snapshots, which are yours; `sessctl disable {product} --purge` removes them")
}

/// Everything in a product's state directory but what is the user's: sessctl's own records,
/// whatever their names (the event log, `last-exit.json`, loss markers, a change's intent).
fn sessctls_records(paths: &Paths, product: &str) -> Result<Vec<PathBuf>> {
    let users = paths.users_state(product);
    Ok(store::entries(&paths.state_dir(product))?
        .into_iter()
        .map(|e| e.path())
        .filter(|p| !users.contains(p))
        .collect())
}

/// sessctl's records of a product that is gone, and its lock; the user's pin and snapshots
/// stay, and so does the directory that holds them.
fn remove_state(paths: &Paths, lock: &Locked) -> Result<Done> {
    let product = lock.name();
    if product_exists(paths, product) {
        return Ok(Done::Kept(ENABLED_MEANWHILE.into()));
    }
    for own in sessctls_records(paths, product)? {
        match own.is_dir() {
            true => std::fs::remove_dir_all(&own)
                .with_context(|| format!("removing {}", own.display()))?,
            false => store::remove_file(&own)?,
        }
    }
    let done = match holds_users_data(paths, product) {
        true => Done::Emptied,
        false => {
            let dir = paths.state_dir(product);
            match std::fs::remove_dir(&dir) {
                Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                    return Err(err).with_context(|| format!("removing {}", dir.display()))
                }
                _ => Done::Removed,
            }
        }
    };
    lock.unlink()?;
    Ok(done)
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

/// The files of `dir`, sorted: gc reports in the same order every time.
fn files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = (store::entries(dir)?.into_iter())
        .filter(|e| e.path().is_file())
        .map(|e| e.path())
        .collect();
    files.sort();
    Ok(files)
}

/// Subdirectories of `dir` named like products, sorted.
fn subdirs(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut dirs: Vec<(String, PathBuf)> = (store::entries(dir)?.into_iter())
        .filter(|e| e.path().is_dir())
        .filter_map(|e| Some((e.file_name().to_str()?.to_string(), e.path())))
        .collect();
    dirs.sort();
    Ok(dirs)
}

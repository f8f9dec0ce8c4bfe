//! `sessctl gc`: removes sessctl's own leftovers, which pile up when cleanup fails silently,
//! and never a running session, another program's unit, or what the user owns: transcripts,
//! pins and snapshots stay (`disable --purge` removes a product's pin and snapshots).
//!
//! Each removal happens under the product's lock and is judged again there, so a gc racing
//! an `enable` never removes the state of the product being written.

use std::collections::BTreeSet;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

use crate::cli::Gc;
use crate::paths::Paths;
use crate::product::{self, Product};
use crate::session;
use crate::state::{self, Event};
use crate::store::{self, Lock};
use crate::systemd::Systemd;
use crate::unit;

/// One thing gc did, would do, or kept; its JSON form is what `gc --json` prints.
#[derive(Debug, Clone, Serialize)]
struct Action {
    /// reset-failed, unit-file, config, socket or state.
    kind: &'static str,
    /// The unit, file or directory.
    target: String,
    product: String,
    /// removed, would-remove, or kept.
    outcome: &'static str,
    /// Why it was kept, when it was.
    note: Option<String>,
}

pub fn run(paths: &Paths, args: Gc) -> Result<()> {
    let systemd = Systemd::connect()?;
    let configs: BTreeSet<String> = Product::names(paths)?.into_iter().collect();
    let unit_files = sessctl_unit_files(paths)?;
    let mut gc = Collector {
        paths,
        systemd: &systemd,
        dry_run: args.dry_run,
        actions: Vec::new(),
    };

    let loaded: BTreeSet<String> = systemd.loaded_units()?.into_iter().collect();
    for unit in loaded {
        let Some(product) = product_of(&unit) else {
            continue;
        };
        if systemd.status(&unit)?.active_state == "failed" {
            gc.act("reset-failed", &unit, product, || {
                systemd.reset_failed(&unit).map(|()| Done::Removed)
            })?;
        }
    }
    for (product, file) in &unit_files {
        if configs.contains(product) {
            continue;
        }
        let unit = unit::unit_name(product);
        if gc.running(product, "unit-file", &file.display().to_string())? {
            continue;
        }
        gc.act("unit-file", &file.display().to_string(), product, || {
            if paths.product_file(product).exists() {
                return Ok(Done::Kept("its product was enabled meanwhile".into()));
            }
            systemd.disable(&unit)?;
            store::remove_file(file)?;
            systemd.reload()?;
            Ok(Done::Removed)
        })?;
    }
    let ask = !args.yes && std::io::stdin().is_terminal();
    for product in configs.iter().filter(|p| !unit_files.contains_key(*p)) {
        let config = paths.product_file(product);
        let shown = config.display().to_string();
        // Dry runs only describe; a real removal needs --yes or a "y" at a terminal.
        let remove = args.yes
            || args.dry_run
            || (ask && confirm(&format!("remove {shown}, which has no unit file?"))?);
        if !remove {
            gc.keep(
                "config",
                &shown,
                product,
                "has no unit file; pass --yes to remove it, or `sessctl enable` it again",
            );
            continue;
        }
        gc.act("config", &shown, product, || {
            if paths.unit_file(product).exists() {
                return Ok(Done::Kept("its product was enabled meanwhile".into()));
            }
            store::remove_file(&config)?;
            remove_state(paths, product)
        })?;
    }
    if let Some(runtime) = &paths.runtime_dir {
        for (product, dir) in subdirs(&runtime.join("sessctl"))? {
            let socket = dir.join("tmux.sock");
            if !socket.exists()
                || session::server_listening(&socket)
                || gc.running(&product, "socket", &socket.display().to_string())?
            {
                continue;
            }
            gc.act("socket", &socket.display().to_string(), &product, || {
                std::fs::remove_dir_all(&dir)
                    .with_context(|| format!("removing {}", dir.display()))?;
                Ok(Done::Removed)
            })?;
        }
    }
    let gone = |p: &str| !configs.contains(p) && !unit_files.contains_key(p);
    // A product's lock goes with its state directory; a lone lock goes by itself.
    let mut with_state = BTreeSet::new();
    for (product, dir) in subdirs(&paths.products_state())? {
        if gone(&product) && holds_users_data(&dir) {
            gc.keep(
                "state",
                &dir.display().to_string(),
                &product,
                &users_data(&product),
            );
            with_state.insert(product);
            continue;
        }
        if gone(&product) && !gc.running(&product, "state", &dir.display().to_string())? {
            gc.act("state", &dir.display().to_string(), &product, || {
                remove_state(paths, &product)
            })?;
            with_state.insert(product);
        }
    }
    for lock in files(&paths.state_root().join("locks"))? {
        let Some(product) = lock.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if product::check_name(product).is_ok() && gone(product) && !with_state.contains(product) {
            gc.act("state", &lock.display().to_string(), product, || {
                if product_exists(paths, product) {
                    return Ok(Done::Kept("its product was enabled meanwhile".into()));
                }
                store::remove_file(&lock)?;
                Ok(Done::Removed)
            })?;
        }
    }
    gc.report(args.json)
}

struct Collector<'a> {
    paths: &'a Paths,
    systemd: &'a Systemd,
    dry_run: bool,
    actions: Vec<Action>,
}

impl Collector<'_> {
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
        if action.outcome == "removed" {
            let event = Event::new("gc", None)
                .verdict(&format!("removed {}", action.kind), Some(&action.target));
            append_log(self.paths, &event);
            if self.paths.product_file(&action.product).exists() {
                state::append(self.paths, &action.product, &event);
            }
        }
        self.actions.push(action);
        Ok(())
    }

    fn report(self, json: bool) -> Result<()> {
        if json {
            outln!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "dry_run": self.dry_run,
                    "actions": self.actions,
                }))?
            );
            return Ok(());
        }
        for a in &self.actions {
            let verb = match a.outcome {
                "removed" if a.kind == "reset-failed" => "reset",
                "would-remove" if a.kind == "reset-failed" => "would reset",
                "removed" => "removed",
                "would-remove" => "would remove",
                _ => "kept",
            };
            let note = a
                .note
                .as_deref()
                .map_or(String::new(), |n| format!(" ({n})"));
            outln!("{verb} {}: {}{note}", a.kind, a.target);
        }
        let done = self.actions.iter().filter(|a| a.outcome != "kept").count();
        match (done, self.dry_run) {
            (0, _) => outln!("gc: nothing to remove"),
            (n, true) => outln!("gc: {n} leftovers would be removed (dry run)"),
            (n, false) => outln!("gc: {n} leftovers removed"),
        }
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

/// The product a unit name belongs to: `sessctl-<product>.service`.
fn product_of(unit: &str) -> Option<&str> {
    unit.strip_prefix("sessctl-")?.strip_suffix(".service")
}

/// sessctl's unit files in the user unit directory, by product.
fn sessctl_unit_files(paths: &Paths) -> Result<std::collections::BTreeMap<String, PathBuf>> {
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

fn confirm(question: &str) -> Result<bool> {
    out!("{question} [y/N] ");
    std::io::stdout().flush().context("writing the question")?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("reading the answer")?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

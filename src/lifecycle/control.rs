//! Enabling, starting, stopping, restarting and disabling a product's session: each one
//! systemd job or file change, under the product's lock, and what it did as [`Step`]s.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::guard;
use super::intent;
use super::observe::{forget, observe};
use super::start::{agent_env, follow, refuse_second_writer, start_session};
use super::unit_file;
use crate::agent::Agent;
use crate::context::Ctx;
use crate::error::{quoted, usage};
use crate::fault;
use crate::paths::Paths;
use crate::pin::Pin;
use crate::product::{self, Product, ProductName};
use crate::state::{Action, EventKind, Locked, Writer};
use crate::store;
use crate::systemd::{ActiveState, LoadState, Systemd, UnitFileState, UnitStatus};
use crate::unit;

/// One thing a change did to a product, in order; `cmd` words them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum Step {
    /// A pinned agent got its conversation id before its first start.
    Pinned {
        session_id: String,
    },
    /// The config, unit and slice were already as wanted.
    Unchanged,
    /// The config and unit were written, systemd reloaded and the unit enabled.
    Written {
        live: bool,
    },
    /// New settings wait for `restart`; the live session runs on.
    RestartPending,
    AlreadyActive,
    /// `--no-start`.
    NotStarted,
    Started,
    Stopped,
    Restarted,
    /// Stopped, disabled and its unit file removed.
    Removed,
    /// Its config and state removed (`--purge`).
    Purged,
}

impl Step {
    /// What a change did, as the line a person reads.
    pub fn line(&self, product: &str) -> String {
        let unit = unit::unit_name(product);
        match self {
            Step::Pinned { session_id } => format!("{unit}: pinned to conversation {session_id}"),
            Step::Unchanged => format!("{unit}: unchanged"),
            Step::Written { live: true } => format!("{unit}: rewritten, reloaded and enabled"),
            Step::Written { live: false } => format!("{unit}: written, reloaded and enabled"),
            Step::RestartPending => format!(
                "{unit}: restart pending; the live session keeps running until `sessctl restart {product}`"
            ),
            Step::AlreadyActive => format!("{unit}: already active"),
            Step::NotStarted => format!("{unit}: not started (--no-start)"),
            Step::Started => format!("{unit}: started"),
            Step::Stopped => format!("{unit}: stopped"),
            Step::Restarted => format!("{unit}: restarted"),
            Step::Removed => format!("{unit}: stopped, disabled and removed"),
            Step::Purged => format!("{product}: config and state removed"),
        }
    }
}

/// What `start`, `stop` or `restart` did, as `--json` prints it and the dashboard's API answers
/// it: the product, the step (flattened: `"step": "started"`) and the line a person reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    pub product: String,
    #[serde(flatten)]
    pub step: Step,
    pub line: String,
}

impl Done {
    pub fn new(product: &ProductName, step: Step) -> Done {
        Done {
            line: step.line(product),
            product: product.to_string(),
            step,
        }
    }
}

/// The agent `enable` runs when given no command.
pub const DEFAULT_PROGRAM: &str = "claude";

/// What `enable` asks for, as the user typed it.
#[derive(Debug, Clone)]
pub struct Request {
    pub product: String,
    /// `None`: the current directory.
    pub dir: Option<std::path::PathBuf>,
    /// `KEY=VALUE` each.
    pub env: Vec<String>,
    /// An agent profile's name; `None`: detected from the command.
    pub agent: Option<String>,
    pub keep_snapshots: u32,
    pub stagger: u32,
    pub silence: u32,
    pub on_waiting: Option<String>,
    /// Empty: `claude`.
    pub command: Vec<String>,
}

/// The product `request` asks for, validated and resolved (the directory made canonical, the
/// programs looked up in PATH), before anything is written.
pub fn wanted(request: &Request) -> Result<Product> {
    // Everything that can refuse the input runs before anything is written.
    product::check_name(&request.product)?;
    let dir = match &request.dir {
        Some(dir) => product::resolve_dir(dir)?,
        None => product::resolve_dir(&product::default_dir()?)?,
    };
    let mut command = if request.command.is_empty() {
        vec![DEFAULT_PROGRAM.to_string()]
    } else {
        request.command.clone()
    };
    command[0] = product::resolve_program(&command[0])?;
    let env = request
        .env
        .iter()
        .map(|a| product::parse_env(a))
        .collect::<Result<_>>()?;
    let agent = match &request.agent {
        Some(name) => name.parse::<Agent>().map_err(usage)?,
        None => Agent::detect(&command[0]),
    };
    Ok(Product {
        name: request.product.clone(),
        dir,
        command,
        tmux: product::resolve_program("tmux")?,
        agent,
        keep_snapshots: request.keep_snapshots,
        stagger: request.stagger,
        silence: request.silence,
        on_waiting: request.on_waiting.clone(),
        env,
    })
}

/// Writes `wanted`'s config and unit, enables it and starts it (unless `no_start`); never
/// restarts a live session.
pub fn enable(ctx: &Ctx, wanted: &Product, no_start: bool) -> Result<Vec<Step>> {
    let paths = &ctx.paths;
    paths.check_socket_fits(&wanted.name)?;
    let text = unit_file::render(paths, wanted)?;
    let systemd = ctx.systemd()?;
    let lock = Locked::acquire(paths, &ProductName::parse(&wanted.name)?)?;
    enable_locked(&lock, paths, systemd, wanted, &text, no_start)
}

/// Where sessctl keeps its own copy of the sessions' slice: in the user's unit folder, unless
/// another folder of the manager's search path has one (the Debian package's
/// /usr/lib/systemd/user), which then serves every product, so no copy is written.
fn own_slice(paths: &Paths, systemd: &Systemd) -> Result<Option<PathBuf>> {
    let own = paths.unit_dir();
    let installed = systemd
        .unit_path()?
        .iter()
        .map(Path::new)
        .any(|dir| dir != own && dir.join(unit::SLICE_NAME).is_file());
    Ok((!installed).then(|| own.join(unit::SLICE_NAME)))
}

/// Whether `file` holds exactly `text`.
fn holds(file: &Path, text: &str) -> Result<bool> {
    Ok(store::read_optional(file)?.as_deref() == Some(text))
}

/// Pins a new product whose agent names its conversation before the first start.
fn pin_first(lock: &Locked, wanted: &Product) -> Result<Option<Step>> {
    if Pin::load(&lock.dir().pin())?.is_some() {
        return Ok(None);
    }
    let Some(id) = wanted.agent.profile().first_pin()? else {
        return Ok(None);
    };
    Pin::new(id.clone()).save(lock)?;
    Ok(Some(Step::Pinned { session_id: id }))
}

/// Writes `wanted`'s config, the slice (to `slice_file`, unless one is installed) and the unit
/// `text`, reloads and enables it, and logs the enable.
fn install(
    lock: &Locked,
    paths: &Paths,
    systemd: &Systemd,
    wanted: &Product,
    (text, slice_file): (&str, Option<&Path>),
) -> Result<()> {
    let name = unit::unit_name(&wanted.name);
    wanted.save(paths, lock)?;
    fault::point("enable:after-config");
    if let Some(file) = slice_file {
        store::write_if_changed(file, unit::SLICE_TEXT)?;
    }
    unit_file::write(lock, paths, text)?;
    fault::point("enable:after-unit-file");
    systemd.reload()?;
    fault::point("enable:after-reload");
    systemd.enable(&name)?;
    fault::point("enable:after-enable");
    crate::state::append(lock, &crate::state::Event::new(EventKind::Enable, None));
    Ok(())
}

/// [`enable`] under the product's lock, with the unit `text` rendered.
fn enable_locked(
    lock: &Locked,
    paths: &Paths,
    systemd: &Systemd,
    wanted: &Product,
    text: &str,
    no_start: bool,
) -> Result<Vec<Step>> {
    let name = &wanted.name;
    let new = !paths.product_file(name).exists()
        && !paths.unit_file(name).exists()
        && !paths.state_dir(name).exists();
    let written = intent::begin(lock, Action::Enable)
        .and_then(|change| Ok((change, write_wanted(lock, paths, systemd, wanted, text)?)));
    let (change, (mut steps, before)) = match written {
        Ok(written) => written,
        Err(err) => {
            undo_refused(lock, paths, new);
            return Err(err);
        }
    };
    change.end(lock)?;
    steps.push(if before.is_running() {
        match unit_file::restart_pending(paths, name, &before.invocation_id)? {
            true => Step::RestartPending,
            false => Step::AlreadyActive,
        }
    } else if no_start {
        Step::NotStarted
    } else {
        start_session(lock, paths, systemd, wanted, &before)?;
        fault::point("enable:after-start-job");
        observe(lock, systemd, EventKind::Start)?;
        Step::Started
    });
    Ok(steps)
}

/// An enable's writes: the pin, config, slice and unit, reloaded and enabled, unless all are
/// as wanted already. Returns what it did, and the session as it found it.
fn write_wanted(
    lock: &Locked,
    paths: &Paths,
    systemd: &Systemd,
    wanted: &Product,
    text: &str,
) -> Result<(Vec<Step>, UnitStatus)> {
    let name = unit::unit_name(&wanted.name);
    let file = paths.unit_file(&wanted.name);
    let slice_file = own_slice(paths, systemd)?;
    let before = systemd.status(&name)?;
    let state = systemd.unit_file(&name)?;
    let settings_changed = Product::load_optional(paths, &wanted.name)?.as_ref() != Some(wanted);
    let same = !settings_changed
        && holds(&file, text)?
        && slice_file
            .as_deref()
            .map_or(Ok(true), |f| holds(f, unit::SLICE_TEXT))?
        && state.unit_file_state == UnitFileState::Enabled
        && !state.need_daemon_reload;

    let mut steps: Vec<Step> = pin_first(lock, wanted)?.into_iter().collect();
    if same {
        steps.push(Step::Unchanged);
    } else {
        install(lock, paths, systemd, wanted, (text, slice_file.as_deref()))?;
        // Only new settings make the live session out of date; a file merely put back as
        // sessctl renders it does not.
        if before.is_running() && settings_changed {
            unit_file::mark_pending(lock, &before.invocation_id)?;
        }
        steps.push(Step::Written {
            live: before.is_running(),
        });
    }
    Ok((steps, before))
}

/// After an enable failed (a config that does not parse, a folder it cannot write, a
/// systemd that refused): it leaves no intent, which `gc` would otherwise try to finish
/// for good. Of a product that did not exist before, whatever it made goes too (its state
/// folder, pin and lock, and its config unless its unit was written as well: a unit
/// systemd knows stays for `sessctl disable` to remove). Only a killed enable leaves its
/// intent, for the next call to finish.
fn undo_refused(lock: &Locked, paths: &Paths, new: bool) {
    let name = lock.name();
    let undo = || -> Result<()> {
        if !new || paths.unit_file(name).exists() {
            return crate::state::Intent::end(lock);
        }
        // Asked only when it is there: a read-only folder refuses even a removal of nothing.
        let config = paths.product_file(name);
        if config.exists() {
            store::remove_file(&config)?;
        }
        let state = paths.state_dir(name);
        if state.exists() {
            std::fs::remove_dir_all(&state)
                .with_context(|| format!("removing {}", state.display()))?;
        }
        lock.unlink()
    };
    if let Err(err) = undo() {
        errln!("sessctl: warning: what the failed `sessctl enable {name}` began is left: {err:#}");
    }
}

/// Starts the session unless it runs.
pub fn start(ctx: &Ctx, name: &ProductName) -> Result<Step> {
    let paths = &ctx.paths;
    let (systemd, lock) = prepare(ctx, name)?;
    let product = Product::load(paths, name)?;
    intent::settle(&lock)?;
    let before = systemd.status(&unit::unit_name(name))?;
    if before.is_running() {
        return Ok(Step::AlreadyActive);
    }
    start_session(&lock, paths, systemd, &product, &before)?;
    fault::point("start:after-start-job");
    observe(&lock, systemd, EventKind::Start)?;
    Ok(Step::Started)
}

/// Stops the session; works on a product whose config no longer parses. The transcript the
/// session leaves is judged now, while nothing writes it, so that `status` (which reads only
/// the remembered verdict) can say whether a start would resume it.
pub fn stop(ctx: &Ctx, name: &ProductName) -> Result<Step> {
    let paths = &ctx.paths;
    let (systemd, lock) = prepare(ctx, name)?;
    let change = intent::begin(&lock, Action::Stop)?;
    fault::point("stop:after-intent");
    systemd.stop(&unit::unit_name(name))?;
    fault::point("stop:after-job");
    forget(&lock, EventKind::Stop)?;
    change.end(&lock)?;
    if let Ok(product) = Product::load(paths, name) {
        // Only a cache: a verdict not reached now is reached by the next start.
        let _ =
            agent_env(systemd, &product).and_then(|env| guard::needs_repair(paths, &product, &env));
    }
    Ok(Step::Stopped)
}

/// Ends the live agent and starts a new one, on the conversation it last wrote.
pub fn restart(ctx: &Ctx, name: &ProductName) -> Result<Step> {
    let paths = &ctx.paths;
    let (systemd, lock) = prepare(ctx, name)?;
    let product = Product::load(paths, name)?;
    follow(&lock, &product, &agent_env(systemd, &product)?)?;
    refuse_second_writer(paths, systemd, name)?;
    let change = intent::begin(&lock, Action::Restart)?;
    fault::point("restart:after-intent");
    systemd.restart(&unit::unit_name(name))?;
    fault::point("restart:after-job");
    match observe(&lock, systemd, EventKind::Restart) {
        // The warning of an unrecorded change said that the new session goes unrecorded too.
        Err(err) if !change.recorded() && intent::unwritable(&err) => {}
        observed => drop(observed?),
    }
    unit_file::clear_pending(&lock)?;
    change.end(&lock)?;
    Ok(Step::Restarted)
}

/// Checks the product exists, connects, and takes its lock, in that order, then records a
/// loss of the session no command has seen yet, before the change hides it. The config is
/// not parsed here: a stop must work on a config that no longer parses.
fn prepare<'c>(ctx: &'c Ctx, name: &ProductName) -> Result<(&'c Systemd, Locked)> {
    let paths = &ctx.paths;
    intent::refuse_undoing(paths, name)?;
    Product::config_text(paths, name)?;
    let systemd = ctx.systemd()?;
    let lock = Locked::acquire(paths, name)?;
    record_loss(&lock, paths, systemd);
    Ok((systemd, lock))
}

/// Under the product's lock: logs, once, that the session sessctl last saw is gone. Only the
/// log is at stake, so a failure to read or write it never stops the change; it is said.
fn record_loss(lock: &Locked, paths: &Paths, systemd: &Systemd) {
    let name = lock.name();
    let logged = (|| -> Result<()> {
        let record = crate::state::load_record(lock.dir().0)?;
        let (now, status) = super::observe::identity(systemd, &unit::unit_name(name))?;
        let seen = super::observe::Sighting {
            record: record.as_ref(),
            now: &now,
            status: &status,
        };
        super::observe::loss_since_seen(lock, paths, systemd, seen)?;
        Ok(())
    })();
    if let Err(err) = logged {
        errln!(
            "sessctl: warning: could not record whether {name}'s last session was lost: {err:#}"
        );
    }
}

/// Stops the session, disables and removes its unit; with `purge`, also the product's config
/// and state. Works on a product whose config no longer parses, or of which only state is
/// left (gc keeps a pin and snapshots).
pub fn disable(ctx: &Ctx, name: &ProductName, purge: bool) -> Result<Vec<Step>> {
    let paths = &ctx.paths;
    let config = paths.product_file(name);
    let file = paths.unit_file(name);
    let state_left = purge && paths.state_dir(name).exists();
    if !config.exists() && !file.exists() && !state_left {
        return Err(usage(format!(
            "unknown product {}: it has no config and no unit; `sessctl list` shows the products",
            quoted(name)
        )));
    }
    let systemd = ctx.systemd()?;
    let lock = Locked::acquire(paths, name)?;
    record_loss(&lock, paths, systemd);
    disable_locked(&lock, paths, systemd, purge)
}

/// [`disable`] under the product's lock.
fn disable_locked(
    lock: &Locked,
    paths: &Paths,
    systemd: &Systemd,
    purge: bool,
) -> Result<Vec<Step>> {
    let name = lock.name();
    let action = if purge {
        Action::Purge
    } else {
        Action::Disable
    };
    let change = intent::begin(lock, action)?;
    fault::point("disable:after-intent");
    let unit = unit::unit_name(name);
    // A unit already removed (an earlier disable) has nothing left to stop or disable, and
    // one systemd could not load has no job to run: its file only needs to go.
    let file_state = systemd.unit_file(&unit)?;
    if file_state.load_state == LoadState::Loaded || systemd.status(&unit)?.is_running() {
        systemd.stop(&unit)?;
        fault::point("disable:after-stop");
        if systemd.status(&unit)?.active_state == ActiveState::Failed {
            systemd.reset_failed(&unit)?;
        }
    }
    if file_state.load_state != LoadState::NotFound {
        systemd.disable(&unit)?;
        fault::point("disable:after-disable");
    }
    store::remove_file(&paths.unit_file(name))?;
    fault::point("disable:after-unit-file");
    systemd.reload()?;
    fault::point("disable:after-reload");
    forget(lock, EventKind::Disable)?;
    let mut steps = vec![Step::Removed];
    if purge {
        store::remove_file(&paths.product_file(name))?;
        fault::point("disable:after-config");
        let state = paths.state_dir(name);
        if state.exists() {
            std::fs::remove_dir_all(&state)
                .with_context(|| format!("removing {}", state.display()))?;
        }
        lock.unlink()?;
        steps.push(Step::Purged);
    } else {
        change.end(lock)?;
    }
    Ok(steps)
}

/// Under the product's lock, finishes or settles the change a killed sessctl left (gc's
/// part): a disable or an enable is done again, as asked; an interrupted stop or restart
/// leaves the session as it is and is no longer taken for a loss. Returns what was there.
pub fn finish_interrupted(
    paths: &Paths,
    systemd: &Systemd,
    name: &ProductName,
) -> Result<Option<Action>> {
    let lock = Locked::acquire(paths, name)?;
    let Some(found) = crate::state::Intent::load(lock.dir().0)? else {
        return Ok(None);
    };
    match found.action {
        Action::Stop | Action::Restart => intent::settle(&lock)?,
        Action::Disable | Action::Purge => {
            disable_locked(&lock, paths, systemd, found.action == Action::Purge)?;
        }
        // Killed before it wrote the config: nothing of it to finish.
        Action::Enable if !paths.product_file(name).exists() => crate::state::Intent::end(&lock)?,
        Action::Enable => {
            let wanted = Product::load(paths, name)?;
            let text = unit_file::render(paths, &wanted)?;
            enable_locked(&lock, paths, systemd, &wanted, &text, true)?;
        }
    }
    Ok(Some(found.action))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A remote's `--json` answer parses back into what it printed, step fields included.
    #[test]
    fn done_round_trips_through_its_json() {
        let web = ProductName::parse("web").unwrap();
        for step in [
            Step::Started,
            Step::Pinned {
                session_id: "0123".to_string(),
            },
        ] {
            let done = Done::new(&web, step);
            let text = serde_json::to_string(&done).unwrap();
            assert_eq!(serde_json::from_str::<Done>(&text).unwrap(), done, "{text}");
        }
    }
}

//! `doctor`: the sweep for everything that can kill a session. One launch mistake was
//! once wired into three places, and fixing one moved the bug to the next click; so doctor
//! checks everywhere a session can be launched: sessctl's own units, the environment, every
//! other user unit, and every tmux server and agent process of the user.

mod environment;
mod launchers;
mod own_units;
mod processes;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::context::Ctx;
use crate::error::{code_of, USAGE};
use crate::lifecycle::intent;
use crate::paths::Paths;
use crate::product::{Product, ProductName};
use crate::state::Intent;
use crate::unit;

pub use crate::error::Severity;

/// What a finding is about: one per check, closed so that a typo or a duplicate does not
/// compile. Its spelling ([`FindingId::as_str`]) is the stable `id` of `doctor --json`.
/// Parsed by serde's kebab-case names, which the `doctor --json` round trip holds to
/// [`FindingId::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingId {
    /// `XDG_RUNTIME_DIR` is unset: neither the user bus nor the sockets can be found.
    RuntimeDirUnset,
    /// The user manager cannot be reached over the user bus.
    BusUnreachable,
    /// Linger is off: the user manager stops at logout and does not start at boot.
    LingerOff,
    /// Part of logind's configuration cannot be read, so `KillUserProcesses=` is unknown.
    LogindConfUnreadable,
    /// logind kills every process of a login session at logout.
    KillUserProcesses,
    /// A tmux that a unit runs, or tmux on `PATH`, is not there.
    TmuxMissing,
    /// A tmux older than 3.2, which cannot run its server in the foreground.
    TmuxTooOld,
    /// The memory controller is not delegated, so `Memory*=` settings do nothing.
    MemoryNotDelegated,
    /// A product's config cannot be parsed, so its unit cannot be checked.
    ProductConfigBroken,
    /// A file a killed sessctl left half-written.
    TempFileLeft,
    /// A change (enable, start, stop, ...) a killed sessctl left midway.
    ChangeInterrupted,
    /// A disable a killed sessctl left midway.
    ChangeInterruptedDisable,
    /// What a product's start needs (its directory, its agent) is gone.
    StartNeedsMissing,
    /// A product's unit file is gone.
    UnitMissing,
    /// A product's unit file differs from what sessctl renders.
    UnitDrift,
    /// Drop-ins override a product's unit.
    UnitDropin,
    /// A product's unit is not enabled, so it does not start at login or boot.
    UnitNotEnabled,
    /// A product's unit changed on disk since systemd read it.
    UnitNeedsReload,
    /// A product's unit hit its start limit.
    UnitStartLimit,
    /// A product's unit failed.
    UnitFailed,
    /// The agent's own retention will delete the pinned conversation.
    Retention,
    /// A product's unit changed under its live session, which needs a restart to see it.
    RestartPending,
    /// Another unit forks a detached session into its own cgroup.
    LauncherForksSession,
    /// Another unit is a oneshot with `RemainAfterExit=yes` that launches a session.
    LauncherRemainAfterExit,
    /// Another unit launches a session with `KillMode=none` or `process`.
    LauncherKillmode,
    /// Another unit runs tmux on the shared default socket.
    LauncherDefaultSocket,
    /// Another unit restarts a session unit, killing what it means to resume.
    LauncherRestartsSession,
    /// A process of a product's session runs outside its unit.
    ProcessOutsideUnit,
    /// An agent's shared server, which serves every session of its home, runs in one
    /// product's unit or outside every unit.
    AgentSharedServer,
    /// An agent runs in a tmux server on the shared default socket.
    DefaultSocketAgent,
}

impl FindingId {
    /// The id as `doctor` prints it, in kebab case: `launcher-forks-session`.
    pub fn as_str(self) -> &'static str {
        use FindingId::*;
        match self {
            RuntimeDirUnset => "runtime-dir-unset",
            BusUnreachable => "bus-unreachable",
            LingerOff => "linger-off",
            LogindConfUnreadable => "logind-conf-unreadable",
            KillUserProcesses => "kill-user-processes",
            TmuxMissing => "tmux-missing",
            TmuxTooOld => "tmux-too-old",
            MemoryNotDelegated => "memory-not-delegated",
            ProductConfigBroken => "product-config-broken",
            TempFileLeft => "temp-file-left",
            ChangeInterrupted => "change-interrupted",
            ChangeInterruptedDisable => "change-interrupted-disable",
            StartNeedsMissing => "start-needs-missing",
            UnitMissing => "unit-missing",
            UnitDrift => "unit-drift",
            UnitDropin => "unit-dropin",
            UnitNotEnabled => "unit-not-enabled",
            UnitNeedsReload => "unit-needs-reload",
            UnitStartLimit => "unit-start-limit",
            UnitFailed => "unit-failed",
            Retention => "retention",
            RestartPending => "restart-pending",
            LauncherForksSession => "launcher-forks-session",
            LauncherRemainAfterExit => "launcher-remain-after-exit",
            LauncherKillmode => "launcher-killmode",
            LauncherDefaultSocket => "launcher-default-socket",
            LauncherRestartsSession => "launcher-restarts-session",
            ProcessOutsideUnit => "process-outside-unit",
            AgentSharedServer => "agent-shared-server",
            DefaultSocketAgent => "default-socket-agent",
        }
    }
}

spelled_as_str!(serialize: FindingId);

/// One problem: what it is, the evidence, and the exact fix. Its JSON form is documented.
/// Every finding is made by [`Finding::new`], then [`Finding::on`] when it concerns a product
/// or a unit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finding {
    pub id: FindingId,
    pub severity: Severity,
    /// The sessctl product it concerns, if any.
    pub product: Option<String>,
    /// The unit it concerns, if any.
    pub unit: Option<String>,
    /// What is wrong and what it does to a session, in one line.
    pub summary: String,
    /// Files and lines, unit properties, PIDs and cgroups.
    pub evidence: Vec<String>,
    /// The command to run or the edit to make.
    pub fix: String,
}

impl Finding {
    /// A finding about the machine; [`Finding::on`] names the product or unit it concerns.
    pub fn new(
        id: FindingId,
        severity: Severity,
        summary: impl Into<String>,
        evidence: Vec<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding {
            id,
            severity,
            product: None,
            unit: None,
            summary: summary.into(),
            evidence,
            fix: fix.into(),
        }
    }

    /// The finding, about `product` and `unit`, each when known.
    pub fn on(mut self, product: Option<&str>, unit: Option<&str>) -> Finding {
        self.product = product.map(str::to_string);
        self.unit = unit.map(str::to_string);
        self
    }
}

/// The `doctor --json` object.
#[derive(Debug, Serialize, Deserialize)]
pub struct Report {
    /// No errors and no warnings (notes do not count).
    pub healthy: bool,
    /// Worst first.
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).min()
    }
}

/// Sweeps everything that can kill a session, or only `product`'s unit and processes (the
/// environment and other units always).
pub fn sweep(ctx: &Ctx, only: Option<&ProductName>) -> Result<Report> {
    let paths = &ctx.paths;
    let product = only.map(ProductName::as_str);
    let names = match product {
        Some(name) => vec![name.to_string()],
        None => Product::names(paths)?,
    };
    let (products, mut findings) = load(paths, &names)?;
    findings.extend(abandoned_writes(paths, product)?);
    let changes: Vec<(String, Intent)> = (intent::interrupted(paths)?.into_iter())
        .filter(|(name, _)| product.is_none_or(|only| only == name))
        .collect();
    // A product being disabled is checked as the disable leaves it, not as a unit to keep:
    // "not enabled" with `sessctl enable` as the fix would undo what the user asked for.
    let removing: Vec<&str> = (changes.iter())
        .filter(|(_, found)| found.action.removes())
        .map(|(name, _)| name.as_str())
        .collect();
    findings.extend(environment::check(&products)?);
    // Without the manager, what is left to check is the environment that keeps it away.
    if let Some(systemd) = environment::manager(ctx, &mut findings) {
        let units: Vec<String> = products.iter().map(|p| unit::unit_name(&p.name)).collect();
        let views = systemd.checks(&units)?;
        findings.extend(environment::memory(systemd, &units, &views)?);
        let manager_env = systemd.environment()?;
        for (product, view) in products.iter().zip(&views) {
            if !removing.contains(&product.name.as_str()) {
                findings.extend(own_units::check(paths, &manager_env, product, view)?);
            }
        }
        findings.extend(launchers::check(systemd, paths)?);
        findings.extend(processes::check(systemd, paths, &products)?);
    }
    findings.extend(
        changes
            .iter()
            .map(|(name, found)| interrupted(paths, name, found)),
    );
    findings.sort_by(|a, b| (a.severity.cmp(&b.severity)).then(a.id.as_str().cmp(b.id.as_str())));
    let healthy = findings.iter().all(|f| f.severity == Severity::Note);
    Ok(Report { healthy, findings })
}

/// A finding for each file a killed sessctl left half-written (of `only`'s product, when
/// given). The file it would have replaced is whole; gc removes these.
fn abandoned_writes(paths: &Paths, only: Option<&str>) -> Result<Vec<Finding>> {
    Ok(paths
        .abandoned_writes()?
        .into_iter()
        .filter(|(product, _)| only.is_none_or(|only| only == product))
        .map(|(product, file)| {
            Finding::new(
                FindingId::TempFileLeft,
                Severity::Note,
                format!("a write of {product}'s files was interrupted and left its temporary file"),
                vec![file.display().to_string()],
                "sessctl gc",
            )
            .on(Some(&product), None)
        })
        .collect())
}

/// The finding for a change a killed sessctl left midway in `product`.
fn interrupted(paths: &Paths, product: &str, found: &Intent) -> Finding {
    let id = match found.action.removes() {
        true => FindingId::ChangeInterruptedDisable,
        false => FindingId::ChangeInterrupted,
    };
    Finding::new(
        id,
        Severity::Warning,
        intent::describe(product, found, false),
        vec![paths.intent_file(product).display().to_string()],
        found.action.command(product),
    )
    .on(Some(product), None)
}

/// The products to check, and a finding for each config that cannot be parsed: one bad file
/// hides no other product.
fn load(paths: &Paths, names: &[String]) -> Result<(Vec<Product>, Vec<Finding>)> {
    let (mut products, mut findings) = (Vec::new(), Vec::new());
    for name in names {
        match Product::load(paths, name) {
            Ok(product) => products.push(product),
            Err(err) if code_of(&err) != USAGE => findings.push(
                Finding::new(
                    FindingId::ProductConfigBroken,
                    Severity::Error,
                    format!("{name}'s config cannot be used, so its unit cannot be checked or rewritten"),
                    vec![format!("{err:#}")],
                    format!(
                        "fix {}, or remove the product with `sessctl disable {name} --purge`",
                        paths.product_file(name).display()
                    ),
                )
                .on(Some(name), None),
            ),
            Err(err) => return Err(err),
        }
    }
    Ok((products, findings))
}

/// The first line of `file` that starts with `prefix` and contains `needle`, as
/// `file:line: text` (lines count from 1).
fn locate(file: &str, prefix: &str, needle: &str) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines()
        .enumerate()
        .find(|(_, line)| line.trim_start().starts_with(prefix) && line.contains(needle))
        .map(|(n, line)| format!("{file}:{}: {}", n + 1, line.trim()))
}

//! Doctor's checks of sessctl's own unit for one product: the file, drop-ins, autostart,
//! failure, reload and a pending restart.

use anyhow::Result;

use super::{Finding, FindingId, Severity};
use crate::agent::AgentEnv;
use crate::lifecycle::unit_file;
use crate::paths::Paths;
use crate::product::Product;
use crate::store;
use crate::systemd::{ActiveState, ServiceResult, SubState, UnitCheck, UnitFileState};
use crate::unit;

/// Every check of `product`'s own unit, in the order a person would fix them, on what systemd
/// said of it (`view`, read in one batch for every product) and the manager's environment.
pub fn check(
    paths: &Paths,
    manager_env: &[String],
    product: &Product,
    view: &UnitCheck,
) -> Result<Vec<Finding>> {
    let own = Own {
        paths,
        manager_env,
        product,
        view,
        unit: unit::unit_name(&product.name),
    };
    let mut found = Vec::new();
    found.extend(own.missing());
    found.extend(own.file()?);
    found.extend(own.drop_ins());
    found.extend(own.file_state());
    found.extend(own.failed());
    found.extend(own.retention()?);
    found.extend(own.restart_pending()?);
    Ok(found)
}

/// One product's unit, as the checks see it.
struct Own<'a> {
    paths: &'a Paths,
    manager_env: &'a [String],
    product: &'a Product,
    view: &'a UnitCheck,
    unit: String,
}

impl Own<'_> {
    /// `finding`, about this product and its unit.
    fn of_unit(&self, finding: Finding) -> Finding {
        finding.on(Some(&self.product.name), Some(&self.unit))
    }

    /// What a start needs that is gone: the next start fails, and systemd says not why.
    fn missing(&self) -> Option<Finding> {
        let missing = self.product.missing();
        (!missing.is_empty()).then(|| {
            self.of_unit(Finding::new(
                FindingId::StartNeedsMissing,
                Severity::Error,
                format!("{} cannot start: {}", self.unit, missing.join("; ")),
                missing.clone(),
                format!("put it back, or {}", self.product.enable_command()),
            ))
        })
    }

    /// The unit file: there, and what sessctl renders.
    fn file(&self) -> Result<Option<Finding>> {
        let (unit, product) = (&self.unit, self.product);
        let file = self.paths.unit_file(&product.name);
        let rendered = unit_file::render(self.paths, product)?;
        Ok(match store::read_optional(&file)? {
            None => Some(self.of_unit(Finding::new(
                FindingId::UnitMissing,
                Severity::Error,
                format!("{unit} has no unit file: the session cannot start"),
                vec![format!("{} does not exist", file.display())],
                product.enable_command(),
            ))),
            Some(disk) if disk != rendered => {
                let (n, on_disk, fresh) = first_difference(&disk, &rendered);
                Some(self.of_unit(Finding::new(
                FindingId::UnitDrift,
                    Severity::Warning,
                    format!("{unit} on disk differs from what sessctl renders: an edit may have changed how the session is launched or killed"),
                    vec![format!("{}:{n}: on disk {on_disk:?}, rendered {fresh:?}", file.display())],
                    product.enable_command(),
                )))
            }
            Some(_) => None,
        })
    }

    /// Drop-ins, which can change what sessctl rendered.
    fn drop_ins(&self) -> Option<Finding> {
        let (unit, drop_ins) = (&self.unit, &self.view.drop_in_paths);
        if drop_ins.is_empty() {
            return None;
        }
        let quoted: Vec<String> = drop_ins
            .iter()
            .map(|p| crate::product::shell_quote(p))
            .collect();
        Some(
            self.of_unit(Finding::new(
                FindingId::UnitDropin,
                Severity::Warning,
                format!("drop-ins override {unit}: they can change its KillMode, Type or ExecStart behind sessctl's back"),
                drop_ins.iter().map(|p| format!("{p}: drop-in")).collect(),
                format!("rm {} && systemctl --user daemon-reload", quoted.join(" ")),
            )),
        )
    }

    /// Enabled for login, and read by systemd since it last changed.
    fn file_state(&self) -> Vec<Finding> {
        let (unit, state) = (&self.unit, self.view);
        let mut found = Vec::new();
        if self.paths.unit_file(&self.product.name).exists()
            && state.unit_file_state != UnitFileState::Enabled
        {
            found.push(self.of_unit(Finding::new(
                FindingId::UnitNotEnabled,
                Severity::Warning,
                format!("{unit} is not enabled: the session does not start at login or boot"),
                vec![format!("UnitFileState={}", state.unit_file_state)],
                self.product.enable_command(),
            )));
        }
        if state.need_daemon_reload {
            found.push(self.of_unit(Finding::new(
                FindingId::UnitNeedsReload,
                Severity::Warning,
                format!("{unit} changed on disk since systemd read it: the next start uses a definition nobody reviewed"),
                vec!["NeedDaemonReload=yes".into()],
                "systemctl --user daemon-reload",
            )));
        }
        found
    }

    /// A unit that failed, or hit its start limit.
    fn failed(&self) -> Option<Finding> {
        let (unit, name) = (&self.unit, &self.product.name);
        let view = self.view;
        if view.active_state != ActiveState::Failed && view.sub_state != SubState::AutoRestart {
            return None;
        }
        let evidence = vec![format!(
            "ActiveState=failed, Result={}, ExecMainStatus={}, NRestarts={}",
            view.result, view.exec_main_status, view.n_restarts
        )];
        Some(if view.result == ServiceResult::StartLimitHit {
            self.of_unit(Finding::new(
                FindingId::UnitStartLimit,
                Severity::Error,
                format!("{unit} hit its start limit: systemd refuses to start it again until its failed state is cleared, which `sessctl start` does (`sessctl log {name}` shows why it kept dying)"),
                evidence,
                format!("sessctl start {name}"),
            ))
        } else {
            self.of_unit(Finding::new(
                FindingId::UnitFailed,
                Severity::Error,
                format!("{unit} failed ({}): there is no session; `sessctl log {name}` and the journal tell why", view.sub_state),
                evidence,
                format!("sessctl start {name}"),
            ))
        })
    }

    /// The agent's own retention, which deletes the pinned conversation.
    fn retention(&self) -> Result<Option<Finding>> {
        let profile = self.product.agent.profile();
        if !profile.pins() {
            return Ok(None);
        }
        let env = AgentEnv::of(&self.product.env, Some(self.manager_env));
        Ok(profile.retention_risk(&env)?.map(|risk| {
            self.of_unit(Finding::new(
                FindingId::Retention,
                Severity::Warning,
                format!(
                    "{}'s pinned conversation will be deleted by {}'s retention",
                    self.product.name, risk.client
                ),
                vec![format!("{}: {}", risk.settings.display(), risk.setting)],
                risk.fix,
            ))
        }))
    }

    /// New settings waiting for a restart of the live session.
    fn restart_pending(&self) -> Result<Option<Finding>> {
        let (unit, name, view) = (&self.unit, &self.product.name, self.view);
        if !view.active_state.is_running()
            || !unit_file::restart_pending(self.paths, name, &view.invocation_id)?
        {
            return Ok(None);
        }
        Ok(Some(self.of_unit(Finding::new(
                FindingId::RestartPending,
            Severity::Warning,
            format!("{unit} was changed under its live session: the new settings apply only after a restart, which ends the session; restart when the agent can be interrupted"),
            vec![format!("InvocationID={} predates the unit file", view.invocation_id)],
            format!("sessctl restart {name}"),
        ))))
    }
}

/// The first line (1-based) where `a` and `b` differ, with both versions.
fn first_difference(a: &str, b: &str) -> (usize, String, String) {
    let (mut la, mut lb) = (a.lines(), b.lines());
    let mut n = 1;
    loop {
        match (la.next(), lb.next()) {
            (Some(x), Some(y)) if x == y => n += 1,
            (x, y) => return (n, x.unwrap_or("").to_string(), y.unwrap_or("").to_string()),
        }
    }
}

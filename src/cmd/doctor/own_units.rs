//! Doctor's checks of sessctl's own unit for one product: the file, drop-ins, autostart,
//! failure, reload and a pending restart.

use anyhow::Result;

use super::{Finding, Severity};
use crate::agent;
use crate::paths::Paths;
use crate::product::Product;
use crate::store;
use crate::systemd::Systemd;
use crate::unit;

pub fn check(paths: &Paths, systemd: &Systemd, product: &Product) -> Result<Vec<Finding>> {
    let name = &product.name;
    let unit = unit::unit_name(name);
    let file = paths.unit_file(name);
    let finding = |id, severity, summary: String, evidence: Vec<String>, fix: String| Finding {
        id,
        severity,
        product: Some(name.clone()),
        unit: Some(unit.clone()),
        summary,
        evidence,
        fix,
    };
    let mut found = Vec::new();
    let rendered = super::super::render_unit(paths, product)?;
    match store::read_optional(&file)? {
        None => found.push(finding(
            "unit-missing",
            Severity::Error,
            format!("{unit} has no unit file: the session cannot start"),
            vec![format!("{} does not exist", file.display())],
            product.enable_command(),
        )),
        Some(disk) if disk != rendered => {
            let (n, on_disk, fresh) = first_difference(&disk, &rendered);
            found.push(finding(
                "unit-drift",
                Severity::Warning,
                format!("{unit} on disk differs from what sessctl renders: an edit may have changed how the session is launched or killed"),
                vec![format!("{}:{n}: on disk {on_disk:?}, rendered {fresh:?}", file.display())],
                product.enable_command(),
            ));
        }
        Some(_) => {}
    }
    let config = systemd.unit_config(&unit)?;
    if !config.drop_in_paths.is_empty() {
        found.push(finding(
            "unit-dropin",
            Severity::Warning,
            format!("drop-ins override {unit}: they can change its KillMode, Type or ExecStart behind sessctl's back"),
            config.drop_in_paths.iter().map(|p| format!("{p}: drop-in")).collect(),
            format!(
                "rm {} && systemctl --user daemon-reload",
                config.drop_in_paths.iter().map(|p| crate::product::shell_quote(p)).collect::<Vec<_>>().join(" ")
            ),
        ));
    }
    let file_state = systemd.unit_file(&unit)?;
    if file.exists() && file_state.unit_file_state != "enabled" {
        found.push(finding(
            "unit-not-enabled",
            Severity::Warning,
            format!("{unit} is not enabled: the session does not start at login or boot"),
            vec![format!("UnitFileState={}", file_state.unit_file_state)],
            product.enable_command(),
        ));
    }
    if file_state.need_daemon_reload {
        found.push(finding(
            "unit-needs-reload",
            Severity::Warning,
            format!("{unit} changed on disk since systemd read it: the next start uses a definition nobody reviewed"),
            vec!["NeedDaemonReload=yes".into()],
            "systemctl --user daemon-reload".into(),
        ));
    }
    let status = systemd.status(&unit)?;
    let details = systemd.details(&unit)?;
    if status.active_state == "failed" || details.sub_state == "auto-restart" {
        let evidence = vec![format!(
            "ActiveState=failed, Result={}, ExecMainStatus={}, NRestarts={}",
            details.result, details.exec_main_status, status.n_restarts
        )];
        if details.result == "start-limit-hit" {
            found.push(finding(
                "unit-start-limit",
                Severity::Error,
                format!("{unit} hit its start limit: systemd refuses to start it again until its failed state is cleared, which `sessctl start` does (`sessctl log {name}` shows why it kept dying)"),
                evidence,
                format!("sessctl start {name}"),
            ));
        } else {
            found.push(finding(
                "unit-failed",
                Severity::Error,
                format!("{unit} failed ({}): there is no session; `sessctl log {name}` and the journal tell why", details.sub_state),
                evidence,
                format!("sessctl start {name}"),
            ));
        }
    }
    if product.agent == agent::Agent::Claude {
        let env = agent::AgentEnv::of(product, Some(&systemd.environment()?));
        if let Some(risk) = agent::retention_risk(&env)? {
            found.push(finding(
                "retention",
                Severity::Warning,
                format!("{name}'s pinned conversation will be deleted by Claude Code's retention"),
                vec![format!("{}: cleanupPeriodDays={}", risk.settings.display(), risk.days.map_or("unset (30)".into(), |d| d.to_string()))],
                format!("set \"cleanupPeriodDays\": 99999 in {} (never 0: that stops transcripts being written)", risk.settings.display()),
            ));
        }
    }
    if status.is_running() && super::super::restart_pending(paths, name, &status.invocation_id)? {
        found.push(finding(
            "restart-pending",
            Severity::Warning,
            format!("{unit} was changed under its live session: the new settings apply only after a restart, which ends the session; restart when the agent can be interrupted"),
            vec![format!("InvocationID={} predates the unit file", status.invocation_id)],
            format!("sessctl restart {name}"),
        ));
    }
    Ok(found)
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

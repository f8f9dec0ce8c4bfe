//! The async core: one connection to the user manager, and every call sessctl makes on it.
//! A server drives it on its own runtime; the CLI through the blocking [`super::Systemd`].

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use futures_util::future::{try_join, try_join3, try_join5};
use futures_util::StreamExt;
use zbus::proxy::CacheProperties;
use zbus::{Connection, OwnedObjectPath};

use super::proxies::{
    ExecCommand, LoginProxy, LoginUserProxy, ManagerProxy, ServiceProxy, UnitProxy,
};
use super::{
    ActiveState, ExecLine, Transient, UnitCheck, UnitConfig, UnitDetails, UnitFile, UnitStatus,
    UnitView,
};
use crate::error::{Exit, NO_MANAGER};
use zbus::DBusError;

/// A connection to the user manager. `Sync`, and a clone shares the connection: one per
/// process, shared by every task.
#[derive(Clone)]
pub struct Core {
    conn: Connection,
    subscribed: Arc<AtomicBool>,
}

/// What a job asks of a unit.
#[derive(Clone, Copy)]
pub enum Job {
    Start,
    Stop,
    Restart,
}

impl Job {
    fn verb(self) -> &'static str {
        match self {
            Job::Start => "starting",
            Job::Stop => "stopping",
            Job::Restart => "restarting",
        }
    }
}

impl Core {
    /// Connects over the user bus `bus`, else `$XDG_RUNTIME_DIR/bus` of `runtime`.
    ///
    /// Only the bus: systemd's private socket (`$XDG_RUNTIME_DIR/systemd/private`) is no way in
    /// for zbus, which refuses every message systemd sends there because their sender field
    /// holds the well-known name `org.freedesktop.systemd1` where zbus accepts only a unique
    /// name.
    pub async fn open(bus: Option<String>, runtime: Option<PathBuf>) -> Result<Core> {
        let address = match bus {
            Some(address) => address,
            None => match runtime.map(|dir| dir.join("bus")) {
                Some(bus) if bus.exists() => format!("unix:path={}", bus.display()),
                Some(bus) => return Err(no_manager(format!("{} does not exist", bus.display()))),
                None => {
                    return Err(no_manager(
                        "neither $DBUS_SESSION_BUS_ADDRESS nor $XDG_RUNTIME_DIR is set".into(),
                    ))
                }
            },
        };
        let conn = zbus::connection::Builder::address(address.as_str())
            .build()
            .await
            .map_err(|err| no_manager(format!("the user bus {address}: {err}")))?;
        Ok(Core {
            conn,
            subscribed: Arc::new(AtomicBool::new(false)),
        })
    }

    async fn manager(&self) -> Result<ManagerProxy<'_>> {
        ManagerProxy::builder(&self.conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .context("creating the systemd manager proxy")
    }

    async fn unit(&self, unit: &str) -> Result<UnitProxy<'_>> {
        UnitProxy::builder(&self.conn)
            .path(unit_path(unit)?)
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .with_context(|| format!("creating the unit proxy for {unit}"))
    }

    async fn service(&self, unit: &str) -> Result<ServiceProxy<'_>> {
        ServiceProxy::builder(&self.conn)
            .path(unit_path(unit)?)
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .with_context(|| format!("creating the service proxy for {unit}"))
    }

    /// `Reload`: makes the manager read changed unit files.
    pub async fn reload(&self) -> Result<()> {
        let m = self.manager().await?;
        m.reload().await.context("reloading the user manager")
    }

    /// `Reexecute`: the manager re-executes itself, keeping its units running.
    pub async fn reexecute(&self) -> Result<()> {
        let m = self.manager().await?;
        m.reexecute().await.context("re-executing the user manager")
    }

    /// The manager's own environment (`KEY=VALUE`), which every unit inherits.
    pub async fn environment(&self) -> Result<Vec<String>> {
        let m = self.manager().await?;
        m.environment()
            .await
            .context("reading the user manager's environment")
    }

    /// `Exit`: asks the manager to stop every unit and exit.
    pub async fn exit_manager(&self) -> Result<()> {
        let m = self.manager().await?;
        m.exit().await.context("asking the user manager to exit")
    }

    /// `EnableUnitFiles` for autostart; returns whether the file has an [Install] section.
    pub async fn enable(&self, unit: &str) -> Result<bool> {
        let m = self.manager().await?;
        let (install_info, _) = m
            .enable_unit_files(&[unit], false, true)
            .await
            .with_context(|| format!("enabling {unit}"))?;
        Ok(install_info)
    }

    /// `DisableUnitFiles`.
    pub async fn disable(&self, unit: &str) -> Result<()> {
        let m = self.manager().await?;
        m.disable_unit_files(&[unit], false)
            .await
            .with_context(|| format!("disabling {unit}"))?;
        Ok(())
    }

    /// `ResetFailedUnit`: forgets a failed state and the start-limit count.
    pub async fn reset_failed(&self, unit: &str) -> Result<()> {
        let m = self.manager().await?;
        m.reset_failed_unit(unit)
            .await
            .with_context(|| format!("resetting the failed state of {unit}"))
    }

    /// `StartTransientUnit`: starts `spec`'s command without waiting for it.
    pub async fn run_transient(&self, spec: &Transient) -> Result<()> {
        use zbus::Variant as Value;
        let exec = |argv: &[String]| -> Value<'static> {
            let program = argv.first().cloned().unwrap_or_default();
            Value::from(vec![(program, argv.to_vec(), false)])
        };
        let properties = [
            ("Description", Value::from(spec.description.clone())),
            ("ExecStart", exec(&spec.argv)),
            ("ExecStopPost", exec(&spec.stop_post)),
            ("Environment", Value::from(spec.env.clone())),
            (
                "RuntimeMaxUSec",
                Value::from(spec.runtime_max.as_micros() as u64),
            ),
            // Gone once over, failed or not: its end is logged by its ExecStopPost.
            ("CollectMode", Value::from("inactive-or-failed")),
        ];
        let m = self.manager().await?;
        m.start_transient_unit(&spec.name, "fail", &properties, &[])
            .await
            .with_context(|| format!("starting {}", spec.name))?;
        Ok(())
    }

    /// `StartUnit` and waits for the job's result.
    pub async fn start(&self, unit: &str) -> Result<()> {
        self.run_job(unit, Job::Start).await
    }

    /// `StopUnit` and waits for the job's result.
    pub async fn stop(&self, unit: &str) -> Result<()> {
        self.run_job(unit, Job::Stop).await
    }

    /// `RestartUnit` and waits for the job's result.
    pub async fn restart(&self, unit: &str) -> Result<()> {
        self.run_job(unit, Job::Restart).await
    }

    async fn run_job(&self, unit: &str, job: Job) -> Result<()> {
        let verb = job.verb();
        let manager = self.manager().await?;
        // Listen before asking: a fast job can finish before the reply arrives, and a
        // JobRemoved sent before the match existed would be lost for good.
        let mut removed = manager
            .receive_job_removed()
            .await
            .context("listening for systemd's JobRemoved signals")?;
        // Without it the manager sends this client no JobRemoved at all; a second call on the
        // same connection is refused, hence the flag.
        if !self.subscribed.swap(true, Ordering::SeqCst) {
            if let Err(err) = manager.subscribe().await {
                self.subscribed.store(false, Ordering::SeqCst);
                return Err(err).context("subscribing to systemd's signals");
            }
        }
        let call = match job {
            Job::Start => manager.start_unit(unit, "replace").await,
            Job::Stop => manager.stop_unit(unit, "replace").await,
            Job::Restart => manager.restart_unit(unit, "replace").await,
        };
        let path = call.with_context(|| format!("{verb} {unit}"))?;
        let mut result = None;
        while let Some(signal) = removed.next().await {
            let args = signal.args().context("reading a JobRemoved signal")?;
            if args.job == path {
                result = Some(args.result);
                break;
            }
        }
        match result.as_deref() {
            Some("done") => Ok(()),
            Some(result) => {
                let details = self.details(unit).await?;
                Err(anyhow!(
                    "{verb} {unit} failed: job {result}, Result={}, ExecMainStatus={}",
                    details.result,
                    details.exec_main_status
                ))
            }
            None => Err(anyhow!(
                "the user manager closed the connection while {verb} {unit}"
            )),
        }
    }

    /// The unit's run state, read fresh: exactly what proves a session's identity, since every
    /// property is one more message for systemd on the hot path of a resume. Every `Get` is
    /// sent before the first reply is awaited, so the reading costs one round trip.
    pub async fn status(&self, unit: &str) -> Result<UnitStatus> {
        let (u, s) = try_join(self.unit(unit), self.service(unit)).await?;
        let ((active, invocation), (main_pid, started, restarts)) = try_join(
            try_join(u.active_state(), u.invocation_id()),
            try_join3(s.main_pid(), s.exec_main_start_timestamp(), s.n_restarts()),
        )
        .await
        .with_context(|| format!("reading the state of {unit}"))?;
        Ok(UnitStatus {
            unit: unit.to_string(),
            active_state: active.parse()?,
            invocation_id: hex(&invocation),
            main_pid,
            exec_main_start_timestamp: started,
            n_restarts: restarts,
        })
    }

    /// What a report shows of each unit: its run state, how it runs and whether its file
    /// changed. Every unit's messages are sent before the first reply is awaited, so `list` of
    /// 200 products costs the manager's work on them and not 200 round trips in a row.
    pub async fn views(&self, units: &[String]) -> Result<Vec<UnitView>> {
        futures_util::future::try_join_all(units.iter().map(|unit| async move {
            let (u, s) = try_join(self.unit(unit), self.service(unit)).await?;
            let (status, (sub_state, need_daemon_reload, (control_group, result))) =
                try_join(self.status(unit), async {
                    let service = try_join(s.control_group(), s.result());
                    try_join3(u.sub_state(), u.need_daemon_reload(), service)
                        .await
                        .with_context(|| format!("reading how {unit} runs"))
                })
                .await?;
            Ok(UnitView {
                status,
                sub_state: sub_state.into(),
                control_group,
                need_daemon_reload,
                result: result.into(),
            })
        }))
        .await
    }

    /// What doctor judges of each unit, in one pipelined batch as [`Core::views`] reads:
    /// doctor of 200 products once made 200 times six round trips in a row.
    pub async fn checks(&self, units: &[String]) -> Result<Vec<UnitCheck>> {
        use futures_util::future::try_join4;
        futures_util::future::try_join_all(units.iter().map(|unit| async move {
            let (u, s) = try_join(self.unit(unit), self.service(unit)).await?;
            let (run, (result, exec_main_status, n_restarts), file, (high, max)) = try_join4(
                try_join3(u.active_state(), u.sub_state(), u.invocation_id()),
                try_join3(s.result(), s.exec_main_status(), s.n_restarts()),
                try_join3(
                    u.unit_file_state(),
                    u.need_daemon_reload(),
                    u.drop_in_paths(),
                ),
                try_join(s.memory_high(), s.memory_max()),
            )
            .await
            .with_context(|| format!("reading {unit} for doctor"))?;
            let (active, sub_state, invocation) = run;
            let (unit_file_state, need_daemon_reload, drop_in_paths) = file;
            Ok(UnitCheck {
                active_state: active.parse()?,
                sub_state: sub_state.into(),
                invocation_id: hex(&invocation),
                n_restarts,
                result: result.into(),
                exec_main_status,
                unit_file_state: unit_file_state.into(),
                need_daemon_reload,
                drop_in_paths,
                memory_limited: high != u64::MAX || max != u64::MAX,
            })
        }))
        .await
    }

    /// The `ActiveState` of any unit, a socket as well as a service.
    pub async fn active_state(&self, unit: &str) -> Result<ActiveState> {
        let u = self.unit(unit).await?;
        u.active_state()
            .await
            .with_context(|| format!("reading the state of {unit}"))?
            .parse()
    }

    /// Whether a job (a stop or a restart someone asked for, the manager's own shutdown) is
    /// under way for the unit: what tells a requested end from one that just happened.
    pub async fn job_pending(&self, unit: &str) -> Result<bool> {
        let u = self.unit(unit).await?;
        let (id, _) = u
            .job()
            .await
            .with_context(|| format!("reading the job of {unit}"))?;
        Ok(id != 0)
    }

    /// The rest of what systemd says about the unit's run: for reports and explanations.
    pub async fn details(&self, unit: &str) -> Result<UnitDetails> {
        let (u, s) = try_join(self.unit(unit), self.service(unit)).await?;
        let (sub_state, control_group, result, exec_main_status) = futures_util::future::try_join4(
            u.sub_state(),
            s.control_group(),
            s.result(),
            s.exec_main_status(),
        )
        .await
        .with_context(|| format!("reading how {unit} runs"))?;
        Ok(UnitDetails {
            sub_state: sub_state.into(),
            control_group,
            result: result.into(),
            exec_main_status,
        })
    }

    /// What systemd knows of the unit's file: whether it is loaded, enabled, and current.
    pub async fn unit_file(&self, unit: &str) -> Result<UnitFile> {
        let u = self.unit(unit).await?;
        let (load_state, unit_file_state, need_daemon_reload) =
            try_join3(u.load_state(), u.unit_file_state(), u.need_daemon_reload())
                .await
                .with_context(|| format!("reading the unit file state of {unit}"))?;
        Ok(UnitFile {
            load_state: load_state.into(),
            unit_file_state: unit_file_state.into(),
            need_daemon_reload,
        })
    }

    /// The `ExecStart=` lines and `WorkingDirectory=` systemd parsed from the unit.
    pub async fn exec_start(&self, unit: &str) -> Result<(Vec<ExecLine>, String)> {
        let s = self.service(unit).await?;
        let (lines, dir) = try_join(s.exec_start(), s.working_directory())
            .await
            .with_context(|| format!("reading ExecStart of {unit}"))?;
        Ok((lines.into_iter().map(exec_line).collect(), dir))
    }

    /// How `unit` is configured; loads it if needed.
    pub async fn unit_config(&self, unit: &str) -> Result<UnitConfig> {
        let (u, s) = try_join(self.unit(unit), self.service(unit)).await?;
        // Every Get is sent before the first reply is awaited: one round trip.
        let ((fragment_path, drop_in_paths, transient), service, (pre, start, post)) = try_join3(
            try_join3(u.fragment_path(), u.drop_in_paths(), u.transient()),
            try_join5(
                s.type_(),
                s.kill_mode(),
                s.remain_after_exit(),
                s.memory_high(),
                s.memory_max(),
            ),
            try_join3(s.exec_start_pre(), s.exec_start(), s.exec_start_post()),
        )
        .await
        .with_context(|| format!("reading how {unit} is configured"))?;
        let (service_type, kill_mode, remain_after_exit, high, max) = service;
        Ok(UnitConfig {
            id: unit.to_string(),
            fragment_path,
            drop_in_paths,
            transient,
            service_type,
            kill_mode,
            remain_after_exit,
            exec: pre
                .into_iter()
                .chain(start)
                .chain(post)
                .map(exec_line)
                .collect(),
            memory_limited: high != u64::MAX || max != u64::MAX,
        })
    }

    /// [`Core::unit_config`] of every unit in `units`, in one pipelined batch: doctor reads
    /// every service of the user's, and each read in turn made it wait a round trip apiece.
    pub async fn unit_configs(&self, units: &[String]) -> Result<Vec<UnitConfig>> {
        futures_util::future::try_join_all(units.iter().map(|unit| self.unit_config(unit))).await
    }

    /// The names of every loaded unit, transient ones included (`ListUnits`).
    pub async fn loaded_units(&self) -> Result<Vec<String>> {
        let m = self.manager().await?;
        let units = m.list_units().await.context("listing units")?;
        Ok(units.into_iter().map(|u| u.0).collect())
    }

    /// The directories the manager loads unit files from, first first (`UnitPath`). Listing
    /// them costs a directory read each; `ListUnitFiles` makes the manager judge every file's
    /// enablement too, which took 230 ms with 200 products.
    pub async fn unit_path(&self) -> Result<Vec<String>> {
        let m = self.manager().await?;
        m.unit_path()
            .await
            .context("reading the manager's unit search path")
    }

    /// The user manager's own cgroup.
    pub async fn manager_cgroup(&self) -> Result<String> {
        let m = self.manager().await?;
        m.control_group()
            .await
            .context("reading the manager's cgroup")
    }

    /// The unit a process belongs to (`GetUnitByPID`); `None` for a process outside every
    /// unit of this manager (or gone since), which systemd answers with an error that is the
    /// answer. Any other error is one.
    pub async fn unit_of_pid(&self, pid: u32) -> Result<Option<String>> {
        const OUTSIDE: [&str; 2] = [
            "org.freedesktop.systemd1.NoUnitForPID",
            "org.freedesktop.DBus.Error.UnixProcessIdUnknown",
        ];
        let m = self.manager().await?;
        let path = match m.get_unit_by_pid(pid).await {
            Ok(path) => path,
            Err(zbus::Error::MethodError(name, _, _)) if OUTSIDE.contains(&name.as_str()) => {
                return Ok(None)
            }
            Err(err) => {
                return Err(err).with_context(|| format!("looking up the unit of PID {pid}"))
            }
        };
        let unit = UnitProxy::builder(&self.conn)
            .path(path)
            .cache_properties(CacheProperties::No)
            .build()
            .await?;
        let id = unit
            .id()
            .await
            .with_context(|| format!("reading the unit name of PID {pid}"))?;
        Ok(Some(id))
    }
}

/// Whether logind keeps `uid`'s manager running without a login (linger), asked over the
/// system bus; `None` where no logind answers there (containers, machines without systemd).
pub async fn logind_linger(uid: u32) -> Option<bool> {
    let conn = Connection::system().await.ok()?;
    let login = LoginProxy::new(&conn).await.ok()?;
    match login.get_user(uid).await {
        Ok(path) => {
            let user = LoginUserProxy::builder(&conn)
                .path(path)
                .build()
                .await
                .ok()?;
            user.linger().await.ok()
        }
        // logind knows every lingering user, so a user it does not know does not linger.
        Err(zbus::Error::MethodError(name, _, _))
            if name.as_str() == "org.freedesktop.login1.NoSuchUser" =>
        {
            Some(false)
        }
        Err(_) => None,
    }
}

/// The unit's object path, computed as systemd computes it (`bus_label_escape` of the name
/// under `/org/freedesktop/systemd1/unit/`). Any access through that path makes systemd load
/// the unit, as `LoadUnit` would, without the extra round trip.
fn unit_path(unit: &str) -> Result<OwnedObjectPath> {
    let mut path = String::from("/org/freedesktop/systemd1/unit/");
    for byte in unit.bytes() {
        if byte.is_ascii_alphanumeric() {
            path.push(byte as char);
        } else {
            path.push_str(&format!("_{byte:02x}"));
        }
    }
    OwnedObjectPath::try_from(path).with_context(|| format!("the object path of {unit}"))
}

/// An InvocationID's 16 bytes as systemd prints them.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn exec_line(line: ExecCommand) -> ExecLine {
    ExecLine {
        path: line.0,
        argv: line.1,
    }
}

/// Whether `err` says the manager is not on the bus: the bus answered for it, either that it
/// left without replying or that nobody owns its name.
pub(super) fn manager_away(err: &anyhow::Error) -> bool {
    const AWAY: [&str; 3] = [
        "org.freedesktop.DBus.Error.NoReply",
        "org.freedesktop.DBus.Error.ServiceUnknown",
        "org.freedesktop.DBus.Error.NameHasNoOwner",
    ];
    err.chain().any(|cause| {
        let name = match cause.downcast_ref::<zbus::Error>() {
            Some(zbus::Error::MethodError(name, _, _)) => Some(name.as_str().to_string()),
            Some(zbus::Error::FDO(fdo)) => Some(fdo.name().to_string()),
            _ => cause
                .downcast_ref::<zbus::fdo::Error>()
                .map(|fdo| fdo.name().to_string()),
        };
        name.is_some_and(|name| AWAY.contains(&name.as_str()))
    })
}

pub(super) fn no_manager(why: String) -> anyhow::Error {
    Exit {
        code: NO_MANAGER,
        message: format!(
            "cannot reach the systemd user manager ({why}); is `systemd --user` running with dbus-user-session installed? After su or sudo, export XDG_RUNTIME_DIR=/run/user/$(id -u)"
        ),
    }
    .into()
}

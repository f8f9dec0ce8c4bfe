//! sessctl's one transport to systemd: the `org.freedesktop.systemd1` D-Bus API of the user
//! manager (org.freedesktop.systemd1(5)). The only module that imports zbus; zbus 6 is
//! async-only, so every public method blocks on its own future here and callers stay
//! synchronous.

use std::cell::Cell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use futures_util::StreamExt;
use serde::Serialize;
use zbus::proxy::CacheProperties;
use zbus::{block_on, proxy, Connection, OwnedObjectPath};

use crate::error::{Exit, NO_MANAGER};

#[proxy(
    interface = "org.freedesktop.systemd1.Manager",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1"
)]
trait Manager {
    fn subscribe(&self) -> zbus::Result<()>;
    fn reload(&self) -> zbus::Result<()>;
    fn reexecute(&self) -> zbus::Result<()>;
    fn exit(&self) -> zbus::Result<()>;
    #[zbus(name = "GetUnitByPID")]
    fn get_unit_by_pid(&self, pid: u32) -> zbus::Result<OwnedObjectPath>;
    fn start_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    fn stop_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    fn restart_unit(&self, name: &str, mode: &str) -> zbus::Result<OwnedObjectPath>;
    fn reset_failed_unit(&self, name: &str) -> zbus::Result<()>;
    fn list_units(
        &self,
    ) -> zbus::Result<
        Vec<(
            String,
            String,
            String,
            String,
            String,
            String,
            OwnedObjectPath,
            u32,
            String,
            OwnedObjectPath,
        )>,
    >;
    fn list_unit_files(&self) -> zbus::Result<Vec<(String, String)>>;
    #[zbus(property)]
    fn control_group(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn environment(&self) -> zbus::Result<Vec<String>>;
    fn enable_unit_files(
        &self,
        files: &[&str],
        runtime: bool,
        force: bool,
    ) -> zbus::Result<(bool, Vec<(String, String, String)>)>;
    fn disable_unit_files(
        &self,
        files: &[&str],
        runtime: bool,
    ) -> zbus::Result<Vec<(String, String, String)>>;
    #[zbus(signal)]
    fn job_removed(
        &self,
        id: u32,
        job: OwnedObjectPath,
        unit: String,
        result: String,
    ) -> zbus::Result<()>;
}

#[proxy(
    interface = "org.freedesktop.systemd1.Unit",
    default_service = "org.freedesktop.systemd1"
)]
trait Unit {
    #[zbus(property)]
    fn id(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn fragment_path(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn drop_in_paths(&self) -> zbus::Result<Vec<String>>;
    #[zbus(property)]
    fn transient(&self) -> zbus::Result<bool>;
}

#[proxy(
    interface = "org.freedesktop.login1.Manager",
    default_service = "org.freedesktop.login1",
    default_path = "/org/freedesktop/login1"
)]
trait Login {
    fn get_user(&self, uid: u32) -> zbus::Result<OwnedObjectPath>;
}

#[proxy(
    interface = "org.freedesktop.login1.User",
    default_service = "org.freedesktop.login1"
)]
trait LoginUser {
    #[zbus(property)]
    fn linger(&self) -> zbus::Result<bool>;
}

/// One command line as systemd reports it: path, argv, ignore-failure, then timestamps, pid
/// and status of its last run.
type ExecCommand = (String, Vec<String>, bool, u64, u64, u64, u64, u32, i32, i32);

#[proxy(
    interface = "org.freedesktop.systemd1.Service",
    default_service = "org.freedesktop.systemd1"
)]
trait Service {
    #[zbus(property)]
    fn exec_start(&self) -> zbus::Result<Vec<ExecCommand>>;
    #[zbus(property)]
    fn exec_start_pre(&self) -> zbus::Result<Vec<ExecCommand>>;
    #[zbus(property)]
    fn exec_start_post(&self) -> zbus::Result<Vec<ExecCommand>>;
    #[zbus(property, name = "Type")]
    fn type_(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn kill_mode(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn remain_after_exit(&self) -> zbus::Result<bool>;
    #[zbus(property)]
    fn memory_high(&self) -> zbus::Result<u64>;
    #[zbus(property)]
    fn memory_max(&self) -> zbus::Result<u64>;
    #[zbus(property)]
    fn working_directory(&self) -> zbus::Result<String>;
}

const UNIT: &str = "org.freedesktop.systemd1.Unit";
const SERVICE: &str = "org.freedesktop.systemd1.Service";

/// What systemd reports about one service unit's run state.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UnitStatus {
    pub unit: String,
    pub active_state: String,
    /// Hex; empty when the unit never ran.
    pub invocation_id: String,
    pub main_pid: u32,
    /// CLOCK_REALTIME microseconds; 0 when it never ran.
    pub exec_main_start_timestamp: u64,
    pub n_restarts: u32,
}

/// How a service unit runs, or how it last ended.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UnitDetails {
    pub sub_state: String,
    pub control_group: String,
    pub result: String,
    pub exec_main_status: i32,
}

/// What systemd knows of a unit's file.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UnitFile {
    /// "loaded", or "not-found" once the file is gone.
    pub load_state: String,
    /// "enabled", "disabled", ...
    pub unit_file_state: String,
    /// The file changed since systemd read it.
    pub need_daemon_reload: bool,
}

impl UnitStatus {
    /// Whether the unit is up or on its way up.
    pub fn is_running(&self) -> bool {
        matches!(
            self.active_state.as_str(),
            "active" | "activating" | "reloading"
        )
    }
}

/// How a service unit is configured, as systemd parsed it (drop-ins included): what doctor
/// needs to judge whether it can kill a session.
#[derive(Debug, Clone)]
pub struct UnitConfig {
    pub id: String,
    /// Empty for a unit with no file (transient units have one under the runtime directory).
    pub fragment_path: String,
    pub drop_in_paths: Vec<String>,
    pub transient: bool,
    pub service_type: String,
    pub kill_mode: String,
    pub remain_after_exit: bool,
    /// `ExecStartPre=`, `ExecStart=` and `ExecStartPost=`, in that order.
    pub exec: Vec<ExecLine>,
    /// Whether MemoryHigh= or MemoryMax= sets a limit.
    pub memory_limited: bool,
}

/// A command line of a loaded unit, as systemd parsed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecLine {
    pub path: String,
    pub argv: Vec<String>,
}

/// A connection to the user manager.
pub struct Systemd {
    conn: Connection,
    subscribed: Cell<bool>,
}

impl Systemd {
    /// Connects to the user manager over the user bus: `$DBUS_SESSION_BUS_ADDRESS`, else
    /// `$XDG_RUNTIME_DIR/bus`.
    pub fn connect() -> Result<Systemd> {
        let runtime = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
        let bus = std::env::var("DBUS_SESSION_BUS_ADDRESS")
            .ok()
            .filter(|a| !a.is_empty());
        Systemd::open(bus, runtime)
    }

    /// Connects to the manager whose `$XDG_RUNTIME_DIR` is `runtime_dir`.
    pub fn connect_at(runtime_dir: &Path) -> Result<Systemd> {
        Systemd::open(None, Some(runtime_dir.to_path_buf()))
    }

    fn open(bus: Option<String>, runtime: Option<PathBuf>) -> Result<Systemd> {
        block_on(async {
            let conn = open(bus, runtime).await?;
            Ok(Systemd {
                conn,
                subscribed: Cell::new(false),
            })
        })
    }

    async fn manager(&self) -> Result<ManagerProxy<'_>> {
        ManagerProxy::builder(&self.conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .context("creating the systemd manager proxy")
    }

    /// The unit's object path, computed as systemd computes it (`bus_label_escape` of the name
    /// under `/org/freedesktop/systemd1/unit/`). Any access through that path makes systemd
    /// load the unit, as `LoadUnit` would, without the extra round trip.
    fn unit_path(&self, unit: &str) -> Result<OwnedObjectPath> {
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

    async fn service_proxy(&self, unit: &str) -> Result<ServiceProxy<'_>> {
        let path = self.unit_path(unit)?;
        ServiceProxy::builder(&self.conn)
            .path(path)
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .with_context(|| format!("creating the service proxy for {unit}"))
    }

    /// `Reload`: makes the manager read changed unit files.
    pub fn reload(&self) -> Result<()> {
        block_on(async {
            self.manager()
                .await?
                .reload()
                .await
                .context("reloading the user manager")
        })
    }

    /// `Reexecute`: the manager re-executes itself, keeping its units running.
    pub fn reexecute(&self) -> Result<()> {
        block_on(async {
            self.manager()
                .await?
                .reexecute()
                .await
                .context("re-executing the user manager")
        })
    }

    /// The manager's own environment (`KEY=VALUE`), which every unit inherits.
    pub fn environment(&self) -> Result<Vec<String>> {
        block_on(async {
            self.manager()
                .await?
                .environment()
                .await
                .context("reading the user manager's environment")
        })
    }

    /// `Exit`: asks the manager to stop every unit and exit.
    pub fn exit_manager(&self) -> Result<()> {
        block_on(async {
            self.manager()
                .await?
                .exit()
                .await
                .context("asking the user manager to exit")
        })
    }

    /// `EnableUnitFiles` for autostart; returns whether the file has an [Install] section.
    pub fn enable(&self, unit: &str) -> Result<bool> {
        block_on(async {
            let (install_info, _) = self
                .manager()
                .await?
                .enable_unit_files(&[unit], false, true)
                .await
                .with_context(|| format!("enabling {unit}"))?;
            Ok(install_info)
        })
    }

    pub fn disable(&self, unit: &str) -> Result<()> {
        block_on(async {
            self.manager()
                .await?
                .disable_unit_files(&[unit], false)
                .await
                .with_context(|| format!("disabling {unit}"))?;
            Ok(())
        })
    }

    pub fn reset_failed(&self, unit: &str) -> Result<()> {
        block_on(async {
            self.manager()
                .await?
                .reset_failed_unit(unit)
                .await
                .with_context(|| format!("resetting the failed state of {unit}"))
        })
    }

    /// `StartUnit` and waits for the job's result.
    pub fn start(&self, unit: &str) -> Result<()> {
        self.run_job(unit, Job::Start)
    }

    /// `StopUnit` and waits for the job's result.
    pub fn stop(&self, unit: &str) -> Result<()> {
        self.run_job(unit, Job::Stop)
    }

    /// `RestartUnit` and waits for the job's result.
    pub fn restart(&self, unit: &str) -> Result<()> {
        self.run_job(unit, Job::Restart)
    }

    fn run_job(&self, unit: &str, job: Job) -> Result<()> {
        let verb = job.verb();
        let result = block_on(async {
            let manager = self.manager().await?;
            // Listen before asking: a fast job can finish before the reply arrives, and a
            // JobRemoved sent before the match existed would be lost for good.
            let mut removed = manager
                .receive_job_removed()
                .await
                .context("listening for systemd's JobRemoved signals")?;
            // Without it the manager sends this client no JobRemoved at all; a second call on
            // the same connection is refused, hence the flag.
            if !self.subscribed.get() {
                manager
                    .subscribe()
                    .await
                    .context("subscribing to systemd's signals")?;
                self.subscribed.set(true);
            }
            let call = match job {
                Job::Start => manager.start_unit(unit, "replace").await,
                Job::Stop => manager.stop_unit(unit, "replace").await,
                Job::Restart => manager.restart_unit(unit, "replace").await,
            };
            let path = call.with_context(|| format!("{verb} {unit}"))?;
            while let Some(signal) = removed.next().await {
                let args = signal.args().context("reading a JobRemoved signal")?;
                if args.job == path {
                    return Ok(args.result);
                }
            }
            Err(anyhow!(
                "the user manager closed the connection while {verb} {unit}"
            ))
        })?;
        if result == "done" {
            return Ok(());
        }
        let details = self.details(unit)?;
        Err(anyhow!(
            "{verb} {unit} failed: job {result}, Result={}, ExecMainStatus={}",
            details.result,
            details.exec_main_status
        ))
    }

    /// The unit's run state, read fresh: exactly what proves a session's identity, since
    /// every property is one more message for systemd on the hot path of a resume.
    pub fn status(&self, unit: &str) -> Result<UnitStatus> {
        let p = self.properties(
            unit,
            &[
                (UNIT, "ActiveState"),
                (UNIT, "InvocationID"),
                (SERVICE, "MainPID"),
                (SERVICE, "ExecMainStartTimestamp"),
                (SERVICE, "NRestarts"),
            ],
        )?;
        let invocation: Vec<u8> = p.get("InvocationID")?;
        Ok(UnitStatus {
            unit: unit.to_string(),
            active_state: p.get("ActiveState")?,
            invocation_id: invocation.iter().map(|b| format!("{b:02x}")).collect(),
            main_pid: p.get("MainPID")?,
            exec_main_start_timestamp: p.get("ExecMainStartTimestamp")?,
            n_restarts: p.get("NRestarts")?,
        })
    }

    /// Whether a job (a stop or a restart someone asked for, the manager's own shutdown) is
    /// under way for the unit: what tells a requested end from one that just happened.
    pub fn job_pending(&self, unit: &str) -> Result<bool> {
        let p = self.properties(unit, &[(UNIT, "Job")])?;
        let (id, _): (u32, OwnedObjectPath) = p.get("Job")?;
        Ok(id != 0)
    }

    /// The rest of what systemd says about the unit's run: for reports and explanations.
    pub fn details(&self, unit: &str) -> Result<UnitDetails> {
        let p = self.properties(
            unit,
            &[
                (UNIT, "SubState"),
                (SERVICE, "ControlGroup"),
                (SERVICE, "Result"),
                (SERVICE, "ExecMainStatus"),
            ],
        )?;
        Ok(UnitDetails {
            sub_state: p.get("SubState")?,
            control_group: p.get("ControlGroup")?,
            result: p.get("Result")?,
            exec_main_status: p.get("ExecMainStatus")?,
        })
    }

    /// What systemd knows of the unit's file: whether it is loaded, enabled, and current.
    pub fn unit_file(&self, unit: &str) -> Result<UnitFile> {
        let p = self.properties(
            unit,
            &[
                (UNIT, "LoadState"),
                (UNIT, "UnitFileState"),
                (UNIT, "NeedDaemonReload"),
            ],
        )?;
        Ok(UnitFile {
            load_state: p.get("LoadState")?,
            unit_file_state: p.get("UnitFileState")?,
            need_daemon_reload: p.get("NeedDaemonReload")?,
        })
    }

    /// Reads `wanted` properties of `unit`, every `Get` sent before the first reply is awaited,
    /// so the whole reading costs one round trip.
    fn properties<'a>(
        &self,
        unit: &'a str,
        wanted: &[(&'static str, &'static str)],
    ) -> Result<Props<'a>> {
        block_on(async {
            let path = self.unit_path(unit)?;
            let props = zbus::fdo::PropertiesProxy::builder(&self.conn)
                .destination("org.freedesktop.systemd1")
                .path(path)
                .cache_properties(CacheProperties::No)
                .build()
                .await
                .with_context(|| format!("creating the properties proxy for {unit}"))?;
            let values = futures_util::future::try_join_all(wanted.iter().map(|&(iface, name)| {
                let props = &props;
                async move {
                    let iface = zbus::names::InterfaceName::from_static_str(iface)?;
                    let value = props
                        .get(iface, name)
                        .await
                        .with_context(|| format!("reading {name} of {unit}"))?;
                    anyhow::Ok((name.to_string(), value))
                }
            }))
            .await?;
            Ok(Props {
                unit,
                map: values.into_iter().collect(),
            })
        })
    }

    /// The `ExecStart=` lines and `WorkingDirectory=` systemd parsed from the unit.
    pub fn exec_start(&self, unit: &str) -> Result<(Vec<ExecLine>, String)> {
        block_on(async {
            let s = self.service_proxy(unit).await?;
            let ctx = || format!("reading ExecStart of {unit}");
            let lines = s.exec_start().await.with_context(ctx)?;
            let dir = s.working_directory().await.with_context(ctx)?;
            let lines = lines
                .into_iter()
                .map(|l| ExecLine {
                    path: l.0,
                    argv: l.1,
                })
                .collect();
            Ok((lines, dir))
        })
    }

    /// The unit's last `lines` lines in the user journal, when this machine runs journald;
    /// empty without one (a container, the private test manager). journald has no D-Bus API for
    /// reading, so this is the one place that runs `journalctl`.
    pub fn journal_tail(&self, unit: &str, lines: usize) -> Result<Vec<String>> {
        if !Path::new("/run/systemd/journal/socket").exists() {
            return Ok(Vec::new());
        }
        let out = std::process::Command::new("journalctl")
            .args([
                "--user",
                "--unit",
                unit,
                "--output",
                "cat",
                "--no-pager",
                "--quiet",
            ])
            .arg(format!("--lines={lines}"))
            .output()
            .context("running journalctl")?;
        if !out.status.success() {
            bail!("journalctl {}", out.status);
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect())
    }

    /// How `unit` is configured; loads it if needed.
    pub fn unit_config(&self, unit: &str) -> Result<UnitConfig> {
        block_on(async {
            let path = self.unit_path(unit)?;
            let u = UnitProxy::builder(&self.conn)
                .path(path.clone())
                .cache_properties(CacheProperties::No)
                .build()
                .await?;
            let s = ServiceProxy::builder(&self.conn)
                .path(path)
                .cache_properties(CacheProperties::No)
                .build()
                .await?;
            let (fragment_path, drop_in_paths, transient) = futures_util::future::try_join3(
                u.fragment_path(),
                u.drop_in_paths(),
                u.transient(),
            )
            .await
            .with_context(|| format!("reading the unit properties of {unit}"))?;
            let (service_type, kill_mode, remain_after_exit, high, max) =
                futures_util::future::try_join5(
                    s.type_(),
                    s.kill_mode(),
                    s.remain_after_exit(),
                    s.memory_high(),
                    s.memory_max(),
                )
                .await
                .with_context(|| format!("reading the service properties of {unit}"))?;
            let (pre, start, post) = futures_util::future::try_join3(
                s.exec_start_pre(),
                s.exec_start(),
                s.exec_start_post(),
            )
            .await
            .with_context(|| format!("reading the command lines of {unit}"))?;
            let exec = pre
                .into_iter()
                .chain(start)
                .chain(post)
                .map(|l| ExecLine {
                    path: l.0,
                    argv: l.1,
                })
                .collect();
            Ok(UnitConfig {
                id: unit.to_string(),
                fragment_path,
                drop_in_paths,
                transient,
                service_type,
                kill_mode,
                remain_after_exit,
                exec,
                memory_limited: high != u64::MAX || max != u64::MAX,
            })
        })
    }

    /// The names of every loaded unit, transient ones included (`ListUnits`).
    pub fn loaded_units(&self) -> Result<Vec<String>> {
        block_on(async {
            let units = self
                .manager()
                .await?
                .list_units()
                .await
                .context("listing units")?;
            Ok(units.into_iter().map(|u| u.0).collect())
        })
    }

    /// The paths of every unit file in the manager's search path (`ListUnitFiles`).
    pub fn unit_files(&self) -> Result<Vec<String>> {
        block_on(async {
            let files = self
                .manager()
                .await?
                .list_unit_files()
                .await
                .context("listing unit files")?;
            Ok(files.into_iter().map(|f| f.0).collect())
        })
    }

    /// The user manager's own cgroup.
    pub fn manager_cgroup(&self) -> Result<String> {
        block_on(async {
            self.manager()
                .await?
                .control_group()
                .await
                .context("reading the manager's cgroup")
        })
    }

    /// The unit a process belongs to (`GetUnitByPID`).
    pub fn unit_of_pid(&self, pid: u32) -> Result<String> {
        block_on(async {
            let path = self
                .manager()
                .await?
                .get_unit_by_pid(pid)
                .await
                .with_context(|| format!("looking up the unit of PID {pid}"))?;
            let unit = UnitProxy::builder(&self.conn)
                .path(path)
                .cache_properties(CacheProperties::No)
                .build()
                .await?;
            unit.id()
                .await
                .with_context(|| format!("reading the unit name of PID {pid}"))
        })
    }
}

/// The properties of one interface of one unit, from `GetAll`.
struct Props<'a> {
    unit: &'a str,
    map: HashMap<String, zbus::OwnedVariant>,
}

impl Props<'_> {
    fn get<T: TryFrom<zbus::OwnedVariant, Error = zbus::Error>>(&self, name: &str) -> Result<T> {
        let value = self
            .map
            .get(name)
            .with_context(|| format!("systemd reported no {name} for {}", self.unit))?;
        let value = value
            .try_clone()
            .with_context(|| format!("copying {name} of {}", self.unit))?;
        T::try_from(value).with_context(|| format!("reading {name} of {}", self.unit))
    }
}

enum Job {
    Start,
    Stop,
    Restart,
}

impl Job {
    fn verb(&self) -> &'static str {
        match self {
            Job::Start => "starting",
            Job::Stop => "stopping",
            Job::Restart => "restarting",
        }
    }
}

/// Whether logind keeps `uid`'s manager running without a login (linger), asked over the
/// system bus; `None` where no logind answers there (containers, machines without systemd).
pub fn logind_linger(uid: u32) -> Option<bool> {
    block_on(async {
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
    })
}

/// Only the bus: systemd's private socket (`$XDG_RUNTIME_DIR/systemd/private`) is no way in
/// for zbus, which refuses every message systemd sends there because their sender field holds
/// the well-known name `org.freedesktop.systemd1` where zbus accepts only a unique name.
async fn open(bus: Option<String>, runtime: Option<PathBuf>) -> Result<Connection> {
    let address = match bus {
        Some(address) => address,
        None => match runtime.map(|dir| dir.join("bus")) {
            Some(bus) if bus.exists() => format!("unix:path={}", bus.display()),
            Some(bus) => return Err(no_manager(format!("{} does not exist", bus.display()))),
            None => {
                return Err(no_manager(
                    "neither $DBUS_SESSION_BUS_ADDRESS nor $XDG_RUNTIME_DIR is set".to_string(),
                ))
            }
        },
    };
    zbus::connection::Builder::address(address.as_str())
        .build()
        .await
        .map_err(|err| no_manager(format!("the user bus {address}: {err}")))
}

fn no_manager(why: String) -> anyhow::Error {
    Exit {
        code: NO_MANAGER,
        message: format!(
            "cannot reach the systemd user manager ({why}); is `systemd --user` running with dbus-user-session installed? After su or sudo, export XDG_RUNTIME_DIR=/run/user/$(id -u)"
        ),
    }
    .into()
}

//! The adapter for systemd: the `org.freedesktop.systemd1` D-Bus API of the user manager
//! (org.freedesktop.systemd1(5)). The only module that imports zbus.
//!
//! zbus 6 is async, here on tokio. [`Core`] holds the one connection and does every call as
//! an `async fn`, so the server awaits it on its own runtime; [`Systemd`] is the blocking face
//! of the same core for the CLI and for the server's blocking pool, and [`block_on`] is the
//! one place that blocks on a future. The unit-state words systemd answers with are parsed
//! where they are read, into the enums of `states` (and `identity`'s `ActiveState`).
//!
//! May import: `error`, `identity` (the `ActiveState` enum).

mod core;
mod proxies;
mod states;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;

pub use self::core::Core;
pub use self::states::{LoadState, ServiceResult, SubState, UnitFileState};
pub use crate::identity::ActiveState;

/// What systemd reports about one service unit's run state.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UnitStatus {
    pub unit: String,
    pub active_state: ActiveState,
    /// Hex; empty when the unit never ran.
    pub invocation_id: String,
    pub main_pid: u32,
    /// CLOCK_REALTIME microseconds; 0 when it never ran.
    pub exec_main_start_timestamp: u64,
    pub n_restarts: u32,
}

impl UnitStatus {
    /// Whether the unit is up or on its way up.
    pub fn is_running(&self) -> bool {
        self.active_state.is_running()
    }
}

/// How a service unit runs, or how it last ended.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UnitDetails {
    pub sub_state: SubState,
    pub control_group: String,
    pub result: ServiceResult,
    pub exec_main_status: i32,
}

/// One unit as a report shows it, read in one batch with every other unit's.
#[derive(Debug, Clone)]
pub struct UnitView {
    pub status: UnitStatus,
    pub sub_state: SubState,
    pub control_group: String,
    /// The unit's file changed since systemd read it.
    pub need_daemon_reload: bool,
    /// How its last run ended (`success` while it runs).
    pub result: ServiceResult,
}

/// One of sessctl's units as doctor judges it, read in one batch with every other one's:
/// exactly the 11 properties its checks use, since each is a message for the manager.
#[derive(Debug, Clone)]
pub struct UnitCheck {
    pub active_state: ActiveState,
    pub sub_state: SubState,
    /// Hex, as in [`UnitStatus`].
    pub invocation_id: String,
    pub n_restarts: u32,
    pub result: ServiceResult,
    pub exec_main_status: i32,
    pub unit_file_state: UnitFileState,
    pub need_daemon_reload: bool,
    pub drop_in_paths: Vec<String>,
    /// Whether MemoryHigh= or MemoryMax= sets a limit.
    pub memory_limited: bool,
}

/// What systemd knows of a unit's file.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct UnitFile {
    /// Loaded, or not found once the file is gone.
    pub load_state: LoadState,
    pub unit_file_state: UnitFileState,
    /// The file changed since systemd read it.
    pub need_daemon_reload: bool,
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

/// The one boundary between blocking code and the async core. zbus runs on tokio: in the CLI
/// on zbus's own single-threaded runtime, which drives a connection while a call waits here;
/// on the server's blocking pool on the server's runtime, so every connection the server
/// makes is driven by the runtime that serves its requests. Never called from an async task,
/// which must await the core instead.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => runtime.block_on(future),
        Err(_) => zbus::block_on(future),
    }
}

/// A command run once as a transient unit of its own (`StartTransientUnit`): outside every
/// session's cgroup, ended by systemd after `runtime_max`, removed once it is over.
#[derive(Debug, Clone)]
pub struct Transient {
    /// The unit's name, `*.service`.
    pub name: String,
    pub description: String,
    pub argv: Vec<String>,
    /// `KEY=VALUE` each.
    pub env: Vec<String>,
    pub runtime_max: std::time::Duration,
    /// Runs after the command whatever its end, with systemd's `SERVICE_RESULT`,
    /// `EXIT_CODE` and `EXIT_STATUS`.
    pub stop_post: Vec<String>,
}

/// A connection to the user manager for blocking code: [`Core`], blocking. A clone shares
/// the connection.
#[derive(Clone)]
pub struct Systemd {
    core: Core,
}

impl Systemd {
    /// Connects to the user manager over the user bus: `$DBUS_SESSION_BUS_ADDRESS`, else
    /// `$XDG_RUNTIME_DIR/bus`.
    pub fn connect() -> Result<Systemd> {
        block_on(Systemd::open())
    }

    /// Connects to the manager whose `$XDG_RUNTIME_DIR` is `runtime_dir`.
    pub fn connect_at(runtime_dir: &Path) -> Result<Systemd> {
        Ok(Systemd {
            core: block_on(Core::open(None, Some(runtime_dir.to_path_buf())))?,
        })
    }

    /// The async core under this connection.
    pub fn core(&self) -> &Core {
        &self.core
    }

    /// Connects from async code: a connection driven by the runtime that awaits this.
    pub async fn open() -> Result<Systemd> {
        let (bus, runtime) = bus_address();
        Ok(Systemd {
            core: Core::open(bus, runtime).await?,
        })
    }
}

/// The user bus from the environment: `$DBUS_SESSION_BUS_ADDRESS`, and `$XDG_RUNTIME_DIR`.
fn bus_address() -> (Option<String>, Option<PathBuf>) {
    let runtime = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
    let bus = std::env::var("DBUS_SESSION_BUS_ADDRESS")
        .ok()
        .filter(|a| !a.is_empty());
    (bus, runtime)
}

/// Blocking forms of [`Core`]'s methods, each documented there, each called through `$wrap`.
macro_rules! blocking {
    ($wrap:ident: $(fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        impl Systemd {
            $(
                #[doc = concat!("[`Core::", stringify!($name), "`], blocking.")]
                pub fn $name(&self $(, $arg: $ty)*) -> Result<$ret> {
                    $wrap(|| block_on(self.core.$name($($arg),*)))
                }
            )*
        }
    };
}

// Reads, unit-file calls and jobs that merge with themselves: repeating one does no harm.
blocking! { patiently:
    fn reload() -> ();
    fn environment() -> Vec<String>;
    fn enable(unit: &str) -> bool;
    fn disable(unit: &str) -> ();
    fn reset_failed(unit: &str) -> ();
    fn start(unit: &str) -> ();
    fn stop(unit: &str) -> ();
    fn status(unit: &str) -> UnitStatus;
    fn active_state(unit: &str) -> ActiveState;
    fn job_pending(unit: &str) -> bool;
    fn details(unit: &str) -> UnitDetails;
    fn views(units: &[String]) -> Vec<UnitView>;
    fn checks(units: &[String]) -> Vec<UnitCheck>;
    fn unit_file(unit: &str) -> UnitFile;
    fn exec_start(unit: &str) -> (Vec<ExecLine>, String);
    fn unit_configs(units: &[String]) -> Vec<UnitConfig>;
    fn loaded_units() -> Vec<String>;
    fn unit_path() -> Vec<String>;
    fn manager_cgroup() -> String;
    fn unit_of_pid(pid: u32) -> Option<String>;
}

// Never repeated: a second restart would end the session the first one started, a second
// transient unit of the same name is refused, and the manager answers neither Reexecute nor
// Exit (it leaves the bus instead).
blocking! { once:
    fn restart(unit: &str) -> ();
    fn run_transient(spec: &Transient) -> ();
    fn reexecute() -> ();
    fn exit_manager() -> ();
}

fn once<T>(call: impl FnOnce() -> Result<T>) -> Result<T> {
    call()
}

/// How long a call waits for a manager that left the bus, and how often it asks again.
const AWAY_LIMIT: Duration = Duration::from_secs(15);
const AWAY_PAUSE: Duration = Duration::from_millis(50);

/// `call`, made again while the manager is away from the bus. A manager that re-executes
/// itself (`daemon-reexec`, a package upgrade) leaves the bus for a moment: a call in flight
/// then ends in `NoReply`, and one made before it is back in `ServiceUnknown`. Measured under
/// concurrent resumes, 2.9% of them failed that way before this. A manager away for longer
/// than [`AWAY_LIMIT`] is reported as unreachable (exit 3).
fn patiently<T>(call: impl Fn() -> Result<T>) -> Result<T> {
    patiently_for(AWAY_LIMIT, call)
}

fn patiently_for<T>(limit: Duration, call: impl Fn() -> Result<T>) -> Result<T> {
    let deadline = Instant::now() + limit;
    loop {
        match call() {
            Err(err) if self::core::manager_away(&err) => {
                if Instant::now() >= deadline {
                    return Err(self::core::no_manager(format!(
                        "it left the bus and was not back within {} s: {err:#}",
                        limit.as_secs_f32()
                    )));
                }
                std::thread::sleep(AWAY_PAUSE);
            }
            done => return done,
        }
    }
}

/// Whether logind keeps `uid`'s manager running without a login (linger); `None` where no
/// logind answers on the system bus (containers, machines without systemd).
pub fn logind_linger(uid: u32) -> Option<bool> {
    block_on(self::core::logind_linger(uid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn away() -> anyhow::Error {
        anyhow::Error::from(zbus::fdo::Error::ServiceUnknown("gone".into()))
            .context("reading the state of web")
    }

    #[test]
    fn a_call_is_made_again_until_the_manager_is_back() {
        let calls = Cell::new(0);
        let result = patiently_for(Duration::from_secs(5), || {
            calls.set(calls.get() + 1);
            if calls.get() < 3 {
                Err(away())
            } else {
                Ok(calls.get())
            }
        });
        assert_eq!(result.expect("the third call"), 3);
    }

    #[test]
    fn a_manager_that_stays_away_is_unreachable_exit_3() {
        let err = patiently_for::<()>(Duration::from_millis(120), || Err(away()))
            .expect_err("the manager stays away");
        assert_eq!(crate::error::code_of(&err), crate::error::NO_MANAGER);
        assert!(
            format!("{err:#}").contains("was not back within 0.12 s"),
            "{err:#}"
        );
    }

    #[test]
    fn other_errors_are_not_made_again() {
        let calls = Cell::new(0);
        let err = patiently_for::<()>(Duration::from_secs(5), || {
            calls.set(calls.get() + 1);
            Err(anyhow::anyhow!("starting web failed"))
        })
        .expect_err("a failure");
        assert_eq!((calls.get(), crate::error::code_of(&err)), (1, 1));
    }
}

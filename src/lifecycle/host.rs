//! Inside the unit: the steps the rendered unit runs (`sessctl internal ...`), which host the
//! session, launch the agent, record how it ended and tell systemd whether to restart it.

use std::convert::Infallible;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use nix::sys::signal::{SigSet, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGTSTP};
use nix::sys::signalfd::{SfdFlags, SignalFd};

use crate::agent::{Agent, AgentEnv, Hooks};
use crate::error::usage;
use crate::lifecycle::permission;
use crate::paths::{Paths, StateDir};
use crate::pin::Pin;
use crate::poll;
use crate::procfs;
use crate::product::shell_quote;
use crate::session;
use crate::snapshot;
use crate::stagger;
use crate::state::{self, Event, EventKind, LastExit, UnitClaim, Waiting, Writer};
use crate::store;
use crate::systemd::{ServiceResult, Systemd, Transient};

/// How the pane starts the agent: `internal pane` and `internal launch` take it.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The product's state directory: the agent's end, the event log.
    pub state: PathBuf,
    /// The start slot file shared by every product of the user.
    pub slot: PathBuf,
    /// Seconds kept between two products' agent starts; 0 turns it off.
    pub stagger: u32,
    /// The pin file and agent profile name of an agent pinned to one conversation: the pane
    /// pins the conversation such an agent begins, once it appears.
    pub pin: Option<(PathBuf, String)>,
    pub command: Vec<String>,
}

/// How the unit's main process hosts the session.
#[derive(Debug, Clone)]
pub struct Host {
    pub tmux: PathBuf,
    pub socket: PathBuf,
    pub state: PathBuf,
    pub stagger: u32,
    /// Seconds of quiet after which an agent without hooks of its own is marked waiting.
    pub silence: u32,
    /// The shell command run when the agent starts waiting.
    pub on_waiting: Option<String>,
    /// The product's pin file and its agent profile's name, for an agent pinned to one
    /// conversation.
    pub pin: Option<(PathBuf, String)>,
    pub keep_snapshots: u32,
    pub command: Vec<String>,
}

/// Becomes the product's tmux server, with the pane's process (`internal pane`) in its one
/// session; returns only on failure.
pub fn host(host: Host) -> Result<Infallible> {
    let notify = notify_command(&host.state, host.on_waiting.as_deref())?;
    let (command, hooks) = match &host.pin {
        Some((file, agent)) => {
            let agent = agent.parse::<Agent>().map_err(usage)?;
            let command = pinned_command(file, host.keep_snapshots, agent, host.command)?;
            let hooks = agent
                .profile()
                .waiting_args(&hooks_of(&host.state, &notify)?)?;
            let has_hooks = !hooks.is_empty();
            (after_program(command, hooks), has_hooks)
        }
        None => (host.command, false),
    };
    // An agent that says when it waits needs no guess from its silence.
    let silence = (!hooks && host.silence > 0).then(|| session::Silence {
        seconds: host.silence,
        notify: notify.clone(),
    });
    // A new agent has seen no response yet: a mark left by the last one is stale.
    Waiting::clear(&UnitClaim::new(&host.state))?;
    // The runtime directory above the product's own is shared by every product.
    let slot = Paths::start_slot_beside(&host.socket)
        .context("a socket path without a runtime directory")?;
    let launch = Launch {
        state: host.state,
        slot,
        stagger: host.stagger,
        pin: host.pin,
        command,
    };
    let pane = [own_path()?, "internal".into(), "pane".into()]
        .into_iter()
        .chain(launch_args(&launch)?)
        .collect::<Vec<_>>();
    session::host(&host.tmux, &host.socket, &pane, silence.as_ref())
}

/// How long each of the start's cheap waits lasts before it leaves the wait to the proof.
const CHEAP_WAIT: Duration = Duration::from_secs(5);

/// Waits until the product's session exists (the unit's ExecStartPost). The proof is
/// `session::wait_ready`'s, and each of its probes starts a tmux client. A `tmux -D` server
/// runs its config, which makes the session, only once a first client has come, so one client
/// is sent as soon as the server listens; then the pane's first process is awaited in /proc,
/// a look costing microseconds, and the proof runs when it can succeed, in one probe, instead
/// of probing too early and sleeping past the moment.
pub fn wait_ready(tmux: &Path, socket: &Path) -> Result<()> {
    // systemd gives control processes the main PID: the host, which becomes the tmux server.
    let server = std::env::var("MAINPID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok());
    if let Some(server) = server {
        let gone = || procfs::start_ticks(server).is_none();
        poll::until_capped(CHEAP_WAIT, Duration::from_millis(1), || {
            Ok((gone() || session::server_listening(socket)).then_some(()))
        })?;
        // Only its coming counts: whatever it finds, the proof below judges.
        session::has_session(tmux, socket)?;
        poll::until_capped(CHEAP_WAIT, Duration::from_millis(1), || {
            Ok((gone() || pane_started(server)).then_some(()))
        })?;
    }
    session::wait_ready(tmux, socket)
}

/// Whether the pane of tmux server `server` (its child with a terminal) started a process of
/// its own.
fn pane_started(server: u32) -> bool {
    procfs::children(server)
        .into_iter()
        .filter(|&pid| procfs::has_terminal(pid))
        .any(|pane| !procfs::children(pane).is_empty())
}

/// The sessctl binary as the unit names it: argv[0] of an Exec line is the path written in it,
/// which still names the installed binary after an upgrade replaced the running one.
fn own_path() -> Result<String> {
    let named = std::env::args().next().map(PathBuf::from);
    let path = match named.filter(|p| p.is_absolute()) {
        Some(path) => path,
        None => std::env::current_exe().context("locating the sessctl binary")?,
    };
    Ok(utf8(&path)?.to_string())
}

fn utf8(path: &Path) -> Result<&str> {
    path.to_str()
        .with_context(|| format!("the path {path:?} is not valid UTF-8"))
}

/// `launch` as the arguments of `internal pane` and `internal launch`.
fn launch_args(launch: &Launch) -> Result<Vec<String>> {
    let mut args: Vec<String> = [
        "--state",
        utf8(&launch.state)?,
        "--slot",
        utf8(&launch.slot)?,
    ]
    .into_iter()
    .map(str::to_string)
    .collect();
    args.extend(["--stagger".to_string(), launch.stagger.to_string()]);
    if let Some((file, agent)) = &launch.pin {
        args.extend([
            "--pin".into(),
            utf8(file)?.to_string(),
            "--agent".into(),
            agent.clone(),
        ]);
    }
    args.push("--".into());
    args.extend(launch.command.iter().cloned());
    Ok(args)
}

/// The process in the tmux pane: runs the agent as its one child, waits for it, and records
/// how it ended. tmux could tell (pane_dead_status), but Debian's tmux 3.3a can miss the
/// SIGCHLD of a pane that ends while libutempter has its own handler in (tmux issue 4559,
/// fixed in 3.6), and then never reaps it; and the end decides whether systemd restarts the
/// session. So a parent of sessctl's own waits.
pub fn pane(launch: &Launch) -> Result<()> {
    // The terminal's signals (Ctrl-C in an agent without raw mode) and a stop's are for the
    // agent to handle: this process lives until the agent has ended. Blocked, they stay
    // pending; the child inherits the mask and unblocks them first thing.
    pane_signals()
        .thread_block()
        .context("blocking signals in the pane")?;
    // Marked before the agent starts: anything it writes is newer than the launch.
    let watch = match &launch.pin {
        Some((file, agent)) => {
            let agent = agent.parse::<Agent>().map_err(usage)?;
            let own = UnitClaim::new(&launch.state);
            let since = mark_launch(&own)?;
            Some(FirstPin::new(file, own, agent, since)?)
        }
        None => None,
    };
    let mut agent = std::process::Command::new(own_path()?)
        .args(["internal", "launch"])
        .args(launch_args(launch)?)
        .spawn()
        .context("starting the agent")?;
    let status = match &watch {
        Some(watch) => {
            let status = watch.until_exit(&mut agent);
            // A conversation begun just before a crash is pinned before anything restarts it.
            watch.try_pin();
            status
        }
        None => agent.wait(),
    };
    record_end(
        &UnitClaim::new(&launch.state),
        status.context("waiting for the agent")?,
    )
}

/// The first conversation of an agent that picks its own ids, pinned from inside the unit the
/// moment it appears: a crash, a restart by systemd or a stop at any time after the first
/// prompt then resumes it, whoever restarts the agent and whether or not anyone ran sessctl.
struct FirstPin {
    file: PathBuf,
    own: UnitClaim,
    agent: Agent,
    env: AgentEnv,
    dir: String,
    since: SystemTime,
}

impl FirstPin {
    /// Watches for the first conversation `agent`, launched at `since`, begins in this
    /// process's directory, the agent's.
    fn new(file: &Path, own: UnitClaim, agent: Agent, since: SystemTime) -> Result<FirstPin> {
        let dir = std::env::current_dir().context("reading the session's directory")?;
        Ok(FirstPin {
            file: file.to_path_buf(),
            own,
            agent,
            env: AgentEnv::caller(),
            dir: utf8(&dir)?.to_string(),
            since,
        })
    }

    /// Waits for `child`, looking for the conversation meanwhile: every half second at first,
    /// less often the longer the agent runs without one (each look reads the agent's folder).
    fn until_exit(&self, child: &mut std::process::Child) -> std::io::Result<ExitStatus> {
        let mut pause = Duration::from_millis(500);
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if self.try_pin() {
                return child.wait();
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_secs(4));
        }
    }

    /// Pins the conversation, if there is one and no pin yet; whether a pin exists now. A
    /// failure is logged and retried: the agent runs on regardless.
    fn try_pin(&self) -> bool {
        let found = (self.file.as_path(), &self.own);
        match pin_first(found, self.agent, &self.env, &self.dir, self.since) {
            Ok(pinned) => pinned.is_some(),
            Err(err) => {
                let mut event = Event::new(EventKind::Repin, None);
                event.reason = Some(format!("pinning the first conversation failed: {err:#}"));
                state::append(&self.own, &event);
                false
            }
        }
    }
}

/// The pin in `file`, or else the first conversation the agent began in `dir` since it was
/// launched at `since`, pinned now by `own`: an older conversation of the same directory (the
/// user's own, from before the product) is never taken for it. The pin is created, never
/// replaced, so the unit needs no product lock (which a `sessctl stop` holds while this unit
/// ends): the first writer wins, and every writer finds the same one.
fn pin_first(
    (file, own): (&Path, &UnitClaim),
    agent: Agent,
    env: &AgentEnv,
    dir: &str,
    since: SystemTime,
) -> Result<Option<Pin>> {
    if let Some(pin) = Pin::load(file)? {
        return Ok(Some(pin));
    }
    let Some(moved) = agent.profile().successor(env, dir, None)? else {
        return Ok(None);
    };
    // The newest conversation of the directory: if it is older than the launch, none is newer.
    let written = agent.profile().transcript(env, &moved.session_id)?;
    if written.is_none_or(|path| crate::agent::modified(&path) < since) {
        return Ok(None);
    }
    let pin = Pin::new(moved.session_id.clone());
    if !pin.create(own)? {
        return Pin::load(file);
    }
    let event = Event::new(EventKind::Repin, None).did(moved.how.as_str(), Some(&moved.session_id));
    state::append(own, &event);
    Ok(Some(pin))
}

/// Records a launch of the agent now; returns its time, as the file system stamps it.
fn mark_launch(own: &UnitClaim) -> Result<SystemTime> {
    let file = own.dir().agent_launched();
    store::write_atomic(&file, b"")?;
    last_launch(own.dir().0)?.with_context(|| format!("reading the time of {}", file.display()))
}

/// When the pane last launched the agent, if it ever did.
fn last_launch(state: &Path) -> Result<Option<SystemTime>> {
    let file = StateDir(state).agent_launched();
    match std::fs::metadata(&file).and_then(|m| m.modified()) {
        Ok(at) => Ok(Some(at)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("reading {}", file.display())),
    }
}

fn micros(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// The signals the pane leaves to the agent.
fn pane_signals() -> SigSet {
    let mut mask = SigSet::empty();
    for signal in [SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGTSTP] {
        mask.add(signal);
    }
    mask
}

/// The agent's own process before it becomes the agent: waits for the start slot (holding it
/// until the exec), then execs the agent in its place, keeping the PID the pane waits on.
pub fn launch(launch: &Launch) -> Result<Infallible> {
    pane_signals()
        .thread_unblock()
        .context("unblocking signals for the agent")?;
    let slot = match launch.stagger {
        0 => None,
        seconds => Some(take_slot(launch, seconds)?),
    };
    let (program, args) = launch
        .command
        .split_first()
        .context("an empty agent command")?;
    let err = std::process::Command::new(program).args(args).exec();
    drop(slot);
    Err(err).with_context(|| format!("executing {program}"))
}

/// Waits for the product's start slot, and logs a wait.
fn take_slot(launch: &Launch, seconds: u32) -> Result<stagger::Slot> {
    let product = product_of(&launch.state)?;
    let slot = stagger::take(&launch.slot, product, Duration::from_secs(seconds.into()))?;
    if !slot.waited.is_zero() {
        let mut event = Event::new(EventKind::AgentStart, None);
        let why = format!(
            "waited {:.1} s for its start slot, {seconds} s after another product's agent",
            slot.waited.as_secs_f64()
        );
        outln!("sessctl: {why}");
        event.reason = Some(why);
        state::append(&UnitClaim::new(&launch.state), &event);
    }
    Ok(slot)
}

/// Records how the agent ended, and logs an end nobody asked for. It takes no lock: a
/// `sessctl stop` holds the product's lock while it waits for this very session to end.
fn record_end(own: &UnitClaim, status: ExitStatus) -> Result<()> {
    let signal = status.signal().map(|n| {
        nix::sys::signal::Signal::try_from(n).map_or(format!("signal {n}"), |s| s.to_string())
    });
    let unit = crate::unit::unit_name(product_of(own.dir().0)?);
    // A stop or restart job means the end was asked for: the agent then dies of the stop's
    // SIGTERM, or exits non-zero on it. The bus goes away as the manager shuts down, which
    // is a requested end too.
    let requested = Systemd::connect()
        .and_then(|systemd| systemd.job_pending(&unit))
        .unwrap_or(true);
    let now = SystemTime::now();
    let end = LastExit {
        status: status.code(),
        signal,
        at: state::rfc3339(now),
        at_us: micros(now),
        invocation_id: std::env::var("INVOCATION_ID").unwrap_or_default(),
        requested,
    };
    end.save(own)?;
    if !requested {
        state::append(own, &end.event());
    }
    Ok(())
}

/// The unit's ExecStopPost: fails when this run's agent ended abnormally, so that
/// Restart=on-failure brings the session back; tmux alone would report success.
pub fn stopped(state: &Path, unit: &str) -> Result<()> {
    let invocation = std::env::var("INVOCATION_ID").unwrap_or_default();
    match LastExit::load(state)? {
        Some(end) if end.invocation_id == invocation && end.abnormal() => bail!(
            "{}; {unit} fails so that systemd restarts it on the same conversation",
            end.describe()
        ),
        _ => Ok(()),
    }
}

/// The product a state directory (`.../products/<name>`) belongs to.
fn product_of(state: &Path) -> Result<&str> {
    StateDir(state)
        .product()
        .with_context(|| format!("{} names no product", state.display()))
}

/// The shell command that records a wait of the agent of state directory `state`
/// (`<it> stop`, `<it> --clear`): what the agent's hooks and tmux's alerts run.
fn notify_command(state: &Path, on_waiting: Option<&str>) -> Result<String> {
    let mut command = format!(
        "{} internal notify --state {}",
        shell_quote(&own_path()?),
        shell_quote(utf8(state)?)
    );
    if let Some(on_waiting) = on_waiting {
        command.push_str(&format!(" --on-waiting {}", shell_quote(on_waiting)));
    }
    Ok(command)
}

/// The commands the agent's hooks run: `notify`, and the permission question of state
/// directory `state`, waiting [`permission::WAIT`] for an answer.
fn hooks_of(state: &Path, notify: &str) -> Result<Hooks> {
    let wait = permission_wait();
    Ok(Hooks {
        notify: notify.to_string(),
        permission: format!(
            "{} internal permission --state {} --wait {}",
            shell_quote(&own_path()?),
            shell_quote(utf8(state)?),
            wait.as_secs()
        ),
        permission_timeout: (wait + permission::HOOK_MARGIN).as_secs(),
    })
}

/// [`permission::WAIT`]; a test build (feature `testbed`) takes a shorter wait from the
/// unit's `SESSCTL_TEST_PERMISSION_WAIT` (seconds), so a test of an unanswered question
/// need not wait five minutes.
fn permission_wait() -> Duration {
    #[cfg(feature = "testbed")]
    if let Some(seconds) = std::env::var("SESSCTL_TEST_PERMISSION_WAIT")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return Duration::from_secs(seconds);
    }
    permission::WAIT
}

/// The agent's `PermissionRequest` hook: asks the dashboard about the tool call its stdin
/// names and prints the answer, waiting at most `wait` seconds. It never fails the hook (a
/// failing hook must not decide for the human): on any error the dialog stays in the
/// terminal, and the error goes to the unit's journal.
pub fn permission(state: &Path, wait: u64) -> Result<()> {
    let mut input = String::new();
    let asked = std::io::stdin()
        .take(1 << 20)
        .read_to_string(&mut input)
        .context("reading the permission hook's input")
        .and_then(|_| ended_by_signal())
        .and_then(|signals| {
            let ended = || signals.read_signal().ok().flatten().is_some();
            let wait = Duration::from_secs(wait);
            permission::ask(&UnitClaim::new(state), &input, wait, ended)
        });
    match asked {
        Ok(Some(answer)) => println!("{answer}"),
        Ok(None) => {}
        Err(err) => eprintln!("sessctl: permission question left to the terminal: {err:#}"),
    }
    Ok(())
}

/// The signals that end a hook (the client's, when the question is settled without it), held
/// for the hook to read without blocking, so that it closes its question before it goes.
fn ended_by_signal() -> Result<SignalFd> {
    let mut mask = SigSet::empty();
    for signal in [SIGINT, SIGTERM, SIGHUP] {
        mask.add(signal);
    }
    mask.thread_block()
        .context("blocking the permission hook's signals")?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .context("reading the permission hook's signals")
}

/// `command` with `args` right after its program.
fn after_program(command: Vec<String>, args: Vec<String>) -> Vec<String> {
    let mut words = command.into_iter();
    words.next().into_iter().chain(args).chain(words).collect()
}

/// Records that the agent of state directory `state` waits for its human (`kind`), or with
/// `None` that it got its input. Run by the agent's own hooks, so it reads what the hook is
/// given on stdin (and ignores it): a hook that leaves its input unread can break the pipe
/// under the agent.
pub fn notify(state: &Path, kind: Option<&str>, on_waiting: Option<&str>) -> Result<()> {
    let _ = std::io::copy(&mut std::io::stdin().take(1 << 20), &mut std::io::sink());
    let own = UnitClaim::new(state);
    let Some(kind) = kind else {
        return Waiting::clear(&own);
    };
    if let (Some(waiting), Some(command)) = (Waiting::record(&own, kind)?, on_waiting) {
        // The user's command never fails the agent's hook: a failure is logged.
        if let Err(err) = run_on_waiting(state, &waiting, command) {
            let mut event = Event::new(EventKind::OnWaiting, None);
            event.reason = Some(format!("the --on-waiting command did not start: {err:#}"));
            state::append(&own, &event);
        }
    }
    Ok(())
}

/// How long the --on-waiting command may run before systemd ends it.
const ON_WAITING_MAX: Duration = Duration::from_secs(30);

/// Starts the user's --on-waiting command as a transient unit of its own: never in the
/// session's cgroup, so nothing it does or leaves behind can touch the session, and ended by
/// systemd after [`ON_WAITING_MAX`]. Its end is logged by `internal on-waiting-ended`.
fn run_on_waiting(state: &Path, waiting: &Waiting, command: &str) -> Result<()> {
    let product = product_of(state)?;
    let sessctl = own_path()?;
    // `@` is in no product's name: no product's unit is ever named like this one.
    let name = format!(
        "sessctl-on-waiting@{product}-{}.service",
        &crate::uuid::secret()?[..12]
    );
    Systemd::connect()?.run_transient(&Transient {
        description: format!("sessctl --on-waiting command of {product}"),
        argv: vec!["/bin/sh".into(), "-c".into(), command.to_string()],
        env: vec![
            format!("SESSCTL_PRODUCT={product}"),
            format!("SESSCTL_WAITING_KIND={}", waiting.kind),
            format!("SESSCTL_WAITING_SINCE={}", waiting.since),
        ],
        runtime_max: ON_WAITING_MAX,
        stop_post: vec![
            sessctl,
            "internal".into(),
            "on-waiting-ended".into(),
            "--state".into(),
            utf8(state)?.to_string(),
        ],
        name,
    })
}

/// The --on-waiting command's ExecStopPost: logs a run that did not succeed, with what
/// systemd says of its end (systemd.exec(5): `SERVICE_RESULT`, `EXIT_CODE`, `EXIT_STATUS`).
pub fn on_waiting_ended(state: &Path) -> Result<()> {
    let var = |name| std::env::var(name).unwrap_or_default();
    let result = ServiceResult::from(var("SERVICE_RESULT"));
    if result == ServiceResult::Success {
        return Ok(());
    }
    let mut event = Event::new(EventKind::OnWaiting, None);
    event.reason = Some(format!(
        "the --on-waiting command failed: {result} ({} {})",
        var("EXIT_CODE"),
        var("EXIT_STATUS")
    ));
    state::append(&UnitClaim::new(state), &event);
    Ok(())
}

/// The agent's command line for this start of the conversation pinned in `file`. Runs inside
/// the unit, so this process's environment and directory are the agent's.
fn pinned_command(
    file: &Path,
    keep_snapshots: u32,
    agent: Agent,
    command: Vec<String>,
) -> Result<Vec<String>> {
    let env = AgentEnv::caller();
    let cwd = std::env::current_dir().context("reading the session's directory")?;
    let cwd = utf8(&cwd)?;
    // A conversation the last run began is this run's, even if the whole session died before
    // its pane could pin it. Before any run, there is none.
    let state = file
        .parent()
        .context("a pin file without a state directory")?;
    let claim = UnitClaim::new(state);
    let pin = match last_launch(state)? {
        Some(since) => pin_first((file, &claim), agent, &env, cwd, since)?,
        None => Pin::load(file)?,
    };
    let Some(pin) = pin else {
        return agent.start_argv(&env, cwd, &command, None);
    };
    // One writer per conversation, however the other one was launched.
    let own = procfs::cgroup(std::process::id());
    if let Some(w) = procfs::other_writers(&pin.session_id, own.as_deref()).first() {
        bail!(
            "conversation {} is already being written by {w}; not starting a second agent on it",
            pin.session_id
        );
    }
    // Before every start, the conversation as it was.
    if let Some(transcript) = agent.profile().transcript(&env, &pin.session_id)? {
        let shelf = snapshot::Shelf::of(&claim);
        snapshot::take(&transcript, &shelf)?;
        snapshot::prune(&shelf, keep_snapshots as usize)?;
    }
    agent.start_argv(&env, cwd, &command, Some(&pin.session_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A codex rollout as Codex CLI 0.171 writes it at the first prompt: its first line names the
    /// conversation and the directory it began in.
    fn rollout(home: &Path, id: &str, cwd: &str) {
        let day = home.join("sessions/2026/12/06");
        std::fs::create_dir_all(&day).unwrap();
        let meta = serde_json::json!({"type": "session_meta", "payload": {"id": id, "cwd": cwd}});
        std::fs::write(
            day.join(format!("rollout-2026-12-06T10-00-00-{id}.jsonl")),
            format!("{meta}\n"),
        )
        .unwrap();
    }

    /// The first conversation is pinned once it appears, never one the directory held before
    /// the agent's launch, and never replaced by a later one: whoever restarts the agent
    /// resumes the conversation its first prompt began.
    #[test]
    fn the_first_conversation_since_the_launch_is_pinned_once_and_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("codex-home");
        let state = tmp.path().join("state/products/web");
        let file = state.join("pin.json");
        let own = UnitClaim::new(&state);
        let product_env = [("CODEX_HOME".to_string(), home.display().to_string())].into();
        let env = AgentEnv::of(&product_env, Some(&[]));
        let codex = Agent::named("codex").unwrap();
        let first = "019a24cb-8a11-7be2-9f3e-000000000001";

        rollout(&home, "019a24cb-8a11-7be2-9f3e-000000000000", "/w/web");
        std::thread::sleep(Duration::from_millis(20));
        let launched = mark_launch(&own).unwrap();
        assert_eq!(
            pin_first((&file, &own), codex, &env, "/w/web", launched).unwrap(),
            None
        );
        assert!(!file.exists());
        rollout(&home, first, "/w/web");
        let pinned = pin_first((&file, &own), codex, &env, "/w/web", launched)
            .unwrap()
            .unwrap();
        assert_eq!(pinned.session_id, first);
        assert_eq!(Pin::load(&file).unwrap(), Some(pinned.clone()));

        std::thread::sleep(Duration::from_millis(20));
        rollout(&home, "019a24cb-8a11-7be2-9f3e-000000000002", "/w/web");
        let later = mark_launch(&own).unwrap();
        assert_eq!(
            pin_first((&file, &own), codex, &env, "/w/web", later).unwrap(),
            Some(pinned)
        );
        let log = std::fs::read_to_string(state.join("events.jsonl")).unwrap_or_default();
        assert_eq!(log.matches("\"repin\"").count(), 1, "{log}");
    }
}

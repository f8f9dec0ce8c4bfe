//! The command line as data: every flag, argument and help text of sessctl, and nothing else.
//!
//! Imports nothing of sessctl; only `cmd` and the root read it.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Keep one long-lived AI coding-agent session per product alive as a systemd user service.
///
/// Each product gets a user service, sessctl-<product>.service, whose main process is a tmux
/// server on the product's own socket; the agent (Claude Code, Codex, Gemini CLI, Aider or any
/// terminal program) runs in its one session. A resume, a logout (with linger), a dashboard
/// restart or a reboot never destroys it.
///
/// Every command that changes a product takes that product's lock, so concurrent calls are
/// serialised. Commands that report state take --json. `sessctl <command> --help` and
/// sessctl-<command>(1) are the reference; the guide, troubleshooting and file reference are in
/// /usr/share/doc/sessctl/.
#[derive(Debug, Parser)]
#[command(name = "sessctl", version, disable_help_subcommand = true, after_help = AFTER_HELP)]
pub struct Cli {
    /// Run the command on another host, through ssh and the sessctl installed there.
    ///
    /// HOST is a name from `sessctl host list`, or a destination as ssh takes it:
    /// [user@]host[:port]; your ssh config (users, keys, jumps, known hosts) applies. list and
    /// status take several (a comma list, or the option again; `all` is every host added);
    /// the other commands take one. `sessctl stop web@build` is `sessctl --host build stop
    /// web`. One ssh connection per host is kept for 10 minutes (ControlPersist), so a second
    /// call costs a round trip, not a handshake. Exit codes are the remote command's; a host
    /// that cannot be reached, or refuses the key, is exit 3; a missing or incompatible
    /// sessctl there is exit 2.
    #[arg(long, global = true, value_name = "HOST")]
    pub host: Vec<String>,

    #[command(subcommand)]
    pub command: Command,
}

const AFTER_HELP: &str = "\
Exit codes: 0 success, 1 an operation failed, 2 invalid usage or input, 3 the systemd user
manager, or with --host the host, could not be reached, 4 a session was lost, 5 a conversation
needs repair, 6 a check found something to act on.

Environment: XDG_CONFIG_HOME (products, units, hosts.toml), XDG_STATE_HOME (state),
XDG_RUNTIME_DIR (tmux sockets, user bus, ssh control sockets), DBUS_SESSION_BUS_ADDRESS (user
bus), SESSCTL_SSH (the ssh program for --host; default ssh).";

#[derive(Debug, Subcommand)]
pub enum Command {
    Enable(Enable),
    Disable(Disable),
    /// Print the unit file that `enable` writes for a product.
    ///
    /// templates/session.service.tera is its only source and explains each setting in a
    /// comment: Type=exec with the host execing `tmux -D`, so the tmux server is the unit's main
    /// process; one tmux server and socket per product; KillMode=control-group and
    /// TimeoutStopSec=30s; Restart=on-failure with RestartSec=2s and a start limit of 6 starts
    /// in 120 s; Slice=app-sessctl.slice; WantedBy=default.target. Every user value is escaped
    /// for its directive, and a value with a control character is refused, so no input can add
    /// a line to a unit.
    Render(ProductArg),
    /// Start a product's session and wait until its tmux session exists.
    ///
    /// One StartUnit job over D-Bus, subscribed to JobRemoved before the call; the command
    /// waits for that job's result, and a failed job is reported with the unit's Result and
    /// ExecMainStatus.
    ///
    /// A start that would fail for want of what `enable` resolved (the work directory, the
    /// agent's program, tmux) is refused, naming what is missing and the `sessctl enable` line
    /// that recreates the product (exit 2); `status` shows it as missing and `doctor` as
    /// start-needs-missing. systemd alone says only ExecMainStatus=200 or Result=success.
    ///
    /// While the user manager re-executes itself (`systemctl --user daemon-reexec`, a package
    /// upgrade) it is away from the bus for a moment, and a call then ends in NoReply or
    /// ServiceUnknown. sessctl makes such a call again, for up to 15 s, and exits 3 if the
    /// manager stays away. Only calls whose repeat does no harm are made again: reads, Reload,
    /// the unit-file calls, StartUnit and StopUnit; never RestartUnit, which would end the
    /// session its first call started.
    ///
    /// --json prints {"product", "step", "line"}: step is what it did (started or already-active), line the text
    /// form; the dashboard's POST /api/products/<product>/start answers the same.
    Start(ProductJson),
    /// Stop a product's session: SIGTERM to every process of it, SIGKILL after 30 s.
    ///
    /// One StopUnit job, waited for as `start` waits. It works on a product whose config no
    /// longer parses. Once the session is down, the crash-loop guard judges the transcript it
    /// left (see `sessctl transcript check`), so that `status` can say whether the next start
    /// would resume it. A stop is a requested end: nothing restarts the session, and nothing is
    /// logged as an exit or a loss.
    ///
    /// A stop cut short (a killed sessctl) did what you asked, or never began: the next
    /// `resume`, `start` or `restart` takes the session as it finds it, never as a lost one.
    ///
    /// On a full or read-only state disk, stop (as restart and `disable --purge`) still does
    /// what was asked and exits 0, with one warning line saying what it could not record.
    ///
    /// --json prints {"product", "step", "line"}: step is what it did (stopped), line the text
    /// form; the dashboard's POST /api/products/<product>/stop answers the same.
    Stop(ProductJson),
    /// Restart a product's session; this ends the live agent and starts a new one.
    ///
    /// One RestartUnit job, waited for as `start` waits, and never repeated when the manager is
    /// away (a repeat would end the session its first call started). It applies settings that
    /// `enable` changed under a live session ("restart pending"). A pinned agent resumes the
    /// same conversation. Refused (exit 2) while a `disable` of the product was cut short: run
    /// the disable again to finish it, or `sessctl enable` to take the product back.
    ///
    /// --json prints {"product", "step", "line"}: step is what it did (restarted), line the text
    /// form; the dashboard's POST /api/products/<product>/restart answers the same.
    Restart(ProductJson),
    Resume(Resume),
    Verify(Verify),
    Status(Status),
    List(Json),
    /// Show a product's event log: enables, starts, resumes with their verdicts, stops, losses.
    ///
    /// Every enable, start, resume (with its verdict), attach, stop, restart, disable, detected
    /// loss (lost) and recovery (recovered) is one JSON line in
    /// $XDG_STATE_HOME/sessctl/products/<product>/events.jsonl, appended with O_APPEND in one
    /// write, and the same event goes to the journal (SYSLOG_IDENTIFIER=sessctl,
    /// SESSCTL_PRODUCT, SESSCTL_EVENT). From inside the unit come exit (the agent ended and
    /// nobody asked for it: its status or signal) and agent-start (the agent waited for its
    /// start slot). A loss is logged once, by whichever of `status`, `list` or `resume` sees it
    /// first. Also: settled, on-waiting, adopt, repin, restore and gc.
    ///
    /// --json prints the events as an array of objects with time, event, and where they apply
    /// verdict, reason, invocation_id, main_pid, agent_pid, status and signal. A torn line
    /// (from a crash) is skipped, with a note.
    Log(ProductJson),
    Doctor(Doctor),
    Gc(Gc),
    #[command(subcommand)]
    Transcript(Transcript),
    /// Attach this terminal to a product's session, starting the session first if needed.
    ///
    /// It resumes first, as `resume` does: it starts the unit when it is not active, and a
    /// session that was lost is reported on stderr (exit status 4 once the attach returns) and
    /// a new one started on the same conversation, unless the transcript needs repair (exit
    /// status 5). It waits for the session, then runs `tmux -N -S <socket> attach-session`: -N
    /// means an attach can never start a stray tmux server in your terminal's cgroup, where it
    /// would die with the terminal. Without a terminal on stdin it refuses (exit 2). Detach
    /// with tmux's prefix + d; the session keeps running.
    Attach(ProductArg),
    /// Show sessctl keeping a session alive next to the naive launch losing one.
    ///
    /// Uses your user manager when it is reachable. Otherwise, as root on a host not booted
    /// with systemd (a container, a CI machine) with writable cgroups, it starts a private
    /// `systemd --user` of its own, in a cgroup subtree and mount namespace of its own, and
    /// removes it, with everything else it made, when it ends. That private manager is
    /// root-only mount and cgroup code, compiled only with the testbed feature (`./test demo`
    /// and the tests turn it on): a default build's demo, the package's included, needs your
    /// user manager and exits 3 without one. On a host booted with systemd
    /// (/run/systemd/system exists) it never starts a private manager, whatever the build: that
    /// would make cgroups in PID 1's own tree; it exits 3 and asks for your user manager
    /// instead.
    Demo,
    Serve(Serve),
    #[command(subcommand)]
    Dashboard(Dashboard),
    #[command(subcommand)]
    Host(HostCmd),
    Completions(Completions),
    Man(Man),
    #[command(subcommand, hide = true)]
    Internal(Internal),
}

/// Create or update a product and its user service, enable it for login, and start it.
///
/// It stores the product in $XDG_CONFIG_HOME/sessctl/products/<product>.toml, writes
/// app-sessctl.slice (unless one is installed in the manager's search path, as the Debian
/// package does in /usr/lib/systemd/user/) and sessctl-<product>.service into
/// $XDG_CONFIG_HOME/systemd/user/, then calls the manager's Reload, EnableUnitFiles and
/// StartUnit. Refused input leaves nothing behind, and so does an enable refused later (a
/// config folder it cannot write, a manager that refuses): of a new product nothing stays.
///
/// Running it again with the same settings changes nothing and says "unchanged". With changed
/// settings it rewrites the unit and reloads systemd, but never restarts a live session: it
/// reports "restart pending" until you run `sessctl restart <product>`. It also takes back a
/// product whose `disable` was cut short.
///
/// A new --dir for a pinned claude product carries its conversation: Claude Code's --resume
/// looks only in the project folder of its working directory, so the next start copies the
/// transcript and its <uuid>/ folder into the new directory's project folder (the original
/// stays) and resumes the same conversation there. Changing back finds the old copy there, now
/// stale: it is brought up to date when it is a prefix of the newer one, and two copies that
/// diverged stop the start with an error naming both, for you to choose.
///
/// Example: `sessctl enable web -- claude --model opus`, run in the product's directory.
#[derive(Debug, Args)]
pub struct Enable {
    /// Product name: 1 to 64 of A-Z a-z 0-9 _ . - starting with a letter or digit; not
    /// `dashboard` (the dashboard's own unit), and short enough that its tmux socket path fits
    /// in 107 bytes.
    ///
    /// A bad name is refused with a valid suggestion. The session's tmux socket,
    /// $XDG_RUNTIME_DIR/sessctl/PRODUCT/tmux.sock, must fit in a Unix socket address: under a
    /// long runtime directory a long name is refused, with the longest that fits.
    pub product: String,
    /// The directory the agent works in [default: the current directory].
    ///
    /// It must exist; it is stored as a canonical absolute path.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// An environment variable for the agent; repeat for more.
    ///
    /// The product's environment (its --env over the user manager's own) decides where its
    /// agent keeps its data (CLAUDE_CONFIG_DIR, HOME, CODEX_HOME, GEMINI_CLI_HOME): `status`,
    /// `transcript`, the crash-loop guard and `doctor` read it from there, so they answer the
    /// same from any shell. The dashboard shows these values masked.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Write and enable the unit, but do not start it.
    #[arg(long)]
    pub no_start: bool,
    /// The agent profile [default: detected from the command's name]. A claude product is
    /// pinned to one conversation: `--session-id` on its first start, `--resume` after; codex
    /// and gemini products to the conversation their first start creates.
    ///
    /// One of claude (Claude Code), codex (Codex CLI), gemini (Gemini CLI), aider or generic
    /// (any terminal program). Aider and generic agents keep no session id, so nothing is
    /// pinned for them.
    #[arg(long, value_name = "AGENT")]
    pub agent: Option<String>,
    /// How many snapshots of a pinned conversation to keep; one is taken before every start.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_snapshots: u32,
    /// Seconds kept between this agent's start and the previous start of any product's agent,
    /// so that a login or a reboot that starts many products does not start many agents in the
    /// same instant (they would refresh the same OAuth token together). A product starting
    /// alone never waits; 0 turns it off.
    ///
    /// The slot is the file $XDG_RUNTIME_DIR/sessctl/start-slot, which remembers the last 64
    /// starts; a wait is logged as an agent-start event and shown in the pane. The unit is
    /// active during the wait, so no start job times out, however many products queue.
    #[arg(long, value_name = "SECONDS", default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=600))]
    pub stagger: u32,
    /// Seconds of quiet in the session after which an agent that cannot say it waits for you
    /// is marked "waiting" (tmux's silence monitor); its next output clears the mark. Claude
    /// says so itself, through its hooks. 0 turns it off.
    ///
    /// tmux's silence monitor marks it (alert-silence); while it is marked, tmux runs one tiny
    /// `sessctl internal notify` every SECONDS. A claude product is started with --settings
    /// whose hooks record the wait instead (see `waiting` in sessctl-status(1)).
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(0..=86400))]
    pub silence: u32,
    /// A shell command to run each time the agent starts waiting for you, such as a phone
    /// notification (`curl -d "$SESSCTL_PRODUCT waits" ntfy.sh/topic`). It runs as a user
    /// unit of its own, never in the session, for at most 30 s, with SESSCTL_PRODUCT,
    /// SESSCTL_WAITING_KIND and SESSCTL_WAITING_SINCE set; a failure is logged.
    ///
    /// The unit is a transient sessctl-on-waiting@<product>-<id>.service, never in the
    /// session's cgroup; systemd ends it after 30 s. A run that fails, or cannot start, is
    /// logged as an on-waiting event and never touches the session.
    #[arg(long, value_name = "CMD")]
    pub on_waiting: Option<String>,
    /// The agent's command line; its first word is looked up in PATH now [default: claude].
    ///
    /// It is stored as an absolute path, because systemd's search path lacks places such as
    /// ~/.local/bin.
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// Stop a product's session, disable and remove its unit; keep its config unless --purge.
///
/// A disable cut short (a killed sessctl) stands: run it again to finish it. Until then
/// resume, start, stop and restart refuse (exit 2), so nothing undoes it behind your back;
/// `sessctl enable` takes the product back.
///
/// What a churn of enable, start, resume, stop and `disable --purge` leaves behind on purpose,
/// because every product shares it: the slice app-sessctl.slice, the stagger's
/// $XDG_RUNTIME_DIR/sessctl/start-slot, sessctl's own (empty) folders and gc's log. Nothing of
/// the product: no unit loaded or on disk, no cgroup, process, tmux server or socket, no
/// config, state or lock file.
#[derive(Debug, Args)]
pub struct Disable {
    /// The product's name.
    pub product: String,
    /// Also remove the product's config and state.
    ///
    /// Its pin and snapshots included: the only command that removes them. It also takes a
    /// product of which only state is left, and a unit systemd cannot load (one edited by hand
    /// into a line too long for it): such a unit has no job to stop, and its file is disabled
    /// and removed all the same.
    #[arg(long)]
    pub purge: bool,
}

/// Resume a product's session without ever restarting it, prove it survived, then attach.
///
/// A live session is never started, restarted or reloaded; a missing one is started. The
/// verdict compares the session's identity before and after (systemd's InvocationID and
/// MainPID, the agent's PID, each PID with its start time): survived, started, or lost (exit
/// status 4). A session sessctl saw running that has since died is reported lost once, and in
/// the same call a new one runs on the same conversation ("recovered": systemd restarted it, or
/// this call starts it, unless the transcript needs repair). Then it attaches when stdin is a
/// terminal, and gives the verdict again when the attach returns.
///
/// What "survived" means: before and after, sessctl reads the unit's InvocationID, MainPID
/// (the tmux server), ExecMainStartTimestamp and NRestarts over D-Bus, and the agent's PID from
/// /proc (the one child of the pane's process, `sessctl internal pane`). Each PID is paired
/// with its start time from /proc/<pid>/stat, so a PID the kernel reused is never taken for a
/// survivor. The verdicts:
///
/// survived (exit 0): same invocation, same main PID, same agent PID.
///
/// started (exit 0): there was no session, and now there is one.
///
/// lost (exit 4): it was running and now it is not, or it is a different process. The reason
/// says why: how the agent ended ("the agent was killed by SIGKILL at T; systemd restarted it
/// on the same conversation"), else what systemd says (Result, ExecMainStatus, the last
/// journal lines where a journal exists). A new session then runs on the same conversation
/// ("recovered": true): systemd restarted it, or this call started it.
///
/// needs-repair (exit 5): there is no session, and the pinned transcript fails `sessctl
/// transcript check`: starting would only run into the same API error (a 400). The reason names the
/// finding and the `sessctl transcript repair PRODUCT --adopt` to run. This is the crash-loop
/// guard: it also stops a start when the pinned transcript is gone though a snapshot shows it
/// existed, or cannot be read. It never blocks a conversation the client resumes, and its
/// verdict is kept per change of the transcript (guard.json), so a resume never waits on a
/// scan of an unchanged transcript.
///
/// sessctl remembers the identity of the last session it saw (session.json in the product's
/// state), so a session that died between two clicks (its agent killed, a restart outside
/// sessctl, a reboot) is reported lost by the next resume instead of being silently replaced;
/// the event log then holds lost and recovered, with the new identity. A deliberate `sessctl
/// stop` or `disable` is not a loss, nor is a stop or restart that was cut short.
///
/// Concurrency: every command that judges or changes a session holds the product's flock, so
/// twenty simultaneous resumes of a stopped product start it once: one reports started, the
/// others survived, all with the same main PID. A resume racing enable, restart or stop judges
/// a session no other call is changing. A killed resume leaves no stale lock (the kernel
/// releases it). `status` and `list` take no lock, so they never wait behind a start; a loss
/// they see is still logged once (a lost.<invocation> marker created with O_EXCL decides who
/// logs it).
///
/// A dashboard or a phone shortcut (over SSH) runs `sessctl resume PRODUCT --no-attach --json`.
/// Never wire a resume button to `systemctl --user restart`, and never launch the session from
/// the dashboard's own process: it would then live, and die, in the dashboard's cgroup.
///
/// --json prints one object: product, unit, verdict (survived, started, lost or needs-repair),
/// reason (why the session was lost, else null), recovered (true when the session was lost and
/// a new one runs in its place on the same conversation; false otherwise, also when the guard
/// refused the start), uptime_seconds (of the session after the resume; null when none runs),
/// and before and after, the identity read before and after the resume: active_state,
/// invocation_id, main_pid, exec_main_start_timestamp and n_restarts as systemd reports them
/// (timestamps in µs since the epoch), main_start_ticks and agent_start_ticks (process start
/// times from /proc/<pid>/stat in clock ticks after boot; null when the process is gone), and
/// agent_pid (null when there is none). With an attach, a second object follows when the
/// attach returns.
#[derive(Debug, Args)]
pub struct Resume {
    /// The product's name.
    pub product: String,
    /// Do not attach; only resume and prove.
    ///
    /// Also implied when stdin is not a terminal.
    #[arg(long)]
    pub no_attach: bool,
    /// Print the verdict as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Resume a product N times without attaching and fail on any identity change.
///
/// The first round may start a session that was not running, or recover a lost one as
/// `resume` does; every other round must say survived. It prints a short report (--json: an
/// object with rounds, started, recovered, changes and the final identity) and exits 4 on any
/// change. A session that needs repair ends it after round 1 with exit status 5, whatever
/// --rounds says.
#[derive(Debug, Args)]
pub struct Verify {
    /// The product's name.
    pub product: String,
    /// How many resumes.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub rounds: u32,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Find everything that can kill a session: sessctl's units, the environment, every other user
/// unit that launches a session, and every tmux server and agent process of the user.
///
/// Each finding has a severity, its evidence (file and line, unit property, PID and cgroup) and
/// the exact fix. Exit status: 0 healthy (notes only), 6 findings, 1 doctor could not run.
/// SESSCTL_LINGER_DIR, SESSCTL_LOGIND_CONF and SESSCTL_CGROUP_ROOT point the linger, logind.conf
/// and memory-delegation checks elsewhere (the default is logind over the system bus, then
/// /var/lib/systemd/linger, /etc/systemd/logind.conf with its drop-ins, and /sys/fs/cgroup).
///
/// Each finding names its evidence: the file and line (of the unit, a drop-in, the script the
/// unit runs, or logind.conf), the unit property, or the PID with its cgroup and unit. Errors
/// and warnings make doctor exit 6; notes do not. Launcher units are read as systemd parsed
/// them, from every unit file in the user search path and every loaded unit, transient ones
/// included. The findings, with what each means and its fix, are listed in
/// troubleshooting.md (/usr/share/doc/sessctl/docs/).
///
/// --json prints {"healthy": bool, "findings": [...]}, each finding with id, severity (error,
/// warning, note), product, unit, summary, evidence (a list) and fix.
#[derive(Debug, Args)]
pub struct Doctor {
    /// Check only this product's unit and processes (the environment and other units always).
    pub product: Option<String>,
    /// Print the findings as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Remove sessctl's own leftovers, and nothing else.
///
/// Failed sessctl units are reset; sessctl unit files without a product config, sockets without
/// a server, and the locks and state of deleted products are removed; a product config without
/// a unit file is removed only after asking (or with --yes). A running session, a unit that is
/// not sessctl's and any agent transcript are never touched. An enable or disable cut short by a
/// killed sessctl is finished as asked, and a stop or restart cut short is settled. Every action
/// is printed and logged.
///
/// What gc does with each leftover:
///
/// a failed sessctl unit: ResetFailedUnit.
///
/// a sessctl unit file with no product config: disables and removes it, reloads.
///
/// a change cut short, an enable, stop, restart or disable killed midway (kind interrupted):
/// finishes the enable or disable as asked; a stop or restart is settled, the session left as
/// it is (outcome finished, or would-finish with --dry-run).
///
/// a product config with no unit file: removes it, with sessctl's records of it, after asking;
/// --yes skips the question; with no terminal and no --yes it is kept.
///
/// a socket in $XDG_RUNTIME_DIR/sessctl/ that no server listens on: removes it with its
/// directory.
///
/// the lock and state of a product that no longer exists: removes them, all but the product's
/// pin and snapshots, which stay (the state folder is then "removed" with a note saying what
/// stays).
///
/// Each line says what gc did: removed, reset, finished, settled (an interrupted stop or
/// restart: the session is left as it is), kept (with the reason), or could not (the error on
/// stderr). One leftover that cannot be cleaned never stops the others; gc then exits 1.
///
/// a .NAME.PID.tmp file a killed sessctl left beside a product's config, unit or state file
/// (kind temp-file): removes it once its PID no longer runs; the file it was to replace is
/// whole, old or new.
///
/// It never touches a running session (what belongs to one is kept, and says so), a unit that
/// is not sessctl's, an agent transcript, a pin or a snapshot: snapshots go only by their own
/// retention (enable --keep-snapshots), pins and snapshots of a gone product only with
/// `sessctl disable PRODUCT --purge`. Each removal takes the product's lock and looks again
/// under it, so a gc racing an enable never removes the state of the product being written.
///
/// --json prints {"dry_run": bool, "actions": [...]}, each action with kind, target, product,
/// outcome (removed, would-remove, kept, failed; finished, would-finish for a change cut short)
/// and note. Every removal is logged in $XDG_STATE_HOME/sessctl/gc.jsonl, and in the product's own
/// event log when the product still exists.
#[derive(Debug, Args)]
pub struct Gc {
    /// Print what would be removed, remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Remove product configs without a unit file without asking.
    #[arg(long)]
    pub yes: bool,
    /// Print the actions as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Check and repair agent transcripts without ever changing the original.
///
/// A claude, codex or gemini product is pinned to one conversation
/// ($XDG_STATE_HOME/sessctl/products/<product>/pin.json), which every start resumes; `status`
/// shows it. `check` and `repair` read Claude Code transcripts only; `snapshots` and `restore`
/// work on every pinned conversation. How pinning works for each agent is in guide.md
/// (/usr/share/doc/sessctl/docs/).
#[derive(Debug, Subcommand)]
pub enum Transcript {
    /// Check a transcript as resume would load it; writes nothing.
    ///
    /// Streams the file and loads it as Claude Code 2.1 does: from the newest record, with
    /// parallel tool calls put back together, a missing parent linked to a record written at
    /// most 5 s before, and a compaction's preserved segment. Each finding's severity is what
    /// the client does on resume: an error loses history or fails the request, a warning is
    /// mended by the client (the detail says what it drops). Exit status: 0 clean,
    /// 6 warnings, 5 errors.
    ///
    /// What it does was observed with the real client, and the tests run each shape through
    /// it: every line that is valid JSON parses (null where a boolean is usual, unknown fields,
    /// lines that are not objects); records are indexed by uuid, never by file order; resume
    /// goes on from the newest conversation record (a last-prompt record is written only on a
    /// clean exit, so after a crash it names a stale leaf) and walks parentUuid back to the
    /// root or the last compaction boundary, then the boundary's preserved segment; parallel
    /// tool calls (one record per call, sharing message.id, each result on a branch of its own
    /// naming its call in sourceToolAssistantUUID) are put back together.
    ///
    /// The findings:
    ///
    /// broken-chain (error): a parentUuid that is not in the file, with no record in the 5 s
    /// before: the client silently drops the history before it; `repair` relinks it.
    ///
    /// relinked-parent (warning): the same within 5 s: the client links it to the record
    /// before.
    ///
    /// unparseable-line (error): a line that is not JSON: the client skips it, and a record on
    /// it is lost.
    ///
    /// partial-last-line (warning): the last line was cut off mid-write: the client skips it.
    ///
    /// dangling-tool-use (warning; error for 1.0.x): a tool_use with no result: 2.1 drops the
    /// call when it loads; a transcript written by 1.0.x clients (every record carries
    /// version) was sent as it was and got a 400.
    ///
    /// orphan-tool-result (warning; error for 1.0.x): a tool_result whose tool_use is not
    /// before it: 2.1 replaces it with an empty message.
    ///
    /// chain-cycle (error): the parentUuid chain loops.
    ///
    /// missing-transcript, empty-transcript (error): a pinned product's conversation has no
    /// transcript, or an empty one.
    ///
    /// boundary-without-summary (warning): a compaction boundary with no summary after it.
    ///
    /// retention (warning): for a product, Claude Code's cleanupPeriodDays will delete the
    /// transcript; set it to 99999, never 0 (0 stops transcripts being written).
    ///
    /// Memory is bounded by the longest line plus a compact index of 64 bytes per record
    /// (16-byte ids; tool ids as 8-byte fingerprints, read back from the file only to name
    /// them): at most 64 MiB for a 1 GiB transcript of 580,000 records, which the test suite
    /// checks against the peak RSS the kernel counts. The file is parsed by one thread per
    /// core (at most 4) in 1 MiB blocks.
    Check {
        /// A product (its pinned conversation) or a transcript file.
        target: String,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a repaired copy of a transcript as a new conversation; the original is untouched.
    ///
    /// Snapshots the original, then writes the copy with a new session id into the same project
    /// folder, with a sidecar log of every change: a cut-off or non-JSON line is dropped, a
    /// tool call with no result anywhere gets an error result right after it, a result
    /// without a call becomes a note, a record whose parent was never written is linked to
    /// the record before it. Untouched lines are copied byte for byte (with the new session
    /// id). A copy that would hold no conversation, or lose records without naming them, is
    /// never written; --adopt then pins the product to it.
    ///
    /// In detail: the copy is a new conversation (a new uuid, the matching sessionId on every
    /// line) in the same project folder, so the agent's own --resume finds it; the original is
    /// snapshotted into $XDG_STATE_HOME/sessctl/products/<product>/snapshots/ (or
    /// $XDG_STATE_HOME/sessctl/snapshots/ for a file). The repairs go by id, never by position:
    /// the error result (is_error: true) of a tool call with no result goes in a new user
    /// record right after the call, where the client writes results (a call that has a result anywhere, on any
    /// branch, never gets a second one); a looping chain is cut before the loop, as a last
    /// resort. Every untouched line is copied byte for byte except for the session id (same
    /// length). A sidecar <new-uuid>.sessctl.json logs every change, the original and the
    /// snapshot.
    ///
    /// The copy is checked before it stands: one that would hold no conversation, still has
    /// errors, or lacks any record of the original's resumed chain that no change names, is
    /// removed and the repair fails. A copy that drops records (each named in the log,
    /// drop-record) is kept, but --adopt refuses it unless --allow-loss is given. A transcript
    /// with nothing to mend gets no copy at all.
    Repair {
        /// A product (its pinned conversation) or a transcript file.
        target: String,
        /// Pin the product to the repaired conversation. A running session is stopped first,
        /// the copy is made of what its agent left, and the session is started again on the
        /// copy, so no turn written meanwhile is lost; a stopped session resumes the copy at its
        /// next start. Refused while a process outside the product's unit writes the
        /// conversation (stop it, then run this again).
        #[arg(long)]
        adopt: bool,
        /// With --adopt: adopt a copy that drops records of the conversation (each one is
        /// named in the repair's log). Without it such a copy is kept but never adopted.
        #[arg(long, requires = "adopt")]
        allow_loss: bool,
    },
    /// List the snapshots of a product's pinned conversation, oldest first.
    ///
    /// One is taken before every start of the session, the newest N kept (enable
    /// --keep-snapshots).
    ///
    /// Whoever starts the session (sessctl, a login, a reboot), the snapshot goes into
    /// $XDG_STATE_HOME/sessctl/products/<product>/snapshots/, with the conversation's <uuid>/
    /// folder (subagents, large tool results). A transcript is appended in place, so a
    /// snapshot is a reflink where the file system can clone, else a copy, never a hard link
    /// (which would keep growing).
    Snapshots {
        /// The product's name.
        product: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Bring a snapshot back as a new conversation and pin the product to it.
    ///
    /// The snapshot is copied, never moved, into the conversation's project folder with a new
    /// session id (the same bytes otherwise); the product's next start resumes it.
    Restore {
        /// The product's name.
        product: String,
        /// A snapshot's name, as `sessctl transcript snapshots` lists it.
        snapshot: String,
    },
}

/// The variable a completion script sets to ask sessctl for completions: sessctl's own, so that
/// a `COMPLETE` meant for another program never turns a sessctl run into a completion.
pub const COMPLETE_VAR: &str = "SESSCTL_COMPLETE";

/// Print the shell code that completes sessctl's subcommands, flags and product names.
///
/// The code asks sessctl itself at each <TAB> (SESSCTL_COMPLETE=<shell> sessctl -- <words>,
/// clap_complete's dynamic engine; a COMPLETE meant for another program never reaches
/// sessctl), so the products configured at that moment complete. Load it for this shell with
/// `source <(sessctl completions bash)`, or install it where the shell looks: the Debian
/// package puts it in /usr/share/bash-completion/completions/sessctl,
/// /usr/share/zsh/vendor-completions/_sessctl and
/// /usr/share/fish/vendor_completions.d/sessctl.fish.
#[derive(Debug, Args)]
pub struct Completions {
    /// The shell to complete in.
    pub shell: Shell,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

/// Print sessctl's manual page, or one subcommand's, as roff (`sessctl man | man -l -`).
///
/// The Debian package installs the same pages, sessctl(1) and sessctl-<subcommand>(1), made
/// from this command line when sessctl is built; `sessctl man transcript check | man -l -`
/// shows sessctl-transcript-check(1). The installed sessctl-enable(1) does not list --agent's
/// values: they come from sessctl's agent profiles, which the build script does not compile.
#[derive(Debug, Args)]
pub struct Man {
    /// A subcommand, with its own subcommand if it has them (`sessctl man transcript check`).
    #[arg(value_name = "SUBCOMMAND")]
    pub subcommand: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ProductJson {
    /// The product's name.
    pub product: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ProductArg {
    /// The product's name.
    pub product: String,
}

/// Show a product's session: state, main PID, uptime, restarts, cgroup, unit-file drift.
///
/// Without a product, shows every product. It takes no lock, never reads a transcript, and
/// shows a product whose config cannot be parsed with what systemd says of its unit. --json
/// prints one object (an array without a product) with these fields:
///
/// product, unit: the product and its unit, sessctl-<product>.service. active_state, sub_state:
/// systemd's ActiveState and SubState. main_pid: the tmux server; 0 when not running. agent_pid:
/// the agent (the one child of the pane's process); null when there is none. uptime_seconds:
/// since the main process started; null when not running. n_restarts: the restarts systemd made
/// (NRestarts). start_limit_hit: systemd's start limit stopped its restarts (Result
/// start-limit-hit), the end of a crash loop; false once it runs again. cgroup: the unit's
/// control group. invocation_id: systemd's InvocationID (hex); changes on every start.
///
/// last_exit: how the agent last ended: status or signal, at, invocation_id, and requested (a
/// stop or restart asked for it); null before its first end. The text form shows it as "last
/// exit".
///
/// unit_file: current, drifted (differs from a fresh render) or missing. need_daemon_reload:
/// the file changed since systemd read it. restart_pending: settings changed under this live
/// session; `sessctl restart` applies them.
///
/// lost: why the session sessctl last saw is gone; null when it is not. Never set while a stop,
/// restart or disable is under way or was cut short. change: an enable, stop, restart or
/// disable that is under way (with its PID) or was cut short, and how to finish it; null when
/// there is none. missing: what a start needs that is gone (the work directory, the agent's
/// program, tmux), with the fix; null when nothing is.
///
/// needs_repair: for a session that is down, why its transcript would fail, and the repair to
/// run; null otherwise. This is the crash-loop guard's remembered verdict on the transcript as
/// it is now (reached by the last stop, start or resume); status never reads a transcript
/// itself, so a transcript changed since then shows null until the next of those.
///
/// conversation: for a pinned agent, session_id, transcript (null until written), bytes,
/// modified; null otherwise. broken: why the product's config cannot be parsed, and the fix;
/// null when it can. A broken product is still listed (unit_file is then unknown), and the
/// others are reported as usual.
///
/// waiting: {"since", "kind"} while the agent waits for its human, else null (always null for
/// a session that is not running). A claude product is started with --settings whose hooks
/// record it: Stop (a response is done: kind stop) and Notification (it asks for a permission
/// or an answer: kind notification) mark it, and UserPromptSubmit clears it before the next
/// prompt is sent. Any other agent is marked silence after `enable --silence` seconds without
/// output, until its next output. A wait keeps the time it began until it is cleared. The text
/// form shows "waiting since ...".
///
/// last_resume: the proof the last resume (or attach, or a verify round) gave, from the end of
/// the event log: verdict (survived, started, lost, recovered, that is lost and a new session
/// runs on the same conversation, or needs-repair), at, main_pid and agent_pid of the session
/// it proved, reason; null before the first. The text form shows it as "last resume".
#[derive(Debug, Args)]
pub struct Status {
    /// The product's name [default: every product].
    pub product: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// List every product with its session's state.
///
/// --json prints an array of the objects `sessctl status --json` prints. It takes no lock, so
/// it never waits behind a start.
#[derive(Debug, Args)]
pub struct Json {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Serve the dashboard: resume, start and stop sessions from a browser or a phone, with the
/// proof of every resume on screen.
///
/// Listens on the socket systemd hands over (sessctl-dashboard.socket, see `sessctl dashboard
/// enable`), else on --listen. Without TLS, loopback addresses only, served as
/// http://sessctl.localhost:PORT/: reach it from a phone through `tailscale serve` or an SSH
/// tunnel (README, and "From a phone" in guide.md). With --tls-cert and --tls-key it speaks HTTPS and may listen on any
/// address. Browsers log in once with the one-time link `sessctl dashboard url` prints (or
/// the token) and get a login session; scripts send `Authorization: Bearer <token>`. Sessions
/// never run inside the server: stopping or restarting it touches none.
///
/// It answers only requests for an IP address, localhost, sessctl.localhost, the names its
/// certificate covers and the names given with --allow-host. The pages, the JSON API (each
/// route returns what the matching --json command prints) and the security model are described
/// in guide.md and security.md (/usr/share/doc/sessctl/docs/).
#[derive(Debug, Args)]
pub struct Serve {
    /// The address and port to listen on when systemd hands over no socket.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:7878")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub tls: Tls,
    #[command(flatten)]
    pub hosts: Hosts,
}

/// The host names the dashboard answers to.
#[derive(Debug, Args)]
pub struct Hosts {
    /// Also answer requests for this host name (for example the name a certificate or
    /// `tailscale serve` gives the machine); repeat for more. Addresses, `localhost` and
    /// `sessctl.localhost` are always answered; any other name is refused, so that a web page
    /// whose name was made to resolve to this machine reaches nothing.
    #[arg(long = "allow-host", value_name = "NAME")]
    pub allow_host: Vec<String>,
}

/// HTTPS for a dashboard that other machines reach.
#[derive(Debug, Args)]
pub struct Tls {
    /// The certificate chain to serve HTTPS with, PEM, leaf first (for example what
    /// `tailscale cert` writes); needs --tls-key, and lets the dashboard listen beyond loopback.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert, PEM.
    ///
    /// Both files are checked before anything is written or served (the chain parses, the key
    /// is the first certificate's); a bad one is refused naming it. With TLS the dashboard
    /// speaks HTTPS only (TLS 1.2 and 1.3), and its login cookie is Secure.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

impl Tls {
    /// The certificate and key files, when both are given (clap makes one need the other).
    pub fn files(self) -> Option<(PathBuf, PathBuf)> {
        self.tls_cert.zip(self.tls_key)
    }
}

/// The dashboard's user service, and logging in to it.
///
/// `sessctl dashboard enable` installs the dashboard on 127.0.0.1:7878, started at login, and
/// `sessctl dashboard url` prints a one-time link: open it, and the browser stays logged in for
/// 30 days (`sessctl dashboard pair` shows one as a QR code for a phone to scan). The Debian package also ships the units in /usr/lib/systemd/user/, so `systemctl
/// --user enable --now sessctl-dashboard.socket` works as well for the default address.
#[derive(Debug, Subcommand)]
pub enum Dashboard {
    /// Install the dashboard as a socket-activated user service, started at login.
    ///
    /// Writes sessctl-dashboard.socket and sessctl-dashboard.service, enables both and starts
    /// them: the server runs from login on, not only from the first connection, so that it
    /// sends push notices after a reboot. Running it again with another --listen or other TLS
    /// files moves the socket or restarts the server. No session is touched.
    Enable {
        /// The address and port the socket listens on: loopback, unless with TLS.
        #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:7878")]
        listen: SocketAddr,
        #[command(flatten)]
        tls: Tls,
        #[command(flatten)]
        hosts: Hosts,
        /// A directory under which the dashboard's page may create products; repeat for more.
        ///
        /// The page's "New product" form then runs `sessctl enable` for a directory that is
        /// one of these or under one, symlinks resolved; any other is refused. Each must exist
        /// and is stored canonical, in $XDG_CONFIG_HOME/sessctl/dashboard-roots.json. Running
        /// enable again replaces the roots with the ones it is given: without --root, creating
        /// products from the page is off.
        #[arg(long = "root", value_name = "DIR")]
        roots: Vec<PathBuf>,
    },
    /// Stop the dashboard, disable its socket and remove both units; no session is touched.
    ///
    /// The token and the login sessions are kept: browsers logged in are logged in again
    /// after the next enable.
    Disable,
    /// Print the dashboard's token (created on first use, mode 0600), for scripts
    /// (`Authorization: Bearer`) and the login page.
    Token {
        /// Make a new token instead, and end every login session and link made with the old.
        #[arg(long)]
        new: bool,
    },
    /// Print a one-time link that logs a browser in, valid for ten minutes and one use.
    ///
    /// The link carries a code, never the token; opening it makes a login session and moves on
    /// to the dashboard's list, so nothing that opens the dashboard stays in the browser's
    /// history. It is http://sessctl.localhost:7878/login?code=... (https:// with TLS; put the
    /// host name your certificate names in place of 0.0.0.0).
    Url,
    /// Log a phone in with one scan: print a QR code of a one-time login link, valid for two
    /// minutes and one use.
    ///
    /// The link is `sessctl dashboard url`'s, with a shorter life: the code is on a screen, so
    /// it need not outlive the scan. Point the phone's camera at it; the phone opens the link
    /// and gets a login session of its own, listed by `sessctl dashboard sessions`. The link is
    /// printed under the code too, for copying. On a terminal the code is painted black on
    /// white whatever the terminal's colours, as cameras read codes; piped, or with
    /// NO_COLOR set, it is plain text, its blocks the dark modules. The phone must reach the
    /// link's address: with the default loopback address, through `tailscale serve` or an SSH
    /// tunnel (guide.md, "From a phone").
    Pair,
    /// List the browsers logged in: id, device, when logged in, last seen, when it expires
    ///
    /// PUSH (`push` in --json) says whether the device gets Web Push notices: it gets them
    /// once it turns them on on the dashboard's page, and revoking its session ends them with
    /// it (guide.md, "Notifications on your phone").
    Sessions(Json),
    /// Log browsers out: one login session by its id (`sessctl dashboard sessions`), or all.
    ///
    /// A browser logged out this way is logged out at its next request.
    Revoke(Revoke),
}

#[derive(Debug, Args)]
pub struct Revoke {
    /// The login session's id, as `sessctl dashboard sessions` lists it.
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub id: Option<String>,
    /// End every login session.
    #[arg(long)]
    pub all: bool,
}

/// Other hosts by name, for commands that reach a host over ssh.
///
/// A host is a machine where sessctl runs too, reached with your own `ssh` as
/// `[user@]host[:port]`: your ssh configuration (keys, users, jumps, known hosts) applies as
/// it is. A name saves typing the destination and says which sessctl to run there. The names
/// are kept in $XDG_CONFIG_HOME/sessctl/hosts.toml, one table each: `[hosts.build]` with
/// `dest = "alice@build.lan:2222"` and, optionally, `sessctl = "~/.cargo/bin/sessctl"`.
///
/// sessctl is the program run on that host, `sessctl` when not set: an ssh login's PATH
/// rarely holds ~/.cargo/bin. These commands only read and write that file; none connects.
///
/// Examples: `sessctl host add build alice@build.lan:2222 --sessctl ~/.cargo/bin/sessctl`,
/// `sessctl host list`, `sessctl host remove build`.
#[derive(Debug, Subcommand)]
pub enum HostCmd {
    /// Name a host: NAME for the destination DEST, written to hosts.toml.
    ///
    /// NAME takes 1 to 64 of A-Z a-z 0-9 _ . - starting with a letter or digit; `all` is
    /// reserved (`--host all` means every host). DEST is `[user@]host[:port]` or
    /// `[user@][v6addr]:port`; a part starting with '-' is refused, as ssh would read it as an
    /// option. Adding the same host again changes nothing; a name taken by another destination
    /// is refused (exit 2): remove it first, then add it again.
    Add {
        /// The host's name, as commands will take it.
        name: String,
        /// Where ssh connects: [user@]host[:port].
        dest: String,
        /// The sessctl program on that host, as its login shell runs it [default: sessctl].
        #[arg(long, value_name = "PATH")]
        sessctl: Option<String>,
    },
    /// List the hosts of hosts.toml: name, destination, sessctl program.
    ///
    /// --json prints an array of {"name", "dest", "sessctl"} (sessctl null for the default).
    List(Json),
    /// Forget a host: remove its table from hosts.toml, and end sessctl's shared ssh
    /// connection to it.
    ///
    /// Exit 2 when hosts.toml has no such host; `sessctl host list` shows them.
    Remove {
        /// The host's name, as `sessctl host list` shows it.
        name: String,
    },
}

/// Commands the rendered unit runs; not for people.
#[derive(Debug, Subcommand)]
pub enum Internal {
    /// Become the product's tmux server, with the agent in its session.
    Host {
        #[arg(long)]
        tmux: PathBuf,
        #[arg(long)]
        socket: PathBuf,
        /// The product's state directory, where the agent's end is recorded.
        #[arg(long)]
        state: PathBuf,
        /// Seconds kept between the starts of two products' agents; 0 turns it off.
        #[arg(long, default_value_t = 0)]
        stagger: u32,
        /// Seconds of quiet after which the agent is marked waiting; 0 turns it off.
        #[arg(long, default_value_t = 0)]
        silence: u32,
        /// The shell command to run when the agent starts waiting.
        #[arg(long)]
        on_waiting: Option<String>,
        /// The product's pin: the agent resumes (or starts) that conversation.
        #[arg(long)]
        pin: Option<PathBuf>,
        /// Snapshots of the pinned conversation to keep.
        #[arg(long, default_value_t = 10)]
        keep_snapshots: u32,
        /// How the pinned conversation is passed to the agent: an agent profile's name.
        #[arg(long, default_value = "generic")]
        agent: String,
        #[arg(last = true, required = true)]
        command: Vec<String>,
    },
    /// Wait until the product's session exists.
    WaitReady {
        #[arg(long)]
        tmux: PathBuf,
        #[arg(long)]
        socket: PathBuf,
    },
    /// The process in the tmux pane: launches the agent, waits for it, and records how it
    /// ended in the product's state.
    Pane(AgentLaunch),
    /// The agent's process before it is the agent: waits for the start slot, then execs it.
    Launch(AgentLaunch),
    /// The agent's hooks: record that it waits for its human (KIND), or with --clear that it
    /// got its input.
    Notify {
        /// The product's state directory.
        #[arg(long)]
        state: PathBuf,
        /// The agent got its input: no longer waiting.
        #[arg(long, conflicts_with = "kind")]
        clear: bool,
        /// What the agent waits for: stop (a response is done), notification (it asks), or
        /// silence (tmux saw no output for a while).
        #[arg(value_parser = ["stop", "notification", "silence"], required_unless_present = "clear")]
        kind: Option<String>,
        /// The shell command to run when this starts a wait.
        #[arg(long)]
        on_waiting: Option<String>,
    },
    /// The agent's PermissionRequest hook: show the tool call on the dashboard, and print its
    /// answer in the hook's words, or nothing (the dialog stays in the terminal).
    Permission {
        /// The product's state directory.
        #[arg(long)]
        state: PathBuf,
        /// Seconds to wait for an answer.
        #[arg(long, default_value_t = 300)]
        wait: u64,
    },
    /// The --on-waiting command's ExecStopPost: log a failed run.
    OnWaitingEnded {
        #[arg(long)]
        state: PathBuf,
    },
    /// The unit's ExecStopPost: fail the unit when the agent ended abnormally on its own, so
    /// that Restart=on-failure brings it back.
    Stopped {
        #[arg(long)]
        state: PathBuf,
        #[arg(long)]
        unit: String,
    },
    /// What `sessctl --host` runs on the other host, through ssh: prints this sessctl's hello
    /// line (version and protocol, for the caller to check), then becomes `sessctl ARGS`, so
    /// the output, exit code and signals are that command's own.
    Call {
        #[arg(last = true)]
        args: Vec<OsString>,
    },
    /// What another host's dashboard runs through ssh to answer a product's question for
    /// permission here: prints the question answered as JSON, or `null` when it is not open
    /// (answered, or left to the terminal).
    Decide {
        product: String,
        /// The question's id.
        id: String,
        #[arg(value_parser = ["allow", "deny"])]
        decision: String,
        /// Who answered, for the event log: the login session there, and where.
        #[arg(long)]
        by: String,
    },
    /// What another host's dashboard runs through `ssh -t` to show a product's session: the
    /// pane's history for this terminal's size, then a tmux client of the session on this
    /// terminal. Exits 4 at once, printing nothing, when no session runs.
    View {
        product: String,
        /// Let keys reach the agent; without it the client is read-only.
        #[arg(long)]
        write: bool,
    },
}

/// How the pane starts the agent.
#[derive(Debug, Clone, Args)]
pub struct AgentLaunch {
    /// The product's state directory: the agent's end, the event log.
    #[arg(long)]
    pub state: PathBuf,
    /// The start slot file shared by every product of the user.
    #[arg(long)]
    pub slot: PathBuf,
    /// Seconds kept between two products' agent starts; 0 turns it off.
    #[arg(long)]
    pub stagger: u32,
    /// Pin file and agent of an agent that picks its own conversation ids: the pane pins the
    /// conversation the agent begins as soon as it appears.
    #[arg(long, requires = "agent")]
    pub pin: Option<PathBuf>,
    #[arg(long, requires = "pin")]
    pub agent: Option<String>,
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

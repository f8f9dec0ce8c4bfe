//! The command line as data: every flag, argument and help text of sessctl, and nothing else.
//!
//! Imports nothing of sessctl; only `cmd` and the root read it.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Keep one long-lived AI coding-agent session per product alive as a systemd user service.
///
/// Each product gets a user service, sessctl-<product>.service, whose main process is a tmux
/// server on the product's own socket; the agent runs in its one session. A resume, a logout
/// (with linger), a dashboard restart or a reboot never destroys it.
#[derive(Debug, Parser)]
#[command(name = "sessctl", version, disable_help_subcommand = true, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

const AFTER_HELP: &str = "\
Exit codes: 0 success, 1 an operation failed, 2 invalid usage or input, 3 the systemd user
manager could not be reached, 4 a session was lost, 5 a conversation needs repair, 6 a check
found something to act on.

Environment: XDG_CONFIG_HOME (products and units), XDG_STATE_HOME (state), XDG_RUNTIME_DIR
(tmux sockets, user bus), DBUS_SESSION_BUS_ADDRESS (user bus).";

#[derive(Debug, Subcommand)]
pub enum Command {
    Enable(Enable),
    Disable(Disable),
    /// Print the unit file that `enable` writes for a product.
    Render(ProductArg),
    /// Start a product's session and wait until its tmux session exists.
    Start(ProductArg),
    /// Stop a product's session: SIGTERM to every process of it, SIGKILL after 30 s.
    Stop(ProductArg),
    /// Restart a product's session; this ends the live agent and starts a new one.
    Restart(ProductArg),
    Resume(Resume),
    Verify(Verify),
    Status(Status),
    List(Json),
    /// Show a product's event log: enables, starts, resumes with their verdicts, stops, losses.
    Log(ProductJson),
    Doctor(Doctor),
    Gc(Gc),
    #[command(subcommand)]
    Transcript(Transcript),
    /// Attach this terminal to a product's session, starting the session first if needed.
    ///
    /// It resumes first, as `resume` does: a lost session is reported (exit status 4 after the
    /// attach) and a new one started on the same conversation. Needs a terminal on stdin. Detach with tmux's prefix + d; the session keeps running.
    Attach(ProductArg),
    /// Show sessctl keeping a session alive next to the naive launch losing one.
    ///
    /// Uses your user manager when it is reachable; otherwise, as root on a host not booted
    /// with systemd (a container) with writable cgroups, a private `systemd --user` of its
    /// own. On a systemd host it never makes cgroups of its own. Removes everything it made.
    Demo,
    Serve(Serve),
    #[command(subcommand)]
    Dashboard(Dashboard),
    Completions(Completions),
    Man(Man),
    #[command(subcommand, hide = true)]
    Internal(Internal),
}

/// Create or update a product and its user service, enable it for login, and start it.
///
/// Running it again with the same settings changes nothing. With changed settings it rewrites
/// the unit and reloads systemd, but never restarts a live session: it reports "restart
/// pending" until you run `sessctl restart <product>`.
#[derive(Debug, Args)]
pub struct Enable {
    /// Product name: 1 to 64 of A-Z a-z 0-9 _ . - starting with a letter or digit; not
    /// `dashboard` (the dashboard's own unit), and short enough that its tmux socket path fits
    /// in 107 bytes.
    pub product: String,
    /// The directory the agent works in [default: the current directory].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// An environment variable for the agent; repeat for more.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Write and enable the unit, but do not start it.
    #[arg(long)]
    pub no_start: bool,
    /// The agent profile [default: detected from the command's name]. A claude product is
    /// pinned to one conversation: `--session-id` on its first start, `--resume` after; codex
    /// and gemini products to the conversation their first start creates.
    #[arg(long, value_name = "AGENT")]
    pub agent: Option<String>,
    /// How many snapshots of a pinned conversation to keep; one is taken before every start.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub keep_snapshots: u32,
    /// Seconds kept between this agent's start and the previous start of any product's agent,
    /// so that a login or a reboot that starts many products does not start many agents in the
    /// same instant (they would refresh the same OAuth token together). A product starting
    /// alone never waits; 0 turns it off.
    #[arg(long, value_name = "SECONDS", default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=600))]
    pub stagger: u32,
    /// Seconds of quiet in the session after which an agent that cannot say it waits for you
    /// is marked "waiting" (tmux's silence monitor); its next output clears the mark. Claude
    /// says so itself, through its hooks. 0 turns it off.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(0..=86400))]
    pub silence: u32,
    /// A shell command to run each time the agent starts waiting for you, such as a phone
    /// notification (`curl -d "$SESSCTL_PRODUCT waits" ntfy.sh/topic`). It runs as a user
    /// unit of its own, never in the session, for at most 30 s, with SESSCTL_PRODUCT,
    /// SESSCTL_WAITING_KIND and SESSCTL_WAITING_SINCE set; a failure is logged.
    #[arg(long, value_name = "CMD")]
    pub on_waiting: Option<String>,
    /// The agent's command line; its first word is looked up in PATH now [default: claude].
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// Stop a product's session, disable and remove its unit; keep its config unless --purge.
///
/// A disable cut short (a killed sessctl) stands: run it again to finish it. Until then
/// resume, start, stop and restart refuse, so nothing undoes it behind your back.
#[derive(Debug, Args)]
pub struct Disable {
    pub product: String,
    /// Also remove the product's config and state.
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
#[derive(Debug, Args)]
pub struct Resume {
    pub product: String,
    /// Do not attach; only resume and prove.
    #[arg(long)]
    pub no_attach: bool,
    /// Print the verdict as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Resume a product N times without attaching and fail on any identity change.
#[derive(Debug, Args)]
pub struct Verify {
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
/// SESSCTL_LINGER_DIR and SESSCTL_LOGIND_CONF point the linger and logind.conf checks elsewhere
/// (the default is logind over the system bus, then /var/lib/systemd/linger, and
/// /etc/systemd/logind.conf with its drop-ins).
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
    Snapshots {
        product: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Bring a snapshot back as a new conversation and pin the product to it.
    ///
    /// The snapshot is copied, never moved, into the conversation's project folder with a new
    /// session id; the product's next start resumes it.
    Restore {
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
/// The code asks sessctl itself at each <TAB> (SESSCTL_COMPLETE=<shell> sessctl -- <words>), so the
/// products that exist now complete. Load it for this shell with
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
/// from this command line when sessctl is built.
#[derive(Debug, Args)]
pub struct Man {
    /// A subcommand, with its own subcommand if it has them (`sessctl man transcript check`).
    #[arg(value_name = "SUBCOMMAND")]
    pub subcommand: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ProductJson {
    pub product: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ProductArg {
    pub product: String,
}

/// Show a product's session: state, main PID, uptime, restarts, cgroup, unit-file drift.
///
/// Without a product, shows every product.
#[derive(Debug, Args)]
pub struct Status {
    pub product: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// List every product with its session's state.
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
/// tunnel (README). With --tls-cert and --tls-key it speaks HTTPS and may listen on any
/// address. Browsers log in once with the one-time link `sessctl dashboard url` prints (or
/// the token) and get a login session; scripts send `Authorization: Bearer <token>`. Sessions
/// never run inside the server: stopping or restarting it touches none.
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
#[derive(Debug, Subcommand)]
pub enum Dashboard {
    /// Install the dashboard as a socket-activated user service, started at login.
    ///
    /// Writes sessctl-dashboard.socket and sessctl-dashboard.service, enables the socket and
    /// starts it; the first connection starts the server. Running it again with another
    /// --listen or other TLS files moves the socket or restarts the server. No session is
    /// touched.
    Enable {
        /// The address and port the socket listens on: loopback, unless with TLS.
        #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:7878")]
        listen: SocketAddr,
        #[command(flatten)]
        tls: Tls,
        #[command(flatten)]
        hosts: Hosts,
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
    /// history.
    Url,
    /// List the browsers logged in: id, device, when logged in, last seen, when it expires.
    Sessions(Json),
    /// Log browsers out: one login session by its id (`sessctl dashboard sessions`), or all.
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

//! Other hosts, reached with the user's own `ssh`: the only module that runs it. A host is a
//! destination as ssh takes it ([`Dest`]); sessctl sets only what it must and leaves users,
//! ports, keys, jumps and known hosts to the user's ssh configuration.
//!
//! A [`Link`] runs `sessctl internal call -- ARGS` there through one shared connection per
//! host (OpenSSH's ControlMaster). The remote half answers with a [`Hello`] line first, so the
//! caller knows it reached a sessctl, and which, before it reads the command's own output;
//! what went wrong on the way is a [`Failure`], and [`Failure::error`] is how the user hears it.
//!
//! May import: base modules.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{quoted, unreached, usage};
use crate::poll;
use crate::pty::{self, Size, Viewer};

/// The version of what `internal call` and the commands it runs promise their caller: raised
/// only when an argument or a JSON shape the calling side relies on changes incompatibly.
pub const PROTOCOL: u32 = 1;
/// The oldest protocol this sessctl still understands, as the caller of another host.
pub const OLDEST_PROTOCOL: u32 = 1;

/// The first line `sessctl internal call` prints: who answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Its version (`CARGO_PKG_VERSION`).
    pub sessctl: String,
    /// The protocol it speaks.
    pub protocol: u32,
    /// The oldest protocol it still understands as a caller.
    pub oldest: u32,
}

impl Hello {
    /// This sessctl's own.
    pub fn ours() -> Hello {
        Hello {
            sessctl: env!("CARGO_PKG_VERSION").to_string(),
            protocol: PROTOCOL,
            oldest: OLDEST_PROTOCOL,
        }
    }
}

/// Where ssh connects: `[user@]host[:port]`, or `[user@][v6addr]:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dest {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl Dest {
    /// Parses a destination as written on the command line or in hosts.toml. Refused: empty
    /// parts, a port that is not 1-65535, whitespace, control characters, and a leading `-`,
    /// which ssh would read as an option.
    pub fn parse(text: &str) -> Result<Dest> {
        let bad = |why: &str| {
            usage(format!(
                "invalid host {}: {why}; write [user@]host[:port], e.g. alice@build.lan:2222",
                quoted(text)
            ))
        };
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad("it holds whitespace or a control character"));
        }
        let (user, rest) = match text.rsplit_once('@') {
            Some((user, rest)) => (Some(user), rest),
            None => (None, text),
        };
        let (host, port) = split_port(rest).ok_or_else(|| bad("its port is not 1-65535"))?;
        for part in user.into_iter().chain([host]) {
            if part.is_empty() {
                return Err(bad("a part is empty"));
            }
            if part.starts_with('-') {
                return Err(bad("a part starts with '-'"));
            }
        }
        Ok(Dest {
            user: user.map(str::to_string),
            host: host.to_string(),
            port,
        })
    }

    /// ssh's arguments for it: `[-p PORT] -- [user@]host`, the `--` so no part can be an option.
    pub fn ssh_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(port) = self.port {
            args.extend(["-p".to_string(), port.to_string()]);
        }
        args.push("--".to_string());
        args.push(match &self.user {
            Some(user) => format!("{user}@{}", self.host),
            None => self.host.clone(),
        });
        args
    }
}

/// `host[:port]` or `[v6]:port` into the host and the port; `None` for a bad port.
fn split_port(text: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = match text.strip_prefix('[') {
        Some(bracketed) => {
            let (host, after) = bracketed.split_once(']')?;
            match after {
                "" => (host, None),
                _ => (host, Some(after.strip_prefix(':')?)),
            }
        }
        // More than one ':' is a bare IPv6 address, which has no port.
        None => match text.split_once(':') {
            Some((host, port)) if !port.contains(':') => (host, Some(port)),
            _ => (text, None),
        },
    };
    match port {
        None => Some((host, None)),
        Some(port) => match port.parse::<u16>() {
            Ok(0) | Err(_) => None,
            Ok(port) => Some((host, Some(port))),
        },
    }
}

impl fmt::Display for Dest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        match (self.host.contains(':'), self.port) {
            (true, Some(port)) => write!(f, "[{}]:{port}", self.host),
            (false, Some(port)) => write!(f, "{}:{port}", self.host),
            (_, None) => f.write_str(&self.host),
        }
    }
}

/// The longest control socket path: a socket address holds 108 bytes, and ssh binds its
/// master to the path plus a 17-byte temporary suffix before renaming it.
const MAX_CONTROL_PATH: usize = 90;

/// How long an idle master lives on after its last call, in seconds: a second call within it
/// costs one round trip instead of a handshake.
const PERSIST_SECONDS: u32 = 600;

/// How long [`Link::close`] waits for the master to remove its socket.
const CLOSE_WITHIN: Duration = Duration::from_secs(2);

/// The ssh program: `$SESSCTL_SSH` (as git's `GIT_SSH`), else `ssh` on PATH.
fn ssh_from_env() -> OsString {
    std::env::var_os("SESSCTL_SSH")
        .filter(|ssh| !ssh.is_empty())
        .unwrap_or_else(|| "ssh".into())
}

/// One host's sessctl, reached through ssh's shared connection to it.
#[derive(Debug, Clone)]
pub struct Link {
    ssh: OsString,
    dest: Dest,
    control: PathBuf,
    program: String,
}

/// What the remote command did, after a compatible hello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub hello: Hello,
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

/// How a call failed before the remote command could answer, or while it did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// ssh itself could not run: the program and why.
    NoSsh(String),
    /// The host refused the key (ssh's exit 255, "Permission denied"): ssh's last line.
    Refused(String),
    /// The host's key is unknown or changed: ssh's last line.
    HostKey(String),
    /// No connection (refused, timed out, no route, no such name): ssh's last line.
    Unreachable(String),
    /// No hello within this long; the link's master was dropped.
    Silent(Duration),
    /// The remote shell found no such program (126 or 127): the program asked for.
    NoProgram(String),
    /// The remote sessctl is too old: its hello, or none when it predates `internal call`.
    TooOld(Option<Hello>),
    /// The remote sessctl no longer speaks this one's protocol: its hello.
    TooNew(Hello),
    /// ssh failed (255) after the hello: the connection broke; ssh's last line.
    Broke(String),
    /// What answered is not sessctl's `internal call`: what it said instead.
    Stranger(String),
}

/// One call's raw outcome: the first line of stdout, the rest, stderr and how ssh ended.
struct Exchange {
    first: Vec<u8>,
    rest: Vec<u8>,
    stderr: Vec<u8>,
    status: ExitStatus,
}

/// How ssh runs the remote command.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// No prompt and no terminal: a call whose output is read.
    Call,
    /// On this process's terminal, for a human at it.
    Human,
    /// On a terminal for the dashboard: no prompt either, since no one could answer it, and no
    /// escape character, since the keys are a browser's, where `~.` is text.
    Viewer,
}

impl Mode {
    fn ssh_args(self) -> &'static [&'static str] {
        match self {
            Mode::Call => &["-o", "BatchMode=yes", "-T"],
            Mode::Human => &["-t"],
            // -tt: a terminal there whatever ssh makes of its own stdin: without one the
            // remote tmux client cannot run.
            Mode::Viewer => &["-o", "BatchMode=yes", "-tt", "-e", "none"],
        }
    }
}

/// A terminal on another host's sessctl: the pseudo-terminal ssh runs on, and what the remote
/// command wrote right after its hello, the start of its output.
pub struct Terminal {
    pub viewer: Viewer,
    pub early: Vec<u8>,
}

impl Link {
    /// A link to `dest`, with the ssh of [`ssh_from_env`]. See [`Link::with_ssh`].
    pub fn new(control_dir: &Path, dest: Dest, program: Option<&str>) -> Result<Link> {
        Link::with_ssh(ssh_from_env(), control_dir, dest, program)
    }

    /// A link to `dest` through the program `ssh`, running `program` there (default
    /// `sessctl`; a leading `~/` is the remote home). Its master's socket is in `control_dir`,
    /// made 0700 when missing, named after `dest` as written. A socket path too long for ssh
    /// is refused (exit 2).
    pub fn with_ssh(
        ssh: OsString,
        control_dir: &Path,
        dest: Dest,
        program: Option<&str>,
    ) -> Result<Link> {
        let digest = Sha256::digest(dest.to_string().as_bytes());
        let name: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        let control = control_dir.join(name);
        let length = control.as_os_str().len();
        if length > MAX_CONTROL_PATH {
            return Err(usage(format!(
                "the ssh control socket {} would be {length} bytes, more than the \
                 {MAX_CONTROL_PATH} ssh can bind; set XDG_RUNTIME_DIR to a shorter directory",
                control.display()
            )));
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(control_dir)
            .with_context(|| format!("creating {}", control_dir.display()))?;
        Ok(Link {
            ssh,
            dest,
            control,
            program: program.unwrap_or("sessctl").to_string(),
        })
    }

    /// Where the shared connection's socket is.
    pub fn control(&self) -> &Path {
        &self.control
    }

    /// Where it connects.
    pub fn dest(&self) -> &Dest {
        &self.dest
    }

    /// ssh's arguments for `sessctl ARGS` there, in `mode`.
    fn argv(&self, mode: Mode, args: &[String]) -> Vec<OsString> {
        // ssh expands `%` tokens in the path; a literal one is `%%`.
        let control = self.control.to_string_lossy().replace('%', "%%");
        [
            "-o".to_string(),
            "ControlMaster=auto".to_string(),
            "-o".to_string(),
            format!("ControlPath={control}"),
            "-o".to_string(),
            format!("ControlPersist={PERSIST_SECONDS}"),
        ]
        .into_iter()
        .chain(mode.ssh_args().iter().map(|arg| arg.to_string()))
        .chain(self.dest.ssh_args())
        .chain([quote_program(&self.program)])
        .chain(["internal", "call", "--"].into_iter().map(quote))
        .chain(args.iter().map(|arg| quote(arg)))
        .map(OsString::from)
        .collect()
    }

    /// Runs `sessctl ARGS` there and reads its answer: the hello within `hello_within` (else
    /// ssh is killed and the master dropped), then the command's output and exit code.
    pub fn call(&self, args: &[String], hello_within: Duration) -> Result<Answer, Failure> {
        let ssh = &self.ssh;
        let mut command = Command::new(ssh);
        command
            .args(self.argv(Mode::Call, args))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let failed = |err: io::Error| Failure::NoSsh(format!("{}: {err}", ssh.to_string_lossy()));
        let child = command.spawn().map_err(failed)?;
        match exchange(child, hello_within).map_err(failed)? {
            Some(exchange) => self.judge(exchange),
            None => {
                self.close();
                Err(Failure::Silent(hello_within))
            }
        }
    }

    /// What an exchange means: the answer, or how it failed.
    fn judge(&self, exchange: Exchange) -> Result<Answer, Failure> {
        let code = exchange.status.code().unwrap_or_else(|| {
            // ssh killed by a signal, as a shell reports it.
            128 + exchange.status.signal().unwrap_or(0)
        });
        let stderr = String::from_utf8_lossy(&exchange.stderr).into_owned();
        let last = last_line(&stderr);
        let hello = (exchange.first.ends_with(b"\n"))
            .then(|| serde_json::from_slice::<Hello>(&exchange.first).ok())
            .flatten();
        let Some(hello) = hello else {
            return Err(match code {
                255 if stderr.contains("Permission denied") => Failure::Refused(last),
                255 if stderr.contains("Host key verification failed")
                    || stderr.contains("IDENTIFICATION HAS CHANGED") =>
                {
                    Failure::HostKey(last)
                }
                255 => Failure::Unreachable(last),
                126 | 127 => Failure::NoProgram(self.program.clone()),
                // clap's word for a subcommand it does not know: `internal call`.
                _ if stderr.contains("unrecognized subcommand") => Failure::TooOld(None),
                _ => Failure::Stranger(match exchange.first.is_empty() {
                    true => format!("exit {code}, {}", quoted(&last)),
                    false => quoted(String::from_utf8_lossy(&exchange.first).trim_end()),
                }),
            });
        };
        // sessctl's own codes are 0-6: 255 is ssh's.
        if code == 255 {
            return Err(Failure::Broke(last));
        }
        let hello = compatible(hello)?;
        Ok(Answer {
            hello,
            code,
            stdout: exchange.rest,
            stderr,
        })
    }

    /// Runs `sessctl ARGS` there on a new pseudo-terminal of `size`, for the dashboard to show
    /// and type into; returns once the remote sessctl said its hello within `hello_within`.
    pub fn terminal(
        &self,
        args: &[String],
        size: Size,
        hello_within: Duration,
    ) -> Result<Terminal, Failure> {
        let argv = self.argv(Mode::Viewer, args);
        let argv: Vec<&OsStr> = argv.iter().map(AsRef::as_ref).collect();
        let mut viewer = pty::spawn(&self.ssh, &argv, None, Stdio::piped(), size)
            .map_err(|err| Failure::NoSsh(format!("{err:#}")))?;
        let deadline = Instant::now() + hello_within;
        let line_feed = |read: &[u8]| read.iter().position(|&b| b == b'\n');
        let (mut first, mut ended) =
            read_until(&viewer.master, deadline, |r| line_feed(r).is_some());
        let hello = line_feed(&first)
            .and_then(|end| Some((serde_json::from_slice::<Hello>(&first[..end]).ok()?, end)));
        let Some((hello, end)) = hello else {
            if !ended {
                // Something else answered: what it says until it ends tells what it is.
                let (more, end) = read_until(&viewer.master, deadline, |_| false);
                first.extend_from_slice(&more);
                ended = end;
            }
            return Err(self.no_hello(viewer, first, ended, hello_within));
        };
        match compatible(hello) {
            Ok(_) => Ok(Terminal {
                early: first[end + 1..].to_vec(),
                viewer,
            }),
            Err(failure) => {
                let _ = viewer.client.kill();
                let _ = viewer.client.wait();
                Err(failure)
            }
        }
    }

    /// Why a terminal's ssh gave no hello: what it and the remote said before it ended
    /// (`ended`), or else what it said instead, or that it said nothing in time (then the
    /// master is dropped). One that has not ended is killed.
    fn no_hello(
        &self,
        mut viewer: Viewer,
        first: Vec<u8>,
        ended: bool,
        within: Duration,
    ) -> Failure {
        if !ended {
            let _ = viewer.client.kill();
            let _ = viewer.client.wait();
            let said = String::from_utf8_lossy(&first);
            return match said.lines().map(str::trim).find(|line| !line.is_empty()) {
                Some(line) => Failure::Stranger(quoted(line)),
                None => {
                    self.close();
                    Failure::Silent(within)
                }
            };
        }
        let status = match viewer.client.wait() {
            Ok(status) => status,
            Err(err) => return Failure::Broke(format!("waiting for ssh: {err}")),
        };
        // ssh's own complaints are on its stderr; on a terminal the remote's are in its output.
        let mut stderr = Vec::new();
        if let Some(mut pipe) = viewer.client.stderr.take() {
            let _ = pipe.read_to_end(&mut stderr);
        }
        stderr.extend_from_slice(&first);
        let exchange = Exchange {
            first,
            rest: Vec::new(),
            stderr,
            status,
        };
        match self.judge(exchange) {
            Err(failure) => failure,
            // An answer needs a hello line, which the output did not start with.
            Ok(answer) => Failure::Stranger(quoted(&String::from_utf8_lossy(&answer.stdout))),
        }
    }

    /// Runs `sessctl ARGS` there on a terminal (`ssh -t`), with this process's stdin, stdout
    /// and stderr, for attach and resume; returns the exit code.
    pub fn interactive(&self, args: &[String]) -> Result<i32> {
        let ssh = &self.ssh;
        let status = Command::new(ssh)
            .args(self.argv(Mode::Human, args))
            .status()
            .with_context(|| format!("running {}", ssh.to_string_lossy()))?;
        Ok(status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
    }

    /// Ends the shared connection (`ssh -O exit`), so the next call makes a new one: a master
    /// on a cut link hangs every call through it. Returns once its socket is gone (the master
    /// removes it after it answered), or after [`CLOSE_WITHIN`].
    pub fn close(&self) {
        let ssh = &self.ssh;
        let control = self.control.to_string_lossy().replace('%', "%%");
        // Nothing to do on failure: it fails when no master runs, which is what was asked,
        // and a master that cannot be told dies on its own after ControlPersist.
        let _ = Command::new(ssh)
            .args(["-o", &format!("ControlPath={control}"), "-O", "exit"])
            .args(self.dest.ssh_args())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let gone = || Ok((!self.control.exists()).then_some(()));
        let _ = poll::until(CLOSE_WITHIN, gone);
    }
}

/// `hello` when this sessctl and the one that said it speak a protocol both know.
fn compatible(hello: Hello) -> Result<Hello, Failure> {
    if hello.protocol < OLDEST_PROTOCOL {
        return Err(Failure::TooOld(Some(hello)));
    }
    if PROTOCOL < hello.oldest {
        return Err(Failure::TooNew(hello));
    }
    Ok(hello)
}

/// Reads `child`'s first line of stdout within `hello_within`, then the rest, its stderr and
/// its end; `None` when the first line did not come in time (the child is killed).
fn exchange(mut child: Child, hello_within: Duration) -> io::Result<Option<Exchange>> {
    let missing = || io::Error::other("ssh was started without pipes");
    let out = child.stdout.take().ok_or_else(missing)?;
    let err = child.stderr.take().ok_or_else(missing)?;
    thread::scope(|scope| {
        let (said, heard) = mpsc::channel();
        let reading = scope.spawn(move || -> io::Result<(Vec<u8>, Vec<u8>)> {
            let mut out = BufReader::new(out);
            let mut first = Vec::new();
            out.read_until(b'\n', &mut first)?;
            // The caller may have given up waiting; then no one listens.
            let _ = said.send(());
            let mut rest = Vec::new();
            out.read_to_end(&mut rest)?;
            Ok((first, rest))
        });
        let errors = scope.spawn(move || {
            let mut stderr = Vec::new();
            BufReader::new(err).read_to_end(&mut stderr).map(|_| stderr)
        });
        let in_time = heard.recv_timeout(hello_within) != Err(RecvTimeoutError::Timeout);
        if !in_time {
            child.kill()?;
        }
        let status = child.wait()?;
        let panicked = |_| io::Error::other("a reader of ssh's output panicked");
        let (first, rest) = reading.join().map_err(panicked)??;
        let stderr = errors.join().map_err(panicked)??;
        Ok(in_time.then_some(Exchange {
            first,
            rest,
            stderr,
            status,
        }))
    })
}

/// What a terminal shows until `enough` of it was read, it ended, or `deadline` passed: the
/// bytes read, and whether it ended (its every other end closed, so it reads end of file or
/// EIO).
fn read_until(
    master: &OwnedFd,
    deadline: Instant,
    enough: impl Fn(&[u8]) -> bool,
) -> (Vec<u8>, bool) {
    let mut read = Vec::new();
    let mut buf = [0u8; 4096];
    while !enough(&read) {
        let left = deadline.saturating_duration_since(Instant::now());
        let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(master.as_fd(), PollFlags::POLLIN)];
        match nix::poll::poll(&mut fds, timeout) {
            Ok(0) => return (read, false),
            Err(Errno::EINTR) => continue,
            Ok(_) | Err(_) => {}
        }
        match nix::unistd::read(master, &mut buf) {
            Ok(0) | Err(_) => return (read, true),
            Ok(n) => read.extend_from_slice(&buf[..n]),
        }
    }
    (read, false)
}

/// The last line of ssh's stderr with words in it: the one that says what failed.
fn last_line(stderr: &str) -> String {
    (stderr.lines().map(str::trim))
        .rfind(|line| !line.is_empty())
        .unwrap_or("it said nothing")
        .to_string()
}

impl Failure {
    /// The one-line error the user sees for this failure on host `name` (a hosts.toml name,
    /// or the destination as written) at `dest`: what happened, and the fix; exit 3 when the
    /// host could not be reached, else 2.
    pub fn error(&self, name: &str, dest: &Dest) -> anyhow::Error {
        let host = match dest.to_string() == name {
            true => format!("host {dest}"),
            false => format!("host {name} ({dest})"),
        };
        let ssh = |line: &str| format!("ssh: {}", line.trim_start_matches("ssh: "));
        match self {
            Failure::NoSsh(why) => usage(format!(
                "{host}: cannot run ssh ({why}); install openssh-client, or set SESSCTL_SSH to \
                 your ssh"
            )),
            Failure::Refused(line) => unreached(format!(
                "{host}: the key was refused ({}); ssh-copy-id {dest}, or ssh-add the key",
                ssh(line)
            )),
            Failure::HostKey(line) => unreached(format!(
                "{host}: its host key is unknown or changed ({}); run `ssh {dest}` once to \
                 check it",
                ssh(line)
            )),
            Failure::Unreachable(line) => unreached(format!(
                "{host}: cannot be reached ({}); `ssh {dest} true` shows why",
                ssh(line)
            )),
            Failure::Silent(within) => unreached(format!(
                "{host}: did not answer within {} s; `ssh {dest} true` shows why",
                within.as_secs_f64()
            )),
            Failure::Broke(line) => unreached(format!(
                "{host}: the connection broke during the call ({}); `sessctl --host {name} \
                 status` shows what happened",
                ssh(line)
            )),
            Failure::NoProgram(program) => usage(format!(
                "{host}: cannot run {program} there: it is not on the PATH of ssh logins, or no \
                 such file; install sessctl there, or give its path: `sessctl host add {name} \
                 {dest} --sessctl PATH`"
            )),
            Failure::TooOld(None) => usage(format!(
                "{host}: its sessctl is older than `sessctl --host` (no `internal call`): \
                 upgrade sessctl on {name}"
            )),
            Failure::TooOld(Some(hello)) => usage(format!(
                "{host}: sessctl there is {} (protocol {}); this one needs protocol >= \
                 {OLDEST_PROTOCOL}: upgrade sessctl on {name}",
                hello.sessctl, hello.protocol
            )),
            Failure::TooNew(hello) => usage(format!(
                "{host}: sessctl there is {} (protocol {}, for callers of protocol >= {}); this \
                 one speaks protocol {PROTOCOL}: upgrade sessctl here",
                hello.sessctl, hello.protocol, hello.oldest
            )),
            Failure::Stranger(said) => usage(format!(
                "{host}: what runs as sessctl there did not answer as sessctl does ({said}); \
                 check that it is sessctl, and that the login prints nothing for a command"
            )),
        }
    }
}

/// `word` as one word for a POSIX shell: single-quoted, each `'` as `'\''`.
fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// The program as the remote shell gets it: quoted, but a leading `~/` left for the shell to
/// expand to the remote home.
fn quote_program(program: &str) -> String {
    match program.strip_prefix("~/") {
        Some(rest) => format!("~/{}", quote(rest)),
        None => quote(program),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[rstest]
    #[case("box", None, "box", None)]
    #[case("alice@box", Some("alice"), "box", None)]
    #[case("alice@box.lan:2222", Some("alice"), "box.lan", Some(2222))]
    #[case("10.25.1.2:22", None, "10.25.1.2", Some(22))]
    #[case("[fe80::1]:2222", None, "fe80::1", Some(2222))]
    #[case("bob@[::1]", Some("bob"), "::1", None)]
    #[case("::1", None, "::1", None)]
    #[case("a@b@box", Some("a@b"), "box", None)]
    fn destinations_parse_and_print_as_written(
        #[case] text: &str,
        #[case] user: Option<&str>,
        #[case] host: &str,
        #[case] port: Option<u16>,
    ) {
        let dest = Dest::parse(text).expect(text);
        assert_eq!(dest.user.as_deref(), user);
        assert_eq!(dest.host, host);
        assert_eq!(dest.port, port);
        let shown = dest.to_string();
        assert_eq!(Dest::parse(&shown).expect(&shown), dest);
    }

    #[rstest]
    #[case("", "a part is empty")]
    #[case("alice@", "a part is empty")]
    #[case("@box", "a part is empty")]
    #[case("-oProxyCommand=x", "a part starts with '-'")]
    #[case("-l@box", "a part starts with '-'")]
    #[case("box:0", "its port is not 1-65535")]
    #[case("box:99999", "its port is not 1-65535")]
    #[case("box:", "its port is not 1-65535")]
    #[case("[::1]x", "its port is not 1-65535")]
    #[case("bo x", "it holds whitespace or a control character")]
    #[case("box\n", "it holds whitespace or a control character")]
    fn bad_destinations_are_refused_with_the_form(#[case] text: &str, #[case] why: &str) {
        let err = Dest::parse(text).expect_err(text).to_string();
        assert_eq!(
            err,
            format!(
                "invalid host {}: {why}; write [user@]host[:port], e.g. alice@build.lan:2222",
                quoted(text)
            )
        );
    }

    #[test]
    fn ssh_gets_the_port_then_the_destination_after_a_double_dash() {
        let dest = Dest::parse("alice@box:2222").expect("dest");
        assert_eq!(dest.ssh_args(), ["-p", "2222", "--", "alice@box"]);
        assert_eq!(Dest::parse("box").expect("dest").ssh_args(), ["--", "box"]);
    }

    /// Shell words a remote argument may hold, each to arrive as written.
    const NASTY: [&str; 11] = [
        "it's",
        "$(touch /tmp/sessctl-quote-pwned)",
        "`id`",
        "a b",
        "line\nbreak",
        "~",
        "~/x",
        "\"dq\" \\",
        "*",
        "",
        "'';'",
    ];

    /// What `sh -c` makes of `words`, one argument each.
    fn through_sh(words: &str, home: &str) -> Vec<String> {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("printf '%s\\0' {words}"))
            .env("HOME", home)
            .output()
            .expect("running sh");
        assert!(out.status.success(), "{out:?}");
        let out = String::from_utf8(out.stdout).expect("utf-8");
        out.split_terminator('\0').map(str::to_string).collect()
    }

    #[test]
    fn quoted_words_reach_a_remote_shell_as_written() {
        let words: Vec<String> = NASTY.iter().map(|word| quote(word)).collect();
        assert_eq!(through_sh(&words.join(" "), "/home/h"), NASTY);
        assert_eq!(quote_program("~/bin/it's"), r"~/'bin/it'\''s'");
        assert_eq!(
            through_sh(&quote_program("~/bin/it's"), "/home/h"),
            ["/home/h/bin/it's"]
        );
        assert_eq!(through_sh(&quote_program("~x/$y"), "/home/h"), ["~x/$y"]);
    }

    fn link(ssh: &str, dir: &Path, dest: &str, program: Option<&str>) -> Link {
        let dest = Dest::parse(dest).expect("dest");
        Link::with_ssh(ssh.into(), dir, dest, program).expect("a link")
    }

    #[test]
    fn ssh_gets_the_shared_connection_the_mode_the_destination_then_quoted_words() {
        let dir = tempfile::tempdir().expect("tempdir");
        let control = dir.path().join("ssh");
        let link = link("ssh", &control, "alice@box:2222", Some("~/bin/sessctl"));
        let name = "6da0079e10a6333d";
        assert_eq!(link.control(), control.join(name));
        let shared = [
            "-o".to_string(),
            "ControlMaster=auto".to_string(),
            "-o".to_string(),
            format!("ControlPath={}", link.control().display()),
            "-o".to_string(),
            "ControlPersist=600".to_string(),
        ];
        let tail = "-p 2222 -- alice@box ~/'bin/sessctl' 'internal' 'call' '--' 'list' 'a b'";
        let args = ["list".to_string(), "a b".to_string()];
        for (mode, words) in [
            (Mode::Call, "-o BatchMode=yes -T"),
            (Mode::Human, "-t"),
            (Mode::Viewer, "-o BatchMode=yes -tt -e none"),
        ] {
            let expected: Vec<String> = (shared.iter().cloned())
                .chain(words.split(' ').map(str::to_string))
                .chain(tail.split(' ').map(str::to_string))
                .collect();
            let mut expected: Vec<OsString> = expected.into_iter().map(OsString::from).collect();
            // The one argument with a space, split above.
            let last = expected.len() - 2;
            expected.splice(last.., [OsString::from("'a b'")]);
            assert_eq!(link.argv(mode, &args), expected, "{mode:?}");
        }
        let mode = std::fs::metadata(&control).expect("the control dir").mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn a_control_socket_path_too_long_for_ssh_is_refused_naming_it() {
        let dir = Path::new("/run/user").join("d".repeat(64));
        let dest = Dest::parse("box").expect("dest");
        let err = Link::with_ssh("ssh".into(), &dir, dest, None).expect_err("refused");
        let path = dir.join("26f8567f25691822");
        assert_eq!(
            err.to_string(),
            format!(
                "the ssh control socket {} would be 91 bytes, more than the 90 ssh can bind; \
                 set XDG_RUNTIME_DIR to a shorter directory",
                path.display()
            )
        );
        assert_eq!(crate::error::code_of(&err), crate::error::USAGE);
        assert!(!dir.exists());
    }

    #[test]
    fn hello_is_one_line_of_this_sessctls_version_and_protocols() {
        let line = serde_json::to_string(&Hello::ours()).expect("json");
        assert_eq!(
            line,
            format!(
                r#"{{"sessctl":"{}","protocol":1,"oldest":1}}"#,
                env!("CARGO_PKG_VERSION")
            )
        );
    }

    /// A port on 127.0.0.1 that nothing listens on: bound, then let go.
    fn closed_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a port");
        listener.local_addr().expect("its address").port()
    }

    #[test]
    fn a_refused_connection_is_unreachable_exit_3_naming_sshs_reason() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dest = format!("127.0.0.1:{}", closed_port());
        let link = link("ssh", dir.path(), &dest, None);
        let failure = link
            .call(&["list".to_string()], Duration::from_secs(30))
            .expect_err("nothing listens");
        let port = &dest[10..];
        let line = format!("ssh: connect to host 127.0.0.1 port {port}: Connection refused");
        assert_eq!(failure, Failure::Unreachable(line.clone()));
        let err = failure.error(&dest, link.dest());
        assert_eq!(
            err.to_string(),
            format!("host {dest}: cannot be reached ({line}); `ssh {dest} true` shows why")
        );
        assert_eq!(crate::error::code_of(&err), crate::error::NO_MANAGER);
    }

    #[test]
    fn a_host_that_accepts_but_never_speaks_is_silent_exit_3() {
        let dir = tempfile::tempdir().expect("tempdir");
        // The kernel accepts the connection; no one ever sends ssh's banner.
        let mute = std::net::TcpListener::bind("127.0.0.1:0").expect("binding a port");
        let dest = format!("127.0.0.1:{}", mute.local_addr().expect("address").port());
        let link = link("ssh", dir.path(), &dest, None);
        let within = Duration::from_millis(300);
        let failure = link.call(&[], within).expect_err("no hello");
        assert_eq!(failure, Failure::Silent(within));
        let err = failure.error("mute", link.dest());
        assert_eq!(
            err.to_string(),
            format!("host mute ({dest}): did not answer within 0.3 s; `ssh {dest} true` shows why")
        );
        assert_eq!(crate::error::code_of(&err), crate::error::NO_MANAGER);
    }

    #[test]
    fn an_ssh_that_cannot_run_is_exit_2_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let link = link("/nonexistent/ssh", dir.path(), "box", None);
        let failure = link.call(&[], Duration::from_secs(30)).expect_err("no ssh");
        let why = "/nonexistent/ssh: No such file or directory (os error 2)";
        assert_eq!(failure, Failure::NoSsh(why.to_string()));
        let err = failure.error("box", link.dest());
        assert_eq!(
            err.to_string(),
            format!(
                "host box: cannot run ssh ({why}); install openssh-client, or set SESSCTL_SSH \
                 to your ssh"
            )
        );
        assert_eq!(crate::error::code_of(&err), crate::error::USAGE);
    }

    /// How `judge` reads ssh's exit 255 after a good hello. Real ssh shows it only by cutting
    /// a connection between the hello's arrival and the end, which no test can time without
    /// a race, so the exchange is written here as ssh 9.2 ends such a call.
    #[test]
    fn exit_255_after_the_hello_is_a_broken_connection_exit_3() {
        let dir = tempfile::tempdir().expect("tempdir");
        let link = link("ssh", dir.path(), "build", None);
        let said = "Connection to 10.25.1.2 closed by remote host.";
        let exchange = Exchange {
            first: (serde_json::to_string(&Hello::ours()).expect("json") + "\n").into_bytes(),
            rest: b"[".to_vec(),
            stderr: format!("{said}\n").into_bytes(),
            status: ExitStatus::from_raw(255 << 8),
        };
        let failure = link.judge(exchange).expect_err("cut");
        assert_eq!(failure, Failure::Broke(said.to_string()));
        let err = failure.error("build", link.dest());
        assert_eq!(
            err.to_string(),
            format!(
                "host build: the connection broke during the call (ssh: {said}); `sessctl \
                 --host build status` shows what happened"
            )
        );
        assert_eq!(crate::error::code_of(&err), crate::error::NO_MANAGER);
    }

    const SIZE: Size = Size { cols: 80, rows: 24 };

    /// A link whose "ssh" is `script`: what a remote prints on a terminal, without a host.
    fn scripted(dir: &Path, script: &str) -> Link {
        let ssh = dir.join("ssh");
        std::fs::write(&ssh, format!("#!/bin/sh\n{script}\n")).expect("writing the script");
        std::fs::set_permissions(&ssh, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        link(ssh.to_str().expect("utf-8"), &dir.join("ctl"), "box", None)
    }

    #[test]
    fn a_terminal_starts_after_the_hello_and_shows_what_followed_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let hello = serde_json::to_string(&Hello::ours()).expect("json");
        let link = scripted(
            dir.path(),
            &format!("printf '%s\\n' '{hello}'; printf history; sleep 30"),
        );
        let Terminal { viewer, early } = link
            .terminal(&[], SIZE, Duration::from_secs(30))
            .expect("a terminal");
        let Viewer { master, mut client } = viewer;
        // What followed the hello: in the read that took the hello, or in the next ones.
        let mut shown = early;
        while shown.len() < b"history".len() {
            let mut buf = [0u8; 64];
            let n = nix::unistd::read(&master, &mut buf).expect("reading the terminal");
            shown.extend_from_slice(&buf[..n]);
        }
        assert_eq!(shown, b"history");
        client.kill().expect("ending the script");
        client.wait().expect("reaping it");
    }

    #[test]
    fn a_terminal_without_a_hello_fails_as_a_call_would() {
        let dir = tempfile::tempdir().expect("tempdir");
        let link = scripted(dir.path(), "echo Welcome to box");
        let failure = (link.terminal(&[], SIZE, Duration::from_secs(30)))
            .err()
            .expect("no hello");
        assert_eq!(failure, Failure::Stranger("\"Welcome to box\"".to_string()));
        let link = scripted(
            dir.path(),
            "echo 'ssh: connect to host box port 22: No route to host' >&2; exit 255",
        );
        let failure = (link.terminal(&[], SIZE, Duration::from_secs(30)))
            .err()
            .expect("no connection");
        let line = "ssh: connect to host box port 22: No route to host";
        assert_eq!(failure, Failure::Unreachable(line.to_string()));
        // Silent, but for the `ssh -O exit` that drops the master after it.
        let link = scripted(
            dir.path(),
            r#"case "$*" in *"-O exit"*) exit 0;; esac; exec sleep 30"#,
        );
        let within = Duration::from_millis(300);
        let failure = (link.terminal(&[], SIZE, within)).err().expect("silent");
        assert_eq!(failure, Failure::Silent(within));
    }
}

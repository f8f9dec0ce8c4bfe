//! The harness: a builder that runs the real sessctl binary and pins its output (in the style
//! of casey/just's tests/test.rs), a private user manager per test, and bounded waits.

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

pub use sessctl::systemd::Systemd;
pub use sessctl::testbed::{Options, Testbed};

pub const SESSCTL: &str = env!("CARGO_BIN_EXE_sessctl");

/// A private manager for one test, or `None` when none can start: the test is then skipped
/// (see [`skip`]).
#[track_caller]
pub fn manager(label: &str) -> Option<Env> {
    manager_with(label, Options::default())
}

/// [`manager`] with the testbed's `options` (a journal's directories, a throwaway root).
#[track_caller]
pub fn manager_with(label: &str, options: Options) -> Option<Env> {
    match Testbed::start_with(label, options) {
        Ok(bed) => Some(Env::with_bed(bed)),
        Err(err) => skip(format_args!("no private systemd --user manager: {err:#}")),
    }
}

/// Where [`skip`] counts the tests it skipped, one `test<TAB>reason` line each, for `./test`
/// to sum up at the end.
pub const SKIPPED_TALLY: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/skipped-tests.tsv");

/// Skips the running test because a real part it needs (a manager, a client, a browser, the
/// package) is missing: under `CI` that fails the test instead. The reason goes to the
/// process's own stderr, which libtest does not capture (it captures only `print!` and
/// `eprint!`), so a green `cargo test` still says what it did not run; and into
/// [`SKIPPED_TALLY`]. Returns `None`, for the caller to hand back.
#[track_caller]
pub fn skip<T>(reason: std::fmt::Arguments) -> Option<T> {
    if std::env::var_os("CI").is_some() {
        panic!("CI is set, so no test may skip: {reason}");
    }
    // libtest names each test's thread after the test; elsewhere the caller's place stands in.
    let thread = std::thread::current();
    let test = match thread.name() {
        Some(name) if name != "main" => name.to_string(),
        _ => std::panic::Location::caller().to_string(),
    };
    let reason = reason.to_string().replace(['\n', '\t'], " ");
    let line = format!("SKIPPED {test}: {reason}\n");
    // A note that cannot be written must not fail the test it reports on.
    let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
    let tally = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(SKIPPED_TALLY)
        .and_then(|mut file| {
            std::io::Write::write_all(&mut file, format!("{test}\t{reason}\n").as_bytes())
        });
    if let Err(err) = tally {
        let note = format!("SKIPPED {test}: not counted in {SKIPPED_TALLY}: {err}\n");
        let _ = std::io::Write::write_all(&mut std::io::stderr(), note.as_bytes());
    }
    None
}

/// Where one test's sessctl runs: its XDG directories and, when it has one, its manager.
pub struct Env {
    pub bed: Option<Testbed>,
    /// Variables removed from every sessctl run.
    unset: Vec<String>,
    /// Scratch space for the test's own files (agent scripts, product directories).
    pub scratch: PathBuf,
    vars: Vec<(OsString, OsString)>,
    _tmp: Option<tempfile::TempDir>,
}

impl Env {
    /// XDG directories in a temp dir, and no manager: for what must fail before reaching one.
    pub fn offline() -> Env {
        let tmp = tempfile::tempdir().expect("creating a temp dir");
        let root = tmp.path().to_path_buf();
        let vars = ["config", "state", "run", "home"].map(|d| {
            fs::create_dir_all(root.join(d)).expect("creating an XDG dir");
            root.join(d).into_os_string()
        });
        let [config, state, run, home] = vars;
        let scratch = root.join("scratch");
        fs::create_dir_all(&scratch).expect("creating scratch");
        Env {
            bed: None,
            unset: Vec::new(),
            scratch,
            vars: vec![
                ("XDG_CONFIG_HOME".into(), config),
                ("XDG_STATE_HOME".into(), state),
                ("XDG_RUNTIME_DIR".into(), run),
                ("HOME".into(), home),
                (
                    "DBUS_SESSION_BUS_ADDRESS".into(),
                    "unix:path=/nonexistent/bus".into(),
                ),
            ],
            _tmp: Some(tmp),
        }
    }

    fn with_bed(bed: Testbed) -> Env {
        let scratch = bed.root.join("scratch");
        fs::create_dir_all(&scratch).expect("creating scratch");
        Env {
            vars: bed.env(),
            unset: Vec::new(),
            scratch,
            bed: Some(bed),
            _tmp: None,
        }
    }

    /// The variables every sessctl run gets.
    pub fn vars(&self) -> impl Iterator<Item = (&OsString, &OsString)> {
        self.vars.iter().map(|(k, v)| (k, v))
    }

    /// Sets `name` for every later sessctl run (replacing an earlier value); `None` unsets it.
    pub fn set(&mut self, name: &str, value: Option<&std::ffi::OsStr>) {
        self.vars.retain(|(k, _)| k != name);
        if let Some(value) = value {
            self.vars.push((name.into(), value.into()));
        }
        self.unset.retain(|k| k != name);
        if value.is_none() {
            self.unset.push(name.to_string());
        }
    }

    /// Runs `command` with `sh -c` in this environment, `sessctl` on its PATH: a fix as doctor
    /// prints it, run as a user would.
    #[track_caller]
    pub fn shell(&self, command: &str) {
        let bin = Path::new(SESSCTL).parent().expect("the binary's directory");
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(command)
            .env("PATH", path)
            .envs(self.vars.iter().map(|(k, v)| (k, v)));
        for k in &self.unset {
            cmd.env_remove(k);
        }
        let out = cmd.output().expect("running sh");
        assert!(
            out.status.success(),
            "{command}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn var(&self, name: &str) -> PathBuf {
        self.vars
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| PathBuf::from(v))
            .expect(name)
    }

    pub fn systemd(&self) -> Systemd {
        self.bed
            .as_ref()
            .expect("a manager")
            .connect()
            .expect("connecting to the test manager")
    }

    pub fn config_home(&self) -> PathBuf {
        self.var("XDG_CONFIG_HOME")
    }

    pub fn unit_file(&self, product: &str) -> PathBuf {
        self.config_home()
            .join(format!("systemd/user/sessctl-{product}.service"))
    }

    pub fn product_file(&self, product: &str) -> PathBuf {
        self.config_home()
            .join(format!("sessctl/products/{product}.toml"))
    }

    pub fn socket(&self, product: &str) -> PathBuf {
        self.var("XDG_RUNTIME_DIR")
            .join(format!("sessctl/{product}/tmux.sock"))
    }

    /// A sessctl invocation in this environment.
    pub fn sessctl(&self) -> Test {
        Test {
            program: SESSCTL.into(),
            entry: None,
            args: Vec::new(),
            unset: self.unset.clone(),
            vars: self.vars.clone(),
            cwd: self.scratch.clone(),
            stdout: Expect::Empty,
            stderr: Expect::Empty,
            status: Some(0),
        }
    }

    /// Writes an executable stand-in agent at `path`: it records its argv and cwd, records a
    /// SIGTERM before exiting, ignores SIGHUP so only SIGTERM can end it gracefully, and waits.
    pub fn agent(&self, path: &Path) -> PathBuf {
        let record = self.scratch.join("agent.record");
        let script = format!(
            "#!/bin/sh\n\
             record='{record}'\n\
             trap '' HUP\n\
             trap 'echo TERM >> \"$record.signals\"; exit 0' TERM\n\
             pwd > \"$record.cwd\"\n\
             echo $$ > \"$record.pid\"\n\
             sleep 100000 &\n\
             wait\n",
            record = record.display()
        );
        fs::create_dir_all(path.parent().expect("a parent")).expect("creating the agent's dir");
        fs::write(path, script).expect("writing the agent");
        fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod agent");
        record
    }
}

/// What a run must print on one stream.
#[derive(Clone)]
enum Expect {
    /// Nothing: what a test that says nothing expects.
    Empty,
    /// Exactly this.
    Exact(String),
    /// Exactly this, once [`redact`] has replaced what differs from run to run.
    Redacted(String),
    /// The test reads the output itself (parses its JSON, looks for one line).
    ReadByTest,
}

/// One run of the real binary, with the exact stdout, stderr and status it must produce: by
/// default empty output and status 0, as just's tests pin theirs.
#[must_use]
pub struct Test {
    program: OsString,
    /// Run inside the manager's mount namespace (and root), where its sessions run.
    entry: Option<sessctl::testbed::Entry>,
    args: Vec<OsString>,
    unset: Vec<String>,
    vars: Vec<(OsString, OsString)>,
    cwd: PathBuf,
    stdout: Expect,
    stderr: Expect,
    status: Option<i32>,
}

impl Test {
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Runs `program` (a path inside the testbed's root, or any program on PATH) in the
    /// manager's mount namespace and root instead of the sessctl just built.
    pub fn inside(mut self, env: &Env, program: &str) -> Self {
        let bed = env.bed.as_ref().expect("a test inside a testbed has one");
        self.entry = Some(bed.entry().expect("entering the testbed"));
        self.program = program.into();
        self
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn env(mut self, key: &str, value: impl Into<OsString>) -> Self {
        self.vars.push((key.into(), value.into()));
        self
    }

    pub fn current_dir(mut self, dir: &Path) -> Self {
        self.cwd = dir.to_path_buf();
        self
    }

    pub fn stdout(mut self, expected: &str) -> Self {
        self.stdout = Expect::Exact(expected.to_string());
        self
    }

    /// stdout, with PIDs, ids, times and temporary paths redacted (see [`redact`]).
    pub fn stdout_redacted(mut self, expected: &str) -> Self {
        self.stdout = Expect::Redacted(expected.to_string());
        self
    }

    /// The test reads stdout itself (JSON it parses, a line it looks for).
    pub fn stdout_read(mut self) -> Self {
        self.stdout = Expect::ReadByTest;
        self
    }

    pub fn stderr(mut self, expected: &str) -> Self {
        self.stderr = Expect::Exact(expected.to_string());
        self
    }

    /// stderr, redacted as [`Test::stdout_redacted`].
    pub fn stderr_redacted(mut self, expected: &str) -> Self {
        self.stderr = Expect::Redacted(expected.to_string());
        self
    }

    /// The test reads stderr itself.
    pub fn stderr_read(mut self) -> Self {
        self.stderr = Expect::ReadByTest;
        self
    }

    pub fn status(mut self, status: i32) -> Self {
        self.status = Some(status);
        self
    }

    /// Any exit status is fine: the caller judges the output.
    pub fn status_any(mut self) -> Self {
        self.status = None;
        self
    }

    /// Runs sessctl with no terminal on stdin and checks what was pinned.
    #[track_caller]
    pub fn run(self) -> Output {
        let mut cmd = Command::new(&self.program);
        if let Some(entry) = &self.entry {
            entry.apply(&mut cmd);
        }
        cmd.args(&self.args)
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .current_dir(&self.cwd)
            .stdin(Stdio::null());
        for k in &self.unset {
            cmd.env_remove(k);
        }
        let what = format!("{:?} {:?}", self.program, self.args);
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("starting {what}: {err}"));
        let output = finish_within(child, &what);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let context = format!("{what}\n--- stdout\n{stdout}--- stderr\n{stderr}");
        if let Some(status) = self.status {
            assert_eq!(
                output.status.code(),
                Some(status),
                "exit status of {context}"
            );
        }
        check("stdout", &self.stdout, &stdout, &context);
        check("stderr", &self.stderr, &stderr, &context);
        output
    }
}

#[track_caller]
fn check(stream: &str, expected: &Expect, actual: &str, context: &str) {
    match expected {
        Expect::Empty if !actual.is_empty() && record(stream, actual) => {}
        Expect::Empty => assert_eq!(actual, "", "{stream} of {context}"),
        Expect::Exact(expected) => assert_eq!(actual, expected, "{stream} of {context}"),
        Expect::Redacted(expected) => {
            assert_eq!(
                &redact(actual),
                expected,
                "{stream} (redacted) of {context}"
            )
        }
        Expect::ReadByTest => {}
    }
}

/// With `SESSCTL_TEST_RECORD=FILE` (a maintainer's tool, never set in CI), output a test did
/// not pin is written to FILE with the place of the run instead of failing it, to be reviewed
/// and pinned.
#[track_caller]
fn record(stream: &str, actual: &str) -> bool {
    let Some(file) =
        std::env::var_os("SESSCTL_TEST_RECORD").filter(|_| std::env::var_os("CI").is_none())
    else {
        return false;
    };
    let at = std::panic::Location::caller();
    let line = serde_json::json!({
        "file": at.file(), "line": at.line(), "column": at.column(),
        "stream": stream, "text": redact(actual), "raw": actual,
    });
    let mut log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .expect("the record file");
    std::io::Write::write_all(&mut log, format!("{line}\n").as_bytes()).expect("recording");
    true
}

/// `text` with what differs from run to run replaced by a placeholder: temporary and test
/// directories (`[tmp]`, `[test]`, `[runtime]`, the test directory as Claude Code encodes it,
/// and the private manager's cgroup `/[testbed]/`), UUIDs (`[uuid]`), invocation ids (`[invocation]`), RFC 3339 times (`[time]`), snapshot
/// stamps (`[stamp]`), PIDs (`PID [pid]`, `pid [pid]`), uptimes and durations in seconds.
pub fn redact(text: &str) -> String {
    use std::sync::OnceLock;
    static RULES: OnceLock<Vec<(regex::Regex, &'static str)>> = OnceLock::new();
    let rules = RULES.get_or_init(|| {
        [
            (r"/tmp/\.tmp[A-Za-z0-9]+", "[tmp]"),
            (r"/tmp/sessctl-[A-Za-z0-9_.-]+?-\d+-\d+", "[test]"),
            (r"/dev/shm/sessctl-[A-Za-z0-9_.-]+?-\d+-\d+", "[runtime]"),
            (r"-tmp-sessctl-[A-Za-z0-9_-]+?-\d+-\d+", "[test-encoded]"),
            (r"/sessctl-[A-Za-z0-9_.-]+?-\d+-\d+/", "/[testbed]/"),
            (
                r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
                "[uuid]",
            ),
            (r"\b[0-9a-f]{32}\b", "[invocation]"),
            (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "[time]"),
            (r"\d{4}-\d\d-\d\dT\d{6}\.\d+Z", "[stamp]"),
            (r"(?i)\b(pids?)(\s+)\d+", "${1}${2}[pid]"),
            (
                r"\b(up|uptime)(\s+)\d+[smhd]( \d+[smhd])*",
                "${1}${2}[uptime]",
            ),
            (r"\b\d+(\.\d+)? s\b", "[seconds] s"),
        ]
        .into_iter()
        .map(|(re, to)| (regex::Regex::new(re).expect("a redaction rule"), to))
        .collect()
    });
    rules.iter().fold(text.to_string(), |text, (re, to)| {
        re.replace_all(&text, *to).into_owned()
    })
}

/// `text` as a test writes a multi-line expectation: from the line after its opening quote,
/// with the indentation its lines share removed.
pub fn unindent(text: &str) -> String {
    let text = text.strip_prefix('\n').unwrap_or(text);
    let indent = (text.lines())
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start().len())
        .min()
        .unwrap_or(0);
    text.split_inclusive('\n')
        .map(|line| line.get(indent..).unwrap_or(line.trim_start_matches(' ')))
        .collect()
}

/// `log <product> --json`, parsed: the product's events, oldest first.
pub fn log_json(env: &Env, product: &str) -> Vec<serde_json::Value> {
    let out = env
        .sessctl()
        .args(["log", product, "--json"])
        .stdout_read()
        .run();
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).expect("log --json is JSON");
    log.as_array().expect("an array of events").clone()
}

/// The package `./test` built (`SESSCTL_TEST_DEB`). Under `CI` a missing one fails the test:
/// CI runs `./test`, which always builds it.
pub fn package() -> Option<PathBuf> {
    match std::env::var_os("SESSCTL_TEST_DEB") {
        Some(deb) => Some(PathBuf::from(deb)),
        None => skip(format_args!(
            "no package: SESSCTL_TEST_DEB is not set; ./test builds it and sets it"
        )),
    }
}

/// The sessctl binary of the package `./test` built, unpacked into `dir`: the build users
/// run (release, stripped), for what is measured of it.
pub fn packaged_sessctl(dir: &Path) -> Option<PathBuf> {
    let deb = package()?;
    let status = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(dir)
        .status()
        .expect("running dpkg-deb");
    assert!(status.success(), "dpkg-deb -x {} failed", deb.display());
    Some(dir.join("usr/bin/sessctl"))
}

/// `dashboard sessions --json`, parsed: the browsers logged in, each an object.
pub fn login_sessions(env: &Env) -> Vec<serde_json::Value> {
    let out = env
        .sessctl()
        .args(["dashboard", "sessions", "--json"])
        .stdout_read()
        .run();
    let list: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("dashboard sessions --json is JSON");
    list.as_array().expect("an array of sessions").clone()
}

/// `resume PRODUCT --no-attach --json`, which must exit 0, parsed.
pub fn resume_json(env: &Env, product: &str) -> serde_json::Value {
    let out = env
        .sessctl()
        .args(["resume", product, "--no-attach", "--json"])
        .stdout_read()
        .run();
    serde_json::from_slice(&out.stdout).expect("resume --json is JSON")
}

/// `resume --json` of `product`, whatever its verdict: the report and the exit status.
pub fn resume_any(env: &Env, product: &str) -> (serde_json::Value, i32) {
    let out = env
        .sessctl()
        .args(["resume", product, "--no-attach", "--json"])
        .status_any()
        .stdout_read()
        .stderr_read()
        .run();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|err| {
        panic!(
            "resume --json is not JSON ({err}), {}: {:?}; stderr {:?}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (report, out.status.code().expect("an exit code"))
}

/// `doctor --json`, whatever its exit status, parsed.
pub fn doctor_json(env: &Env) -> serde_json::Value {
    doctor_run(env).1
}

/// `doctor --json`: its exit status and its report.
pub fn doctor_run(env: &Env) -> (i32, serde_json::Value) {
    let out = env
        .sessctl()
        .args(["doctor", "--json"])
        .status_any()
        .stdout_read()
        .run();
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|err| {
        panic!(
            "doctor printed no JSON ({err}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().expect("exit code"), json)
}

/// `status web --json`, parsed.
pub fn status_json(env: &Env) -> serde_json::Value {
    session::status(env, "web")
}

/// How long any command a test runs may take: far beyond a stop's 30 s grace period.
const COMMAND_BOUND: Duration = Duration::from_secs(180);

/// Waits for `child` and returns what it printed; a child still running after
/// [`COMMAND_BOUND`] is killed, and the test fails naming `what` it waited for.
#[track_caller]
pub fn finish_within(child: std::process::Child, what: &str) -> Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    match rx.recv_timeout(COMMAND_BOUND) {
        Ok(output) => output.unwrap_or_else(|err| panic!("waiting for {what}: {err}")),
        Err(_) => {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            panic!("{what} did not finish within {COMMAND_BOUND:?}; killed it");
        }
    }
}

/// Polls `probe` with sessctl's own bounded backoff until it returns `Some`, for at most a
/// minute.
#[track_caller]
pub fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    match sessctl::poll::until(Duration::from_secs(60), || Ok(probe())) {
        Ok(Some(value)) => value,
        Ok(None) => panic!("timed out waiting for {what}"),
        Err(err) => panic!("waiting for {what}: {err:#}"),
    }
}

/// Asserts what one `resume --json` printed, and its exit status: the session was lost, and in
/// the same call a new one runs in its place.
#[track_caller]
pub fn assert_lost_and_recovered(v: &serde_json::Value, code: i32) {
    assert_eq!(
        (v["verdict"].as_str(), v["recovered"].as_bool(), code),
        (Some("lost"), Some(true), 4),
        "{v:#}"
    );
}

/// Whether a process exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            !stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

/// A process's argv.
pub fn cmdline(pid: u32) -> Vec<String> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).expect("reading cmdline");
    let raw = raw.strip_suffix(&[0]).unwrap_or(&raw);
    raw.split(|b| *b == 0)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// Runs tmux against a socket with `-N`, returning its stdout when it succeeds.
pub fn tmux(socket: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("tmux")
        .arg("-N")
        .arg("-S")
        .arg(socket)
        .args(args)
        .stderr(Stdio::null())
        .output()
        .expect("running tmux");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Writes a user unit of the test's own (a stand-in dashboard or launcher) into the manager's
/// unit directory: `service` is its [Service] settings, to which the manager's environment is
/// added. Then reloads.
pub fn write_unit(env: &Env, name: &str, service: &str) {
    let bed = env.bed.as_ref().expect("a manager");
    let vars: Vec<String> = bed
        .env()
        .iter()
        .map(|(k, v)| format!("\"{}={}\"", k.to_string_lossy(), v.to_string_lossy()))
        .collect();
    let text = format!("[Service]\nEnvironment={}\n{service}\n", vars.join(" "));
    let path = env.config_home().join("systemd/user").join(name);
    fs::create_dir_all(path.parent().expect("parent")).expect("unit dir");
    fs::write(path, text).expect("writing the unit");
    env.systemd().reload().expect("Reload");
}

/// A tmux server the test started itself (a stand-in terminal, a stray server), killed with
/// its sessions when dropped.
/// The user's terminal: a tmux server of the test's own running `argv` with `env`.
pub fn terminal(
    socket: &Path,
    env: &[(std::ffi::OsString, std::ffi::OsString)],
    argv: &[&str],
) -> TmuxServer {
    let mut cmd = Command::new("tmux");
    cmd.arg("-S")
        .arg(socket)
        .args(["new-session", "-d", "-x", "100", "-y", "30"]);
    for (k, v) in env {
        let mut pair = k.clone();
        pair.push("=");
        pair.push(v);
        cmd.arg("-e").arg(pair);
    }
    cmd.arg("--").args(argv);
    assert!(cmd.status().expect("starting the terminal").success());
    TmuxServer(socket.to_path_buf())
}

pub struct TmuxServer(pub PathBuf);

impl Drop for TmuxServer {
    /// kill-server returns before the server has exited: wait until nothing answers on the
    /// socket, or the next start may meet the dying server there.
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.0)
            .arg("kill-server")
            .status();
        wait_for(
            &format!("the tmux server on {} to exit", self.0.display()),
            || (!sessctl::session::server_listening(&self.0)).then_some(()),
        );
    }
}

pub mod browser;
pub mod claude;
pub mod client;
pub mod codex;
pub mod fake_api;
pub mod fake_gemini;
pub mod fake_openai;
pub mod gemini;
pub mod hosts;
pub mod http;
pub mod loopback;
pub mod pane;
pub mod push_service;
pub mod session;

#[test]
fn unindent_drops_the_first_break_and_the_shared_indentation() {
    let text = "\n    first\n      second\n\n    third\n    ";
    assert_eq!(unindent(text), "first\n  second\n\nthird\n");
}

#[test]
fn redaction_replaces_what_varies_and_keeps_the_rest() {
    let text = "sessctl-web.service: survived, up 3m 2s (invocation 0123456789abcdef0123456789abcdef, main PID 42, agent PID 43)\n  main pid         1234\n  uptime           5h 2m\nlast 2026-11-24T02:40:00.5Z in /tmp/sessctl-pin-9301-3/x and /tmp/.tmpAb12 (/sessctl-pin-9301-3/app.slice), conversation 0a1b2c3d-1111-4222-8333-444455556666, waited 1.5 s\n";
    assert_eq!(
        redact(text),
        "sessctl-web.service: survived, up [uptime] (invocation [invocation], main PID [pid], agent PID [pid])\n  main pid         [pid]\n  uptime           [uptime]\nlast [time] in [test]/x and [tmp] (/[testbed]/app.slice), conversation [uuid], waited [seconds] s\n"
    );
}

//! The real Claude Code as the agent of a test product, at each version pinned in
//! `tests/claude-code.version` (support/client.rs finds it): configured to run offline against
//! the fake API without any dialog, and driven through the product's own tmux session. How the
//! client behaves here is written down in
//! ../shared/notes/research/claude-code-2.1-observed.md.

use std::fs;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::client::CLAUDE;
use super::fake_api::{Request, ANTHROPIC};
use super::pane::{Keyboard, Pane};
use super::session::{self, running, Started};

/// Any key of the right shape: the fake API accepts every key.
const API_KEY: &str = "sk-ant-api03-sessctl-test-key-0000000000000000000000000000000000";

/// The command a test sends to hold a tool call open. Claude Code 2.1.332's Bash tool refuses
/// a command that starts with a long `sleep` ("Blocked: standalone sleep"), so something else
/// runs first; both pinned versions run it, and it leaves a `sleep <seconds>` process to wait
/// for.
pub fn hold(seconds: u32) -> String {
    format!("echo holding && sleep {seconds}")
}

/// Which of the pinned versions a test runs: the oldest supported and the newest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pin {
    Oldest,
    Newest,
}

impl Pin {
    /// The version this pin names in `tests/claude-code.version`.
    pub fn version(self) -> &'static str {
        let versions = CLAUDE.versions();
        match self {
            Pin::Oldest => versions.first().copied().unwrap_or_default(),
            Pin::Newest => CLAUDE.newest(),
        }
    }
}

/// A product `web` running the real Claude Code on a private manager, with the fake API.
pub struct Claude {
    base: Started,
    /// The product's `CLAUDE_CONFIG_DIR`.
    pub config_dir: PathBuf,
    /// The client's version, as pinned.
    pub version: &'static str,
}

/// A test reads `c.env`, `c.api`, `c.project` and `c.binary` whichever client it runs.
impl Deref for Claude {
    type Target = Started;

    fn deref(&self) -> &Started {
        &self.base
    }
}

/// A private manager, the fake API in its network namespace and Claude Code `version`
/// configured, or `None` (with the reason printed) when the client or the manager is missing
/// outside CI. Under `CI`, a client that is missing fails the test. The manager's label names
/// the version, so the runs of one test at two versions never share a name.
pub fn setup(label: &str, version: &'static str) -> Option<Claude> {
    let label = format!("{label}-{}", version.replace('.', ""));
    let base = session::start(CLAUDE, version, &label, ANTHROPIC)?;
    let claude = Claude {
        config_dir: base.env.scratch.join("claude-config"),
        base,
        version,
    };
    claude.configure(&claude.project);
    Some(claude)
}

/// [`setup`], with product `web` enabled in the project directory.
pub fn enabled(label: &str, version: &'static str) -> Option<Claude> {
    let claude = setup(label, version)?;
    claude.enable(&claude.project);
    Some(claude)
}

impl Claude {
    /// Writes the config that lets the client start with no dialog in `dir`, and run `echo`
    /// and `sleep` unasked, [`hold`] among them (root may not skip permissions). Retention is set to keep
    /// transcripts, as sessctl's doctor advises.
    pub fn configure(&self, dir: &Path) {
        fs::create_dir_all(&self.config_dir).expect("the config dir");
        let state = self.config_dir.join(".claude.json");
        let mut config: Value = fs::read_to_string(&state)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_else(|| {
                json!({
                    "hasCompletedOnboarding": true,
                    "lastOnboardingVersion": self.version,
                    "lastReleaseNotesSeen": self.version,
                    "theme": "dark",
                    "customApiKeyResponses": {"approved": [&API_KEY[API_KEY.len() - 20..]], "rejected": []},
                    "projects": {},
                })
            });
        let dir = dir.canonicalize().expect("a canonical dir");
        config["projects"][dir.to_string_lossy().as_ref()] = json!({
            "hasTrustDialogAccepted": true,
            "hasCompletedProjectOnboarding": true,
            "allowedTools": [],
        });
        fs::write(&state, config.to_string()).expect("writing .claude.json");
        let settings = json!({
            "permissions": {"allow": ["Bash(echo:*)", "Bash(sleep:*)"]},
            "cleanupPeriodDays": 99999,
        });
        fs::write(self.config_dir.join("settings.json"), settings.to_string())
            .expect("writing settings.json");
    }

    /// Enables product `web` in `dir` running the client offline.
    pub fn enable(&self, dir: &Path) {
        self.enable_with(dir, &[], &[]);
    }

    /// [`Claude::enable`], with more `--env` assignments `more_vars` and the client's
    /// arguments `args`.
    pub fn enable_with(&self, dir: &Path, more_vars: &[&str], args: &[&str]) {
        self.enable_with_options(dir, more_vars, &[], args);
    }

    /// [`Claude::enable_with`], with more options of `sessctl enable` `options` (such as
    /// `--on-waiting CMD`).
    pub fn enable_with_options(
        &self,
        dir: &Path,
        more_vars: &[&str],
        options: &[&str],
        args: &[&str],
    ) {
        let mut vars = vec![
            format!("CLAUDE_CONFIG_DIR={}", self.config_dir.display()),
            format!("ANTHROPIC_BASE_URL={}", self.api.base_url()),
            format!("ANTHROPIC_API_KEY={API_KEY}"),
            "DISABLE_AUTOUPDATER=1".into(),
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1".into(),
        ];
        vars.extend(more_vars.iter().map(|v| v.to_string()));
        let agent: Vec<&std::ffi::OsStr> = std::iter::once(self.binary.as_os_str())
            .chain(args.iter().map(std::ffi::OsStr::new))
            .collect();
        session::enable_with_options(&self.env, "web", dir, &vars, options, &agent);
    }

    /// The product's pane, driven as Claude Code takes keys.
    pub fn pane(&self) -> Pane<'_> {
        Pane::new(
            self.env.socket("web"),
            "web",
            &self.api,
            Box::new(ClaudeKeys),
        )
    }

    /// Types `text` and Enter into the session, and waits until the client has finished the
    /// turn and written it: its transcripts hold the prompt and one more turn's end. (The
    /// records of a turn are not always in file order, so the ends are counted.)
    #[track_caller]
    pub fn prompt(&self, text: &str) -> Request {
        let ends = |all: &[String]| -> usize {
            all.iter()
                .map(|t| t.matches("\"subtype\":\"turn_duration\"").count())
                .sum()
        };
        let before = ends(&self.transcripts());
        let request = self.send(text);
        let prompt = format!("\"content\":\"{text}\"");
        self.pane()
            .wait(&format!("the end of the turn after {text:?}"), || {
                let all = self.transcripts();
                (ends(&all) > before && all.iter().any(|t| t.contains(&prompt))).then_some(())
            });
        request
    }

    /// Every transcript text under the client's project folders.
    fn transcripts(&self) -> Vec<String> {
        let projects = self.config_dir.join("projects");
        fs::read_dir(projects)
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|folder| fs::read_dir(folder.path()).into_iter().flatten().flatten())
            .filter(|f| f.path().extension().is_some_and(|e| e == "jsonl"))
            .filter_map(|f| fs::read_to_string(f.path()).ok())
            .collect()
    }

    /// Types `text` and Enter into the session, and waits until the API has received the
    /// conversation request it caused (a turn that runs a long tool never ends by itself).
    #[track_caller]
    pub fn send(&self, text: &str) -> Request {
        self.pane().send(text)
    }

    /// Sends `/compact`, and waits until the transcript holds its boundary.
    #[track_caller]
    pub fn compact(&self) {
        self.send("/compact");
        self.pane().wait("the compaction", || {
            fs::read_to_string(self.transcript())
                .ok()?
                .contains("compact_boundary")
                .then_some(())
        });
    }

    /// The transcript `status` names.
    pub fn transcript(&self) -> PathBuf {
        let status = session::status(&self.env, "web");
        PathBuf::from(
            status["conversation"]["transcript"]
                .as_str()
                .expect("a transcript"),
        )
    }

    /// `transcript check TARGET --json` (the product, or a file), with the exit status it
    /// must have.
    pub fn check(&self, target: &str, status: i32) -> Value {
        let out = self
            .env
            .sessctl()
            .args(["transcript", "check", target, "--json"])
            .status(status)
            .stdout_read()
            .run();
        serde_json::from_slice(&out.stdout).expect("check JSON")
    }

    /// Sends a Bash call of [`hold`]`(seconds)` and waits until its `sleep` runs; returns the
    /// command.
    #[track_caller]
    pub fn hold_a_call(&self, seconds: u32) -> String {
        let command = hold(seconds);
        self.send(&format!("RUN: {command}"));
        let seconds = seconds.to_string();
        self.pane().wait("the Bash tool running sleep", || {
            running(&self.env, &["sleep", &seconds]).map(drop)
        });
        command
    }

    /// A crash in the middle of a tool call: [`Claude::hold_a_call`], a SIGKILL of the agent
    /// once the call is in the transcript, and systemd's restart of the session, on the same
    /// conversation. Returns the command the crash cut off.
    #[track_caller]
    pub fn cut_a_call(&self, seconds: u32) -> String {
        let command = self.hold_a_call(seconds);
        // The client may start the tool before it has written the call: the crash must come
        // after the call is in the transcript, or there is no cut-off call to speak of.
        let sleep = format!("sleep {seconds}");
        self.pane().wait("the Bash call in the transcript", || {
            let text = fs::read_to_string(self.transcript()).ok()?;
            text.lines()
                .any(|l| l.contains("\"type\":\"tool_use\"") && l.contains(&sleep))
                .then_some(())
        });
        let before = session::identity(&self.env, "web");
        session::kill_agent(&before);
        session::wait_restarted(&self.env, "web", &before, || self.pane().screen());
        command
    }

    /// The first snapshot (they are named by time) of the transcript that holds `text`: after
    /// a crash, the transcript as the crash left it.
    pub fn snapshot_holding(&self, text: &str) -> String {
        let out = self
            .env
            .sessctl()
            .args(["transcript", "snapshots", "web", "--json"])
            .stdout_read()
            .run();
        let snapshots: Value = serde_json::from_slice(&out.stdout).expect("snapshots JSON");
        snapshots
            .as_array()
            .expect("snapshots")
            .iter()
            .filter_map(|s| s["transcript"].as_str())
            .filter(|t| fs::read_to_string(t).is_ok_and(|body| body.contains(text)))
            .min()
            .unwrap_or_else(|| panic!("no snapshot holds {text:?}: {snapshots:#}"))
            .to_string()
    }
}

/// The records of a transcript, one JSON value a line.
pub fn records(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .expect("the transcript")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

pub fn write_records(path: &Path, records: &[Value]) {
    let text: String = records.iter().map(|r| format!("{r}\n")).collect();
    fs::write(path, text).expect("writing the transcript");
}

/// Damages `records`: the parent of record `at` was never written, `seconds` after the records
/// before it (their timestamps move back by that much).
pub fn lose_parent(records: &mut [Value], at: usize, seconds: i64) {
    records[at]["parentUuid"] = "00000000-0000-4000-8000-00000000dead".into();
    for record in &mut records[..at] {
        let Some(time) = record["timestamp"].as_str() else {
            continue;
        };
        let ms = sessctl::transcript::parse_time(time).expect("a timestamp") - seconds * 1000;
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms as u64);
        let text = sessctl::state::rfc3339(when).replace('Z', &format!(".{:03}Z", ms % 1000));
        record["timestamp"] = text.into();
    }
}

/// Claude Code at the keyboard: ready once it shows its prompt box.
struct ClaudeKeys;

impl Keyboard for ClaudeKeys {
    fn ready(&self, screen: &str) -> bool {
        screen.contains('❯') && screen.contains("───")
    }
}

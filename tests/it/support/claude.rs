//! The real Claude Code as the agent of a test product, at each version pinned in
//! `tests/claude-code.version` (support/client.rs finds it): configured to run offline against
//! the fake API without any dialog, and driven through the product's own tmux session. How the
//! client behaves here is written down in
//! ../shared/notes/research/claude-code-2.1-observed.md.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::client::CLAUDE;
use super::fake_api::{FakeApi, Request};
use super::pane::{Keyboard, Pane};
use super::{manager, Env};

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
    pub env: Env,
    pub api: FakeApi,
    /// The product's `CLAUDE_CONFIG_DIR`.
    pub config_dir: PathBuf,
    /// The product's working directory.
    pub project: PathBuf,
    pub binary: PathBuf,
    /// The client's version, as pinned.
    pub version: &'static str,
}

/// A private manager, the fake API in its network namespace and Claude Code `version`
/// configured, or `None` (with the reason printed) when the client or the manager is missing
/// outside CI. Under `CI`, a client that is missing fails the test. The manager's label names
/// the version, so the runs of one test at two versions never share a name.
pub fn setup(label: &str, version: &'static str) -> Option<Claude> {
    let binary = CLAUDE.require(version)?;
    let env = manager(&format!("{label}-{}", version.replace('.', "")))?;
    let api = FakeApi::start(
        env.bed.as_ref().expect("a manager").netns(),
        &env.scratch.join("api.jsonl"),
    );
    let config_dir = env.scratch.join("claude-config");
    let project = env.scratch.join("project");
    fs::create_dir_all(&project).expect("the project dir");
    let claude = Claude {
        env,
        api,
        config_dir,
        project,
        binary,
        version,
    };
    claude.configure(&claude.project.clone());
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

    /// The `--env` arguments of a product that runs the client offline.
    pub fn env_args(&self) -> Vec<String> {
        [
            format!("CLAUDE_CONFIG_DIR={}", self.config_dir.display()),
            format!("ANTHROPIC_BASE_URL={}", self.api.base_url()),
            format!("ANTHROPIC_API_KEY={API_KEY}"),
            "DISABLE_AUTOUPDATER=1".into(),
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1".into(),
            "TERM=xterm-256color".into(),
        ]
        .into_iter()
        .flat_map(|v| ["--env".to_string(), v])
        .collect()
    }

    /// Enables product `web` in `dir` running the client.
    pub fn enable(&self, dir: &Path) {
        self.env
            .sessctl()
            .args(["enable", "web", "--dir"])
            .arg(dir)
            .args(self.env_args())
            .arg("--")
            .arg(&self.binary)
            .stdout_read()
            .run();
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
}

/// Claude Code at the keyboard: ready once it shows its prompt box.
struct ClaudeKeys;

impl Keyboard for ClaudeKeys {
    fn ready(&self, screen: &str) -> bool {
        screen.contains('❯') && screen.contains("───")
    }
}

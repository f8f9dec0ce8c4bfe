//! The real Codex CLI as the agent of test products: found where `./test` installed it,
//! configured through a `CODEX_HOME` of the test's own to run offline against the fake
//! Responses API with no dialog, and driven through each product's own tmux session. How the
//! client behaves here is written down in ../shared/notes/research/codex-gemini-observed.md.

use std::fmt::Write as _;
use std::fs;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::client::CODEX;
use super::fake_api::Request;
use super::fake_openai::OPENAI;
use super::pane::{Keyboard, Pane};
use super::session::{self, Started};

/// A model Codex has no metadata for: it warns, and works. A model it knows may be one it
/// offers to migrate from, with a dialog at start that eats the keys typed then.
pub const MODEL: &str = "sessctl-fake-model";

/// Any key: the fake API accepts every key.
const API_KEY: &str = "sk-sessctl-test-key";

/// The real Codex CLI on a private manager, with the fake API in its network namespace and a
/// `CODEX_HOME` every product of the test shares.
pub struct Codex {
    base: Started,
    /// The products' `CODEX_HOME`.
    pub home: PathBuf,
}

/// A test reads `c.env`, `c.api`, `c.project` and `c.binary` whichever client it runs.
impl Deref for Codex {
    type Target = Started;

    fn deref(&self) -> &Started {
        &self.base
    }
}

/// A private manager, the fake API in its network namespace and a configured client, or
/// `None` (with the reason printed) when either is missing outside CI; under `CI` a missing
/// one fails the test.
pub fn setup(label: &str) -> Option<Codex> {
    let base = session::start(CODEX, CODEX.newest(), label, OPENAI)?;
    let codex = Codex {
        home: base.env.scratch.join("codex-home"),
        base,
    };
    codex.configure();
    codex.trust(&codex.project);
    Some(codex)
}

impl Codex {
    /// Writes the `config.toml` that runs the client offline on the fake API, runs every
    /// command unasked (`approval_policy = "never"`, and no sandbox: root in a namespace
    /// cannot set one up), and checks for no update.
    fn configure(&self) {
        fs::create_dir_all(&self.home).expect("the CODEX_HOME dir");
        let config = format!(
            "model = \"{MODEL}\"\n\
             model_provider = \"fake\"\n\
             approval_policy = \"never\"\n\
             sandbox_mode = \"danger-full-access\"\n\
             check_for_update_on_startup = false\n\
             \n\
             [model_providers.fake]\n\
             name = \"fake\"\n\
             base_url = \"{}/v1\"\n\
             wire_api = \"responses\"\n\
             env_key = \"OPENAI_API_KEY\"\n\
             \n\
             [analytics]\n\
             enabled = false\n",
            self.api.base_url()
        );
        fs::write(self.config(), config).expect("writing config.toml");
    }

    fn config(&self) -> PathBuf {
        self.home.join("config.toml")
    }

    /// Trusts `dir`, as the client's own trust dialog would, so it starts there without one.
    pub fn trust(&self, dir: &Path) {
        let dir = dir.canonicalize().expect("a canonical dir");
        let mut config = fs::read_to_string(self.config()).expect("reading config.toml");
        let _ = write!(
            config,
            "\n[projects.\"{}\"]\ntrust_level = \"trusted\"\n",
            dir.display()
        );
        fs::write(self.config(), config).expect("writing config.toml");
    }

    /// Enables `product` in `dir` running the client offline.
    pub fn enable(&self, product: &str, dir: &Path) {
        let vars = [
            format!("CODEX_HOME={}", self.home.display()),
            format!("OPENAI_API_KEY={API_KEY}"),
        ];
        session::enable(&self.env, product, dir, &vars, &[self.binary.as_os_str()]);
    }

    /// `product`'s pane, driven as Codex takes keys.
    pub fn pane<'a>(&'a self, product: &'a str) -> Pane<'a> {
        Pane::new(
            self.env.socket(product),
            product,
            &self.api,
            Box::new(CodexKeys),
        )
    }

    /// Types `text` and Enter into `product`, and waits until the client has finished the turn
    /// and written it.
    #[track_caller]
    pub fn prompt(&self, product: &str, text: &str) -> Request {
        let before = self.turns_ended();
        let request = self.pane(product).send(text);
        self.wait_turn(product, text, before);
        request
    }

    /// Waits until the turn of prompt `text` in `product` has ended, `before` being
    /// [`Codex::turns_ended`] when it was sent: a rollout holds the prompt, and one more
    /// turn's end (`task_complete`).
    #[track_caller]
    pub fn wait_turn(&self, product: &str, text: &str, before: usize) {
        let prompt = format!("\"text\":\"{text}\"");
        self.pane(product)
            .wait(&format!("the end of the turn after {text:?}"), || {
                let ended = self.turns_ended() > before;
                (ended && self.rollouts().iter().any(|t| t.contains(&prompt))).then_some(())
            });
    }

    /// How many turns the rollouts under the shared `CODEX_HOME` have ended.
    pub fn turns_ended(&self) -> usize {
        self.rollouts()
            .iter()
            .map(|t| t.matches("\"type\":\"task_complete\"").count())
            .sum()
    }

    /// `status PRODUCT --json`, parsed, run from a shell with none of the product's
    /// environment: `HOME` is `home`, and `CODEX_HOME` is unset or the caller's own.
    pub fn outside_status(&self, product: &str, home: &Path, codex_home: Option<&Path>) -> Value {
        let mut test = self
            .env
            .sessctl()
            .args(["status", product, "--json"])
            .env("HOME", home)
            .stdout_read();
        match codex_home {
            Some(dir) => test = test.env("CODEX_HOME", dir),
            None => test.unset.push("CODEX_HOME".to_string()),
        }
        let out = test.run();
        serde_json::from_slice(&out.stdout).expect("status --json is JSON")
    }

    /// Every rollout text under the shared `CODEX_HOME`.
    pub fn rollouts(&self) -> Vec<String> {
        // sessions/YYYY/MM/DD/rollout-*.jsonl
        let mut dirs = vec![self.home.join("sessions")];
        for _ in 0..4 {
            dirs = dirs
                .iter()
                .flat_map(|d| fs::read_dir(d).into_iter().flatten().flatten())
                .map(|e| e.path())
                .collect();
        }
        dirs.iter()
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .filter_map(|p| fs::read_to_string(p).ok())
            .collect()
    }
}

/// Codex at the keyboard. Ready once it has started its session: the footer names the
/// model. Before that the composer is already drawn, and an Enter typed then can be lost. The
/// request a line caused is the one that carries it.
struct CodexKeys;

impl Keyboard for CodexKeys {
    fn ready(&self, screen: &str) -> bool {
        screen.contains("? for shortcuts")
            && screen.contains(&format!("{MODEL} "))
            && !screen.contains("Waiting for startup")
    }

    fn caused(&self, request: &Request, text: &str) -> bool {
        request.text().contains(text)
    }
}

//! The real Gemini CLI as the agent of test products: found where `./test` installed it,
//! configured to run offline against the fake Gemini API without any dialog, and driven
//! through each product's own tmux session. How the client behaves here is written down in
//! ../shared/notes/research/codex-gemini-observed.md.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde_json::json;

use super::client::GEMINI;
use super::fake_api::Request;
use super::fake_gemini::GEMINI_API;
use super::pane::{Keyboard, Pane};
use super::session::{self, Started};

/// Any key: the fake API accepts every key.
const API_KEY: &str = "sessctl-test-gemini-key";

/// What the client shows in its input box when it is ready for a prompt.
const READY: &str = "Type your message or @path/to/file";

/// Products running the real Gemini CLI on a private manager, with the fake API.
pub struct Gemini {
    base: Started,
    /// The products' shared `GEMINI_CLI_HOME`; the client's data is in its `.gemini/`.
    pub home: PathBuf,
    /// The last prompt typed into each product: what its client shows in the conversation
    /// once it is ready for the next one, resumed or not.
    last_prompt: RefCell<HashMap<String, String>>,
}

/// A test reads `c.env`, `c.api`, `c.project` and `c.binary` whichever client it runs.
impl Deref for Gemini {
    type Target = Started;

    fn deref(&self) -> &Started {
        &self.base
    }
}

/// A private manager, the fake API in its network namespace and a configured client, or
/// `None` (with the reason printed) when either is missing outside CI; under `CI` that fails
/// the test.
pub fn setup(label: &str) -> Option<Gemini> {
    let base = session::start(GEMINI, GEMINI.newest(), label, GEMINI_API)?;
    let gemini = Gemini {
        home: base.env.scratch.join("gemini-home"),
        base,
        last_prompt: RefCell::default(),
    };
    gemini.configure();
    Some(gemini)
}

impl Gemini {
    /// The client's data root: `$GEMINI_CLI_HOME/.gemini`.
    pub fn root(&self) -> PathBuf {
        self.home.join(".gemini")
    }

    /// The user settings that let the client start with no dialog: an API key, no folder
    /// trust prompt, no update check, no usage statistics or telemetry. Session retention is
    /// left at the client's default, which is what sessctl's doctor is to name.
    pub fn configure(&self) {
        let settings = json!({
            "security": {"auth": {"selectedType": "gemini-api-key"}, "folderTrust": {"enabled": false}},
            "general": {"enableAutoUpdate": false, "enableAutoUpdateNotification": false},
            "privacy": {"usageStatisticsEnabled": false},
            "telemetry": {"enabled": false},
            "ui": {"hideTips": true},
        });
        fs::create_dir_all(self.root()).expect("the data root");
        fs::write(self.root().join("settings.json"), settings.to_string())
            .expect("writing settings.json");
    }

    /// Enables `product` in `dir` running the client offline. `--yolo` approves its tool
    /// calls, the cued shell commands among them, with no dialog.
    pub fn enable(&self, product: &str, dir: &Path) {
        let vars = [
            format!("GEMINI_CLI_HOME={}", self.home.display()),
            format!("GOOGLE_GEMINI_BASE_URL={}", self.api.base_url()),
            format!("GEMINI_API_KEY={API_KEY}"),
        ];
        let agent = [self.binary.as_os_str(), OsStr::new("--yolo")];
        session::enable(&self.env, product, dir, &vars, &agent);
    }

    /// `product`'s pane, driven as Gemini CLI takes keys.
    pub fn pane<'a>(&'a self, product: &'a str) -> Pane<'a> {
        let keys = GeminiKeys {
            gemini: self,
            product,
        };
        Pane::new(self.env.socket(product), product, &self.api, Box::new(keys))
    }

    /// Types `text` and Enter, and waits until the client has written the turn's answer: one
    /// more answer of the fake in its session files, and the prompt there too.
    #[track_caller]
    pub fn prompt(&self, product: &str, text: &str) -> Request {
        let pane = self.pane(product);
        pane.wait_ready();
        let before = self.answers();
        let request = pane.send(text);
        let prompt = format!("{{\"text\":{}}}", json!(text));
        pane.wait(&format!("the end of the turn after {text:?}"), || {
            (self.answers() > before && self.sessions().iter().any(|s| s.contains(&prompt)))
                .then_some(())
        });
        request
    }

    /// The answers of the fake the client has recorded, in every session file: a record of
    /// its own per answer (a resume rewrites the history in `$set` records, not these).
    fn answers(&self) -> usize {
        self.sessions()
            .iter()
            .flat_map(|s| s.lines())
            .filter(|l| l.starts_with("{\"id\":") && l.contains("\"content\":\"Understood: "))
            .count()
    }

    /// The text of every main session file under the data root.
    pub fn sessions(&self) -> Vec<String> {
        self.session_files()
            .iter()
            .filter_map(|f| fs::read_to_string(f).ok())
            .collect()
    }

    /// Every `tmp/<project>/chats/session-*.jsonl`.
    pub fn session_files(&self) -> Vec<PathBuf> {
        fs::read_dir(self.root().join("tmp"))
            .into_iter()
            .flatten()
            .flatten()
            .flat_map(|p| {
                fs::read_dir(p.path().join("chats"))
                    .into_iter()
                    .flatten()
                    .flatten()
            })
            .map(|f| f.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("session-") && n.ends_with(".jsonl"))
            })
            .collect()
    }
}

/// Gemini CLI at the keyboard of one product.
struct GeminiKeys<'a> {
    gemini: &'a Gemini,
    product: &'a str,
}

impl Keyboard for GeminiKeys<'_> {
    /// Ready when it shows its input box and, once the product has had a prompt, the last one
    /// in the conversation above.
    ///
    /// Started with `--resume`, Gemini CLI 0.61 shows its input box before it loads the
    /// conversation, then hides it while it does (`isResuming` in `useSessionResume`): keys
    /// that come meanwhile are lost, an Enter among them. It shows the old prompts only from
    /// that load on, and the input box again only after it.
    fn ready(&self, screen: &str) -> bool {
        let last = self.gemini.last_prompt.borrow();
        let last = last.get(self.product).map(|p| format!("> {p}"));
        screen.contains(READY) && last.is_none_or(|l| screen.contains(&l))
    }

    /// Gemini CLI 0.61 takes an Enter for a newline when it reads it within 30 ms of a key that
    /// inserts text (`bufferFastReturn`, `FAST_RETURN_TIMEOUT` in its KeypressContext), and a
    /// key read before the input box has re-subscribed its handler after a render is handled
    /// with the text of the render before (an Enter then submits nothing). The text on screen
    /// proves neither has passed. So Home comes between: a key that inserts nothing sets that
    /// clock to zero, and its render on screen proves the handler of the text's render is
    /// subscribed (React flushes a render's effects before it renders the next update), while
    /// it leaves the text the same. `text` must fit on one line of the pane.
    fn before_enter(&self, pane: &Pane, text: &str) {
        pane.keys(&["Home"]);
        let at_start = cursor_on_first_char(text);
        pane.wait("the cursor on the prompt's first character", || {
            at_start.is_match(&pane.styled_screen()).then_some(())
        });
    }

    fn entered(&self, text: &str) {
        (self.gemini.last_prompt.borrow_mut()).insert(self.product.to_string(), text.to_string());
    }
}

/// `text` as a styled capture shows it with Gemini CLI's cursor on its first character: the
/// client draws its cursor as that character in reverse video, and tmux writes the reverse
/// as `ESC[7m`; colour changes may come between any two characters.
fn cursor_on_first_char(text: &str) -> Regex {
    let style = r"(?:\x1b\[[0-9;]*m)*";
    let chars: Vec<String> = text
        .chars()
        .map(|c| regex::escape(&c.to_string()))
        .collect();
    Regex::new(&format!(r"\x1b\[7m{style}{}", chars.join(style))).expect("a valid pattern")
}

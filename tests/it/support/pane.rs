//! One product's tmux pane running a real client, as the real-client tests drive it: what it
//! shows, bounded waits that fail with the screen and the fake API's log, and a typed line
//! with its Enter. What differs between the clients at the keyboard is a [`Keyboard`] each of
//! support/{claude,codex,gemini}.rs implements.

use std::path::PathBuf;
use std::time::Duration;

use super::fake_api::{FakeApi, Request};
use super::tmux;

/// How one client takes a typed line.
pub trait Keyboard {
    /// Whether `screen` shows the client ready to take a line.
    fn ready(&self, screen: &str) -> bool;

    /// Keys and waits between the text on screen and its Enter: none, for most clients.
    fn before_enter(&self, _pane: &Pane, _text: &str) {}

    /// `text` was entered.
    fn entered(&self, _text: &str) {}

    /// Whether `request` is the one a line `text` caused: the first conversation request
    /// after it, for most clients.
    fn caused(&self, _request: &Request, _text: &str) -> bool {
        true
    }
}

/// A product's pane, its client and the fake API that client talks to.
pub struct Pane<'a> {
    pub socket: PathBuf,
    product: &'a str,
    api: &'a FakeApi,
    keyboard: Box<dyn Keyboard + 'a>,
}

impl<'a> Pane<'a> {
    pub fn new(
        socket: PathBuf,
        product: &'a str,
        api: &'a FakeApi,
        keyboard: Box<dyn Keyboard + 'a>,
    ) -> Self {
        Pane {
            socket,
            product,
            api,
            keyboard,
        }
    }

    /// What the pane shows now.
    pub fn screen(&self) -> String {
        self.capture().unwrap_or_default()
    }

    /// What the pane shows now, or None when there is no pane (its session or its tmux server
    /// gone).
    fn capture(&self) -> Option<String> {
        tmux(&self.socket, &["capture-pane", "-p", "-t", "main"])
    }

    /// What the pane shows now, with tmux's escape sequences for the cells' styles.
    pub fn styled_screen(&self) -> String {
        tmux(&self.socket, &["capture-pane", "-e", "-p", "-t", "main"]).unwrap_or_default()
    }

    /// Polls `probe` for at most a minute, and on a time-out fails with the screen and the
    /// API's log, which say why.
    #[track_caller]
    pub fn wait<T>(&self, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
        match sessctl::poll::until(Duration::from_secs(60), || Ok(probe())) {
            Ok(Some(value)) => value,
            _ => panic!(
                "timed out waiting for {what}\n--- screen of {}\n{}\n--- requests\n{:#?}",
                self.product,
                // An empty screen and no screen at all (the pane, its session or its tmux
                // server gone) call for different searches.
                self.capture()
                    .unwrap_or_else(|| "(no pane: tmux capture-pane failed)".to_string()),
                (self.api.requests().iter())
                    .map(|r| (&r.method, &r.path, r.status))
                    .collect::<Vec<_>>()
            ),
        }
    }

    /// Waits until the client is ready for a line.
    #[track_caller]
    pub fn wait_ready(&self) {
        self.wait("the client ready for input", || {
            self.keyboard.ready(&self.screen()).then_some(())
        });
    }

    /// Sends tmux `keys` (key names, or with `-l` first, literal text) to the pane.
    #[track_caller]
    pub fn keys(&self, keys: &[&str]) {
        let args = [&["send-keys", "-t", "main"], keys].concat();
        tmux(&self.socket, &args).unwrap_or_else(|| panic!("sending {keys:?}"));
    }

    /// Types `text` and Enter once the client is ready.
    #[track_caller]
    pub fn type_line(&self, text: &str) {
        self.wait_ready();
        self.keys(&["-l", text]);
        // Enter only once the text is on screen: sent with it, the client may take the key as
        // part of a paste.
        let shown: String = text.chars().take(24).collect();
        self.wait("the typed line on screen", || {
            self.screen().contains(&shown).then_some(())
        });
        self.keyboard.before_enter(self, text);
        self.keys(&["Enter"]);
        self.keyboard.entered(text);
    }

    /// Types `text` and Enter, and waits until the API has received the conversation request
    /// it caused (a turn that runs a long tool never ends by itself).
    #[track_caller]
    pub fn send(&self, text: &str) -> Request {
        let before = self.api.conversation().len();
        self.type_line(text);
        self.wait(&format!("a conversation request after {text:?}"), || {
            (self.api.conversation().into_iter().skip(before))
                .find(|r| self.keyboard.caused(r, text))
        })
    }
}

//! The dashboard's credentials on disk: the token (`$XDG_CONFIG_HOME/sessctl/dashboard.token`)
//! and the login sessions and one-time login codes made with it
//! (`$XDG_STATE_HOME/sessctl/dashboard/logins.json`).
//!
//! A browser never holds the token. Logging in with it makes a session of two random secrets:
//! one the cookie carries, and a key the page keeps in its own origin's storage. Only their
//! SHA-256 digests are written here, so this file opens nothing by itself. Each session and
//! code records which token made it: a new token ends them all, even one written by hand.
//!
//! Each session may hold its device's Web Push subscription (`push::Subscription`, data only:
//! the endpoint and the device's public keys), so it is listed and revoked with the session.
//!
//! Records layer. May import: `paths`, `store`, `uuid`, `error`, `state` (its time format),
//! and of the adapters `push::Subscription`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{quoted, usage};
use crate::paths::Paths;
use crate::push::Subscription;
use crate::state::rfc3339;
use crate::store::{self, Lock};
use crate::uuid;

/// How long a login session lasts, from the login: a phone is logged in for a month.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
/// How long a login link of `sessctl dashboard url` may wait to be opened.
pub const CODE_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// How long the link of `sessctl dashboard pair` may wait: it is shown on a screen, for a
/// phone held up to it, so it need not outlive the scan, and a glimpse of it soon goes stale.
pub const PAIR_LIFETIME: Duration = Duration::from_secs(2 * 60);
/// At most this many sessions are kept; a new login beyond it ends the one least recently
/// seen, so that a script logging in in a loop cannot grow the file without bound.
const MAX_SESSIONS: usize = 64;
/// `last_seen` is written at most this often per session: a page polls every second.
const SEEN_EVERY: Duration = Duration::from_secs(60);

/// The dashboard's token, created (0600) on first use. A token file others can read is
/// refused rather than trusted.
pub fn token(paths: &Paths) -> Result<String> {
    let file = paths.dashboard_token();
    store::create_private(&file, format!("{}\n", uuid::secret()?).as_bytes())?;
    read_token(&file)
}

/// The token as it is now, without creating it.
pub fn read_token(file: &Path) -> Result<String> {
    let meta = std::fs::metadata(file).with_context(|| format!("reading {}", file.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        bail!(
            "{} is readable by others (mode {mode:03o}); run `chmod 600 {}`",
            file.display(),
            file.display()
        );
    }
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let token = text.trim();
    if token.len() < 32 {
        bail!(
            "{} holds no token of at least 32 characters; remove it and a new one is made",
            file.display()
        );
    }
    Ok(token.to_string())
}

/// Replaces the token with a new one and ends every session and code made with the old.
pub fn new_token(paths: &Paths) -> Result<String> {
    let _lock = lock(paths)?;
    let token = uuid::secret()?;
    let file = paths.dashboard_token();
    store::write_atomic(&file, format!("{token}\n").as_bytes())?;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("making {} private", file.display()))?;
    save(paths, &Logins::default())?;
    Ok(token)
}

/// A digest that identifies a secret without revealing it.
pub fn digest(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What a session or code records of the token that made it.
pub fn token_mark(token: &str) -> String {
    digest(&format!("sessctl-token:{token}"))[..16].to_string()
}

/// One logged-in browser.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Session {
    /// What `sessctl dashboard sessions` shows and `revoke` takes; not a secret.
    pub id: String,
    /// What the browser said it is, in short ("Chrome on Android").
    pub device: String,
    pub created: String,
    pub last_seen: String,
    pub expires: String,
    /// The digests of the cookie's secret and the page's key, and the token's mark.
    #[serde(rename = "cookie_sha256")]
    cookie: String,
    #[serde(rename = "key_sha256")]
    key: String,
    token: String,
    /// The device's Web Push subscription (`POST /api/push`); none until it subscribes.
    /// Boxed: most sessions have none, and a session is passed around with every request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<Box<Subscription>>,
}

/// A one-time login link's code, waiting to be opened.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Code {
    #[serde(rename = "code_sha256")]
    code: String,
    expires: String,
    token: String,
}

/// Everything in the logins file.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Logins {
    #[serde(default)]
    pub sessions: Vec<Session>,
    #[serde(default)]
    codes: Vec<Code>,
}

/// A new session's two secrets, which exist only in the answer to the login.
pub struct Made {
    pub cookie: String,
    pub key: String,
}

impl Session {
    /// Whether it still logs a browser in: made with the token marked `token`, not expired.
    pub fn is_live(&self, token: &str, now: SystemTime) -> bool {
        self.token == token && self.expires > rfc3339(now)
    }

    /// Whether its `last_seen` is older than [`SEEN_EVERY`], so that [`seen`] should write.
    pub fn seen_due(&self) -> bool {
        self.last_seen < rfc3339(SystemTime::now() - SEEN_EVERY)
    }
}

impl Logins {
    /// The live session whose cookie secret is `cookie`, made with the token marked `token`.
    pub fn by_cookie(&self, cookie: &str, token: &str, now: SystemTime) -> Option<&Session> {
        let digest = digest(cookie);
        self.sessions
            .iter()
            .find(|s| s.cookie == digest && s.is_live(token, now))
    }

    /// Whether `key` is the page key of `session`.
    pub fn key_matches(session: &Session, key: &str) -> bool {
        use subtle::ConstantTimeEq;
        bool::from(digest(key).as_bytes().ct_eq(session.key.as_bytes()))
    }

    /// Drops what has expired or was made with another token.
    fn prune(&mut self, token: &str, now: SystemTime) {
        self.sessions.retain(|s| s.is_live(token, now));
        let now = rfc3339(now);
        self.codes.retain(|c| c.token == token && c.expires > now);
    }
}

/// The logins file as it is now; none when it does not exist.
pub fn load(paths: &Paths) -> Result<Logins> {
    Ok(store::read_json(&paths.login_sessions())?.unwrap_or_default())
}

fn save(paths: &Paths, logins: &Logins) -> Result<()> {
    let file = paths.login_sessions();
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)))
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    store::write_json(&file, logins, "the dashboard's logins")
}

/// One change to the logins file at a time: the server and `sessctl dashboard` both write it.
fn lock(paths: &Paths) -> Result<Lock> {
    Lock::acquire(&paths.login_lock())
}

/// Changes the logins file under its lock, pruned of what the current token no longer covers.
fn change<T>(paths: &Paths, token: &str, edit: impl FnOnce(&mut Logins) -> T) -> Result<T> {
    let _lock = lock(paths)?;
    let mut logins = load(paths)?;
    logins.prune(&token_mark(token), SystemTime::now());
    let out = edit(&mut logins);
    save(paths, &logins)?;
    Ok(out)
}

/// Logs a browser in: a new session made with `token`, for `device`.
pub fn create(paths: &Paths, token: &str, device: &str) -> Result<Made> {
    let (cookie, key) = (uuid::secret()?, uuid::secret()?);
    let now = SystemTime::now();
    let session = Session {
        id: uuid::secret()?[..12].to_string(),
        device: device.chars().take(80).collect(),
        created: rfc3339(now),
        last_seen: rfc3339(now),
        expires: rfc3339(now + SESSION_LIFETIME),
        cookie: digest(&cookie),
        key: digest(&key),
        token: token_mark(token),
        push: None,
    };
    change(paths, token, |logins| {
        logins.sessions.push(session);
        if logins.sessions.len() > MAX_SESSIONS {
            logins
                .sessions
                .sort_by(|a, b| b.last_seen.cmp(&a.last_seen));
            logins.sessions.truncate(MAX_SESSIONS);
        }
    })?;
    Ok(Made { cookie, key })
}

/// Records that `session` was seen now.
pub fn seen(paths: &Paths, token: &str, session: &Session) -> Result<()> {
    let now = SystemTime::now();
    change(paths, token, |logins| {
        if let Some(s) = logins.sessions.iter_mut().find(|s| s.id == session.id) {
            s.last_seen = rfc3339(now);
        }
    })
}

/// Gives session `id` the Web Push subscription `push`, replacing its old one (`None`: it
/// has none). An endpoint is one device's: another session holding it loses it, so that a
/// device logged in twice gets each notice once.
pub fn set_push(paths: &Paths, token: &str, id: &str, push: Option<Subscription>) -> Result<()> {
    change(paths, token, |logins| {
        for session in &mut logins.sessions {
            if session.id == id {
                session.push = push.clone().map(Box::new);
            } else if session.push.as_ref().map(|p| &p.endpoint)
                == push.as_ref().map(|p| &p.endpoint)
            {
                session.push = None;
            }
        }
    })
}

/// Drops the subscription to `endpoint` from every session: its push service said it ended.
pub fn drop_push(paths: &Paths, token: &str, endpoint: &str) -> Result<()> {
    change(paths, token, |logins| {
        for session in &mut logins.sessions {
            if session
                .push
                .as_ref()
                .is_some_and(|p| p.endpoint == endpoint)
            {
                session.push = None;
            }
        }
    })
}

/// Which sessions `revoke` ends.
pub enum Which<'a> {
    One(&'a str),
    All,
}

/// Ends the sessions `which` names; how many ended. An id that names no session is an error.
pub fn revoke(paths: &Paths, token: &str, which: Which) -> Result<usize> {
    let ended = change(paths, token, |logins| {
        let before = logins.sessions.len();
        match which {
            Which::One(id) => logins.sessions.retain(|s| s.id != id),
            Which::All => logins.sessions.clear(),
        }
        before - logins.sessions.len()
    })?;
    if let (Which::One(id), 0) = (which, ended) {
        return Err(usage(format!(
            "no login session {}; `sessctl dashboard sessions` lists them",
            quoted(id)
        )));
    }
    Ok(ended)
}

/// A new one-time login code, good for `lifetime` ([`CODE_LIFETIME`], [`PAIR_LIFETIME`]).
pub fn new_code(paths: &Paths, token: &str, lifetime: Duration) -> Result<String> {
    let code = uuid::secret()?;
    let entry = Code {
        code: digest(&code),
        expires: rfc3339(SystemTime::now() + lifetime),
        token: token_mark(token),
    };
    change(paths, token, |logins| logins.codes.push(entry))?;
    Ok(code)
}

/// Spends a one-time code: whether it was live (it is gone either way).
pub fn spend_code(paths: &Paths, token: &str, code: &str) -> Result<bool> {
    let digest = digest(code);
    change(paths, token, |logins| {
        let before = logins.codes.len();
        logins.codes.retain(|c| c.code != digest);
        before != logins.codes.len()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths() -> (tempfile::TempDir, Paths) {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths {
            config_home: dir.path().join("config"),
            state_home: dir.path().join("state"),
            runtime_dir: None,
        };
        (dir, paths)
    }

    #[test]
    fn a_session_is_found_by_its_cookie_and_key_only_while_its_token_holds() {
        let (_dir, paths) = paths();
        let token = token(&paths).unwrap();
        let made = create(&paths, &token, "Chrome on Linux").unwrap();
        let logins = load(&paths).unwrap();
        let now = SystemTime::now();
        let found = logins.by_cookie(&made.cookie, &token_mark(&token), now);
        let session = found.expect("the session, by its cookie");
        assert_eq!(session.device, "Chrome on Linux");
        assert!(Logins::key_matches(session, &made.key));
        assert!(!Logins::key_matches(session, &made.cookie));
        assert_eq!(logins.by_cookie(&made.key, &token_mark(&token), now), None);
        // Neither secret is on disk.
        let text = std::fs::read_to_string(paths.login_sessions()).unwrap();
        assert!(!text.contains(&made.cookie) && !text.contains(&made.key));
        assert!(!text.contains(&token));
        // Expired, or made with another token: gone.
        let later = now + SESSION_LIFETIME + Duration::from_secs(1);
        assert_eq!(
            logins.by_cookie(&made.cookie, &token_mark(&token), later),
            None
        );
        let new = new_token(&paths).unwrap();
        let logins = load(&paths).unwrap();
        assert_eq!(logins.by_cookie(&made.cookie, &token_mark(&new), now), None);
        assert!(logins.sessions.is_empty());
    }

    #[test]
    fn an_endpoint_belongs_to_one_session_and_an_ended_one_is_dropped() {
        let (_dir, paths) = paths();
        let token = token(&paths).unwrap();
        create(&paths, &token, "a").unwrap();
        create(&paths, &token, "b").unwrap();
        let ids: Vec<String> = load(&paths)
            .unwrap()
            .sessions
            .into_iter()
            .map(|s| s.id)
            .collect();
        let push: Subscription = serde_json::from_value(serde_json::json!({
            "endpoint": "https://push.example/1",
            "keys": {"p256dh": "x", "auth": "y"},
        }))
        .unwrap();
        let pushes = || -> Vec<bool> {
            load(&paths)
                .unwrap()
                .sessions
                .iter()
                .map(|s| s.push.is_some())
                .collect()
        };
        set_push(&paths, &token, &ids[0], Some(push.clone())).unwrap();
        assert_eq!(pushes(), [true, false]);
        // The same device, logged in again: the endpoint moves to the new session.
        set_push(&paths, &token, &ids[1], Some(push.clone())).unwrap();
        assert_eq!(pushes(), [false, true]);
        drop_push(&paths, &token, &push.endpoint).unwrap();
        assert_eq!(pushes(), [false, false]);
        set_push(&paths, &token, &ids[0], Some(push)).unwrap();
        set_push(&paths, &token, &ids[0], None).unwrap();
        assert_eq!(pushes(), [false, false]);
    }

    #[test]
    fn a_code_is_spent_once_and_revoke_names_what_it_cannot_find() {
        let (_dir, paths) = paths();
        let token = token(&paths).unwrap();
        let code = new_code(&paths, &token, PAIR_LIFETIME).unwrap();
        assert!(spend_code(&paths, &token, &code).unwrap());
        assert!(!spend_code(&paths, &token, &code).unwrap());
        // A code whose lifetime has passed opens nothing: with none, it expires as it is made.
        let stale = new_code(&paths, &token, Duration::ZERO).unwrap();
        assert!(!spend_code(&paths, &token, &stale).unwrap());
        create(&paths, &token, "x").unwrap();
        let id = load(&paths).unwrap().sessions[0].id.clone();
        let err = revoke(&paths, &token, Which::One("nope")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no login session \"nope\"; `sessctl dashboard sessions` lists them"
        );
        assert_eq!(revoke(&paths, &token, Which::One(&id)).unwrap(), 1);
        assert!(load(&paths).unwrap().sessions.is_empty());
    }
}

//! Who may use the dashboard. Scripts show the token (`Authorization: Bearer`); browsers log in
//! with it once and then hold a login session (see `crate::login`): its cookie, and its key,
//! which the page sends as `X-Sessctl-Key` (a WebSocket, as its subprotocol `sessctl.key.K`).
//!
//! The cookie alone opens only the page shells. Cookies ignore ports, so any server on the same
//! host name may be sent it; the key lives in the page's own origin's storage, which no other
//! port can read, and no other site can add it to a request, so it also stands in for a CSRF
//! token. A wrong token is answered after a delay that grows per source address; a right token
//! is never refused or delayed, and a cookie the server does not know is a logged-out browser,
//! not a failed attempt.

use std::collections::HashMap;
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::http::{header, HeaderMap, StatusCode};
use subtle::ConstantTimeEq;

use crate::login::{self, Logins, Session};
use crate::paths::Paths;

/// The cookie that names a login session over plain HTTP, and under HTTPS, where the
/// `__Host-` prefix makes the browser refuse it from anything but this host over TLS.
pub const COOKIE: &str = "sessctl_session";
pub const HOST_COOKIE: &str = "__Host-sessctl_session";
/// The header that carries a session's key.
pub const KEY_HEADER: &str = "x-sessctl-key";
/// The WebSocket subprotocol a terminal is answered with; the key comes as a second one.
pub const PROTOCOL: &str = "sessctl";
const KEY_PROTOCOL: &str = "sessctl.key.";

/// A source's first failed attempt is answered after this long, each next one after twice the
/// last, up to [`MAX_DELAY`]: a guesser gets a few tries a minute, a typo costs a moment.
const FIRST_DELAY: Duration = Duration::from_millis(250);
const MAX_DELAY: Duration = Duration::from_secs(8);
/// A source with no failure for this long starts again at [`FIRST_DELAY`].
const FORGET: Duration = Duration::from_secs(15 * 60);
/// Failed attempts of one source waiting at once; more are answered 429 at once, so a flood
/// of guesses holds no more than this many connections.
const MAX_WAITING: usize = 4;
/// Sources remembered; beyond it the ones with nothing waiting are forgotten.
const MAX_SOURCES: usize = 1024;

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No credential at all.
    Missing,
    /// A wrong token.
    Wrong,
    /// Too many wrong tokens from this source at once.
    Busy,
    /// A session cookie the server does not know (expired, revoked, made with an old token),
    /// or a known one without its key.
    LoggedOut,
}

impl Refusal {
    pub fn status(self) -> StatusCode {
        match self {
            Refusal::Missing | Refusal::Wrong | Refusal::LoggedOut => StatusCode::UNAUTHORIZED,
            Refusal::Busy => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Refusal::Missing => "no token: log in, or send `Authorization: Bearer <token>` (`sessctl dashboard token` prints it)",
            Refusal::Wrong => "wrong token: `sessctl dashboard token` prints the right one",
            Refusal::Busy => "too many wrong tokens from this address at once: wait for the answers",
            Refusal::LoggedOut => "logged out: this login session ended (expired, revoked, or the token changed); log in again",
        }
    }
}

/// What a request may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// The token's holder.
    Token,
    /// A logged-in browser that showed its key.
    Session(Session),
    /// A logged-in browser's cookie without the key: a page's shell, nothing in it.
    Shell,
}

/// A file's identity and version, to read it again only when it changed.
type Stamp = (u64, u64, i64, i64);

fn stamp(file: &std::path::Path) -> Option<Stamp> {
    let meta = std::fs::metadata(file).ok()?;
    Some((meta.dev(), meta.ino(), meta.mtime(), meta.mtime_nsec()))
}

/// A file read again whenever it changes on disk, so that `sessctl dashboard token --new` and
/// `revoke` take effect at the server's next request.
struct Watched<T> {
    file: PathBuf,
    seen: Mutex<Option<(Stamp, Arc<T>)>>,
}

impl<T> Watched<T> {
    fn new(file: PathBuf) -> Self {
        Watched {
            file,
            seen: Mutex::new(None),
        }
    }

    fn get(&self, read: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<Option<Arc<T>>> {
        let Some(now) = stamp(&self.file) else {
            return Ok(None);
        };
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, value)) = seen.as_ref() {
            if *at == now {
                return Ok(Some(value.clone()));
            }
        }
        let value = Arc::new(read()?);
        *seen = Some((now, value.clone()));
        Ok(Some(value))
    }
}

/// The token, the login sessions and the failed attempts of each source.
pub struct Gate {
    paths: Paths,
    token: Watched<String>,
    logins: Watched<Logins>,
    sources: Mutex<HashMap<IpAddr, Arc<Source>>>,
}

/// One source's failed attempts; the lock is held while one of them waits out its delay.
#[derive(Default)]
struct Source {
    failures: tokio::sync::Mutex<(u32, Option<Instant>)>,
    waiting: std::sync::atomic::AtomicUsize,
}

/// Counts a waiting failure for as long as it waits, also when its client gives up.
struct Waiting(Arc<Source>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0
            .waiting
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Gate {
    /// A gate for `paths`' token, which must exist (`login::token` makes it).
    pub fn new(paths: Paths) -> Gate {
        Gate {
            token: Watched::new(paths.dashboard_token()),
            logins: Watched::new(paths.login_sessions()),
            paths,
            sources: Mutex::new(HashMap::new()),
        }
    }

    /// The token as the file holds it now.
    pub fn token(&self) -> anyhow::Result<Arc<String>> {
        let file = self.paths.dashboard_token();
        self.token.get(|| login::read_token(&file))?.ok_or_else(|| {
            anyhow::anyhow!(
                "{} is gone; run `sessctl dashboard token` to make a new one",
                file.display()
            )
        })
    }

    /// Checks a presented token; a wrong one is answered after its source's delay.
    pub async fn check(&self, presented: &str, source: IpAddr) -> Result<(), Refusal> {
        let right = self
            .token()
            .is_ok_and(|token| bool::from(presented.as_bytes().ct_eq(token.as_bytes())));
        if right {
            return Ok(());
        }
        Err(self.fail(source).await)
    }

    /// Answers a failed attempt from `source`, after its delay.
    pub async fn fail(&self, source: IpAddr) -> Refusal {
        let source = self.source(source);
        if source
            .waiting
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            >= MAX_WAITING
        {
            drop(Waiting(source));
            return Refusal::Busy;
        }
        let waiting = Waiting(source.clone());
        let mut failures = source.failures.lock().await;
        let (count, last) = &mut *failures;
        if last.is_some_and(|at| at.elapsed() > FORGET) {
            *count = 0;
        }
        let delay = FIRST_DELAY
            .saturating_mul(1 << (*count).min(16))
            .min(MAX_DELAY);
        *count += 1;
        *last = Some(Instant::now());
        tokio::time::sleep(delay).await;
        drop(failures);
        drop(waiting);
        Refusal::Wrong
    }

    fn source(&self, ip: IpAddr) -> Arc<Source> {
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        if sources.len() >= MAX_SOURCES {
            sources.retain(|_, s| s.waiting.load(std::sync::atomic::Ordering::SeqCst) > 0);
        }
        sources.entry(ip).or_default().clone()
    }

    /// The login session the request's cookie names; `Err` for a cookie the server does not
    /// know, `Ok(None)` for no cookie.
    pub fn session(&self, headers: &HeaderMap) -> Result<Option<Session>, Refusal> {
        let Some(cookie) = cookie(headers, HOST_COOKIE).or_else(|| cookie(headers, COOKIE)) else {
            return Ok(None);
        };
        let token = self.token().map_err(|_| Refusal::LoggedOut)?;
        let logins = self
            .logins
            .get(|| login::load(&self.paths))
            .map_err(|_| Refusal::LoggedOut)?
            .ok_or(Refusal::LoggedOut)?;
        logins
            .by_cookie(&cookie, &login::token_mark(&token), SystemTime::now())
            .cloned()
            .map(Some)
            .ok_or(Refusal::LoggedOut)
    }

    /// What the request may see: the token, or a session with its key, or (`shell_ok`) a
    /// session's cookie alone.
    pub async fn authorize(
        &self,
        headers: &HeaderMap,
        source: IpAddr,
        shell_ok: bool,
    ) -> Result<Access, Refusal> {
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            let bearer = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer "));
            self.check(bearer.unwrap_or_default().trim(), source)
                .await?;
            return Ok(Access::Token);
        }
        let session = self.session(headers)?.ok_or(Refusal::Missing)?;
        match presented_key(headers) {
            Some(key) if Logins::key_matches(&session, &key) => Ok(Access::Session(session)),
            _ if shell_ok => Ok(Access::Shell),
            _ => Err(Refusal::LoggedOut),
        }
    }
}

/// The key a request shows: its header, or a WebSocket's second subprotocol.
fn presented_key(headers: &HeaderMap) -> Option<String> {
    if let Some(key) = headers.get(KEY_HEADER).and_then(|v| v.to_str().ok()) {
        return Some(key.to_string());
    }
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix(KEY_PROTOCOL))
        .map(str::to_string)
}

/// The `Set-Cookie` values that log a browser in: the session's cookie for every path, and
/// the key for `/login/done` only, which keeps it in the page's storage and drops the cookie.
/// `secure` under HTTPS.
pub fn login_cookies(made: &login::Made, secure: bool) -> [String; 2] {
    let age = login::SESSION_LIFETIME.as_secs();
    let (name, flag) = if secure {
        (HOST_COOKIE, "; Secure")
    } else {
        (COOKIE, "")
    };
    [
        format!(
            "{name}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age={age}{flag}",
            made.cookie
        ),
        format!(
            "sessctl_key={}; SameSite=Strict; Path=/login/done; Max-Age=120{flag}",
            made.key
        ),
    ]
}

/// The `Set-Cookie` value that drops a session's cookie from a browser.
pub fn logout_cookie(secure: bool) -> String {
    match secure {
        true => format!("{HOST_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0; Secure"),
        false => format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    }
}

/// The cookie that held the token itself before login sessions.
pub const LEGACY_COOKIE: &str = "sessctl_token";

/// The `Set-Cookie` value that drops [`LEGACY_COOKIE`].
pub fn drop_legacy_cookie() -> String {
    format!("{LEGACY_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}

/// Whether the request carries cookie `name`.
pub fn has_cookie(headers: &HeaderMap, name: &str) -> bool {
    cookie(headers, name).is_some()
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| v.to_string())
}

/// What a login session is called in `sessctl dashboard sessions`: the browser and the system
/// its `User-Agent` names.
pub fn device(headers: &HeaderMap) -> String {
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let first = |names: &[(&str, &'static str)]| {
        names
            .iter()
            .find(|(needle, _)| agent.contains(needle))
            .map(|(_, name)| *name)
    };
    let browser = first(&[
        ("Firefox/", "Firefox"),
        ("Edg/", "Edge"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]);
    let system = first(&[
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Mac OS X", "macOS"),
        ("Windows", "Windows"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]);
    match (browser, system) {
        (Some(b), Some(s)) => format!("{b} on {s}"),
        (Some(one), None) | (None, Some(one)) => one.to_string(),
        (None, None) => "unknown browser".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, v.parse().unwrap());
        }
        map
    }

    fn gate() -> (tempfile::TempDir, Gate, String) {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths {
            config_home: dir.path().join("config"),
            state_home: dir.path().join("state"),
            runtime_dir: None,
        };
        let token = login::token(&paths).unwrap();
        (dir, Gate::new(paths), token)
    }

    const HERE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[tokio::test]
    async fn a_session_needs_its_key_and_its_cookie_is_no_bearer_token() {
        let (_dir, gate, token) = gate();
        let made = login::create(&gate.paths, &token, "x").unwrap();
        let cookie = format!("a=b; {COOKIE}={}", made.cookie);
        let alone = headers(&[("cookie", &cookie)]);
        assert_eq!(gate.authorize(&alone, HERE, true).await, Ok(Access::Shell));
        assert_eq!(
            gate.authorize(&alone, HERE, false).await,
            Err(Refusal::LoggedOut)
        );
        let session = login::load(&gate.paths).unwrap().sessions.remove(0);
        let with_key = headers(&[("cookie", &cookie), (KEY_HEADER, &made.key)]);
        assert_eq!(
            gate.authorize(&with_key, HERE, false).await,
            Ok(Access::Session(session))
        );
        let protocol = format!("sessctl, sessctl.key.{}", made.key);
        let socket = headers(&[("cookie", &cookie), ("sec-websocket-protocol", &protocol)]);
        assert!(gate.authorize(&socket, HERE, false).await.is_ok());
        let bearer = format!("Bearer {}", made.cookie);
        let bearer = headers(&[("authorization", &bearer)]);
        assert_eq!(
            gate.authorize(&bearer, HERE, false).await,
            Err(Refusal::Wrong)
        );
        let token = format!("Bearer {token}");
        let token = headers(&[("authorization", &token)]);
        assert_eq!(gate.authorize(&token, HERE, false).await, Ok(Access::Token));
        let unknown = headers(&[("cookie", "sessctl_session=feed")]);
        assert_eq!(
            gate.authorize(&unknown, HERE, true).await,
            Err(Refusal::LoggedOut)
        );
        assert_eq!(
            gate.authorize(&HeaderMap::new(), HERE, true).await,
            Err(Refusal::Missing)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn failures_wait_longer_each_time_per_source_and_the_right_token_never_waits() {
        let (_dir, gate, token) = gate();
        let other = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));
        for expected in [250, 500, 1000, 2000, 4000, 8000, 8000] {
            let start = tokio::time::Instant::now();
            assert_eq!(gate.check("guess", HERE).await, Err(Refusal::Wrong));
            assert_eq!(start.elapsed(), Duration::from_millis(expected));
        }
        let start = tokio::time::Instant::now();
        assert_eq!(gate.check(&token, HERE).await, Ok(()));
        assert_eq!(gate.check("guess", other).await, Err(Refusal::Wrong));
        assert_eq!(start.elapsed(), FIRST_DELAY);
    }

    #[tokio::test(start_paused = true)]
    async fn a_flood_of_guesses_holds_few_connections() {
        let (_dir, gate, _token) = gate();
        let gate = Arc::new(gate);
        let guesses: Vec<_> = (0..20)
            .map(|_| {
                let gate = gate.clone();
                tokio::spawn(async move { gate.check("guess", HERE).await })
            })
            .collect();
        let mut answers = Vec::new();
        for guess in guesses {
            answers.push(guess.await.unwrap());
        }
        let busy = answers.iter().filter(|a| **a == Err(Refusal::Busy)).count();
        assert_eq!(busy, 20 - MAX_WAITING);
    }

    #[test]
    fn a_device_is_named_by_its_browser_and_system() {
        let phone = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Mobile Safari/537.36";
        assert_eq!(
            device(&headers(&[("user-agent", phone)])),
            "Chrome on Android"
        );
        assert_eq!(device(&HeaderMap::new()), "unknown browser");
    }
}

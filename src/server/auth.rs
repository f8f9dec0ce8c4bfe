//! Who may use the dashboard: the holder of the token in `$XDG_CONFIG_HOME/sessctl/
//! dashboard.token`, shown as `Authorization: Bearer <token>` or as the cookie the login page
//! sets. A cookie alone never changes anything: a state-changing request must also carry the
//! CSRF header, which only the dashboard's own pages know. Failed attempts are rate-limited.

use std::collections::VecDeque;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use axum::http::{header, HeaderMap, Method, StatusCode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::paths::Paths;
use crate::store;
use crate::uuid;

/// The cookie that carries the token after a login.
pub const COOKIE: &str = "sessctl_token";
/// The header a cookie-authenticated change must carry, holding [`Keys::csrf`].
pub const CSRF_HEADER: &str = "x-sessctl-csrf";

/// Failed attempts allowed in [`WINDOW`]; the next attempt, right or wrong, waits.
const MAX_FAILURES: usize = 5;
const WINDOW: Duration = Duration::from_secs(60);

/// The dashboard's token file.
fn token_file(paths: &Paths) -> PathBuf {
    paths.config_home.join("sessctl/dashboard.token")
}

/// The dashboard's token, created (0600) on first use. A token file others can read is
/// refused rather than trusted.
pub fn token(paths: &Paths) -> Result<String> {
    let file = token_file(paths);
    store::create_private(&file, format!("{}\n", uuid::secret()?).as_bytes())?;
    read_token(&file)
}

fn read_token(file: &Path) -> Result<String> {
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

/// The token and what is derived from it.
pub struct Keys {
    token: String,
    /// What [`CSRF_HEADER`] must hold: derived from the token, so it is as unguessable and
    /// the same across restarts, and it is never the token itself.
    pub csrf: String,
    failures: Mutex<VecDeque<Instant>>,
}

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No credential at all.
    Missing,
    /// A wrong token.
    Wrong,
    /// A cookie-authenticated change without the CSRF header.
    NoCsrf,
    /// Too many failed attempts lately.
    Limited,
}

impl Refusal {
    pub fn status(self) -> StatusCode {
        match self {
            Refusal::Missing | Refusal::Wrong => StatusCode::UNAUTHORIZED,
            Refusal::NoCsrf => StatusCode::FORBIDDEN,
            Refusal::Limited => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Refusal::Missing => "no token: log in, or send `Authorization: Bearer <token>` (`sessctl dashboard token` prints it)",
            Refusal::Wrong => "wrong token: `sessctl dashboard token` prints the right one",
            Refusal::NoCsrf => "a change made with the login cookie must carry the X-Sessctl-Csrf header the dashboard's pages send",
            Refusal::Limited => "too many failed logins: wait a minute",
        }
    }
}

impl Keys {
    pub fn new(token: String) -> Keys {
        let digest = Sha256::digest(format!("sessctl-dashboard-csrf:{token}").as_bytes());
        let csrf = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        Keys {
            token,
            csrf,
            failures: Mutex::new(VecDeque::new()),
        }
    }

    /// Checks a presented token, counting a wrong one against the rate limit. While the limit
    /// is reached every attempt is refused, the right token too: a guesser learns nothing.
    pub fn check(&self, presented: &str) -> Result<(), Refusal> {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        while failures.front().is_some_and(|t| now - *t > WINDOW) {
            failures.pop_front();
        }
        if failures.len() >= MAX_FAILURES {
            return Err(Refusal::Limited);
        }
        if bool::from(presented.as_bytes().ct_eq(self.token.as_bytes())) {
            Ok(())
        } else {
            failures.push_back(now);
            Err(Refusal::Wrong)
        }
    }

    /// Whether a request may go on: a bearer token, or the cookie (with the CSRF header on
    /// anything but a read).
    pub fn authorize(&self, method: &Method, headers: &HeaderMap) -> Result<(), Refusal> {
        if let Some(value) = headers.get(header::AUTHORIZATION) {
            let bearer = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer "));
            return self.check(bearer.unwrap_or_default().trim());
        }
        let Some(cookie) = cookie(headers, COOKIE) else {
            return Err(Refusal::Missing);
        };
        self.check(&cookie)?;
        if method == Method::GET || method == Method::HEAD {
            return Ok(());
        }
        let csrf = headers.get(CSRF_HEADER).map(|v| v.as_bytes());
        match csrf {
            Some(csrf) if bool::from(csrf.ct_eq(self.csrf.as_bytes())) => Ok(()),
            _ => Err(Refusal::NoCsrf),
        }
    }

    /// The `Set-Cookie` value that logs a browser in. `secure` under TLS.
    pub fn login_cookie(&self, secure: bool) -> String {
        let secure = if secure { "; Secure" } else { "" };
        format!(
            "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age=31536000{secure}",
            self.token
        )
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys::new("t".repeat(64))
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn a_cookie_reads_but_changes_only_with_the_csrf_header() {
        let k = keys();
        let cookie = format!("a=b; {COOKIE}={}", "t".repeat(64));
        let with = headers(&[("cookie", &cookie)]);
        assert_eq!(k.authorize(&Method::GET, &with), Ok(()));
        assert_eq!(k.authorize(&Method::POST, &with), Err(Refusal::NoCsrf));
        let csrf = k.csrf.clone();
        let with_csrf = headers(&[("cookie", &cookie), (CSRF_HEADER, &csrf)]);
        assert_eq!(k.authorize(&Method::POST, &with_csrf), Ok(()));
        let bearer = format!("Bearer {}", "t".repeat(64));
        let bearer = headers(&[("authorization", &bearer)]);
        assert_eq!(k.authorize(&Method::POST, &bearer), Ok(()));
        assert_eq!(
            k.authorize(&Method::GET, &HeaderMap::new()),
            Err(Refusal::Missing)
        );
    }

    #[test]
    fn after_five_failures_even_the_right_token_waits() {
        let k = keys();
        for _ in 0..MAX_FAILURES {
            assert_eq!(k.check("wrong"), Err(Refusal::Wrong));
        }
        assert_eq!(k.check(&"t".repeat(64)), Err(Refusal::Limited));
    }
}

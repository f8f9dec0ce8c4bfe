//! The dashboard's login sessions, as `sessctl dashboard sessions` lists them.

use anyhow::Result;
use serde::Serialize;

use crate::login;
use crate::paths::Paths;

/// A logged-in browser, without anything that would log one in.
#[derive(Debug, Serialize)]
pub struct LoginSession {
    pub id: String,
    pub device: String,
    pub created: String,
    pub last_seen: String,
    pub expires: String,
    /// Whether the device gets Web Push notices (it subscribed on the dashboard's page).
    pub push: bool,
}

/// The login sessions that can still log a browser in: made with the current token and not
/// expired, most recently seen first. None while there is no token.
pub fn sessions(paths: &Paths) -> Result<Vec<LoginSession>> {
    let file = paths.dashboard_token();
    if !file.exists() {
        return Ok(Vec::new());
    }
    let mark = login::token_mark(&login::read_token(&file)?);
    let now = std::time::SystemTime::now();
    let mut live: Vec<LoginSession> = login::load(paths)?
        .sessions
        .into_iter()
        .filter(|s| s.is_live(&mark, now))
        .map(|s| LoginSession {
            id: s.id,
            device: s.device,
            created: s.created,
            last_seen: s.last_seen,
            expires: s.expires,
            push: s.push.is_some(),
        })
        .collect();
    live.sort_by(|a, b| b.last_seen.cmp(&a.last_seen));
    Ok(live)
}

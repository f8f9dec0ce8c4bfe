//! `sessctl dashboard`: install or remove the dashboard's user service, log browsers in and
//! out of it, and pair a phone with a QR code (`qr`).

mod qr;

use std::io::IsTerminal;

use anyhow::Result;

use crate::cli::{Dashboard, Revoke};
use crate::context::Ctx;
use crate::lifecycle::dashboard;
use crate::lifecycle::roots as dashboard_roots;
use crate::login::{Which, CODE_LIFETIME, PAIR_LIFETIME};
use crate::paths::Paths;
use crate::query::dashboard::{sessions, LoginSession};

pub fn run(ctx: &Ctx, command: Dashboard) -> Result<()> {
    let paths = &ctx.paths;
    let lines = match command {
        Dashboard::Enable {
            listen,
            tls,
            hosts,
            roots,
        } => {
            let tls = tls.files().map(dashboard::Tls::from);
            // A bad --root is refused before anything is installed.
            let creating = dashboard_roots::set(paths, &roots)?;
            let mut lines = dashboard::enable(ctx, listen, tls, &hosts.allow_host)?;
            lines.extend(creating);
            lines.push("log in: open the link `sessctl dashboard url` prints".to_string());
            lines
        }
        Dashboard::Disable => dashboard::disable(ctx)?,
        Dashboard::Token { new: false } => vec![dashboard::token(paths)?],
        Dashboard::Token { new: true } => vec![dashboard::new_token(paths)?],
        Dashboard::Url => vec![dashboard::login_link(paths, CODE_LIFETIME)?],
        Dashboard::Pair => pairing(paths)?,
        Dashboard::Sessions(args) if args.json => {
            outln!("{}", serde_json::to_string_pretty(&sessions(paths)?)?);
            return Ok(());
        }
        Dashboard::Sessions(_) => table(&sessions(paths)?),
        Dashboard::Revoke(revoke) => vec![revoked(paths, revoke)?],
    };
    for line in lines {
        outln!("{line}");
    }
    Ok(())
}

/// The pairing link as a QR code, then the link itself, for copying, and how long it lasts.
fn pairing(paths: &Paths) -> Result<Vec<String>> {
    let link = dashboard::login_link(paths, PAIR_LIFETIME)?;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let mut lines = qr::lines(&link, std::io::stdout().is_terminal() && !no_color)?;
    lines.push(link);
    let minutes = PAIR_LIFETIME.as_secs() / 60;
    lines.push(format!("valid for {minutes} minutes, once"));
    Ok(lines)
}

fn revoked(paths: &Paths, revoke: Revoke) -> Result<String> {
    let which = match &revoke.id {
        Some(id) => Which::One(id),
        None => Which::All,
    };
    let ended = dashboard::revoke(paths, which)?;
    Ok(match revoke.id {
        Some(id) => format!("login session {id}: ended"),
        None => format!("{ended} login sessions ended"),
    })
}

/// One line per login session, times in UTC as the files hold them.
fn table(list: &[LoginSession]) -> Vec<String> {
    if list.is_empty() {
        return vec!["no browser is logged in".to_string()];
    }
    let mut lines = vec![format!(
        "{:<12}  {:<20}  {:<20}  {:<20}  {:<4}  {}",
        "ID", "LAST SEEN", "LOGGED IN", "EXPIRES", "PUSH", "DEVICE"
    )];
    lines.extend(list.iter().map(|s| {
        let push = if s.push { "yes" } else { "no" };
        format!(
            "{:<12}  {:<20}  {:<20}  {:<20}  {:<4}  {}",
            s.id, s.last_seen, s.created, s.expires, push, s.device
        )
    }));
    lines
}

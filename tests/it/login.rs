//! Who gets into the dashboard, tried as its owner and as an attacker on the same machine
//! would: the token for scripts, login sessions for browsers (a cookie that opens only page
//! shells, and a key only the dashboard's own pages hold), one-time login links, delays for
//! wrong tokens that never lock the owner out, the host names it answers, and the headers
//! every answer carries. `sessctl serve` runs on an ephemeral loopback port with no manager:
//! all of this is decided before a product is read.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::mpsc;
use std::time::Instant;

use crate::dashboard::{
    asset_url, link_path, log_in, open_link, refused_link, serve, serve_with, token, Login,
};
use crate::support::http::{raw, Reply};
use crate::support::{login_sessions, Env};

const PHONE: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Mobile Safari/537.36";
const LAPTOP: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0";
const HERE: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Another source on the same machine (127.0.0.0/8 is all loopback).
const THERE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[test]
fn the_cookie_alone_opens_only_page_shells_and_the_key_opens_the_rest() {
    let env = Env::offline();
    let served = serve(&env);
    let c = &served.client;
    let token = token(&env);

    let none = c.get("/api/products", &[]);
    assert_eq!(
        (none.status, none.header("www-authenticate")),
        (401, Some("Bearer"))
    );
    assert_eq!(
        none.body,
        "{\n  \"error\": \"no token: log in, or send `Authorization: Bearer <token>` (`sessctl dashboard token` prints it)\",\n  \"exit_code\": 2\n}\n"
    );
    let right = c.get("/api/products", &[("authorization", &bearer(&token))]);
    assert_eq!((right.status, right.body.as_str()), (200, "[]\n"));
    let page = c.get("/", &[]);
    assert_eq!(
        (page.status, page.header("location")),
        (303, Some("/login"))
    );

    let login = log_in(c, &token, PHONE);
    assert_ne!(login.cookie, format!("sessctl_session={token}"));
    assert_ne!(login.key, token);
    // What the browser sends to every port of the host: a page's shell, with nothing in it.
    let cookie = [("cookie", login.cookie.as_str())];
    let shell = c.get("/", &cookie);
    assert_eq!(shell.status, 200, "{shell:?}");
    assert!(shell.body.contains(" data-shell>"), "{}", shell.body);
    let refused = c.get("/api/products", &cookie);
    assert_eq!(refused.status, 401, "{refused:?}");
    assert!(refused.body.contains("logged out"), "{refused:?}");
    assert_eq!(c.post("/api/products/web/start", &cookie, None).status, 401);
    // The session's cookie and its key are no tokens.
    for secret in [&login.cookie["sessctl_session=".len()..], &login.key] {
        let as_token = c.get("/api/products", &[("authorization", &bearer(secret))]);
        assert_eq!(as_token.status, 401, "{as_token:?}");
    }
    // With the key, as the dashboard's own pages send it: everything, changes included (this
    // one reaches the product check: there is no product "web").
    let full = c.get("/", &login.headers());
    assert!(!full.body.contains("data-shell"), "{}", full.body);
    assert_eq!(c.get("/api/products", &login.headers()).status, 200);
    let change = c.post("/api/products/web/start", &login.headers(), None);
    assert_eq!(
        (change.status, change.json()["error"].as_str()),
        (
            404,
            Some("no product \"web\"; `sessctl list` shows the products")
        )
    );
    // Another session's key does not fit this cookie.
    let other = log_in(c, &token, LAPTOP);
    let mixed = [
        ("cookie", login.cookie.as_str()),
        ("x-sessctl-key", &other.key),
    ];
    assert_eq!(c.get("/api/products", &mixed).status, 401);
}

#[test]
fn a_session_the_server_does_not_know_is_logged_out_and_logout_ends_one() {
    let env = Env::offline();
    let served = serve(&env);
    let c = &served.client;
    let token = token(&env);
    let stale = format!("sessctl_session={}", "0".repeat(64));
    let stale = [("cookie", stale.as_str()), ("x-sessctl-key", "x")];
    let api = c.get("/api/products", &stale);
    assert_eq!(api.status, 401, "{api:?}");
    assert_eq!(
        api.header("set-cookie"),
        Some("sessctl_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
    );
    let page = c.get("/", &stale);
    assert_eq!(
        (page.status, page.header("location")),
        (303, Some("/login"))
    );
    assert!(page.header("set-cookie").is_some(), "{page:?}");

    // The cookie of the versions before login sessions held the token itself: it opens
    // nothing, and a browser that still sends it is told to drop it.
    let legacy = format!("sessctl_token={token}");
    let legacy = c.get("/api/products", &[("cookie", &legacy)]);
    assert_eq!(legacy.status, 401, "{legacy:?}");
    assert_eq!(
        legacy.header("set-cookie"),
        Some("sessctl_token=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
    );

    let login = log_in(c, &token, PHONE);
    let out = c.post("/logout", &login.headers(), None);
    assert_eq!(out.status, 204, "{out:?}");
    assert!(out
        .header("set-cookie")
        .is_some_and(|c| c.contains("Max-Age=0")));
    assert_eq!(c.get("/api/products", &login.headers()).status, 401);
}

#[test]
fn wrong_tokens_wait_per_source_and_never_lock_out_the_right_one() {
    let env = Env::offline();
    let served = serve(&env);
    let token = token(&env);
    let addr = served.addr.as_str();
    let ask = |from: IpAddr, token: &str| {
        raw(
            addr,
            from,
            &format!("GET /api/products HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}"),
        )
    };
    // 100 wrong tokens at once from one source: a few wait out growing delays (250 ms, then
    // twice as long each time, one at a time), the rest are answered 429 at once.
    let (done, answers) = mpsc::channel();
    std::thread::scope(|s| {
        for _ in 0..100 {
            let done = done.clone();
            s.spawn(move || {
                let reply = ask(HERE, "guess");
                done.send((reply.status, Instant::now())).expect("sending");
            });
        }
        // Once one is answered 429, the waiting places are full: now the owner comes.
        let first = answers.recv().expect("an answer").0;
        assert_eq!(first, 429);
        let right = [ask(THERE, &token), ask(HERE, &token)];
        let owner_done = Instant::now();
        // Delays are per source: another's wrong token is answered in its own time, not 429.
        assert_eq!(ask(THERE, "guess").status, 401);
        for reply in &right {
            assert_eq!(
                (reply.status, reply.body.as_str()),
                (200, "[]\n"),
                "{reply:?}"
            );
        }
        drop(done);
        let mut statuses = vec![first];
        let mut last_wrong = owner_done;
        for (status, at) in answers.iter() {
            statuses.push(status);
            last_wrong = last_wrong.max(at);
        }
        assert_eq!(statuses.len(), 100);
        assert!(
            statuses.iter().all(|s| *s == 401 || *s == 429),
            "{statuses:?}"
        );
        let waited = statuses.iter().filter(|s| **s == 401).count();
        assert!((1..=10).contains(&waited), "{statuses:?}");
        // The owner was let in while the guesses still waited.
        assert!(owner_done < last_wrong);
    });
    // A stale cookie's polls are no failed logins: the owner is let in after any number.
    let stale = format!("sessctl_session={}", "0".repeat(64));
    for _ in 0..20 {
        let poll = served.client.get("/api/products", &[("cookie", &stale)]);
        assert_eq!(poll.status, 401);
    }
    let login = served.client.post(
        "/login",
        &[("content-type", "application/x-www-form-urlencoded")],
        Some(&format!("token={token}")),
    );
    assert_eq!(login.status, 303, "{login:?}");
}

#[test]
fn a_login_link_is_spent_once_and_moves_on_to_a_clean_url() {
    let env = Env::offline();
    let served = serve(&env);
    let c = &served.client;
    let path = link_path(&env, "http://sessctl.localhost:7878");
    let login = open_link(c, &path, PHONE);
    assert_eq!(c.get("/api/products", &login.headers()).status, 200);
    refused_link(c, &path);
    // The token link works too, and moves on the same way: the page that stays open, and its
    // history entry, hold neither the token nor the code.
    let with_token = c.get(&format!("/login?token={}", token(&env)), &[]);
    assert_eq!(with_token.header("location"), Some("/login/done"));
    let done = c.get("/login/done", &[]);
    assert_eq!(done.status, 200);
    assert!(
        done.body.contains(r#"data-page="login-done""#),
        "{}",
        done.body
    );
}

/// The id of each login session `sessctl dashboard sessions --json` lists, with its device.
fn sessions(env: &Env) -> Vec<(String, String)> {
    login_sessions(env)
        .iter()
        .map(|s| {
            let field = |k: &str| s[k].as_str().expect("a string").to_string();
            (field("id"), field("device"))
        })
        .collect()
}

#[test]
fn sessions_are_listed_revoked_one_by_one_and_ended_by_a_new_token() {
    let env = Env::offline();
    let served = serve(&env);
    let c = &served.client;
    let token = token(&env);
    env.sessctl()
        .args(["dashboard", "sessions"])
        .stdout("no browser is logged in\n")
        .run();
    let phone = log_in(c, &token, PHONE);
    let laptop = log_in(c, &token, LAPTOP);
    let mut listed = sessions(&env);
    listed.sort_by(|a, b| a.1.cmp(&b.1));
    let devices: Vec<&str> = listed.iter().map(|(_, d)| d.as_str()).collect();
    assert_eq!(devices, ["Chrome on Android", "Firefox on Linux"]);
    let text = env
        .sessctl()
        .args(["dashboard", "sessions"])
        .stdout_read()
        .run();
    let text = String::from_utf8(text.stdout).expect("utf-8");
    assert!(text.starts_with("ID            LAST SEEN"), "{text}");
    assert!(
        !text.contains(&phone.key) && !text.contains(&token),
        "{text}"
    );

    // Revoking the phone's session logs out the phone at its next request, and only it.
    let phone_id = &listed[0].0;
    env.sessctl()
        .args(["dashboard", "revoke", phone_id])
        .stdout(&format!("login session {phone_id}: ended\n"))
        .run();
    assert_eq!(c.get("/api/products", &phone.headers()).status, 401);
    assert_eq!(c.get("/api/products", &laptop.headers()).status, 200);
    env.sessctl()
        .args(["dashboard", "revoke", "nope\u{1b}"])
        .stderr(
            "sessctl: no login session \"nope\\u{1b}\"; `sessctl dashboard sessions` lists them\n",
        )
        .status(2)
        .run();
    env.sessctl()
        .args(["dashboard", "revoke"])
        .stderr_read()
        .status(2)
        .run();

    // A new token ends every session, and the old token opens nothing.
    let new = env
        .sessctl()
        .args(["dashboard", "token", "--new"])
        .stdout_read()
        .run();
    let new = String::from_utf8(new.stdout)
        .expect("utf-8")
        .trim()
        .to_string();
    assert_ne!(new, token);
    assert_eq!(c.get("/api/products", &laptop.headers()).status, 401);
    assert_eq!(
        c.get("/api/products", &[("authorization", &bearer(&token))])
            .status,
        401
    );
    assert_eq!(
        c.get("/api/products", &[("authorization", &bearer(&new))])
            .status,
        200
    );
    assert!(sessions(&env).is_empty());
    let again = log_in(c, &new, LAPTOP);
    env.sessctl()
        .args(["dashboard", "revoke", "--all"])
        .stdout("1 login sessions ended\n")
        .run();
    assert_eq!(c.get("/api/products", &again.headers()).status, 401);
}

/// What every answer must carry, whatever it is.
#[track_caller]
fn assert_guarded(what: &str, reply: &Reply, cached: bool) {
    let csp = reply.header("content-security-policy").unwrap_or_default();
    for part in [
        "frame-ancestors 'none'",
        "script-src 'self'",
        "default-src 'self'",
    ] {
        assert!(csp.contains(part), "{what}: {reply:?}");
    }
    assert_eq!(reply.header("x-frame-options"), Some("DENY"), "{what}");
    assert_eq!(
        reply.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(
        reply.header("referrer-policy"),
        Some("no-referrer"),
        "{what}"
    );
    let cache = reply.header("cache-control");
    match cached {
        true => assert_eq!(cache, Some("max-age=3600"), "{what}"),
        false => assert_eq!(cache, Some("no-store"), "{what}"),
    }
}

#[test]
fn every_answer_carries_the_guarding_headers_and_other_host_names_are_refused() {
    let env = Env::offline();
    let served = serve_with(&env, &["--allow-host", "box.example.ts.net"]);
    let c = &served.client;
    let token = token(&env);
    let login: Login = log_in(c, &token, PHONE);
    let auth = bearer(&token);
    let list = c.get("/", &login.headers());
    let (script, session) = (
        asset_url(&list.body, "app.js"),
        asset_url(&list.body, "session.js"),
    );
    let answers = [
        ("login page", c.get("/login", &[]), false),
        ("login done", c.get("/login/done", &[]), false),
        ("refused API", c.get("/api/products", &[]), false),
        (
            "API",
            c.get("/api/products", &[("authorization", &auth)]),
            false,
        ),
        (
            "unknown product",
            c.get("/api/products/x", &[("authorization", &auth)]),
            false,
        ),
        ("page redirect", c.get("/", &[]), false),
        ("shell", c.get("/", &[("cookie", &login.cookie)]), false),
        ("list", list, false),
        ("manifest", c.get("/manifest.webmanifest", &[]), false),
        ("script", c.get(&script, &[]), true),
        ("session script", c.get(&session, &[]), true),
        ("unversioned script", c.get("/static/app.js", &[]), false),
    ];
    for (what, reply, cached) in &answers {
        assert_guarded(what, reply, *cached);
    }
    // A page whose name was made to resolve to this machine (DNS rebinding) gets nothing.
    let addr = served.addr.as_str();
    let ask = |host: &str| {
        raw(
            addr,
            HERE,
            &format!("GET /api/products HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}"),
        )
    };
    let rebound = ask("evil.example:7878");
    assert_eq!(rebound.status, 421, "{rebound:?}");
    assert_guarded("refused host", &rebound, false);
    assert!(
        rebound
            .body
            .contains("does not serve the host \\\"evil.example:7878\\\""),
        "{rebound:?}"
    );
    for host in [
        "sessctl.localhost:7878",
        "localhost",
        "127.0.0.1",
        "box.example.ts.net",
    ] {
        assert_eq!(ask(host).status, 200, "{host}");
    }
    env.sessctl()
        .args(["serve", "--allow-host", "box:443"])
        .stderr("sessctl: --allow-host \"box:443\" is not a host name: give a DNS name such as box.example.ts.net, without a port\n")
        .status(2)
        .run();
}

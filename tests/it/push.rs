//! Web Push from the dashboard: a login session subscribes (`/api/push`) with an endpoint on
//! the tests' own fake push service (`support/push_service.rs`), which checks each message's
//! VAPID token and decrypts it with the device's private key. A product's wait, loss,
//! recovery and crash loop each reach the devices as one notice naming it; waits in a row
//! are held to one notice per product per gap (20 s); an unsubscribed, revoked or ended
//! (410) subscription gets nothing more. Bad endpoints are refused with their fix. Over
//! https, a push service whose certificate authority the server is told to trust
//! (`SSL_CERT_FILE`) gets its notice, and one it does not trust gets none, and the server's
//! log names it.
//!
//! The server is `sessctl serve` run by the test, so the push service listens on 127.0.0.1
//! in the test's own network namespace, where the server runs. The agents are stand-ins
//! (`sleep`): what is tested is the notifier and the push.

use std::path::PathBuf;
use std::time::Duration;

use axum::http::StatusCode;
use base64ct::{Base64UrlUnpadded, Encoding};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::dashboard::{log_in, serve, serve_with_vars, token, Login, Served};
use crate::support::push_service::{PushService, Received};
use crate::support::session;
use crate::support::{login_sessions, manager, wait_for, Env};

const PHONE: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Mobile Safari/537.36";
const TABLET: &str = "Mozilla/5.0 (iPad; CPU OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1";
const LAPTOP: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0";

fn state_dir(env: &Env, product: &str) -> PathBuf {
    env.var("XDG_STATE_HOME")
        .join("sessctl/products")
        .join(product)
}

/// Marks `product`'s agent as waiting for `kind` (or clears the mark), as its hooks do.
pub fn notify(env: &Env, product: &str, kind: Option<&str>) {
    env.sessctl()
        .args(["internal", "notify", "--state"])
        .arg(state_dir(env, product))
        .arg(kind.unwrap_or("--clear"))
        .run();
}

fn enable(env: &Env, product: &str) {
    env.sessctl()
        .args(["enable", product, "--silence", "0", "--", "sleep", "100000"])
        .stdout_read()
        .run();
}

/// `POST /api/push` with `body` as `login`: the status and the answer.
fn subscribe(served: &Served, login: &Login, body: &Value) -> (u16, String) {
    let [cookie, key] = login.headers();
    let headers = [cookie, key, ("content-type", "application/json")];
    let reply = served
        .client
        .post("/api/push", &headers, Some(&body.to_string()));
    (reply.status, reply.body)
}

/// The `push` field `sessctl dashboard sessions --json` gives each device.
fn pushes(env: &Env) -> Vec<(String, bool)> {
    let mut pushes: Vec<(String, bool)> = login_sessions(env)
        .iter()
        .map(|s| {
            let device = s["device"].as_str().expect("a device").to_string();
            (device, s["push"].as_bool().expect("push"))
        })
        .collect();
    pushes.sort();
    pushes
}

/// The notices `device` got of `product`.
fn notices(service: &PushService, device: &str, product: &str) -> Vec<Received> {
    service
        .for_device(device)
        .into_iter()
        .filter(|r| r.payload.as_ref().is_ok_and(|p| p["product"] == product))
        .collect()
}

/// Waits until `device` holds `count` notices of `product`; returns the last.
#[track_caller]
pub fn nth_notice(service: &PushService, device: &str, product: &str, count: usize) -> Received {
    wait_for(&format!("notice {count} of {product} on {device}"), || {
        let got = notices(service, device, product);
        assert!(got.len() <= count, "more notices than expected: {got:#?}");
        (got.len() == count).then(|| got[count - 1].clone())
    })
}

/// The first notice of `product` on `device` of `kind`, once it came (a restart seen between
/// two readings may make a notice of its own first).
pub fn notice_of_kind(service: &PushService, device: &str, product: &str, kind: &str) -> Received {
    wait_for(&format!("a {kind} notice of {product} on {device}"), || {
        notices(service, device, product)
            .into_iter()
            .find(|r| r.payload.as_ref().is_ok_and(|p| p["kind"] == kind))
    })
}

/// A notice, checked as a push service and a service worker see it.
#[track_caller]
pub fn assert_notice(got: &Received, product: &str, kind: &str, title: &str, body: &str) {
    assert_eq!(got.vapid, Ok(()), "{got:#?}");
    let topic =
        &Base64UrlUnpadded::encode_string(&Sha256::digest(format!("sessctl:{product}").as_bytes()))
            [..32];
    let urgency = if kind == "recovered" {
        "normal"
    } else {
        "high"
    };
    assert_eq!(
        (
            got.topic.as_deref(),
            got.urgency.as_deref(),
            got.ttl.as_deref()
        ),
        (Some(topic), Some(urgency), Some("14400")),
        "{got:#?}"
    );
    let payload = got.payload.as_ref().expect("a decrypted payload");
    assert_eq!(
        payload,
        &json!({
            "product": product,
            "kind": kind,
            "title": title,
            "body": body,
            "url": format!("/p/{product}"),
            "tag": format!("sessctl-{product}"),
        })
    );
}

pub const DONE: &str = "It finished and waits for your next prompt.";

#[test]
fn a_wait_reaches_each_subscribed_device_once_and_waits_in_a_row_are_held_to_one_more() {
    let Some(env) = manager("push") else {
        return;
    };
    let service = PushService::serve(None);
    let ended = PushService::serve(None);
    ended.answer(StatusCode::GONE);
    let served = serve(&env);
    let token = token(&env);
    let c = &served.client;
    let (phone, tablet, laptop) = (
        log_in(c, &token, PHONE),
        log_in(c, &token, TABLET),
        log_in(c, &token, LAPTOP),
    );
    let gone = log_in(c, &token, "curl/8.0");
    let on_phone = service.subscribe("phone");
    for (login, subscription) in [
        (&phone, on_phone.clone()),
        (&tablet, service.subscribe("tablet")),
        (&laptop, service.subscribe("laptop")),
        (&gone, ended.subscribe("gone")),
    ] {
        assert_eq!(
            subscribe(&served, login, &subscription),
            (204, String::new())
        );
    }
    let shown = c.get("/api/push", &phone.headers()).json();
    let key = Base64UrlUnpadded::decode_vec(shown["key"].as_str().expect("the key")).expect("b64");
    assert_eq!(key.len(), 65);
    assert_eq!(shown["endpoint"], on_phone["endpoint"]);
    assert!(
        pushes(&env).iter().all(|(_, push)| *push),
        "{:?}",
        pushes(&env)
    );

    // A wait: one valid notice on each device; the ended subscription is dropped.
    enable(&env, "web");
    notify(&env, "web", Some("stop"));
    for device in ["phone", "tablet", "laptop"] {
        let got = nth_notice(&service, device, "web", 1);
        assert_notice(&got, "web", "waiting", "web waits for you", DONE);
    }
    wait_for("the ended subscription to be dropped", || {
        pushes(&env)
            .contains(&("curl".to_string(), false))
            .then_some(())
    });
    assert_eq!(ended.received().len(), 1);

    // Ten more waits within the gap: held, and the newest goes once when the gap ends.
    // Each lasts as long as a reading's interval (500 ms), so that nearly each is seen.
    for _ in 0..10 {
        notify(&env, "web", None);
        std::thread::sleep(Duration::from_millis(500));
        notify(&env, "web", Some("notification"));
        std::thread::sleep(Duration::from_millis(500));
    }
    let held = nth_notice(&service, "phone", "web", 2);
    assert_notice(
        &held,
        "web",
        "waiting",
        "web waits for you",
        "It asks you something.",
    );

    // Unsubscribed, revoked: nothing more. A permission shows its tool and exact input.
    let [cookie, key] = tablet.headers();
    assert_eq!(
        c.send("DELETE", "/api/push", &[cookie, key], None).status,
        204
    );
    let laptop_id = session_id(&env, "Firefox on Linux");
    env.sessctl()
        .args(["dashboard", "revoke", &laptop_id])
        .stdout(&format!("login session {laptop_id}: ended\n"))
        .run();
    enable(&env, "api");
    let asked = json!({
        "id": "q1", "tool_name": "Bash", "tool_input": {"command": "rm -rf build"},
        "since": "2026-01-01T00:00:00Z",
    });
    let questions = state_dir(&env, "api").join("permissions");
    std::fs::create_dir_all(&questions).expect("the questions' folder");
    std::fs::write(questions.join("q1.json"), asked.to_string()).expect("a question");
    notify(&env, "api", Some("notification"));
    let got = nth_notice(&service, "phone", "api", 1);
    let body = "It asks permission for Bash: rm -rf build";
    assert_notice(&got, "api", "waiting", "api waits for you", body);
    assert_eq!(notices(&service, "tablet", "api").len(), 0);
    assert_eq!(notices(&service, "laptop", "api").len(), 0);
    assert_eq!(ended.received().len(), 1);
    // Eleven waits of web in some twenty seconds made two notices, and no more came.
    assert_eq!(notices(&service, "phone", "web").len(), 2);

    // A new server takes what is so as its baseline: web, still waiting, is not sent again,
    // while docs's wait, which begins after it started, is.
    drop(served);
    let _served = serve(&env);
    enable(&env, "docs");
    notify(&env, "docs", Some("stop"));
    let got = nth_notice(&service, "phone", "docs", 1);
    assert_notice(&got, "docs", "waiting", "docs waits for you", DONE);
    assert_eq!(notices(&service, "phone", "web").len(), 2);
}

/// The id `sessctl dashboard sessions --json` gives the session of `device`.
fn session_id(env: &Env, device: &str) -> String {
    let list = login_sessions(env);
    list.iter()
        .find(|s| s["device"] == device)
        .and_then(|s| s["id"].as_str())
        .unwrap_or_else(|| panic!("no session of {device}: {list:?}"))
        .to_string()
}

#[test]
fn bad_endpoints_and_keys_are_refused_with_their_fix() {
    let env = Env::offline();
    let served = serve(&env);
    let token = token(&env);
    let phone = log_in(&served.client, &token, PHONE);
    let service = PushService::serve(None);
    let good = service.subscribe("phone");
    for endpoint in [
        "http://example.com/x",
        "ftp://127.0.0.1/x",
        "http://10.0.0.1/",
    ] {
        let mut body = good.clone();
        body["endpoint"] = json!(endpoint);
        let error = format!(
            "push endpoint {endpoint:?} is refused: it must be an https:// URL, or http:// to a loopback address (127.0.0.1, [::1], localhost) for a push service on this machine; subscribe again from the dashboard's page"
        );
        let (status, answer) = subscribe(&served, &phone, &body);
        assert_eq!(
            (
                status,
                serde_json::from_str::<Value>(&answer).expect("JSON")["error"].clone()
            ),
            (400, json!(error))
        );
    }
    let mut body = good.clone();
    body["keys"]["auth"] = json!("AAAA");
    let (status, answer) = subscribe(&served, &phone, &body);
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer.contains("keys.auth \\\"AAAA\\\" is no 16-byte secret"),
        "{answer}"
    );
    // Nothing was kept; the token, which names no device, cannot subscribe.
    assert_eq!(pushes(&env), [("Chrome on Android".to_string(), false)]);
    assert_eq!(subscribe(&served, &phone, &good), (204, String::new()));
    let table = env
        .sessctl()
        .args(["dashboard", "sessions"])
        .stdout_read()
        .run();
    let table = String::from_utf8(table.stdout).expect("utf-8");
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].contains("  PUSH  DEVICE"), "{table}");
    assert!(lines[1].ends_with("  yes   Chrome on Android"), "{table}");
    let bearer = format!("Bearer {token}");
    let headers = [
        ("authorization", bearer.as_str()),
        ("content-type", "application/json"),
    ];
    let reply = served
        .client
        .post("/api/push", &headers, Some(&good.to_string()));
    assert_eq!(reply.status, 400, "{reply:?}");
    assert!(reply.body.contains("the token names none"), "{reply:?}");
}

#[test]
fn a_loss_its_recovery_and_a_crash_loop_each_send_their_notice() {
    let Some(env) = manager("push-loss") else {
        return;
    };
    let service = PushService::serve(None);
    let served = serve(&env);
    let token = token(&env);
    let phone = log_in(&served.client, &token, PHONE);
    assert_eq!(
        subscribe(&served, &phone, &service.subscribe("phone")),
        (204, String::new())
    );
    enable(&env, "web");
    let first = resume(&env);
    let agent = first["after"]["agent_pid"].as_u64().expect("an agent pid") as i32;
    kill(Pid::from_raw(agent), Signal::SIGKILL).expect("killing the agent");
    let lost = nth_notice(&service, "phone", "web", 1);
    let payload = lost.payload.clone().expect("a decrypted payload");
    assert_eq!(
        (payload["kind"].as_str(), payload["title"].as_str()),
        (Some("lost"), Some("web is lost")),
        "{lost:#?}"
    );
    assert!(
        payload["body"]
            .as_str()
            .is_some_and(|b| b.starts_with("the agent was killed by SIGKILL")),
        "{payload}"
    );
    let again = resume(&env);
    assert_eq!(again["recovered"], true, "{again:#}");
    // Inside the loss's gap: it goes when the gap ends.
    let back = nth_notice(&service, "phone", "web", 2);
    assert_notice(
        &back,
        "web",
        "recovered",
        "web recovered",
        "A new session runs on the same conversation.",
    );

    // Restarted over and over, systemd's start limit stops it.
    enable(&env, "loop");
    session::restart_until_start_limit(&env, "loop");
    let stopped = notice_of_kind(&service, "phone", "loop", "crash-loop");
    assert_notice(
        &stopped,
        "loop",
        "crash-loop",
        "loop stopped: it crashed again and again",
        "systemd's start limit stopped its restarts; `sessctl status loop` says why, `sessctl resume loop` starts it again",
    );
}

/// `sessctl resume web --no-attach --json`'s answer, whatever its exit code.
fn resume(env: &Env) -> Value {
    let out = env
        .sessctl()
        .args(["resume", "web", "--no-attach", "--json"])
        .stdout_read()
        .stderr_read()
        .status_any()
        .run();
    serde_json::from_slice(&out.stdout).expect("resume's JSON")
}

#[test]
fn over_https_a_push_service_of_a_trusted_private_ca_gets_its_notice_and_an_untrusted_one_none() {
    let Some(env) = manager("push-tls") else {
        return;
    };
    let (trusted, ca) = PushService::serve_tls(None);
    let (untrusted, _) = PushService::serve_tls(None);
    let ca_file = env.scratch.join("push-ca.pem");
    std::fs::write(&ca_file, ca).expect("writing the CA's certificate");
    let served = serve_with_vars(&env, &[], &[("SSL_CERT_FILE", &ca_file)]);
    let token = token(&env);
    let (phone, tablet) = (
        log_in(&served.client, &token, PHONE),
        log_in(&served.client, &token, TABLET),
    );
    let on_phone = trusted.subscribe("phone");
    let on_tablet = untrusted.subscribe("tablet");
    let endpoint = on_tablet["endpoint"].as_str().expect("an endpoint");
    assert!(endpoint.starts_with("https://127.0.0.1:"), "{endpoint}");
    let origin = endpoint.trim_end_matches("/push/tablet").to_string();
    for (login, subscription) in [(&phone, on_phone), (&tablet, on_tablet)] {
        assert_eq!(
            subscribe(&served, login, &subscription),
            (204, String::new())
        );
    }

    enable(&env, "web");
    notify(&env, "web", Some("stop"));
    let got = nth_notice(&trusted, "phone", "web", 1);
    assert_notice(&got, "web", "waiting", "web waits for you", DONE);
    let line = wait_for("the untrusted service's error in the log", || {
        served
            .log()
            .lines()
            .find(|l| l.starts_with(&format!("sessctl: sending web's notice to {origin}: ")))
            .map(str::to_string)
    });
    assert!(line.contains("UnknownIssuer"), "{line}");
    assert_eq!(untrusted.received().len(), 0);
    // The subscription is kept: the service is not known to have ended it.
    assert_eq!(
        pushes(&env),
        [
            ("Chrome on Android".to_string(), true),
            ("Safari on iPad".to_string(), true)
        ]
    );
}

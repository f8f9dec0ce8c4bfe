//! Approve and Deny from a phone: the real Claude Code, in its default permission mode, asks
//! to run a Bash call; the product page on a phone's viewport shows the tool and its exact
//! input, and a finger taps Approve (the call runs: the next request to the API carries its
//! result) or Deny (it does not), while the page refreshes. The card goes once answered, and
//! each answer is in `sessctl log` with the phone's login session. The client's side of the
//! hook is the same at both pinned versions (tests/it/real_approve.rs); this runs the newest.

use fantoccini::Client;
use serde_json::Value;

use crate::dashboard::link_path;
use crate::real_approve::{ask, permission_events, result_of, touching, ASKING};
use crate::support::browser::{self, log_in, tap, text, until, Driver, Viewport, BASE};
use crate::support::claude::{self, Claude, Pin};
use crate::support::login_sessions;

/// Product `web` with the client asking permission, the socket-activated dashboard, and a
/// browser; `None` when a part is missing here.
fn phone(label: &str) -> Option<(Claude, Driver)> {
    let c = claude::setup(label, Pin::Newest.version())?;
    c.enable_with(&c.project, &[], &ASKING);
    c.env
        .sessctl()
        .args(["dashboard", "enable"])
        .stdout_read()
        .run();
    let driver = browser::driver(&c.env)?;
    Some((c, driver))
}

/// The card of question `asked`.
fn card(asked: &Value) -> String {
    let id = asked["id"].as_str().expect("a question id");
    format!(r#".permission[data-question="{id}"]"#)
}

/// Waits until the page shows question `asked`, and checks that it shows the tool and its
/// input exactly as the client gave them.
async fn shown(b: &Client, asked: &Value) {
    let card = card(asked);
    assert_eq!(text(b, &format!("{card} .badge")).await, "Bash");
    let input: Value = serde_json::from_str(&text(b, &format!("{card} pre.tool-input")).await)
        .expect("the card's input is JSON");
    assert_eq!(input, asked["tool_input"]);
}

/// Taps `decision`'s button on the card of `asked`: the card goes at once, before the client
/// has taken the answer, so that nothing offers to answer it again.
async fn answer(b: &Client, asked: &Value, decision: &str) {
    let card = card(asked);
    tap(b, &format!(r#"{card} button[data-decision="{decision}"]"#)).await;
    let script = "return document.querySelector(arguments[0]) === null;";
    let gone = b
        .execute(script, vec![card.clone().into()])
        .await
        .unwrap_or_else(|err| panic!("looking for {card}: {err}"));
    assert_eq!(gone, Value::Bool(true), "the answered card is still shown");
}

/// Waits until the message line says `what`.
async fn said(b: &Client, what: &str) {
    let script = format!("document.getElementById('flash').textContent === {what:?}");
    until(b, &format!("the message {what:?}"), &script).await;
}

/// The one login session `sessctl dashboard sessions --json` lists: the phone's.
fn the_login_session(c: &Claude) -> String {
    match login_sessions(&c.env).as_slice() {
        [one] => one["id"].as_str().expect("an id").to_string(),
        list => panic!("not one login session: {list:?}"),
    }
}

#[test]
fn approve_and_deny_from_the_phone_do_what_they_say_and_are_logged_with_its_login_session() {
    let Some((c, driver)) = phone("cc-phone") else {
        return;
    };
    let link = link_path(&c.env, BASE);
    let (approved, approved_file) = touching(&c.project, "approved");
    let (denied, denied_file) = touching(&c.project, "denied");
    driver.run(Viewport::Phone, async |b: &Client| {
        log_in(b, &link).await;
        b.goto(&format!("{BASE}/p/web"))
            .await
            .expect("opening the product");

        let asked = ask(&c, &approved);
        shown(b, &asked).await;
        answer(b, &asked, "allow").await;
        let (_, result) = result_of(&c, &approved);
        assert_ne!(result["is_error"], true, "{result}");
        assert!(approved_file.exists(), "the approved call did not run");
        said(b, "web: Bash approved").await;

        let asked = ask(&c, &denied);
        shown(b, &asked).await;
        answer(b, &asked, "deny").await;
        let (_, result) = result_of(&c, &denied);
        assert_eq!(result["is_error"], true, "{result}");
        assert!(!denied_file.exists(), "the denied call ran");
        said(b, "web: Bash denied").await;
    });
    let by = format!(" by login session {}", the_login_session(&c));
    let events = permission_events(&c);
    for (verdict, command) in [("allowed", &approved), ("denied", &denied)] {
        let found = events.iter().any(|(v, reason)| {
            v == verdict && reason.contains(command.as_str()) && reason.ends_with(&by)
        });
        assert!(found, "no {verdict} event{by}: {events:?}");
    }
}

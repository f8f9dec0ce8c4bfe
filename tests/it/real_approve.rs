//! Approve or deny a tool call from the dashboard, with the real Claude Code in its default
//! permission mode (2.1.332 otherwise decides alone, and asks nothing): the client's own
//! `PermissionRequest` hook carries the answer, and no key is typed into the pane. Each
//! answer is in `sessctl log` with who gave it; a question nobody answers stays in the
//! terminal. Approve and Deny run with both pinned clients; the unanswered question, whose
//! point is sessctl's own wait, with the newest.

use std::path::Path;
use std::time::Duration;

use rstest::rstest;
use serde_json::{json, Value};

use crate::dashboard::{log_in, serve, token};
use crate::support::claude::{self, Claude, Pin};
use crate::support::fake_api::Request;
use crate::support::http::Reply;
use crate::support::log_json;
use crate::support::session;

/// The client's flag for its default mode, where a Bash call outside the allowed list asks.
pub const ASKING: [&str; 2] = ["--permission-mode", "default"];

/// Product `web` with the client asking permission, and the dashboard, or `None` when a part
/// is missing (see `claude::setup`). `vars` go to the unit's environment.
fn asking(label: &str, pin: Pin, vars: &[&str]) -> Option<(Claude, crate::dashboard::Served)> {
    let c = claude::setup(label, pin.version())?;
    c.enable_with(&c.project, vars, &ASKING);
    let served = serve(&c.env);
    Some((c, served))
}

/// A command outside the allowed list, and the file it makes in the project directory (the
/// client's working directory). The name is relative: a long line wraps on the pane.
pub fn touching(dir: &Path, name: &str) -> (String, std::path::PathBuf) {
    (format!("touch {name}"), dir.join(name))
}

/// Sends a Bash call of `command` and waits until `status` shows its question, exactly.
#[track_caller]
pub fn ask(c: &Claude, command: &str) -> Value {
    c.send(&format!("RUN: {command}"));
    c.pane().wait("the question on the dashboard", || {
        let status = session::status(&c.env, "web");
        let asked = status["permissions"].as_array()?.first()?.clone();
        (asked["tool_input"]["command"] == command).then_some(asked)
    })
}

fn answer(served: &crate::dashboard::Served, headers: &[(&str, &str)], body: Value) -> Reply {
    let mut headers = headers.to_vec();
    headers.push(("content-type", "application/json"));
    served.client.post(
        "/api/products/web/permission",
        &headers,
        Some(&body.to_string()),
    )
}

/// The conversation request that carries the result of the call of `command`, and that result.
#[track_caller]
pub fn result_of(c: &Claude, command: &str) -> (Request, Value) {
    c.pane().wait("the call's result at the API", || {
        c.api.conversation().into_iter().find_map(|request| {
            let messages = request.body["messages"].as_array()?.clone();
            let blocks: Vec<Value> = messages
                .iter()
                .filter_map(|m| m["content"].as_array())
                .flatten()
                .cloned()
                .collect();
            let id = blocks
                .iter()
                .find(|b| b["type"] == "tool_use" && b["input"]["command"] == command)?["id"]
                .clone();
            let result = blocks
                .iter()
                .find(|b| b["type"] == "tool_result" && b["tool_use_id"] == id)?
                .clone();
            Some((request, result))
        })
    })
}

/// The `permission` events of the log: (verdict, reason).
pub fn permission_events(c: &Claude) -> Vec<(String, String)> {
    log_json(&c.env, "web")
        .iter()
        .filter(|e| e["event"] == "permission")
        .map(|e| {
            let word = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (word("verdict"), word("reason"))
        })
        .collect()
}

#[rstest]
fn approve_from_the_dashboard_runs_the_call_and_logs_the_login_session(
    #[values(Pin::Oldest, Pin::Newest)] pin: Pin,
) {
    let Some((c, served)) = asking("cc-approve", pin, &[]) else {
        return;
    };
    let (command, file) = touching(&c.project, "approved");
    let asked = ask(&c, &command);
    assert_eq!(asked["tool_name"], "Bash", "{asked}");
    let login = log_in(
        &served.client,
        &token(&c.env),
        "Mozilla/5.0 (Linux; Android 14) Chrome/130.0",
    );
    let reply = answer(
        &served,
        &login.headers(),
        json!({"id": asked["id"], "decision": "allow"}),
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    let (_, result) = result_of(&c, &command);
    assert_ne!(result["is_error"], true, "{result}");
    assert!(file.exists(), "the approved call did not run: {result}");
    // The question is closed: a second answer to it is refused.
    let again = answer(
        &served,
        &login.headers(),
        json!({"id": asked["id"], "decision": "deny"}),
    );
    assert_eq!(again.status, 409, "{again:?}");
    let events = permission_events(&c);
    let allowed = events
        .iter()
        .find(|(verdict, _)| verdict == "allowed")
        .unwrap_or_else(|| panic!("no allowed event: {events:?}"));
    assert!(
        allowed
            .1
            .starts_with(&format!("Bash {}", asked["tool_input"])),
        "{allowed:?}"
    );
    assert!(allowed.1.contains("by login session "), "{allowed:?}");
    assert!(events.iter().any(|(v, _)| v == "asked"), "{events:?}");
}

#[rstest]
fn deny_from_the_dashboard_keeps_the_call_from_running_and_logs_the_token(
    #[values(Pin::Oldest, Pin::Newest)] pin: Pin,
) {
    let Some((c, served)) = asking("cc-deny", pin, &[]) else {
        return;
    };
    let (command, file) = touching(&c.project, "denied");
    let asked = ask(&c, &command);
    let bearer = format!("Bearer {}", token(&c.env));
    let reply = answer(
        &served,
        &[("authorization", &bearer)],
        json!({"id": asked["id"], "decision": "deny"}),
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    let (_, result) = result_of(&c, &command);
    assert_eq!(result["is_error"], true, "{result}");
    assert!(
        result
            .to_string()
            .contains("Denied from the sessctl dashboard"),
        "{result}"
    );
    assert!(!file.exists(), "the denied call ran");
    let events = permission_events(&c);
    assert!(
        events
            .iter()
            .any(|(v, r)| v == "denied" && r.ends_with(" by token")),
        "{events:?}"
    );
}

/// The wait is five minutes (`lifecycle::permission::WAIT`); a test build takes a shorter one
/// from the unit's `SESSCTL_TEST_PERMISSION_WAIT`, so this test waits two seconds.
#[test]
fn a_question_nobody_answers_stays_in_the_terminal() {
    let Some((c, _served)) = asking(
        "cc-unanswered",
        Pin::Newest,
        &["SESSCTL_TEST_PERMISSION_WAIT=2"],
    ) else {
        return;
    };
    let (command, file) = touching(&c.project, "unanswered");
    ask(&c, &command);
    c.pane().wait("the question left to the terminal", || {
        permission_events(&c)
            .iter()
            .any(|(v, _)| v == "unanswered")
            .then_some(())
    });
    let status = session::status(&c.env, "web");
    assert_eq!(status["permissions"], Value::Null, "{status}");
    // The dialog is still on screen, and the call neither ran nor was answered.
    let screen = c.pane().screen();
    assert!(screen.contains(&command), "{screen}");
    assert!(screen.contains("proceed"), "{screen}");
    assert!(!file.exists(), "the unanswered call ran");
    let answered = c
        .api
        .conversation()
        .iter()
        .any(|r| r.body.to_string().contains("tool_result"));
    assert!(!answered, "the call was answered");
}

/// Answers the dialog in the pane with `key`, as its user does. 2.1.332 drops a key that
/// comes as its dialog shows (observed: the dialog stays, its first choice selected), so a key
/// the dialog did not take is pressed again, as the user would. "Did not take" is ten seconds
/// of the dialog still shown: long enough that a key taken on a loaded machine is not pressed
/// twice (a second Esc would open the client's rewind menu).
fn in_pane(c: &Claude, key: &str) {
    let pane = c.pane();
    let shown = || pane.screen().contains("proceed");
    pane.wait("the dialog on screen", || shown().then_some(()));
    pane.wait("the dialog answered in the pane", || {
        pane.keys(&[key]);
        let gone = sessctl::poll::until(Duration::from_secs(10), || Ok((!shown()).then_some(())));
        gone.ok().flatten()
    });
}

/// Waits until `status` shows no open question, and returns the last `permission` event.
#[track_caller]
fn closed(c: &Claude) -> (String, String) {
    c.pane().wait("the question gone from status", || {
        let status = session::status(&c.env, "web");
        status["permissions"].is_null().then_some(())
    });
    permission_events(c).pop().expect("a permission event")
}

/// A question answered in the terminal leaves the dashboard at once, not after the hook's
/// five-minute wait. On Yes the client lets the hook run on, and the hook sees the call
/// settled in the transcript; on Esc it ends the hook, which closes its question.
#[rstest]
fn a_question_answered_in_the_terminal_leaves_the_dashboard(
    #[values(Pin::Oldest, Pin::Newest)] pin: Pin,
) {
    let Some((c, _served)) = asking("cc-in-pane", pin, &[]) else {
        return;
    };
    let (command, file) = touching(&c.project, "in-pane");
    ask(&c, &command);
    in_pane(&c, "1");
    let (_, result) = result_of(&c, &command);
    assert_ne!(result["is_error"], true, "{result}");
    assert!(
        file.exists(),
        "the call approved in the terminal did not run"
    );
    let (verdict, reason) = closed(&c);
    assert_eq!(verdict, "answered-in-terminal", "{reason}");
    assert!(reason.contains(&command), "{reason}");

    let (command, file) = touching(&c.project, "refused-in-pane");
    ask(&c, &command);
    in_pane(&c, "Escape");
    // Esc interrupts the turn, and the client ends the hook (observed with both pins).
    let (verdict, reason) = closed(&c);
    assert_eq!(verdict, "withdrawn", "{reason}");
    assert!(reason.contains(&command), "{reason}");
    assert!(!file.exists(), "the call refused in the terminal ran");
}

/// A question whose hook is gone without a word (killed) is no longer open: `status` drops it,
/// and an answer to it is refused rather than logged as given to nobody.
#[test]
fn a_question_whose_hook_was_killed_is_closed() {
    let Some((c, served)) = asking("cc-hook-killed", Pin::Newest, &[]) else {
        return;
    };
    let (command, _) = touching(&c.project, "orphaned");
    let asked = ask(&c, &command);
    let hook = asked["hook_pid"].as_u64().expect("the hook's PID") as u32;
    session::sigkill(hook);
    c.pane().wait("the question gone from status", || {
        let status = session::status(&c.env, "web");
        status["permissions"].is_null().then_some(())
    });
    let bearer = format!("Bearer {}", token(&c.env));
    let reply = answer(
        &served,
        &[("authorization", &bearer)],
        json!({"id": asked["id"], "decision": "allow"}),
    );
    assert_eq!(reply.status, 409, "{reply:?}");
    let events = permission_events(&c);
    assert!(!events.iter().any(|(v, _)| v == "allowed"), "{events:?}");
}

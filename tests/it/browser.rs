//! The dashboard in a real browser (Debian's chromium) at a phone's viewport and a desktop's:
//! log in, resume and see the proof, type into the session's terminal, restart the dashboard
//! under the session, and see a killed agent come back after one tap. Screenshots of the list
//! and of the terminal go to the test target's `screenshots/` (the README shows copies).
//!
//! The product's agent is a stand-in (`sh`), a shell to type into: the browser, the dashboard,
//! systemd and tmux are real.

use fantoccini::Client;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rstest::rstest;

use crate::dashboard::{identity, token};
use crate::support::browser::{self, element, screenshot, tap, text, until, Viewport};
use crate::support::{manager, status_json, tmux, wait_for, Env};

const BASE: &str = "http://127.0.0.1:7878";
const CARD: &str = r#"section.card[data-product="web"]"#;

#[rstest]
#[case::phone(Viewport::Phone)]
#[case::desktop(Viewport::Desktop)]
fn the_dashboard_resumes_shows_the_proof_and_types_into_the_session(#[case] viewport: Viewport) {
    let Some(env) = manager(&format!("browser-{}", viewport.name())) else {
        return;
    };
    env.sessctl()
        .args(["enable", "web", "--", "sh"])
        .stdout_read()
        .run();
    env.sessctl()
        .args(["dashboard", "enable"])
        .stdout_read()
        .run();
    let Some(driver) = browser::driver(&env) else {
        return;
    };
    let token = token(&env);
    driver.run(viewport, async |c: &Client| {
        c.goto(&format!("{BASE}/login?token={token}"))
            .await
            .expect("opening the login link");
        resume_and_see_survived(&env, c).await;
        screenshot(c, viewport, "list").await;
        type_into_the_terminal(&env, c).await;
        screenshot(c, viewport, "terminal").await;
        restart_the_dashboard_under_the_session(&env, c).await;
        kill_the_agent_and_recover_with_one_tap(&env, c).await;
    });
}

/// The card's proof shows the PIDs `sessctl status` reports.
async fn assert_proof_matches_status(env: &Env, c: &Client) {
    let status = status_json(env);
    assert_eq!(
        text(c, &format!("{CARD} .main-pid")).await,
        status["main_pid"].to_string()
    );
    assert_eq!(
        text(c, &format!("{CARD} .agent-pid")).await,
        status["agent_pid"].to_string()
    );
}

async fn resume_and_see_survived(env: &Env, c: &Client) {
    element(c, CARD).await;
    tap(c, &format!(r#"{CARD} button[data-action="resume"]"#)).await;
    element(c, &format!("{CARD} .verdict-survived")).await;
    assert_proof_matches_status(env, c).await;
}

async fn type_into_the_terminal(env: &Env, c: &Client) {
    tap(c, &format!("{CARD} a.name")).await;
    element(c, "#terminal .xterm-rows").await;
    until(
        c,
        "the read-only terminal",
        "document.getElementById('terminal-state').textContent === 'read-only'",
    )
    .await;
    tap(c, "#type-toggle").await;
    until(
        c,
        "the typing terminal",
        "document.getElementById('terminal-state').textContent === 'typing'",
    )
    .await;
    element(c, ".xterm-helper-textarea")
        .await
        .send_keys("echo hello-from-phone\u{E007}")
        .await
        .expect("typing into the terminal");
    until(
        c,
        "the command's output on screen",
        "[...document.querySelectorAll('.xterm-rows > div')].some(r => r.textContent.trim() === 'hello-from-phone')",
    )
    .await;
    let pane = tmux(&env.socket("web"), &["capture-pane", "-p", "-t", "main"]).expect("the pane");
    assert!(
        pane.lines().any(|l| l.trim_end() == "hello-from-phone"),
        "{pane}"
    );
}

async fn restart_the_dashboard_under_the_session(env: &Env, c: &Client) {
    let before = identity(env);
    // A blocking call on the manager may not run on this async task's thread: it gets one.
    std::thread::scope(|s| {
        s.spawn(|| env.systemd().restart("sessctl-dashboard.service"))
            .join()
    })
    .expect("the restart's thread")
    .expect("restarting the dashboard");
    assert_eq!(identity(env), before);
    c.goto(BASE).await.expect("opening the list");
    element(c, &format!("{CARD} .verdict-survived")).await;
    assert_proof_matches_status(env, c).await;
}

async fn kill_the_agent_and_recover_with_one_tap(env: &Env, c: &Client) {
    let before = status_json(env);
    let agent = before["agent_pid"].as_u64().expect("an agent") as i32;
    kill(Pid::from_raw(agent), Signal::SIGKILL).expect("killing the agent");
    wait_for("systemd to bring the session back", || {
        let now = status_json(env);
        (now["invocation_id"] != before["invocation_id"] && now["agent_pid"].is_u64()).then_some(())
    });
    tap(c, &format!(r#"{CARD} button[data-action="resume"]"#)).await;
    element(c, &format!("{CARD} .verdict-recovered")).await;
    assert_proof_matches_status(env, c).await;
    let message = text(c, "#flash.bad").await;
    assert!(message.contains("lost, then recovered"), "{message}");
}

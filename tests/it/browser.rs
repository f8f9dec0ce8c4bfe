//! The dashboard in a real browser (Debian's chromium) at a phone's viewport and a desktop's:
//! log in, resume and see the proof, type into the session's terminal, restart the dashboard
//! under the session, and see a killed agent come back after one tap; nothing on the list moves
//! whatever the state, what ends a session is confirmed on the page, a page that cannot refresh
//! says so, times are local, the terminal scrolls back through the pane's whole history and
//! says when no session runs, and `--env` values are masked until asked for. Screenshots of the
//! list and of the terminal go to the test target's `screenshots/` (the README shows copies).
//!
//! The product's agent is a stand-in (`sh`), a shell to type into: the browser, the dashboard,
//! systemd and tmux are real.

use fantoccini::Client;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rstest::rstest;
use serde_json::Value;

use crate::dashboard::{identity, link_path};
use crate::support::browser::{
    self, element, log_in, refreshed, screenshot, scroll_back, tap, text, until, Driver, Viewport,
    BASE, TIME_ZONE_OFFSET,
};
use crate::support::{manager, status_json, tmux, wait_for, Env, Systemd};

const CARD: &str = r#"section.card[data-product="web"]"#;

/// A manager with product `web` (a shell) and the socket-activated dashboard, and a browser;
/// `None` when either cannot start here (the reason is printed).
pub fn dashboard(label: &str, enable: &[&str]) -> Option<(Env, Driver)> {
    let env = manager(label)?;
    env.sessctl()
        .args(["enable", "web"])
        .args(enable)
        .args(["--", "sh"])
        .stdout_read()
        .run();
    env.sessctl()
        .args(["dashboard", "enable"])
        .stdout_read()
        .run();
    let driver = browser::driver(&env)?;
    Some((env, driver))
}

/// Runs `change` on the manager from a thread of its own: a blocking call on the manager may
/// not run on the browser's async task's thread.
fn on_manager(env: &Env, change: impl FnOnce(&Systemd) -> anyhow::Result<()> + Send) {
    std::thread::scope(|s| s.spawn(|| change(&env.systemd())).join())
        .expect("the manager call's thread")
        .expect("a call on the manager");
}

fn button(action: &str) -> String {
    format!(r#"{CARD} button[data-action="{action}"]"#)
}

#[rstest]
#[case::phone(Viewport::Phone)]
#[case::desktop(Viewport::Desktop)]
fn the_dashboard_resumes_shows_the_proof_and_types_into_the_session(#[case] viewport: Viewport) {
    let Some((env, driver)) = dashboard(&format!("browser-{}", viewport.name()), &[]) else {
        return;
    };
    let link = link_path(&env, BASE);
    driver.run(viewport, async |c: &Client| {
        log_in(c, &link).await;
        resume_and_see_survived(&env, c).await;
        screenshot(c, viewport, "list").await;
        type_into_the_terminal(&env, c).await;
        screenshot(c, viewport, "terminal").await;
        times_are_the_browsers_local_times(c).await;
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
    tap(c, &button("resume")).await;
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
        &row_shown("hello-from-phone"),
    )
    .await;
    let pane = tmux(&env.socket("web"), &["capture-pane", "-p", "-t", "main"]).expect("the pane");
    assert!(
        pane.lines().any(|l| l.trim_end() == "hello-from-phone"),
        "{pane}"
    );
}

/// On the product page, the last resume's time is the browser's local time, with the UTC time
/// sessctl recorded as its machine-readable value and its title.
async fn times_are_the_browsers_local_times(c: &Client) {
    element(c, "dd .verdict-survived").await;
    let script = "const t = document.querySelector('dd .verdict-survived ~ time'); \
        return [t.getAttribute('datetime'), t.title, t.textContent];";
    let shown = c.execute(script, vec![]).await.expect("reading a time");
    let [Value::String(at), Value::String(title), Value::String(text)] =
        &shown.as_array().expect("three strings")[..]
    else {
        panic!("reading a time: {shown}");
    };
    assert!(at.ends_with('Z'), "{at}");
    assert_eq!((title, text), (at, &local(at)));
}

/// `at` (RFC 3339 UTC, as sessctl writes it) as the browser shows it in its time zone.
fn local(at: &str) -> String {
    let n = |from: usize, to: usize| at[from..to].parse::<i64>().expect("a number");
    let minutes = days_from_civil(n(0, 4), n(5, 7), n(8, 10)) * 1440
        + n(11, 13) * 60
        + n(14, 16)
        + TIME_ZONE_OFFSET;
    let (year, month, day) = civil_from_days(minutes.div_euclid(1440));
    let minute = minutes.rem_euclid(1440);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        minute / 60,
        minute % 60,
        n(17, 19)
    )
}

/// Howard Hinnant's days from 1970-01-01 to a civil date, and back.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        yoe + era * 400 + i64::from(month <= 2),
        month,
        doy - (153 * mp + 2) / 5 + 1,
    )
}

async fn restart_the_dashboard_under_the_session(env: &Env, c: &Client) {
    let before = identity(env);
    on_manager(env, |systemd| systemd.restart("sessctl-dashboard.service"));
    assert_eq!(identity(env), before);
    c.goto(BASE).await.expect("opening the list");
    element(c, &format!("{CARD} .verdict-survived")).await;
    assert_proof_matches_status(env, c).await;
}

/// Waits until systemd has brought the session back after its agent was killed.
fn kill_the_agent(env: &Env) {
    let before = status_json(env);
    let agent = before["agent_pid"].as_u64().expect("an agent") as i32;
    kill(Pid::from_raw(agent), Signal::SIGKILL).expect("killing the agent");
    wait_for("systemd to bring the session back", || {
        let now = status_json(env);
        (now["invocation_id"] != before["invocation_id"] && now["agent_pid"].is_u64()).then_some(())
    });
}

async fn kill_the_agent_and_recover_with_one_tap(env: &Env, c: &Client) {
    kill_the_agent(env);
    // The proof of the resume before is about a session that is gone: it says so.
    let badge = text(c, &format!("{CARD} .verdict-past")).await;
    assert_eq!(badge, "survived, then ended");
    tap(c, &button("resume")).await;
    element(c, &format!("{CARD} .verdict-recovered")).await;
    assert_proof_matches_status(env, c).await;
    let message = text(c, "#flash.bad").await;
    assert!(message.contains("lost, then recovered"), "{message}");
}

/// Where every card, every button slot and each message line is on the page, in page
/// coordinates (a scroll moves none of them).
async fn layout(c: &Client) -> Value {
    let script = "const at = (e) => { const r = e.getBoundingClientRect(); \
        return [r.x, r.y + window.scrollY, r.width, r.height]; }; \
        return [...document.querySelectorAll('#flash, #updated, #live > *, #live .buttons > *')].map(at);";
    c.execute(script, vec![])
        .await
        .unwrap_or_else(|err| panic!("measuring the page: {err}"))
}

#[track_caller]
fn same_layout(before: &Value, now: &Value, state: &str) {
    assert_eq!(now, before, "the page moved: {state}");
}

/// Whether the card shows these actions, and nothing else, in their order.
async fn actions(c: &Client) -> Vec<String> {
    let script = "return [...document.querySelectorAll(arguments[0])].map(b => \
        `${b.dataset.action}:${b.textContent}`);";
    let found = c
        .execute(script, vec![format!("{CARD} .buttons button").into()])
        .await
        .expect("reading the buttons");
    serde_json::from_value(found).expect("strings")
}

#[test]
fn the_list_never_moves_under_a_finger_and_asks_before_it_ends_a_session() {
    let viewport = Viewport::Phone;
    let Some((env, driver)) = dashboard("browser-layout", &[]) else {
        return;
    };
    // A second product below the first: a card that grew would move it.
    env.sessctl()
        .args(["enable", "zed", "--", "sh"])
        .stdout_read()
        .run();
    let link = link_path(&env, BASE);
    driver.run(viewport, async |c: &Client| {
        log_in(c, &link).await;
        element(c, r#"section.card[data-product="zed"]"#).await;
        let before = layout(c).await;
        assert_eq!(
            actions(c).await,
            ["resume:Resume", "restart:Restart", "stop:Stop"]
        );

        tap(c, &button("resume")).await;
        element(c, &format!("{CARD} .verdict-survived")).await;
        element(c, "#flash.good").await;
        same_layout(
            &before,
            &layout(c).await,
            "a resume's verdict and its message",
        );

        let state = env.var("XDG_STATE_HOME").join("sessctl/products/web");
        env.sessctl()
            .args(["internal", "notify", "--state"])
            .arg(&state)
            .arg("stop")
            .run();
        element(c, &format!("{CARD} .badge.waiting")).await;
        same_layout(&before, &layout(c).await, "waiting for its human");

        kill_the_agent(&env);
        // The list is read at most once a second: it may show the restart a moment later.
        until(c, "the session back on the card", &state_is("active")).await;
        until(
            c,
            "the loss on the card",
            &format!("document.querySelector('{CARD} .note.bad')?.textContent.includes('SIGKILL')"),
        )
        .await;
        element(c, &format!("{CARD} .verdict-past")).await;
        same_layout(&before, &layout(c).await, "a loss, and a proof of the past");

        stop_with_confirmation(&env, c).await;
        assert_eq!(actions(c).await, ["resume:Start"]);
        same_layout(&before, &layout(c).await, "stopped");

        tap(c, &button("resume")).await;
        until(c, "the started session", &state_is("active")).await;
        same_layout(&before, &layout(c).await, "started again");

        restart_only_when_confirmed(&env, c).await;
        same_layout(&before, &layout(c).await, "restarted");

        a_failed_refresh_says_so_and_marks_the_page_stale(&env, c, &before).await;
    });
}

fn state_is(state: &str) -> String {
    format!("document.querySelector('{CARD} .state')?.textContent.startsWith('{state} ')")
}

/// Stop asks, naming the product and the agent that would end; only "Stop web" stops.
async fn stop_with_confirmation(env: &Env, c: &Client) {
    let agent = status_json(env)["agent_pid"].clone();
    tap(c, &button("stop")).await;
    element(c, "dialog#confirm[open]").await;
    assert_eq!(text(c, "#confirm-title").await, "Stop web?");
    let said = text(c, "#confirm-text").await;
    assert!(said.contains(&format!("the agent (PID {agent})")), "{said}");
    assert_eq!(text(c, "#confirm-ok").await, "Stop web");
    screenshot(c, Viewport::Phone, "confirm").await;
    tap(c, "#confirm-ok").await;
    until(c, "the stopped session", &state_is("inactive")).await;
    assert_eq!(status_json(env)["active_state"], "inactive");
}

/// Restart asks too: cancelled, nothing ends; confirmed, a new session runs.
async fn restart_only_when_confirmed(env: &Env, c: &Client) {
    let before = identity(env);
    tap(c, &button("restart")).await;
    element(c, "dialog#confirm[open]").await;
    assert_eq!(text(c, "#confirm-title").await, "Restart web?");
    tap(c, r#"dialog#confirm button[value="cancel"]"#).await;
    until(
        c,
        "the closed dialog",
        "!document.querySelector('dialog#confirm[open]')",
    )
    .await;
    refreshed(c).await;
    assert_eq!(identity(env), before, "a cancelled restart restarted");
    tap(c, &button("restart")).await;
    element(c, "dialog#confirm[open]").await;
    tap(c, "#confirm-ok").await;
    until(
        c,
        "the restart's message",
        "document.getElementById('flash').textContent.includes('restarted')",
    )
    .await;
    assert_ne!(identity(env).0, before.0);
}

/// With the server gone the page says since when it shows the past, and why, and marks it
/// stale; once the server answers again, it is current again.
async fn a_failed_refresh_says_so_and_marks_the_page_stale(env: &Env, c: &Client, before: &Value) {
    on_manager(env, |systemd| {
        systemd.stop("sessctl-dashboard.socket")?;
        systemd.stop("sessctl-dashboard.service")
    });
    until(
        c,
        "the stale page",
        r"/^not updated since \d\d:\d\d:\d\d: no connection to the server$/.test(document.getElementById('updated').textContent) && document.getElementById('live').classList.contains('stale')",
    )
    .await;
    same_layout(before, &layout(c).await, "stale");
    on_manager(env, |systemd| systemd.start("sessctl-dashboard.socket"));
    until(
        c,
        "the current page",
        r"/^updated \d\d:\d\d:\d\d$/.test(document.getElementById('updated').textContent) && !document.getElementById('live').classList.contains('stale')",
    )
    .await;
}

/// A script that is true when a row of the terminal's screen shows exactly `line`.
fn row_shown(line: &str) -> String {
    format!(
        "[...document.querySelectorAll('#terminal .xterm-rows > div')].some(r => r.textContent.trim() === '{line}')"
    )
}

/// Types `line` and Enter into the session, as its human would.
fn type_in_the_session(env: &Env, line: &str) {
    tmux(
        &env.socket("web"),
        &["send-keys", "-t", "main", line, "Enter"],
    )
    .expect("send-keys");
}

/// Scrolls the terminal back until a row shows exactly `line`.
async fn scroll_back_to(c: &Client, viewport: Viewport, line: &str) {
    let shown = row_shown(line);
    for _ in 0..200 {
        let found = c
            .execute(&format!("return {shown};"), vec![])
            .await
            .expect("reading the terminal");
        if found == Value::Bool(true) {
            return;
        }
        scroll_back(c, viewport, "#terminal").await;
    }
    panic!("scrolling back never showed {line}");
}

#[rstest]
#[case::phone(Viewport::Phone)]
#[case::desktop(Viewport::Desktop)]
fn the_terminal_scrolls_back_through_the_history_and_says_when_no_session_runs(
    #[case] viewport: Viewport,
) {
    let label = format!("browser-terminal-{}", viewport.name());
    let Some((env, driver)) = dashboard(&label, &[]) else {
        return;
    };
    // Printed before the page opens, all at once: the pane's history.
    type_in_the_session(&env, "seq -f before-%g 1 200");
    wait_for("the lines in the pane", || {
        let pane = tmux(&env.socket("web"), &["capture-pane", "-p", "-t", "main"])?;
        pane.lines().any(|l| l == "before-200").then_some(())
    });
    let link = link_path(&env, BASE);
    driver.run(viewport, async |c: &Client| {
        log_in(c, &link).await;
        c.goto(&format!("{BASE}/p/web"))
            .await
            .expect("opening the product");
        until(
            c,
            "the read-only terminal",
            "document.getElementById('terminal-state').textContent === 'read-only'",
        )
        .await;
        assert!(!displayed(c, "#keybar").await, "a key bar to read only");
        // Printed while the page is open, five lines at a time, as an agent prints.
        type_in_the_session(
            &env,
            "for i in $(seq 1 12); do seq -f live-$i-%g 1 5; sleep 0.2; done",
        );
        until(c, "the last live line", &row_shown("live-12-5")).await;
        scroll_back_to(c, viewport, "live-1-1").await;
        scroll_back_to(c, viewport, "before-1").await;

        tap(c, "#type-toggle").await;
        until(
            c,
            "the key bar",
            "!document.getElementById('keybar').hidden",
        )
        .await;
        assert!(displayed(c, "#keybar").await);
        tap(c, "#type-toggle").await;
        until(c, "no key bar", "document.getElementById('keybar').hidden").await;
        assert!(!displayed(c, "#keybar").await, "a key bar to read only");

        no_session_is_said_so_without_tmux_errors(&env, c).await;
    });
}

async fn displayed(c: &Client, css: &str) -> bool {
    let script = "const e = document.querySelector(arguments[0]); \
        return getComputedStyle(e).display !== 'none' && e.getBoundingClientRect().height > 0;";
    let shown = c
        .execute(script, vec![css.into()])
        .await
        .unwrap_or_else(|err| panic!("looking at {css}: {err}"));
    shown == Value::Bool(true)
}

/// Everything the terminal's screen shows, rows joined.
const SCREEN: &str = "[...document.querySelectorAll('#terminal .xterm-rows > div')].map(r => r.textContent).join('\\n')";

/// A stopped product's terminal says the session is not running, shows nothing tmux says about
/// it, keeps asking, and shows the session once it runs again.
async fn no_session_is_said_so_without_tmux_errors(env: &Env, c: &Client) {
    env.sessctl().args(["stop", "web"]).stdout_read().run();
    c.goto(&format!("{BASE}/p/web"))
        .await
        .expect("opening the product");
    let note = "document.getElementById('terminal-note')";
    until(
        c,
        "the note that no session runs",
        &format!("!{note}.hidden && {note}.textContent === 'Session not running'"),
    )
    .await;
    // Past the first two pauses between attempts.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let screen = c
        .execute(&format!("return {SCREEN};"), vec![])
        .await
        .expect("reading the terminal");
    assert_eq!(screen.as_str().map(str::trim), Some(""), "{screen}");
    let state = text(c, "#terminal-state").await;
    assert!(
        state.starts_with("session not running; trying again in "),
        "{state}"
    );
    env.sessctl().args(["start", "web"]).stdout_read().run();
    until(
        c,
        "the session again",
        &format!("{note}.hidden && document.getElementById('terminal-state').textContent === 'read-only'"),
    )
    .await;
}

#[test]
fn env_values_are_masked_until_asked_for() {
    let viewport = Viewport::Desktop;
    let Some((env, driver)) = dashboard("browser-env", &["--env", "SECRET_X=hunter2"]) else {
        return;
    };
    // An edited unit: doctor's fix is the `enable` command, with the product's --env.
    let unit = env.config_home().join("systemd/user/sessctl-web.service");
    let mut text_of_unit = std::fs::read_to_string(&unit).expect("the unit");
    text_of_unit.push_str("# edited\n");
    std::fs::write(&unit, text_of_unit).expect("editing the unit");
    let link = link_path(&env, BASE);
    driver.run(viewport, async |c: &Client| {
        log_in(c, &link).await;
        c.goto(&format!("{BASE}/p/web")).await.expect("opening the product");
        let masked = "button.masked[data-reveal=\"SECRET_X\"]";
        element(c, &format!(".findings {masked}")).await;
        let fix = text(c, ".findings .small:has(button.masked)").await;
        assert!(fix.contains("--env SECRET_X=••••"), "{fix}");
        let html = "return document.documentElement.outerHTML;";
        let page = c.execute(html, vec![]).await.expect("the page");
        assert!(!page.to_string().contains("hunter2"), "{page}");
        // A wait that begins (here on purpose; tmux's silence mark, after 30 s) moves
        // nothing on the page: a tap on its way lands where it aimed.
        let at = "const r = document.querySelector(arguments[0]).getBoundingClientRect(); \
            return [r.x, r.y + window.scrollY];";
        let button = vec![format!(".findings {masked}").into()];
        let before = c.execute(at, button.clone()).await.expect("the button's place");
        let state = env.var("XDG_STATE_HOME").join("sessctl/products/web");
        (env.sessctl().args(["internal", "notify", "--state"]))
            .arg(&state)
            .arg("stop")
            .run();
        element(c, "#live dd .badge.waiting").await;
        let now = c.execute(at, button).await.expect("the button's place");
        same_layout(&before, &now, "waiting for its human");
        tap(c, &format!(".findings {masked}")).await;
        until(
            c,
            "the value, asked for",
            "[...document.querySelectorAll('.findings .small')].some(f => f.textContent.includes('--env SECRET_X=hunter2 '))",
        )
        .await;
    });
}

//! The dashboard with other hosts (issue 25): the hosts of hosts.toml on the list, each with
//! its state and products, actions on `product@host`, a host that stops answering shown as
//! such while the others stay usable, and no host but hosts.toml's ever reached. On the real
//! lan ([`crate::support::hosts`]): real ssh, real sshd, each host's own manager; and the list
//! in a real chromium at a phone's viewport.

use std::time::Instant;

use fantoccini::Client as BrowserClient;
use serde_json::Value;

use crate::dashboard::{link_path, log_in, serve, token, Login};
use crate::hosts::enable;
use crate::push;
use crate::support::browser::{self, tap, until, Viewport, BASE};
use crate::support::hosts::{self, Lan};
use crate::support::http::Client;
use crate::support::push_service::PushService;
use crate::support::{session, tmux, wait_for, Env};

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `GET /api/hosts`: one object per host.
fn hosts_of(client: &Client, login: &Login) -> Vec<Value> {
    let reply = client.get("/api/hosts", &login.headers());
    assert_eq!(reply.status, 200, "{reply:?}");
    match reply.json() {
        Value::Array(hosts) => hosts,
        other => panic!("not a list of hosts: {other:#}"),
    }
}

/// `{host, reachable, sessctl, products' names}` of each host.
fn states(hosts: &[Value]) -> Vec<(String, Value, Value, Vec<String>)> {
    (hosts.iter())
        .map(|h| {
            let products = (h["products"].as_array().expect("products").iter())
                .map(|p| p["product"].as_str().expect("a product name").to_string())
                .collect();
            (
                h["host"].as_str().expect("host").to_string(),
                h["reachable"].clone(),
                h["sessctl"].clone(),
                products,
            )
        })
        .collect()
}

/// Names the lan's host `host` by its own name in the desk's hosts.toml.
fn add(lan: &Lan, host: &str) {
    lan.desk
        .sessctl()
        .args(["host", "add", host, host])
        .stdout_read()
        .run();
}

#[test]
fn the_dashboard_lists_each_host_acts_on_its_products_and_shows_a_dead_one_unreachable() {
    let Some(lan) = hosts::lan("hd", 2) else {
        return;
    };
    enable(lan.host("h1"), "web");
    enable(lan.host("h2"), "api");
    add(&lan, "h1");
    let _desk = lan.net.enter().expect("entering the desk's network");
    let served = serve(&lan.desk);
    let client = &served.client;
    let login = log_in(client, &token(&lan.desk), "hosts-dashboard-test");
    // A host added while the server runs is watched too: hosts.toml is read again.
    assert_eq!(states(&hosts_of(client, &login))[0].0, "h1");
    add(&lan, "h2");

    let both = wait_for("both hosts to answer the dashboard", || {
        let shown = states(&hosts_of(client, &login));
        (shown.iter().all(|h| h.1 == Value::Bool(true))).then_some(shown)
    });
    let version = Value::from(VERSION);
    assert_eq!(
        both,
        [
            (
                "h1".into(),
                true.into(),
                version.clone(),
                vec!["web".into()]
            ),
            ("h2".into(), true.into(), version, vec!["api".into()]),
        ]
    );
    // The local list keeps its shape: the desk has no products.
    let local = client.get("/api/products", &login.headers());
    assert_eq!((local.status, local.body.as_str()), (200, "[]\n"));
    // The page shows a section per host and its products as product@host.
    let page = client.get("/", &login.headers());
    for shown in [
        "data-host=\"h1\"",
        "data-host=\"h2\"",
        "data-product=\"web@h1\"",
        "data-product=\"api@h2\"",
    ] {
        assert!(page.body.contains(shown), "{shown} in {}", page.body);
    }

    // A resume of h2's product answers as a local resume, and h2 itself records it.
    let resumed = client.post("/api/products/api@h2/resume", &login.headers(), None);
    assert_eq!(resumed.status, 200, "{resumed:?}");
    let resumed = resumed.json();
    assert_eq!(resumed["verdict"], "survived", "{resumed:#}");
    let there = lan
        .host("h2")
        .sessctl()
        .args(["status", "api", "--json"])
        .stdout_read()
        .run();
    let there: Value = serde_json::from_slice(&there.stdout).expect("h2's status");
    assert_eq!(there["last_resume"]["verdict"], "survived");
    assert_eq!(there["main_pid"], resumed["after"]["main_pid"]);

    // A stop there answers as a local stop, and h2's manager stopped it.
    let stopped = client.post("/api/products/api@h2/stop", &login.headers(), None);
    assert_eq!(stopped.status, 200, "{stopped:?}");
    assert_eq!(stopped.json()["step"], "stopped");
    let there = lan
        .host("h2")
        .sessctl()
        .args(["status", "api", "--json"])
        .status_any()
        .stdout_read()
        .run();
    let there: Value = serde_json::from_slice(&there.stdout).expect("h2's status");
    assert_eq!(there["active_state"], "inactive", "{there:#}");

    answer_a_question_of_a_remote_product(&lan, client, &login);
    a_remote_wait_reaches_a_subscribed_device(&lan, client, &login);

    // A host that is not in hosts.toml is refused, and nothing connects to it.
    let before = lan.control_sockets();
    let refused = client.post("/api/products/web@10.25.1.2/resume", &login.headers(), None);
    assert_eq!(
        (refused.status, refused.json()["error"].clone()),
        (
            404,
            Value::from(
                "no host \"10.25.1.2\" in hosts.toml; `sessctl host add NAME DEST` adds one"
            )
        )
    );
    assert_eq!(lan.control_sockets(), before);

    // h2's sshd ends: h2 shows unreachable, h1's products stay usable, the local list answers.
    let bed = lan.host("h2").bed.as_ref().expect("h2's manager");
    bed.kill_aside().expect("killing h2's sshd");
    let killed = Instant::now();
    let gone = wait_for("h2 to show unreachable", || {
        let shown = hosts_of(client, &login);
        (shown[1]["reachable"] == Value::Bool(false)).then_some(shown)
    });
    eprintln!("h2 shown unreachable after {:?}", killed.elapsed());
    assert_eq!(gone[0]["reachable"], true, "{gone:#?}");
    assert!(
        gone[1]["error"].as_str().is_some_and(|e| e.contains("h2")),
        "{gone:#?}"
    );
    // An action on the host that does not answer fails at once, naming it.
    let refused = client.post("/api/products/api@h2/resume", &login.headers(), None);
    assert_eq!(refused.status, 503, "{refused:?}");
    let error = refused.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(error.starts_with("host h2"), "{error}");
    let resumed = client.post("/api/products/web@h1/resume", &login.headers(), None);
    assert_eq!(
        (resumed.status, resumed.json()["verdict"].clone()),
        (200, Value::from("survived"))
    );
    let local = client.get("/api/products", &login.headers());
    assert_eq!(local.status, 200);
}

/// On a phone, the socket-activated dashboard of the desk shows a section per host; a tap on
/// a remote product's Resume resumes it there, and its page's terminal, over ssh, shows its
/// session and types into it, and says when it stopped; a tap on Deny answers another remote
/// product's question.
#[test]
fn on_a_phone_the_list_shows_each_host_and_a_tap_resumes_and_types_into_a_remote_product() {
    let Some(lan) = hosts::lan("hb", 2) else {
        return;
    };
    enable(lan.host("h1"), "web");
    // A shell, so that what the phone types runs and shows.
    (lan.host("h2").sessctl())
        .args(["enable", "api", "--silence", "0", "--", "sh"])
        .stdout_read()
        .run();
    for host in ["h1", "h2"] {
        add(&lan, host);
    }
    // The dashboard's unit reaches the hosts with the Lan's keys and known hosts, as the
    // desk's commands do.
    lan.desk
        .shell("systemctl --user set-environment SESSCTL_SSH=\"$SESSCTL_SSH\"");
    lan.desk
        .sessctl()
        .args(["dashboard", "enable"])
        .stdout_read()
        .run();
    let Some(driver) = browser::driver(&lan.desk) else {
        return;
    };
    let link = link_path(&lan.desk, BASE);
    driver.run(Viewport::Phone, async |c: &BrowserClient| {
        browser::log_in(c, &link).await;
        until(
            c,
            "both hosts shown reachable",
            "document.querySelectorAll('section.host .host-state.state-active').length === 2",
        )
        .await;
        tap(
            c,
            r#"section.card[data-product="api@h2"] button[data-action="resume"]"#,
        )
        .await;
        until(
            c,
            "the remote resume's verdict",
            "document.getElementById('flash').textContent.includes('survived')",
        )
        .await;
        type_into_the_remote_terminal(&lan, c).await;
        deny_a_remote_question(&lan, c).await;
    });
    let there = lan
        .host("h2")
        .sessctl()
        .args(["status", "api", "--json"])
        .stdout_read()
        .run();
    let there: Value = serde_json::from_slice(&there.stdout).expect("h2's status");
    assert_eq!(there["last_resume"]["verdict"], "survived", "{there:#}");
}

/// `api@h2`'s page: its terminal is h2's session, read-only until "Tap to type"; a line typed
/// runs there; a stop there is "not running" here.
async fn type_into_the_remote_terminal(lan: &Lan, c: &BrowserClient) {
    let state = |want: &str| {
        format!("document.getElementById('terminal-state').textContent.startsWith('{want}')")
    };
    tap(c, r#"section.card[data-product="api@h2"] a.name"#).await;
    until(
        c,
        "the host's line on the page",
        "document.querySelector('.host-line .host-state')?.textContent === 'reachable'",
    )
    .await;
    until(c, "the read-only terminal", &state("read-only")).await;
    tap(c, "#type-toggle").await;
    until(c, "the typing terminal", &state("typing")).await;
    browser::element(c, ".xterm-helper-textarea")
        .await
        .send_keys("echo typed-on-h2\u{E007}")
        .await
        .expect("typing into the terminal");
    until(
        c,
        "the command's output on screen",
        "[...document.querySelectorAll('#terminal .xterm-rows > div')].some(r => r.textContent.trim() === 'typed-on-h2')",
    )
    .await;
    let pane = tmux(
        &lan.host("h2").socket("api"),
        &["capture-pane", "-p", "-t", "main"],
    )
    .expect("h2's pane");
    assert!(
        pane.lines().any(|l| l.trim_end() == "typed-on-h2"),
        "{pane}"
    );
    (lan.host("h2").sessctl())
        .args(["stop", "api"])
        .stdout_read()
        .run();
    until(c, "the stopped session said", &state("session not running")).await;
}

/// web@h1's question on its page at a phone's viewport: a tap on Deny, while the page
/// refreshes, reaches the hook on h1, which denies the call, and the page says so.
async fn deny_a_remote_question(lan: &Lan, c: &BrowserClient) {
    c.goto(&format!("{BASE}/p/web@h1"))
        .await
        .expect("opening web@h1's page");
    let hook = ask(lan.host("h1"), "web", "rm -r build");
    tap(
        c,
        r#".permission button[data-product="web@h1"][data-decision="deny"]"#,
    )
    .await;
    until(
        c,
        "the answer said",
        "document.getElementById('flash').textContent === 'web@h1: Bash denied'",
    )
    .await;
    assert_eq!(hook_said(hook), "deny");
}

/// web@h1's agent asks permission (its PermissionRequest hook there, run as the client runs
/// it: a stand-in for Claude Code, whose hook the real_approve tests prove): the question
/// shows in h1's products on the dashboard; Approve reaches the hook there, which answers
/// allow; h1's event log names the login session and this machine; a second answer is a 409.
fn answer_a_question_of_a_remote_product(lan: &Lan, client: &Client, login: &Login) {
    let h1 = lan.host("h1");
    let hook = ask(h1, "web", "make deploy");
    let id = wait_for("h1's question on the dashboard", || {
        let shown = hosts_of(client, login);
        let web = &shown[0]["products"][0];
        web["permissions"][0]["id"].as_str().map(str::to_string)
    });
    // Its page shows the question with its buttons, as a local product's page does.
    let page = client.get("/p/web@h1", &login.headers());
    assert_eq!(page.status, 200, "{page:?}");
    for shown in [
        "make deploy".to_string(),
        format!(r#"data-product="web@h1" data-question="{id}" data-decision="allow""#),
        format!(r#"data-product="web@h1" data-question="{id}" data-decision="deny""#),
    ] {
        assert!(page.body.contains(&shown), "{shown} in {}", page.body);
    }
    let body = serde_json::json!({"id": id, "decision": "allow"}).to_string();
    let [cookie, key] = login.headers();
    let headers = [cookie, key, ("content-type", "application/json")];
    let answered = client.post("/api/products/web@h1/permission", &headers, Some(&body));
    assert_eq!(answered.status, 200, "{answered:?}");
    let answered = answered.json();
    assert_eq!(
        (
            answered["product"].as_str(),
            answered["decision"].as_str(),
            answered["tool_name"].as_str()
        ),
        (Some("web@h1"), Some("allow"), Some("Bash")),
        "{answered:#}"
    );
    assert_eq!(hook_said(hook), "allow");
    let log = h1
        .sessctl()
        .args(["log", "web", "--json"])
        .stdout_read()
        .run();
    let log: Value = serde_json::from_slice(&log.stdout).expect("h1's log");
    let by = answered["by"].as_str().expect("who answered");
    let logged = format!("by {by} of the dashboard on ");
    let allowed = (log.as_array().expect("events").iter()).find(|e| {
        (e.as_object().expect("an event").values()).any(|v| {
            v.as_str()
                .is_some_and(|t| t.contains("make deploy") && t.contains(&logged))
        })
    });
    assert!(allowed.is_some(), "{logged} in {log:#}");
    // Its page shows h1's events, the answer among them, and h1's doctor.
    let page = wait_for("web@h1's page without the question", || {
        let page = client.get("/p/web@h1", &login.headers());
        (!page.body.contains("data-decision")).then_some(page)
    });
    for shown in ["<h2>Doctor</h2>", "<h2>Events</h2>", &logged] {
        assert!(page.body.contains(shown), "{shown} in {}", page.body);
    }
    let again = client.post("/api/products/web@h1/permission", &headers, Some(&body));
    assert_eq!(again.status, 409, "{again:?}");
}

/// `product`'s agent on `host` asks permission to run `command`: its PermissionRequest hook
/// there, run as the client runs it (a stand-in for Claude Code, whose own hook the
/// real_approve tests prove), waiting for the answer.
fn ask(host: &Env, product: &str, command: &str) -> std::process::Child {
    let state = host
        .var("XDG_STATE_HOME")
        .join("sessctl/products")
        .join(product);
    let mut hook = std::process::Command::new(crate::support::SESSCTL)
        .args(["internal", "permission", "--wait", "60", "--state"])
        .arg(&state)
        .envs(host.vars())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("running the hook");
    let input = serde_json::json!({
        "hook_event_name": "PermissionRequest",
        "tool_name": "Bash",
        "tool_input": {"command": command},
    });
    let mut stdin = hook.stdin.take().expect("the hook's stdin");
    std::io::Write::write_all(&mut stdin, input.to_string().as_bytes()).expect("the hook's input");
    hook
}

/// The behavior the hook of [`ask`] answered the client with.
fn hook_said(hook: std::process::Child) -> String {
    let out = hook.wait_with_output().expect("the hook's answer");
    let said: Value = serde_json::from_slice(&out.stdout).expect("the hook's JSON");
    let behavior = &said["hookSpecificOutput"]["decision"]["behavior"];
    behavior
        .as_str()
        .unwrap_or_else(|| panic!("{said:#}"))
        .to_string()
}

/// A device subscribed on the desk's dashboard gets a notice when web@h1 starts waiting, named
/// `web@h1` and opening its page there, as a local product's notice is (the notifier reads
/// each host's latest list, and a subscribed device keeps the hosts watched).
fn a_remote_wait_reaches_a_subscribed_device(lan: &Lan, client: &Client, login: &Login) {
    // The question answered above is gone from h1's list before the device subscribes, so
    // the first notice can only be the wait below.
    wait_for("web@h1 neither asking nor waiting", || {
        let web = &hosts_of(client, login)[0]["products"][0];
        (web["permissions"].is_null() && web["waiting"].is_null()).then_some(())
    });
    // A product of h1's that is listed before the device subscribes: the notices below come
    // after a list with it running, so its crash loop is news.
    enable(lan.host("h1"), "loop");
    wait_for("loop@h1 on the list", || {
        (hosts_of(client, login)[0]["products"].as_array())
            .is_some_and(|listed| listed.iter().any(|p| p["product"] == "loop"))
            .then_some(())
    });
    let service = PushService::serve(None);
    let [cookie, key] = login.headers();
    let headers = [cookie, key, ("content-type", "application/json")];
    let body = service.subscribe("phone").to_string();
    let subscribed = client.post("/api/push", &headers, Some(&body));
    assert_eq!(subscribed.status, 204, "{subscribed:?}");
    push::notify(lan.host("h1"), "web", Some("notification"));
    let got = push::nth_notice(&service, "phone", "web@h1", 1);
    push::assert_notice(
        &got,
        "web@h1",
        "waiting",
        "web@h1 waits for you",
        "It asks you something.",
    );
    // Restarted over and over on h1, h1's start limit stops it: h1's list says so.
    session::restart_until_start_limit(lan.host("h1"), "loop");
    let got = push::notice_of_kind(&service, "phone", "loop@h1", "crash-loop");
    push::assert_notice(
        &got,
        "loop@h1",
        "crash-loop",
        "loop@h1 stopped: it crashed again and again",
        "systemd's start limit stopped its restarts; `sessctl status loop@h1` says why, `sessctl resume loop@h1` starts it again",
    );
}

//! The real Gemini CLI, offline against the fake Gemini API, as the agent of products on the
//! private manager: what sessctl promises about a pinned conversation, shown with the client
//! that writes and resumes it. Each test starts one manager and runs several checks on it:
//! a real client takes seconds to start, and the machines that run these have few cores.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sessctl::identity::Identity;

use crate::support::gemini::{self, Gemini};
use crate::support::session::{self, assert_carries, kill_agent, restart, stop};
use crate::support::{assert_lost_and_recovered, doctor_json, resume_any};

fn status(g: &Gemini, product: &str) -> Value {
    session::status(&g.env, product)
}

fn identity(g: &Gemini, product: &str) -> Identity {
    session::identity(&g.env, product)
}

#[track_caller]
fn wait_restarted(g: &Gemini, old: &Identity) -> Identity {
    session::wait_restarted(&g.env, "web", old, || g.pane("web").screen())
}

/// The conversation `product` is pinned to, once the unit's own processes have pinned it.
#[track_caller]
fn pinned(g: &Gemini, product: &str) -> String {
    g.pane(product).wait("the pinned conversation", || {
        status(g, product)["conversation"]["session_id"]
            .as_str()
            .map(str::to_string)
    })
}

/// A kill right after the first prompt, before any sessctl call, then `restart`, then a crash
/// loop past systemd's start limit and one `resume`: every start after the first is on the
/// first conversation, and the next request carries all of it.
#[test]
fn kills_restarts_and_a_crash_loop_keep_the_first_conversation() {
    let Some(g) = gemini::setup("gm-keep") else {
        return;
    };
    g.enable("web", &g.project);
    g.prompt("web", "PROMPT-ONE remember this");

    // Nothing but the unit's own processes has seen the conversation yet. The agent killed is
    // the parent `node` of the two Gemini CLI runs (it relaunches itself as a child).
    let before = identity(&g, "web");
    kill_agent(&before);
    wait_restarted(&g, &before);
    let id = pinned(&g, "web");
    let next = g.prompt("web", "PROMPT-TWO after the kill");
    assert_carries(&next, &["PROMPT-ONE remember this"]);

    restart(&g.env, "web");
    let next = g.prompt("web", "PROMPT-THREE after the restart");
    assert_carries(&next, &["PROMPT-ONE", "PROMPT-TWO"]);

    // Systemd allows six starts within 120 s (StartLimitBurst=6); the enable, the kill's
    // restart and the restart used three of them, so at most six kills reach the limit.
    let kills = session::crash_until_start_limit(&g.env, "web", kill_agent);
    assert!(kills <= 6, "{kills} kills to reach the start limit");
    let (v, code) = resume_any(&g.env, "web");
    assert_lost_and_recovered(&v, code);
    assert_eq!(v["after"]["active_state"], "active", "{v:#}");
    let next = g.prompt("web", "PROMPT-FOUR after the crash loop");
    assert_carries(&next, &["PROMPT-ONE", "PROMPT-TWO", "PROMPT-THREE"]);
    assert_eq!(pinned(&g, "web"), id, "the pin moved");
}

/// Two products on one `GEMINI_CLI_HOME`, in two directories: each keeps its own
/// conversation, `status` from a shell with none of their environment names the file Gemini
/// CLI goes on writing, stopping one leaves the other
/// answering, and `doctor` names the client's default session retention until it is off.
#[test]
fn products_sharing_a_home_stay_apart_and_status_and_doctor_read_the_clients_files() {
    let Some(g) = gemini::setup("gm-share") else {
        return;
    };
    let api_dir = g.env.scratch.join("api-project");
    fs::create_dir_all(&api_dir).expect("the second project");
    g.enable("web", &g.project);
    g.enable("api", &api_dir);
    g.prompt("web", "WEB-ONE first");
    g.prompt("api", "API-ONE first");
    let web = pinned(&g, "web");
    let api = pinned(&g, "api");
    assert_ne!(web, api);

    // A restart resumes the conversation, and Gemini CLI writes its stray resume record.
    restart(&g.env, "web");
    let next = g.prompt("web", "WEB-TWO after the restart");
    assert_carries(&next, &["WEB-ONE first"]);
    assert!(!next.text().contains("API-ONE"), "{}", next.text());
    // The stray file is a file of its own only when the resume comes in another minute than
    // the session's start (the name holds the minute); either way status names the one the
    // conversation goes on in.
    let written = files_of(&g, &web)
        .iter()
        .find(|f| fs::read_to_string(f).is_ok_and(|t| t.contains("WEB-TWO")))
        .expect("the file holding the conversation")
        .clone();

    let elsewhere = g.env.scratch.join("another-home");
    fs::create_dir_all(&elsewhere).expect("another home");
    let out = g
        .env
        .sessctl()
        .args(["status", "web", "--json"])
        .env("HOME", &elsewhere)
        .env("GEMINI_CLI_HOME", elsewhere.join("nothing-here"))
        .stdout_read()
        .run();
    let shown: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    assert_eq!(
        shown["conversation"]["transcript"].as_str(),
        Some(written.to_str().expect("a UTF-8 path")),
        "{shown:#}"
    );

    stop(&g.env, "api");
    let next = g.prompt("web", "WEB-THREE with api stopped");
    assert_carries(&next, &["WEB-ONE", "WEB-TWO"]);

    let retention = |report: &Value| -> Vec<String> {
        report["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .filter(|f| f["id"] == "retention")
            .map(|f| f.to_string())
            .collect()
    };
    let found = retention(&doctor_json(&g.env));
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(
        found.iter().all(|f| f.contains("Gemini CLI")
            && f.contains("sessionRetention")
            && f.contains(r#"\"enabled\": false"#)),
        "{found:#?}"
    );
    keep_sessions(&g.root().join("settings.json"));
    let found = retention(&doctor_json(&g.env));
    assert_eq!(found, Vec::<String>::new());
}

/// Every session file of conversation `id` under the shared data root.
fn files_of(g: &Gemini, id: &str) -> Vec<PathBuf> {
    g.session_files()
        .into_iter()
        .filter(|f| {
            fs::read_to_string(f).is_ok_and(|t| {
                t.lines()
                    .next()
                    .is_some_and(|l| l.contains(&format!("\"sessionId\":\"{id}\"")))
            })
        })
        .collect()
}

/// Turns Gemini CLI's session cleanup off in `settings`, as doctor advises.
fn keep_sessions(settings: &Path) {
    let mut v: Value =
        serde_json::from_str(&fs::read_to_string(settings).expect("settings.json")).expect("JSON");
    v["general"]["sessionRetention"] = json!({"enabled": false});
    fs::write(settings, v.to_string()).expect("writing settings.json");
}

//! The real Codex CLI, offline against the fake Responses API, as the agent of products on
//! the private manager: the conversation sessctl pins survives restarts, crashes and the
//! start limit, the first one survives a crash before anyone ran sessctl, and two products
//! sharing one `CODEX_HOME` stay apart.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sessctl::identity::Identity;

use crate::support::codex::{self, Codex};
use crate::support::fake_api::Request;
use crate::support::fake_openai::history_initialization;
use crate::support::session::{self, assert_carries, kill_agent, restart, running, sigkill, stop};
use crate::support::{assert_lost_and_recovered, cmdline, log_json, resume_any};

fn status(c: &Codex, product: &str) -> Value {
    session::status(&c.env, product)
}

fn identity(c: &Codex, product: &str) -> Identity {
    session::identity(&c.env, product)
}

#[track_caller]
fn wait_restarted(c: &Codex, product: &str, old: &Identity) -> Identity {
    session::wait_restarted(&c.env, product, old, || c.pane(product).screen())
}

/// The conversation the product's pin names.
fn pinned(c: &Codex, product: &str) -> Option<String> {
    let file = c
        .env
        .var("XDG_STATE_HOME")
        .join(format!("sessctl/products/{product}/pin.json"));
    let pin: Value = serde_json::from_str(&fs::read_to_string(file).ok()?).ok()?;
    pin["session_id"].as_str().map(str::to_string)
}

/// Asserts that `request` went on with the conversation that holds every one of `before`.
#[track_caller]
fn assert_history(request: &Request, before: &[&str]) {
    assert_carries(request, before);
    assert_eq!(history_initialization(request), "cold_resume");
}

/// The rollout files under the shared home whose name ends with `id`.
fn rollouts_of(c: &Codex, id: &str) -> Vec<PathBuf> {
    let suffix = format!("-{id}.jsonl");
    walk(&c.home.join("sessions"))
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(&suffix))
        .collect()
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|e| match e.path().is_dir() {
            true => walk(&e.path()),
            false => vec![e.path()],
        })
        .collect()
}

/// The native client under the agent's PID: `codex` on npm is a node launcher whose child
/// is the binary that runs the conversation.
fn native_client(agent: u32) -> u32 {
    let children = sessctl::procfs::children(agent);
    *children
        .iter()
        .find(|&&pid| {
            cmdline(pid)
                .first()
                .is_some_and(|p| p.ends_with("/bin/codex"))
        })
        .unwrap_or_else(|| panic!("no native codex under the launcher {agent}: {children:?}"))
}

/// One product from first start to the start limit, on its first conversation throughout:
/// the pin, `status` from another shell, `restart`, a SIGKILL, and a crash loop that ends in
/// one `resume`.
#[test]
fn restart_crashes_and_the_start_limit_keep_the_pinned_conversation() {
    let Some(c) = codex::setup("cx-life") else {
        return;
    };
    let web = c.pane("web");
    c.enable("web", &c.project);
    let first = c.prompt("web", "PROMPT-ONE remember this");
    assert_eq!(history_initialization(&first), "new");

    // Pinned from inside the unit, with no sessctl call: the one rollout of the directory.
    let id = web.wait("the first conversation pinned", || pinned(&c, "web"));
    let file = rollouts_of(&c, &id);
    assert_eq!(file.len(), 1, "one rollout of {id}: {file:?}");

    // `status` from a shell with none of the product's environment names the same file: no
    // CODEX_HOME, and a HOME with no .codex, then a CODEX_HOME of the caller's own.
    let elsewhere = c.env.scratch.join("another-home");
    fs::create_dir_all(&elsewhere).expect("another home");
    for caller_home in [None, Some(elsewhere.join("codex-elsewhere"))] {
        let shown = c.outside_status("web", &elsewhere, caller_home.as_deref());
        assert_eq!(
            shown["conversation"]["session_id"],
            id.as_str(),
            "{shown:#}"
        );
        assert_eq!(
            shown["conversation"]["transcript"].as_str(),
            file[0].to_str(),
            "{shown:#}"
        );
    }

    // A restart resumes it, from a start that keeps the app-server in the unit.
    restart(&c.env, "web");
    let agent = identity(&c, "web").agent_pid.expect("an agent PID");
    let argv = cmdline(agent);
    assert!(
        argv.ends_with(&["--no-daemon".into(), "resume".into(), id.clone()]),
        "{argv:?}"
    );
    let second = c.prompt("web", "PROMPT-TWO after the restart");
    assert_history(&second, &["PROMPT-ONE remember this"]);

    // A SIGKILL: systemd brings it back on the same conversation.
    let before = identity(&c, "web");
    kill_agent(&before);
    wait_restarted(&c, "web", &before);
    let third = c.prompt("web", "PROMPT-THREE after the kill");
    assert_history(
        &third,
        &["PROMPT-ONE remember this", "PROMPT-TWO after the restart"],
    );

    // A crash loop: each kill is restarted until the unit meets StartLimitBurst (6 starts in
    // 120 s, the ones above included) and systemd leaves it failed.
    let kills = session::crash_until_start_limit(&c.env, "web", kill_agent);
    let deaths = log_json(&c.env, "web")
        .iter()
        .filter(|e| e["event"] == "exit" && e["signal"] == "SIGKILL")
        .count();
    assert_eq!(deaths, kills + 1, "each death is logged with its signal");

    // One click brings it back, still on the first conversation.
    let (v, code) = resume_any(&c.env, "web");
    assert_lost_and_recovered(&v, code);
    assert_eq!(v["after"]["active_state"], "active", "{v:#}");
    let last = c.prompt("web", "PROMPT-FOUR after the crash loop");
    assert_history(
        &last,
        &["PROMPT-ONE remember this", "PROMPT-THREE after the kill"],
    );
    assert_eq!(pinned(&c, "web").as_deref(), Some(id.as_str()));
    assert_eq!(
        walk(&c.home.join("sessions")).len(),
        1,
        "one conversation only"
    );
}

/// The first conversation is pinned by the unit itself: a crash of the client right after
/// the first prompt, with no sessctl call since `enable`, resumes it.
#[test]
fn a_sigkill_after_the_first_prompt_resumes_that_conversation() {
    let Some(c) = codex::setup("cx-first") else {
        return;
    };
    c.enable("web", &c.project);
    c.prompt("web", "PROMPT-ONE the first conversation");
    let before = identity(&c, "web");
    // The native client, the process that wrote the rollout.
    sigkill(native_client(before.agent_pid.expect("an agent PID")));
    wait_restarted(&c, "web", &before);
    let next = c.prompt("web", "PROMPT-TWO after the crash");
    assert_history(&next, &["PROMPT-ONE the first conversation"]);
    let id = pinned(&c, "web").expect("a pin");
    assert_eq!(rollouts_of(&c, &id).len(), 1);
    assert_eq!(
        walk(&c.home.join("sessions")).len(),
        1,
        "one conversation only"
    );
}

/// Every process of `cgroup` (as systemd names it), by PID.
fn processes_in(cgroup: &str) -> Vec<u32> {
    fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| sessctl::procfs::cgroup(pid).is_some_and(|g| g.ends_with(cgroup)))
        .collect()
}

/// Two products on one `CODEX_HOME`, in two directories: each runs its turns and tools in its
/// own unit, and stopping one leaves the other answering.
#[test]
fn two_products_sharing_a_codex_home_stay_independent() {
    let Some(c) = codex::setup("cx-two") else {
        return;
    };
    let other = c.env.scratch.join("other");
    fs::create_dir_all(&other).expect("the second dir");
    c.trust(&other);
    let docs = c.pane("docs");
    c.enable("web", &c.project);
    c.prompt("web", "PROMPT-A in web");
    c.enable("docs", &other);
    c.prompt("docs", "PROMPT-B in docs");

    // The tool docs runs lives in docs' unit, and no process of web's unit works for docs.
    let turns = c.turns_ended();
    docs.send("RUN: sleep 1234");
    let tool = docs.wait("docs' tool running", || running(&c.env, &["sleep", "1234"]));
    let cgroup_of = |product: &str| -> String {
        status(&c, product)["cgroup"]
            .as_str()
            .expect("a cgroup")
            .to_string()
    };
    let (web_cgroup, docs_cgroup) = (cgroup_of("web"), cgroup_of("docs"));
    assert!(
        sessctl::procfs::cgroup(tool).is_some_and(|g| g.ends_with(&docs_cgroup)),
        "docs' tool runs in {:?}, not {docs_cgroup}",
        sessctl::procfs::cgroup(tool)
    );
    let other_dir = other.canonicalize().expect("the canonical dir");
    for pid in processes_in(&web_cgroup) {
        let argv = cmdline(pid);
        let cwd = fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
        assert!(
            cwd != other_dir && !argv.iter().any(|a| a == "app-server"),
            "web's unit holds {pid} {argv:?} in {cwd:?}"
        );
    }
    c.wait_turn("docs", "RUN: sleep 1234", turns);

    stop(&c.env, "web");
    let after = c.prompt("docs", "PROMPT-B2 with web stopped");
    assert_carries(&after, &["PROMPT-B in docs"]);
    assert!(
        !after.text().contains("PROMPT-A in web"),
        "{}",
        after.text()
    );
    assert_eq!(
        pinned(&c, "web").map(|id| rollouts_of(&c, &id).len()),
        Some(1)
    );
    assert_ne!(pinned(&c, "web"), pinned(&c, "docs"));
}

//! The real Claude Code, offline against the fake API, as the agent of a product on the
//! private manager: what sessctl promises about a conversation, shown with the client that
//! writes and resumes it. Each test runs with both versions pinned in
//! `tests/claude-code.version` (the oldest supported and the newest), unless its point does
//! not depend on the client, and then with the newest only.

use std::fs;
use std::path::PathBuf;

use rstest::rstest;
use serde_json::Value;
use sessctl::identity::Identity;

use crate::support::claude::{self, lose_parent, records, write_records, Claude, Pin};
use crate::support::fake_api::SUMMARY;
use crate::support::session::{self, assert_carries, finding_ids, kill_agent, restart, stop};
use crate::support::{assert_lost_and_recovered, log_json, resume_any, tmux};

const UNIT: &str = "sessctl-web.service";

fn status(c: &Claude) -> Value {
    session::status(&c.env, "web")
}

fn identity(c: &Claude) -> Identity {
    session::identity(&c.env, "web")
}

/// The `exit` events of the log: (signal, status) of each.
fn exits(c: &Claude) -> Vec<(Value, Value)> {
    log_json(&c.env, "web")
        .iter()
        .filter(|e| e["event"] == "exit")
        .map(|e| (e["signal"].clone(), e["status"].clone()))
        .collect()
}

/// What Claude Code sends for a call that a crash cut off, by version. 2.1.197 drops the
/// call when it loads the conversation; 2.1.332 keeps it and answers it with an error result
/// it writes, saying the call was interrupted.
#[track_caller]
fn assert_cut_off_call_sent(pin: Pin, request: &Value, command: &str) {
    let messages = request["messages"].as_array().expect("messages");
    let blocks = |kind: &'static str| {
        messages
            .iter()
            .filter_map(|m| m["content"].as_array())
            .flatten()
            .filter(move |b| b["type"] == kind)
    };
    let call = blocks("tool_use").find(|b| b["input"]["command"] == command);
    match pin {
        Pin::Oldest => assert!(call.is_none(), "the cut-off call was sent: {call:?}"),
        Pin::Newest => {
            let id = &call.expect("the cut-off call")["id"];
            let result = blocks("tool_result")
                .find(|b| &b["tool_use_id"] == id)
                .expect("a result for the cut-off call");
            assert_eq!(result["is_error"], true, "{result}");
            assert!(
                result.to_string().to_lowercase().contains("interrupt"),
                "{result}"
            );
        }
    }
}

#[rstest]
fn a_crash_in_the_middle_of_a_tool_call_resumes_with_the_whole_history(
    #[values(Pin::Oldest, Pin::Newest)] pin: Pin,
) {
    let Some(c) = claude::enabled("cc-crash", pin.version()) else {
        return;
    };
    c.prompt("PROMPT-ONE remember this");
    // Nothing else is done: systemd brings the session back on the same conversation.
    let command = c.cut_a_call(1000);
    let next = c.prompt("PROMPT-THREE after the crash");
    assert_carries(&next, &["PROMPT-ONE remember this", &command]);
    assert_cut_off_call_sent(pin, &next.body, &command);

    // The conversation as the crash left it, snapshotted before the restart: the call never
    // got its result. Each client resumes it (above), so it is a warning, never a reason to
    // refuse the start.
    let report = c.check(&c.snapshot_holding("sleep 1000"), 6);
    assert_eq!(finding_ids(&report), ["dangling-tool-use"], "{report:#}");

    // The next click says what happened, once.
    let (v, code) = resume_any(&c.env, "web");
    assert_lost_and_recovered(&v, code);
    let reason = v["reason"].as_str().expect("a reason");
    assert!(
        reason.starts_with("the agent was killed by SIGKILL at ")
            && reason.ends_with("; systemd restarted it on the same conversation"),
        "{reason}"
    );
    assert_eq!(resume_any(&c.env, "web").0["verdict"], "survived");
}

#[rstest]
fn exit_ends_the_session_and_systemd_leaves_it_ended(#[values(Pin::Oldest, Pin::Newest)] pin: Pin) {
    let Some(c) = claude::enabled("cc-exit", pin.version()) else {
        return;
    };
    c.prompt("PROMPT-ONE before the exit");
    c.pane().type_line("/exit");
    let systemd = c.env.systemd();
    c.pane().wait("the unit to end after /exit", || {
        (systemd.status(UNIT).ok()?.active_state.as_str() == "inactive").then_some(())
    });
    // Inactive with Result=success and no restart: systemd scheduled none.
    let details = systemd.details(UNIT).expect("details");
    assert_eq!(
        (details.sub_state.as_str(), details.result.as_str()),
        ("dead", "success")
    );
    let status = status(&c);
    assert_eq!(status["n_restarts"], 0, "{status:#}");
    assert_eq!(status["last_exit"]["status"], 0, "{status:#}");
    assert_eq!(exits(&c), [(Value::Null, Value::from(0))]);

    // A click brings it back on the same conversation.
    let (v, code) = resume_any(&c.env, "web");
    assert_lost_and_recovered(&v, code);
    let next = c.prompt("PROMPT-TWO after the exit");
    assert!(next.text().contains("PROMPT-ONE"), "{}", next.text());
}

/// systemd's start limit and sessctl's recovery do not depend on the client: run with the
/// newest only, whose crashes also leave a socket behind in `/tmp/cc-socks/` (none of which
/// keeps a restart from coming up).
#[test]
fn a_crash_loop_stops_at_the_start_limit_and_one_resume_brings_the_session_back() {
    let Some(c) = claude::enabled("cc-loop", Pin::Newest.version()) else {
        return;
    };
    c.prompt("PROMPT-ONE before the crash loop");
    let systemd = c.env.systemd();
    // The unit allows six starts within 120 s (StartLimitBurst=6): the enable's start and
    // five restarts; after the sixth kill systemd refuses the restart and leaves it failed.
    let kills = session::crash_until_start_limit(&c.env, "web", kill_agent);
    assert_eq!(kills, 6, "{:?}", systemd.details(UNIT));
    let deaths = exits(&c);
    assert_eq!(
        deaths,
        vec![(Value::from("SIGKILL"), Value::Null); 6],
        "each death is logged with its signal"
    );

    let (v, code) = resume_any(&c.env, "web");
    assert_lost_and_recovered(&v, code);
    assert_eq!(v["after"]["active_state"], "active", "{v:#}");
    assert!(
        v["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("the agent was killed by SIGKILL at ")
                && r.contains("systemd: failed")),
        "{v:#}"
    );
    let next = c.prompt("PROMPT-TWO after the crash loop");
    assert!(next.text().contains("PROMPT-ONE"), "{}", next.text());
}

#[rstest]
fn parallel_tool_calls_check_clean_and_resume_paired(#[values(Pin::Oldest, Pin::Newest)] pin: Pin) {
    let Some(c) = claude::enabled("cc-parallel", pin.version()) else {
        return;
    };
    c.prompt("RUN: echo alpha RUN: echo beta");
    let text = fs::read_to_string(c.transcript()).expect("the transcript");
    assert!(
        text.contains("sourceToolAssistantUUID"),
        "not a parallel-call transcript"
    );
    let report = c.check("web", 0);
    assert_eq!(finding_ids(&report), Vec::<String>::new(), "{report:#}");
    restart(&c.env, "web");
    let next = c.prompt("PROMPT-TWO after the restart");
    assert_eq!(next.status, 200);
    let sent = next.text();
    assert!(sent.contains("alpha") && sent.contains("beta"), "{sent}");
}

#[rstest]
fn restart_and_compact_keep_the_conversation(#[values(Pin::Oldest, Pin::Newest)] pin: Pin) {
    let Some(c) = claude::enabled("cc-compact", pin.version()) else {
        return;
    };
    c.prompt("PROMPT-ONE before everything");
    restart(&c.env, "web");
    let after_restart = c.prompt("PROMPT-TWO after the restart");
    assert!(
        after_restart.text().contains("PROMPT-ONE"),
        "{}",
        after_restart.text()
    );
    c.compact();
    restart(&c.env, "web");
    let after = c.prompt("PROMPT-THREE after the compaction");
    assert!(after.text().contains(SUMMARY), "{}", after.text());
    let report = c.check("web", 0);
    assert_eq!(finding_ids(&report), Vec::<String>::new(), "{report:#}");
}

#[rstest]
fn a_new_dir_carries_the_conversation(#[values(Pin::Oldest, Pin::Newest)] pin: Pin) {
    let Some(c) = claude::enabled("cc-dir", pin.version()) else {
        return;
    };
    c.prompt("PROMPT-ONE in the first directory");
    let old = c.transcript();
    let moved = c.env.scratch.join("moved here");
    fs::create_dir_all(&moved).expect("the new dir");
    // The new folder is trusted while no client runs: a running client writes its own
    // .claude.json back over ours (seen on a loaded machine: the trust lost, and the new
    // session stuck at the folder's trust dialog).
    stop(&c.env, "web");
    c.configure(&moved);
    c.enable(&moved);
    restart(&c.env, "web");
    let next = c.prompt("PROMPT-TWO in the new directory");
    assert!(next.text().contains("PROMPT-ONE"), "{}", next.text());
    let new = c.transcript();
    assert_ne!(
        new.parent(),
        old.parent(),
        "the conversation was not carried"
    );
    assert!(new.starts_with(c.config_dir.join("projects")));
    // The original is kept as the old session left it; the carried copy goes on from it.
    let original = fs::read(&old).expect("the original is kept");
    let carried = fs::read(&new).expect("the carried copy");
    assert!(carried.len() > original.len() && carried.starts_with(&original));

    // And back: the copy left in the first directory is stale, and is brought up to date
    // rather than resumed as it was.
    c.enable(&c.project);
    restart(&c.env, "web");
    let back = c.prompt("PROMPT-THREE back in the first directory");
    assert!(back.text().contains("PROMPT-TWO"), "{}", back.text());
    assert_eq!(c.transcript().parent(), old.parent());
}

#[rstest]
fn status_and_check_answer_the_same_from_a_shell_without_the_products_environment(
    #[values(Pin::Oldest, Pin::Newest)] pin: Pin,
) {
    let Some(c) = claude::enabled("cc-env", pin.version()) else {
        return;
    };
    c.prompt("PROMPT-ONE hello");
    let elsewhere = c.env.scratch.join("another-home");
    fs::create_dir_all(&elsewhere).expect("another home");
    let from_shell = |args: &[&str], status: i32| -> Value {
        let out = c
            .env
            .sessctl()
            .args(args)
            .env("HOME", &elsewhere)
            .env("CLAUDE_CONFIG_DIR", elsewhere.join("nothing-here"))
            .status(status)
            .stdout_read()
            .run();
        serde_json::from_slice(&out.stdout).expect("JSON")
    };
    let shown = from_shell(&["status", "web", "--json"], 0);
    let file = shown["conversation"]["transcript"]
        .as_str()
        .expect("a transcript");
    assert!(
        PathBuf::from(file).starts_with(c.config_dir.join("projects")),
        "{shown:#}"
    );
    // Clean, retention included: the product's settings.json keeps transcripts.
    let report = from_shell(&["transcript", "check", "web", "--json"], 0);
    assert_eq!(report["file"].as_str(), Some(file), "{report:#}");
}

fn prompt_of(record: &Value) -> Option<&str> {
    (record["type"] == "user")
        .then(|| record["message"]["content"].as_str())
        .flatten()
}

/// A damaged shape, made from a real two-turn transcript.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// The second prompt's parent was never written, 2 s after the record before.
    MissingParentSoon,
    /// The same, 120 s after.
    MissingParentLate,
    /// The call of a tool result is gone.
    OrphanResult,
    /// A crash cut the last line off mid-write.
    PartialLastLine,
}

/// Each damaged shape through the real client: `transcript check`'s verdict is what the
/// client then sends, and the guard lets every one of them start.
#[rstest::rstest]
#[case::missing_parent_soon(Shape::MissingParentSoon, 6, "relinked-parent", true)]
#[case::missing_parent_late(Shape::MissingParentLate, 5, "broken-chain", false)]
#[case::orphan_result(Shape::OrphanResult, 6, "orphan-tool-result", true)]
#[case::partial_last_line(Shape::PartialLastLine, 6, "partial-last-line", true)]
fn checks_verdict_is_what_the_client_sends(
    #[case] shape: Shape,
    #[case] exit: i32,
    #[case] finding: &str,
    #[case] history_kept: bool,
    #[values(Pin::Oldest, Pin::Newest)] pin: Pin,
) {
    let Some(c) = claude::enabled("cc-shape", pin.version()) else {
        return;
    };
    c.prompt("PROMPT-ONE first turn");
    if matches!(shape, Shape::OrphanResult) {
        c.prompt("RUN: echo orphaned");
    }
    c.prompt("PROMPT-TWO second turn");
    let path = c.transcript();
    stop(&c.env, "web");
    let mut all = records(&path);
    let second = all
        .iter()
        .position(|r| prompt_of(r) == Some("PROMPT-TWO second turn"))
        .expect("the second prompt");
    match shape {
        Shape::MissingParentSoon => lose_parent(&mut all, second, 2),
        Shape::MissingParentLate => lose_parent(&mut all, second, 120),
        Shape::PartialLastLine => {}
        Shape::OrphanResult => {
            let call = all
                .iter()
                .position(|r| r["message"]["content"][0]["type"] == "tool_use")
                .expect("the call");
            let parent = all[call]["parentUuid"].clone();
            let uuid = all[call]["uuid"].clone();
            all.remove(call);
            for r in all.iter_mut().filter(|r| r["parentUuid"] == uuid) {
                r["parentUuid"] = parent.clone();
            }
        }
    }
    write_records(&path, &all);
    if matches!(shape, Shape::PartialLastLine) {
        let mut text = fs::read_to_string(&path).expect("the transcript");
        text.push_str(r#"{"parentUuid":"x","type":"user","mess"#);
        fs::write(&path, text).expect("cutting the last line");
    }

    let report = c.check("web", exit);
    assert!(
        finding_ids(&report).contains(&finding.to_string()),
        "{report:#}"
    );
    let (started, code) = resume_any(&c.env, "web");
    assert_eq!(
        (started["verdict"].as_str(), code),
        (Some("started"), 0),
        "{started:#}"
    );
    let next = c.prompt("PROMPT-THREE after the damage");
    assert_eq!(
        next.status, 200,
        "the fake API refused what the client sent"
    );
    assert_eq!(
        next.text().contains("PROMPT-ONE first turn"),
        history_kept,
        "check said {finding}, the client sent: {}",
        next.text()
    );
}

/// The client's own hooks, from the `--settings` sessctl passes it, mark the product waiting
/// once a response is done (`Stop`), and clear the mark when the next prompt is submitted
/// (`UserPromptSubmit`), before that prompt's request is sent.
#[rstest]
fn a_finished_response_marks_the_product_waiting_until_the_next_prompt(
    #[values(Pin::Oldest, Pin::Newest)] pin: Pin,
) {
    let Some(c) = claude::enabled("cc-waiting", pin.version()) else {
        return;
    };
    c.pane().wait_ready();
    assert_eq!(status(&c)["waiting"], Value::Null);
    // The client says when it waits: no silence monitor guesses for it.
    let monitor = tmux(
        &c.pane().socket,
        &["show-options", "-gwv", "monitor-silence"],
    );
    assert_eq!(monitor.as_deref().map(str::trim), Some("0"));
    c.prompt("PROMPT-ONE hello");
    let waiting = c.pane().wait("the waiting mark after the response", || {
        let w = status(&c)["waiting"].clone();
        (w["kind"] == "stop").then_some(w)
    });
    assert!(waiting["since"].is_string(), "{waiting}");
    // A long tool call keeps the next turn open: the mark is gone while the agent works.
    c.hold_a_call(1001);
    assert_eq!(status(&c)["waiting"], Value::Null);
}

/// The processes whose command line holds `needle`, with their cgroup.
fn processes_with(needle: &str) -> Vec<(u32, String)> {
    fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let argv = fs::read(e.path().join("cmdline")).ok()?;
            let argv = String::from_utf8_lossy(&argv).replace('\0', " ");
            let cgroup = fs::read_to_string(e.path().join("cgroup")).ok()?;
            argv.contains(needle).then_some((pid, cgroup))
        })
        .collect()
}

/// Claude Code 2.1.332 offers its agent view on `←` ("← for agents"). That key moves the
/// conversation to the background: the client's daemon (started on demand, in the unit, or
/// wherever another client of the same config dir started it) resumes a fork of it under a
/// new id in a process of its own, and the pane's client only shows it. The next turns go to
/// the fork, outside the pinned conversation; after a crash the pinned conversation comes
/// back without them. A
/// session of sessctl keeps every turn in its pinned conversation and every process in its
/// unit, so the product runs the client with the agent view off. (2.1.197 has no agent view:
/// newest only.)
#[test]
fn the_agent_view_key_keeps_the_conversation_pinned_and_in_the_unit() {
    let Some(c) = claude::enabled("cc-agents", Pin::Newest.version()) else {
        return;
    };
    c.prompt("PROMPT-ONE before the agent view key");
    // What a user who follows the footer's hint does: ← for agents, then the next prompt.
    // With the agent view off the key does nothing at an empty prompt. (Escape back out of
    // the view is no better: the session it returns to is the fork.)
    c.pane().keys(&["Left"]);
    let command = c.hold_a_call(1000);
    let manager = c.env.bed.as_ref().expect("a manager").name.clone();
    for (pid, cgroup) in processes_with("sleep 1000")
        .into_iter()
        .chain(processes_with("bg-pty-host"))
        .chain(processes_with("daemon run"))
        .filter(|(_, cgroup)| cgroup.contains(&manager))
    {
        assert!(
            cgroup.contains(&format!("/{UNIT}")),
            "process {pid} ({:?}) runs outside {UNIT}: {cgroup}",
            crate::support::cmdline(pid)
        );
        let argv = crate::support::cmdline(pid).join(" ");
        assert!(
            !argv.contains("daemon run") && !argv.contains("bg-pty-host"),
            "Claude Code's background-agent daemon runs in {UNIT}: {argv}"
        );
    }

    let before = identity(&c);
    kill_agent(&before);
    session::wait_restarted(&c.env, "web", &before, || c.pane().screen());
    let next = c.prompt("PROMPT-THREE after the crash");
    assert!(
        next.text().contains(&command),
        "the turn after the agent view key is not in the pinned conversation: {}",
        next.text()
    );
}

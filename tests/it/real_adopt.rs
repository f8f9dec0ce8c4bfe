//! The newest Claude Code (the last line of `tests/claude-code.version`), offline against the
//! fake API, as the agent of a product on the private manager: `transcript repair --adopt` of a
//! live session loses no turn, and `transcript check` says what this client then sends.

use std::path::PathBuf;

use sessctl::identity::Identity;

use crate::support::claude::{self, lose_parent, records, write_records, Claude, Pin};
use crate::support::fake_api::Request;
use crate::support::session::{self, assert_carries, finding_ids};

/// [`claude::enabled`] with the newest pinned client.
fn newest(label: &str) -> Option<Claude> {
    claude::enabled(label, Pin::Newest.version())
}

fn identity(c: &Claude) -> Identity {
    session::identity(&c.env, "web")
}

fn sessctl_ok(c: &Claude, args: &[&str]) -> String {
    let out = c.env.sessctl().args(args).stdout_read().run();
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Copies the client's project folders to `$SESSCTL_KEEP_TRANSCRIPTS/<label>` when that is
/// set: the real transcripts the unit tests' fixtures are trimmed from.
fn keep(c: &Claude, label: &str) {
    let Some(dest) = std::env::var_os("SESSCTL_KEEP_TRANSCRIPTS") else {
        return;
    };
    let dest = PathBuf::from(dest).join(label);
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(c.config_dir.join("projects"))
        .arg(&dest)
        .status()
        .expect("cp");
    assert!(status.success(), "copying the transcripts to {dest:?}");
}

/// A live session whose conversation needs a repair (a parent lost 120 s before: the client
/// loads only what follows it), adopted while the agent runs and writes: every turn before,
/// during and after the adoption reaches the next request after a restart.
#[test]
fn repair_adopt_of_a_live_session_keeps_every_turn() {
    let Some(c) = newest("cc-adopt") else {
        return;
    };
    c.prompt("PROMPT-ONE first turn");
    c.prompt("PROMPT-TWO second turn");
    let path = c.transcript();
    sessctl_ok(&c, &["stop", "web"]);
    let mut all = records(&path);
    let second = all
        .iter()
        .position(|r| r["message"]["content"] == "PROMPT-TWO second turn")
        .expect("the second prompt");
    lose_parent(&mut all, second, 120);
    write_records(&path, &all);
    assert!(finding_ids(&c.check("web", 5)).contains(&"broken-chain".to_string()));

    sessctl_ok(&c, &["start", "web"]);
    let live = c.prompt("PROMPT-THREE live after the damage");
    assert!(
        !live.text().contains("PROMPT-ONE"),
        "the damage did not cut the history: {}",
        live.text()
    );
    c.prompt("PROMPT-FOUR live before the repair");
    let before = identity(&c);
    assert!(before.is_live(), "{before:?}");

    let out = sessctl_ok(&c, &["transcript", "repair", "web", "--adopt"]);
    assert!(out.contains("repaired into"), "{out}");
    let pinned = session::status(&c.env, "web")["conversation"]["session_id"].clone();
    assert!(
        out.contains(&format!(
            "pinned to {}",
            pinned.as_str().expect("a session id")
        )),
        "{out}"
    );
    let after = identity(&c);
    assert!(
        after.is_live() && after.invocation_id != before.invocation_id,
        "the session was not started again on the copy: {after:?}"
    );
    let adopted = c.prompt("PROMPT-FIVE after the adoption");
    assert_carries(
        &adopted,
        &["PROMPT-ONE", "PROMPT-TWO", "PROMPT-THREE", "PROMPT-FOUR"],
    );

    sessctl_ok(&c, &["restart", "web"]);
    let next = c.prompt("PROMPT-SIX after the restart");
    assert_carries(
        &next,
        &[
            "PROMPT-ONE",
            "PROMPT-TWO",
            "PROMPT-THREE",
            "PROMPT-FOUR",
            "PROMPT-FIVE",
        ],
    );
    let report = c.check("web", 0);
    assert_eq!(finding_ids(&report), Vec::<String>::new(), "{report:#}");
    keep(&c, "adopt");
}

/// The assistant message of `request` that calls `command`, and whether the next message
/// answers that call.
fn call_of(request: &Request, command: &str) -> Option<bool> {
    let messages = request.body["messages"].as_array()?;
    messages.iter().enumerate().find_map(|(n, m)| {
        let call = m["content"].as_array()?.iter().find(|b| {
            b["type"] == "tool_use"
                && b["input"]["command"]
                    .as_str()
                    .is_some_and(|c| c.contains(command))
        })?;
        let id = call["id"].as_str()?;
        let answered = messages.get(n + 1).is_some_and(|next| {
            next["content"].as_array().is_some_and(|blocks| {
                blocks
                    .iter()
                    .any(|b| b["type"] == "tool_result" && b["tool_use_id"] == id)
            })
        });
        Some(answered)
    })
}

/// A crash in the middle of a tool call, with the newest client: `check` of the transcript
/// the crash left says the client keeps the call and answers it as interrupted, and that is
/// what the client sends after systemd restarts it; the transcript it then goes on with
/// checks clean.
#[test]
fn newest_client_keeps_a_call_cut_by_a_crash_as_check_says() {
    let Some(c) = newest("cc-interrupted") else {
        return;
    };
    c.prompt("PROMPT-ONE remember this");
    c.cut_a_call(1000);

    // The transcript as the crash left it: the snapshot taken before the restart.
    let crashed = c.snapshot_holding("sleep 1000");
    let report = c.check(&crashed, 6);
    assert_eq!(finding_ids(&report), ["dangling-tool-use"], "{report:#}");
    let detail = report["findings"][0]["detail"].as_str().expect("a detail");
    assert!(detail.contains("interrupted"), "{detail}");

    let next = c.prompt("PROMPT-THREE after the crash");
    assert_carries(&next, &["PROMPT-ONE remember this"]);
    assert_eq!(
        call_of(&next, "sleep 1000"),
        Some(true),
        "check said the call is kept with an interrupted result; the client sent: {:#}",
        next.body["messages"]
    );
    let report = c.check("web", 0);
    assert_eq!(finding_ids(&report), Vec::<String>::new(), "{report:#}");
    keep(&c, "interrupted");
}

/// Parallel calls, a restart, `/compact` and a restart after it, with the newest client: the
/// transcript checks clean at every step, and the request after each restart carries what
/// check says the resumed chain holds.
#[test]
fn newest_client_transcripts_check_clean_through_tools_and_compaction() {
    let Some(c) = newest("cc-newest-clean") else {
        return;
    };
    c.prompt("PROMPT-ONE before everything");
    c.prompt("RUN: echo alpha RUN: echo beta");
    let report = c.check("web", 0);
    assert_eq!(finding_ids(&report), Vec::<String>::new(), "{report:#}");
    sessctl_ok(&c, &["restart", "web"]);
    let after_restart = c.prompt("PROMPT-TWO after the restart");
    assert_carries(&after_restart, &["PROMPT-ONE", "alpha", "beta"]);
    c.compact();
    c.prompt("PROMPT-THREE after the compaction");
    let report = c.check("web", 0);
    assert_eq!(finding_ids(&report), Vec::<String>::new(), "{report:#}");
    sessctl_ok(&c, &["restart", "web"]);
    let after = c.prompt("PROMPT-FOUR after the compaction and a restart");
    assert_carries(&after, &[crate::support::fake_api::SUMMARY, "PROMPT-THREE"]);
    let report = c.check("web", 0);
    assert_eq!(finding_ids(&report), Vec::<String>::new(), "{report:#}");
    keep(&c, "clean");
}

//! The newest Claude Code (the last line of `tests/claude-code.version`), offline against the
//! fake API, as the agent of a product on the private manager: `transcript repair --adopt` of a
//! live session loses no turn, and `transcript check` says what this client then sends.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use sessctl::identity::Identity;

use crate::support::claude::{self, hold, Claude, Pin};
use crate::support::fake_api::Request;
use crate::support::session::{self, finding_ids, running};

const UNIT: &str = "sessctl-web.service";

/// [`claude::setup`] with the newest pinned client.
fn newest(label: &str) -> Option<Claude> {
    claude::setup(label, Pin::Newest.version())
}

fn transcript(c: &Claude) -> PathBuf {
    let status = crate::support::status_json(&c.env);
    PathBuf::from(
        status["conversation"]["transcript"]
            .as_str()
            .expect("a transcript"),
    )
}

fn identity(c: &Claude) -> Identity {
    session::identity(&c.env, "web")
}

fn sessctl_ok(c: &Claude, args: &[&str]) -> String {
    let out = c.env.sessctl().args(args).stdout_read().run();
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// `transcript check <target> --json`, with the exit status it must have.
fn check(c: &Claude, target: &str, status: i32) -> Value {
    let out = c
        .env
        .sessctl()
        .args(["transcript", "check", target, "--json"])
        .status(status)
        .stdout_read()
        .run();
    serde_json::from_slice(&out.stdout).expect("check JSON")
}

fn records(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .expect("the transcript")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

fn write_records(path: &Path, records: &[Value]) {
    let text: String = records.iter().map(|r| format!("{r}\n")).collect();
    fs::write(path, text).expect("writing the transcript");
}

/// Moves the timestamp of every record before `until` back by `seconds`.
fn age_before(records: &mut [Value], until: usize, seconds: i64) {
    for record in &mut records[..until] {
        let Some(time) = record["timestamp"].as_str() else {
            continue;
        };
        let ms = sessctl::transcript::parse_time(time).expect("a timestamp") - seconds * 1000;
        let when = std::time::UNIX_EPOCH + Duration::from_millis(ms as u64);
        let text = sessctl::state::rfc3339(when).replace('Z', &format!(".{:03}Z", ms % 1000));
        record["timestamp"] = text.into();
    }
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

#[track_caller]
fn assert_carries(request: &Request, prompts: &[&str]) {
    assert_eq!(request.status, 200, "the fake API refused the request");
    let text = request.text();
    let missing: Vec<&&str> = prompts.iter().filter(|p| !text.contains(**p)).collect();
    assert!(missing.is_empty(), "turns dropped: {missing:?}\n{text}");
}

/// A live session whose conversation needs a repair (a parent lost 120 s before: the client
/// loads only what follows it), adopted while the agent runs and writes: every turn before,
/// during and after the adoption reaches the next request after a restart.
#[test]
fn repair_adopt_of_a_live_session_keeps_every_turn() {
    let Some(c) = newest("cc-adopt") else {
        return;
    };
    c.enable(&c.project);
    c.prompt("PROMPT-ONE first turn");
    c.prompt("PROMPT-TWO second turn");
    let path = transcript(&c);
    sessctl_ok(&c, &["stop", "web"]);
    let mut all = records(&path);
    let second = all
        .iter()
        .position(|r| r["message"]["content"] == "PROMPT-TWO second turn")
        .expect("the second prompt");
    all[second]["parentUuid"] = "00000000-0000-4000-8000-00000000dead".into();
    age_before(&mut all, second, 120);
    write_records(&path, &all);
    assert!(finding_ids(&check(&c, "web", 5)).contains(&"broken-chain".to_string()));

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
    let pinned = crate::support::status_json(&c.env)["conversation"]["session_id"].clone();
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
    let report = check(&c, "web", 0);
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
    c.enable(&c.project);
    c.prompt("PROMPT-ONE remember this");
    c.send(&format!("RUN: {}", hold(1000)));
    c.pane().wait("the Bash tool running sleep", || {
        running(&["sleep", "1000"]).then_some(())
    });
    c.pane().wait("the Bash call in the transcript", || {
        let text = fs::read_to_string(transcript(&c)).ok()?;
        text.lines()
            .any(|l| l.contains("\"type\":\"tool_use\"") && l.contains("sleep 1000"))
            .then_some(())
    });
    let before = identity(&c);
    let agent = before.agent_pid.expect("an agent PID");
    kill(Pid::from_raw(agent as i32), Signal::SIGKILL).expect("SIGKILL");
    let restarted = sessctl::poll::until(Duration::from_secs(15), || {
        let now = identity(&c);
        Ok((now.is_live() && now.invocation_id != before.invocation_id).then_some(()))
    });
    assert!(matches!(restarted, Ok(Some(()))), "{UNIT} did not restart");

    // The transcript as the crash left it: the snapshot taken before the restart.
    let out = sessctl_ok(&c, &["transcript", "snapshots", "web", "--json"]);
    let snapshots: Value = serde_json::from_str(&out).expect("snapshots JSON");
    let crashed = snapshots
        .as_array()
        .expect("snapshots")
        .iter()
        .filter_map(|s| s["transcript"].as_str())
        .filter(|t| fs::read_to_string(t).is_ok_and(|text| text.contains("sleep 1000")))
        .min()
        .expect("a snapshot taken after the crash")
        .to_string();
    let report = check(&c, &crashed, 6);
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
    let report = check(&c, "web", 0);
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
    c.enable(&c.project);
    c.prompt("PROMPT-ONE before everything");
    c.prompt("RUN: echo alpha RUN: echo beta");
    let report = check(&c, "web", 0);
    assert_eq!(finding_ids(&report), Vec::<String>::new(), "{report:#}");
    sessctl_ok(&c, &["restart", "web"]);
    let after_restart = c.prompt("PROMPT-TWO after the restart");
    assert_carries(&after_restart, &["PROMPT-ONE", "alpha", "beta"]);
    c.send("/compact");
    c.pane().wait("the compaction", || {
        fs::read_to_string(transcript(&c))
            .ok()?
            .contains("compact_boundary")
            .then_some(())
    });
    c.prompt("PROMPT-THREE after the compaction");
    let report = check(&c, "web", 0);
    assert_eq!(finding_ids(&report), Vec::<String>::new(), "{report:#}");
    sessctl_ok(&c, &["restart", "web"]);
    let after = c.prompt("PROMPT-FOUR after the compaction and a restart");
    assert_carries(&after, &[crate::support::fake_api::SUMMARY, "PROMPT-THREE"]);
    let report = check(&c, "web", 0);
    assert_eq!(finding_ids(&report), Vec::<String>::new(), "{report:#}");
    keep(&c, "clean");
}

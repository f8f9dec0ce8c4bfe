//! `sessctl transcript check` and `repair` on transcripts the tests generate: each broken
//! shape, the shapes that must stay clean, the repair's fork, and the memory bound.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::support::Env;

const SESSION: &str = "11111111-2222-4333-8444-555555555555";

fn base(kind: &str, uuid: &str, parent: Option<&str>) -> Value {
    json!({"parentUuid": parent, "isSidechain": false, "userType": "external", "cwd": "/src/web",
           "sessionId": SESSION, "version": "2.1.0", "type": kind, "uuid": uuid,
           "timestamp": "2026-11-23T10:00:00.000Z"})
}

fn user(uuid: &str, parent: Option<&str>, text: &str) -> Value {
    let mut v = base("user", uuid, parent);
    v["message"] = json!({"role": "user", "content": text});
    v
}

fn call(uuid: &str, parent: &str, msg: &str, ids: &[&str]) -> Value {
    let mut v = base("assistant", uuid, Some(parent));
    let blocks: Vec<Value> = ids
        .iter()
        .map(|id| json!({"type": "tool_use", "id": id, "name": "Bash", "input": {"command": "ls"}}))
        .collect();
    v["message"] =
        json!({"id": msg, "role": "assistant", "content": blocks, "stop_reason": "tool_use"});
    v
}

fn say(uuid: &str, parent: &str, msg: &str) -> Value {
    let mut v = base("assistant", uuid, Some(parent));
    v["message"] =
        json!({"id": msg, "role": "assistant", "content": [{"type": "text", "text": "done"}]});
    v
}

fn results(uuid: &str, parent: &str, ids: &[&str]) -> Value {
    let mut v = base("user", uuid, Some(parent));
    let blocks: Vec<Value> = ids
        .iter()
        .map(|id| json!({"type": "tool_result", "tool_use_id": id, "content": "ok", "is_error": false}))
        .collect();
    v["message"] = json!({"role": "user", "content": blocks});
    v
}

/// `records` as a 1.0.x client wrote them: that client sent broken pairs to the API as they
/// were, so for it they are errors.
fn legacy(mut records: Vec<Value>) -> Vec<Value> {
    for r in &mut records {
        r["version"] = json!("1.0.51");
    }
    records
}

/// `record`, written `seconds` after the others.
fn later(mut record: Value, seconds: u32) -> Value {
    record["timestamp"] = json!(format!(
        "2026-11-23T10:{:02}:{:02}.000Z",
        seconds / 60,
        seconds % 60
    ));
    record
}

fn write(env: &Env, name: &str, records: &[Value], tail: &str) -> PathBuf {
    let dir = env.var("HOME").join(".claude/projects/-src-web");
    fs::create_dir_all(&dir).expect("project dir");
    let path = dir.join(format!("{name}.jsonl"));
    let mut text: String = records.iter().map(|r| format!("{r}\n")).collect();
    text.push_str(tail);
    fs::write(&path, text).expect("transcript");
    path
}

fn check(env: &Env, path: &Path, status: i32) -> Value {
    let out = env
        .sessctl()
        .args(["transcript", "check", "--json"])
        .arg(path.as_os_str())
        .status(status)
        .stdout_read()
        .run();
    serde_json::from_slice(&out.stdout).expect("JSON")
}

fn ids(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["id"].as_str().expect("id").to_string())
        .collect()
}

fn well_formed() -> Vec<Value> {
    vec![
        user("u1", None, "list the files"),
        call("a1", "u1", "msg_1", &["toolu_1"]),
        results("r1", "a1", &["toolu_1"]),
        say("a2", "r1", "msg_2"),
    ]
}

#[test]
fn a_well_formed_transcript_is_clean() {
    let env = Env::offline();
    let path = write(&env, "clean", &well_formed(), "");
    let report = check(&env, &path, 0);
    assert_eq!(ids(&report), Vec::<String>::new());
    assert_eq!(
        (
            report["chain_length"].as_u64(),
            report["api_messages"].as_u64()
        ),
        (Some(4), Some(4))
    );
    let out = env
        .sessctl()
        .args(["transcript", "check"])
        .arg(path.as_os_str())
        .stdout_read()
        .run();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "{}: clean (4 lines, 4 records, 4 on the resumed chain, 4 API messages)\n",
            path.display()
        )
    );
}

#[test]
fn parallel_calls_answered_out_of_order_are_clean() {
    let env = Env::offline();
    let records = vec![
        user("u1", None, "two things at once"),
        call("a1", "u1", "msg_1", &["toolu_a"]),
        call("a1b", "a1", "msg_1", &["toolu_b"]),
        results("r1", "a1b", &["toolu_b"]),
        results("r2", "r1", &["toolu_a"]),
        say("a2", "r2", "msg_2"),
    ];
    let path = write(&env, "parallel", &records, "");
    assert_eq!(ids(&check(&env, &path, 0)), Vec::<String>::new());
}

#[test]
fn a_dangling_tool_use_in_the_middle_and_at_the_end() {
    let env = Env::offline();
    let middle = vec![
        user("u1", None, "go"),
        call("a1", "u1", "msg_1", &["toolu_1"]),
        user("u2", Some("a1"), "never mind, do this instead"),
        say("a2", "u2", "msg_2"),
    ];
    let report = check(&env, &write(&env, "middle", &legacy(middle.clone()), ""), 5);
    assert_eq!(ids(&report), ["dangling-tool-use"]);
    assert!(report.to_string().contains("toolu_1"));
    let end = vec![
        user("u1", None, "go"),
        call("a1", "u1", "msg_1", &["toolu_1"]),
    ];
    assert_eq!(
        ids(&check(
            &env,
            &write(&env, "end", &legacy(end.clone()), ""),
            5
        )),
        ["dangling-tool-use"]
    );
    // 2.1.x drops such a call when it loads: a warning that says so.
    for (name, records) in [("middle-2.1", middle), ("end-2.1", end)] {
        let report = check(&env, &write(&env, name, &records, ""), 6);
        assert_eq!(ids(&report), ["dangling-tool-use"]);
        assert!(
            report.to_string().contains("the client drops the call"),
            "{report:#}"
        );
    }
}

#[test]
fn an_orphan_tool_result() {
    let env = Env::offline();
    let records = vec![
        user("u1", None, "go"),
        say("a1", "u1", "msg_1"),
        results("r1", "a1", &["toolu_gone"]),
    ];
    let report = check(
        &env,
        &write(&env, "orphan", &legacy(records.clone()), ""),
        5,
    );
    assert_eq!(ids(&report), ["orphan-tool-result"]);
    let report = check(&env, &write(&env, "orphan-2.1", &records, ""), 6);
    assert_eq!(ids(&report), ["orphan-tool-result"]);
}

#[test]
fn a_broken_chain() {
    let env = Env::offline();
    let records = vec![
        user("u1", None, "first"),
        say("a1", "u1", "msg_1"),
        later(user("u2", Some("never-written"), "second"), 120),
        later(say("a2", "u2", "msg_2"), 121),
    ];
    let report = check(&env, &write(&env, "broken", &records, ""), 5);
    assert_eq!(ids(&report), ["broken-chain"]);
    assert_eq!(report["chain_length"].as_u64(), Some(2));
    // Repaired: the record is linked to the one before it and the whole history is back.
    let (fork, sidecar, _) = repaired(&env, "broken-fixed", &records, "");
    assert_eq!(kinds(&sidecar), ["relink"]);
    assert_eq!(check(&env, &fork, 0)["chain_length"].as_u64(), Some(4));
}

#[test]
fn a_missing_parent_written_within_5_s_is_linked_as_the_client_links_it() {
    let env = Env::offline();
    let records = vec![
        user("u1", None, "first"),
        say("a1", "u1", "msg_1"),
        later(user("u2", Some("never-written"), "second"), 5),
        later(say("a2", "u2", "msg_2"), 6),
    ];
    let report = check(&env, &write(&env, "soon", &records, ""), 6);
    assert_eq!(ids(&report), ["relinked-parent"]);
    assert_eq!(report["chain_length"].as_u64(), Some(4), "{report:#}");
}

#[test]
fn a_partial_last_line() {
    let env = Env::offline();
    let report = check(
        &env,
        &write(&env, "partial", &well_formed(), "{\"type\":\"user\",\"uu"),
        6,
    );
    assert_eq!(ids(&report), ["partial-last-line"]);
    assert_eq!(report["findings"][0]["line"].as_u64(), Some(5));
}

#[test]
fn every_valid_json_line_parses() {
    let env = Env::offline();
    let mut records = well_formed();
    records[0]["isMeta"] = Value::Null;
    records[1]["isSidechain"] = Value::Null;
    records[2]["message"]["content"][0]["is_error"] = Value::Null;
    records[3]["someFutureField"] = json!({"nested": [1, null]});
    records.push(json!(42));
    records.push(json!("a string"));
    records.push(json!([1, 2]));
    records.push(Value::Null);
    let path = write(&env, "odd", &records, "");
    let report = check(&env, &path, 0);
    assert_eq!(ids(&report), Vec::<String>::new(), "{report:#}");
    assert_eq!(report["chain_length"].as_u64(), Some(4));
    // Nothing to repair, so no copy at all: never an empty one.
    env.sessctl()
        .args(["transcript", "repair"])
        .arg(&path)
        .stdout(&format!(
            "{}: nothing to repair (the client resumes it as it is)\n",
            path.display()
        ))
        .run();
}

fn compacted(with_summary: bool) -> Vec<Value> {
    let mut boundary = base("system", "c1", None);
    boundary["subtype"] = json!("compact_boundary");
    boundary["logicalParentUuid"] = json!("a1");
    boundary["content"] = json!("Conversation compacted");
    let mut summary = user(
        "s1",
        Some("c1"),
        "This session is being continued from a previous conversation.",
    );
    summary["isCompactSummary"] = json!(true);
    let mut records = vec![
        user("u1", None, "go"),
        // Before the boundary, a dangling call no longer matters: the API view starts after it.
        call("a1", "u1", "msg_1", &["toolu_old"]),
        boundary,
    ];
    let after = if with_summary { "s1" } else { "c1" };
    if with_summary {
        records.push(summary);
    }
    records.push(user("u2", Some(after), "continue"));
    records.push(say("a2", "u2", "msg_2"));
    records
}

#[test]
fn a_compaction_boundary() {
    let env = Env::offline();
    let report = check(&env, &write(&env, "compacted", &compacted(true), ""), 0);
    assert_eq!(report["chain_length"].as_u64(), Some(4));
    let report = check(&env, &write(&env, "nosummary", &compacted(false), ""), 6);
    assert_eq!(ids(&report), ["boundary-without-summary"]);
}

#[test]
fn the_leaf_is_the_latest_last_prompt() {
    let env = Env::offline();
    let mut records = well_formed();
    // A rewind: the conversation went on from u1, leaving a1.. as an abandoned branch.
    records.push(user("u9", Some("u1"), "rewound"));
    records.push(json!({"type": "last-prompt", "lastPrompt": "rewound", "sessionId": SESSION, "leafUuid": "u9"}));
    let report = check(&env, &write(&env, "rewound", &records, ""), 0);
    assert_eq!(report["leaf"], "u9");
    assert_eq!(report["chain_length"].as_u64(), Some(2));
}

/// Runs repair on `records`, checks the copy is clean, the original untouched, and returns
/// the copy's path, the sidecar and stdout.
fn repaired(env: &Env, name: &str, records: &[Value], tail: &str) -> (PathBuf, Value, String) {
    let original = write(env, name, records, tail);
    let before = fs::read(&original).expect("bytes");
    let mtime = fs::metadata(&original)
        .expect("meta")
        .modified()
        .expect("mtime");
    let out = env
        .sessctl()
        .args(["transcript", "repair"])
        .arg(original.as_os_str())
        .stdout_read()
        .run();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        fs::read(&original).expect("bytes"),
        before,
        "the original changed"
    );
    assert_eq!(
        fs::metadata(&original)
            .expect("meta")
            .modified()
            .expect("mtime"),
        mtime
    );
    let fork = stdout
        .lines()
        .next()
        .and_then(|l| l.split(": repaired into ").nth(1))
        .map(PathBuf::from)
        .expect("the copy's path");
    let id = fork
        .file_stem()
        .expect("stem")
        .to_string_lossy()
        .into_owned();
    assert_ne!(id, name);
    let report = check(env, &fork, 0);
    assert_eq!(
        report["session_id"],
        id.as_str(),
        "the copy's sessionId matches its name"
    );
    let sidecar: Value = serde_json::from_str(
        &fs::read_to_string(fork.with_file_name(format!("{id}.sessctl.json"))).expect("sidecar"),
    )
    .expect("sidecar JSON");
    assert!(Path::new(sidecar["snapshot"].as_str().expect("snapshot")).exists());
    (fork, sidecar, stdout)
}

fn kinds(sidecar: &Value) -> Vec<String> {
    sidecar["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| c["kind"].as_str().expect("kind").to_string())
        .collect()
}

#[test]
fn repair_answers_a_dangling_call_in_a_record_right_after_it() {
    let env = Env::offline();
    let records = legacy(vec![
        user("u1", None, "go"),
        call("a1", "u1", "msg_1", &["toolu_1"]),
        user("u2", Some("a1"), "do this instead"),
        say("a2", "u2", "msg_2"),
    ]);
    let (fork, sidecar, _) = repaired(&env, "dangling", &records, "");
    assert_eq!(kinds(&sidecar), ["insert-error-result"]);
    let lines: Vec<String> = fs::read_to_string(&fork)
        .expect("fork")
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(lines.len(), 5, "one record added, none lost");
    // Untouched lines are the original bytes but for the session id.
    let original =
        fs::read_to_string(write(&env, "dangling-again", &records, "")).expect("original");
    let id = fork
        .file_stem()
        .expect("stem")
        .to_string_lossy()
        .into_owned();
    for (n, line) in original.lines().enumerate().filter(|(n, _)| *n != 2) {
        let at = if n < 2 { n } else { n + 1 };
        assert_eq!(lines[at], line.replace(SESSION, &id), "line {}", n + 1);
    }
    // Where the client keeps results: a user record right after the call, and the record
    // that followed the call now follows it.
    let inserted: Value = serde_json::from_str(&lines[2]).expect("JSON");
    assert_eq!(inserted["parentUuid"], "a1");
    assert_eq!(inserted["sourceToolAssistantUUID"], "a1");
    assert_eq!(inserted["message"]["content"][0]["tool_use_id"], "toolu_1");
    assert_eq!(inserted["message"]["content"][0]["is_error"], true);
    let relinked: Value = serde_json::from_str(&lines[3]).expect("JSON");
    assert_eq!(relinked["parentUuid"], inserted["uuid"]);
    assert_eq!(relinked["message"]["content"], "do this instead");
}

#[test]
fn repair_inserts_results_for_a_call_at_the_end_and_relinks() {
    let env = Env::offline();
    let records = vec![
        user("u1", None, "go"),
        call("a1", "u1", "msg_1", &["toolu_1", "toolu_2"]),
    ];
    let (fork, sidecar, _) = repaired(&env, "atend", &records, "");
    assert_eq!(kinds(&sidecar), ["insert-error-result"]);
    let lines: Vec<Value> = fs::read_to_string(&fork)
        .expect("fork")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[2]["parentUuid"], "a1");
    assert_eq!(
        lines[2]["message"]["content"]
            .as_array()
            .expect("blocks")
            .len(),
        2
    );
}

#[test]
fn repair_relinks_the_record_after_an_inserted_one() {
    let env = Env::offline();
    // The call is followed by an assistant record of another response: results go between.
    let records = vec![
        user("u1", None, "go"),
        call("a1", "u1", "msg_1", &["toolu_1"]),
        say("a2", "a1", "msg_2"),
    ];
    let (fork, _, _) = repaired(&env, "between", &records, "");
    let lines: Vec<Value> = fs::read_to_string(&fork)
        .expect("fork")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(lines.len(), 4);
    let inserted = lines[2]["uuid"].as_str().expect("uuid");
    assert_eq!(lines[2]["parentUuid"], "a1");
    assert_eq!(
        lines[3]["parentUuid"], inserted,
        "a2 now follows the inserted results"
    );
}

#[test]
fn repair_turns_an_orphan_result_into_a_note_and_drops_a_partial_line() {
    let env = Env::offline();
    let records = vec![
        user("u1", None, "go"),
        say("a1", "u1", "msg_1"),
        results("r1", "a1", &["toolu_gone"]),
    ];
    let (fork, sidecar, _) = repaired(&env, "orphaned", &records, "{\"type\":\"assis");
    let mut kinds = kinds(&sidecar);
    kinds.sort();
    assert_eq!(kinds, ["drop-partial-line", "orphan-result-to-note"]);
    let text = fs::read_to_string(&fork).expect("fork");
    assert_eq!(text.lines().count(), 3);
    assert!(text.ends_with('\n'));
    assert!(text.contains("A result for tool call toolu_gone was removed here"));
}

#[test]
fn repair_of_a_clean_transcript_writes_nothing() {
    let env = Env::offline();
    let path = write(&env, "fine", &well_formed(), "");
    env.sessctl()
        .args(["transcript", "repair"])
        .arg(path.as_os_str())
        .stdout(&format!(
            "{}: nothing to repair (the client resumes it as it is)\n",
            path.display()
        ))
        .run();
    assert_eq!(
        fs::read_dir(path.parent().expect("dir"))
            .expect("dir")
            .count(),
        1
    );
}

#[test]
fn a_missing_file_and_adopt_without_a_product() {
    let env = Env::offline();
    env.sessctl()
        .args(["transcript", "check", "/nonexistent/x.jsonl"])
        .stderr("sessctl: no transcript file \"/nonexistent/x.jsonl\"; pass an existing .jsonl file or a product name\n")
        .status(2)
        .run();
    let path = write(&env, "fine", &well_formed(), "");
    env.sessctl()
        .args(["transcript", "repair", "--adopt"])
        .arg(path.as_os_str())
        .stderr("sessctl: --adopt needs a product, not a file: name the product whose conversation this is\n")
        .status(2)
        .run();
}

#[path = "../../benches/support/big_transcript.rs"]
mod big_transcript;
#[path = "../../benches/support/peak_rss.rs"]
mod peak_rss;

/// The bound is the README's, so it is measured of what users run: the packaged build. The
/// tests' own build is unoptimised and several times larger, and its pages count too.
#[test]
fn a_one_gigabyte_transcript_is_checked_in_bounded_memory() {
    let env = Env::offline();
    let Some(sessctl) = crate::support::packaged_sessctl(&env.scratch.join("package")) else {
        return;
    };
    let dir = env.var("HOME").join(".claude/projects/-src-big");
    fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("big.jsonl");
    let lines = big_transcript::write(&path, 1 << 30).expect("writing 1 GiB");
    // The peak resident memory of that one process, measured from a parent of its own.
    let (out, kib) = peak_rss::run(
        sessctl.as_ref(),
        [
            "transcript".as_ref(),
            "check".as_ref(),
            "--json".as_ref(),
            path.as_os_str(),
        ],
    )
    .expect("measuring sessctl transcript check");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(ids(&report), Vec::<String>::new());
    assert_eq!(report["lines"].as_u64(), Some(lines));
    assert!(
        report["records"].as_u64().expect("records") >= 575_000,
        "{report:#}"
    );
    let mib = kib as f64 / 1024.0;
    assert!(
        mib <= 64.0,
        "sessctl transcript check peaked at {mib:.1} MiB; the README states 64 MiB"
    );
    fs::remove_file(&path).expect("removing the 1 GiB file");
}

#[test]
fn repair_keeps_every_record_of_a_transcript_with_null_flags() {
    let env = Env::offline();
    let mut records = vec![
        user("u1", None, "go"),
        call("a1", "u1", "msg_1", &["toolu_1"]),
    ];
    for r in &mut records {
        r["isMeta"] = Value::Null;
        r["isSidechain"] = Value::Null;
    }
    let (fork, sidecar, stdout) = repaired(&env, "nulls", &records, "");
    assert_eq!(kinds(&sidecar), ["insert-error-result"], "{stdout}");
    let text = fs::read_to_string(&fork).expect("fork");
    assert_eq!(text.lines().count(), 3, "{text}");
}

#[test]
fn repair_never_answers_a_call_that_has_a_result_anywhere() {
    let env = Env::offline();
    // Parallel calls as Claude Code 2.1 writes them: each call and its result on a branch of
    // its own, grouped by message.id; and one call whose result is on no branch at all.
    let mut r1 = results("r1", "a1", &["toolu_1"]);
    r1["sourceToolAssistantUUID"] = json!("a1");
    let mut r2 = results("r2", "a2", &["toolu_2"]);
    r2["sourceToolAssistantUUID"] = json!("a2");
    let records = vec![
        user("u1", None, "go"),
        call("a1", "u1", "msg_1", &["toolu_1"]),
        call("a2", "a1", "msg_1", &["toolu_2"]),
        r1,
        r2,
        say("a3", "r2", "msg_2"),
        user("u2", Some("a3"), "and this"),
        call("a4", "u2", "msg_3", &["toolu_3"]),
    ];
    let report = check(&env, &write(&env, "parallel", &records, ""), 6);
    assert_eq!(ids(&report), ["dangling-tool-use"]);
    assert!(report.to_string().contains("toolu_3"), "{report:#}");
    let (fork, sidecar, _) = repaired(&env, "parallel-fixed", &records, "");
    assert_eq!(kinds(&sidecar), ["insert-error-result"]);
    let text = fs::read_to_string(&fork).expect("fork");
    assert_eq!(
        text.matches("toolu_1").count(),
        2,
        "one call, one result: {text}"
    );
    assert_eq!(
        text.matches("toolu_2").count(),
        2,
        "one call, one result: {text}"
    );
    assert_eq!(
        text.matches("toolu_3").count(),
        2,
        "one call, one added result: {text}"
    );
}

/// A claude product `web` pinned to conversation `id`, written by hand: what `enable` leaves.
fn pinned_product(env: &Env, id: &str) {
    let config = env.var("XDG_CONFIG_HOME").join("sessctl/products/web.toml");
    fs::create_dir_all(config.parent().expect("dir")).expect("config dir");
    fs::write(
        &config,
        "name = \"web\"\ndir = \"/src/web\"\ncommand = [\"/usr/bin/claude\"]\ntmux = \"/usr/bin/tmux\"\nagent = \"claude\"\n",
    )
    .expect("config");
    let pin = env
        .var("XDG_STATE_HOME")
        .join("sessctl/products/web/pin.json");
    fs::create_dir_all(pin.parent().expect("dir")).expect("state dir");
    fs::write(pin, format!("{{\"session_id\":\"{id}\"}}")).expect("pin");
}

#[test]
fn a_copy_that_drops_records_names_them_and_is_adopted_only_with_allow_loss() {
    let env = Env::offline();
    // The chain loops: what lies past the loop can only be cut, and every record cut is named.
    let records = vec![
        user("u1", None, "first"),
        say("a1", "u1", "msg_1"),
        user("u2", Some("a2"), "second"),
        say("a2", "u2", "msg_2"),
    ];
    write(&env, SESSION, &records, "");
    pinned_product(&env, SESSION);
    let out = env
        .sessctl()
        .args(["transcript", "repair", "web", "--adopt"])
        .status(2)
        .stdout_read().stderr_redacted("sessctl: the repaired copy [tmp]/home/.claude/projects/-src-web/[uuid].jsonl drops 1 records of the conversation (listed in its log); it was kept but not adopted: pass --allow-loss to adopt it anyway\n").run();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("drops 1 records of the conversation (listed in its log); it was kept but not adopted: pass --allow-loss to adopt it anyway"),
        "{stderr}"
    );
    let pin = env
        .var("XDG_STATE_HOME")
        .join("sessctl/products/web/pin.json");
    assert!(
        fs::read_to_string(&pin).expect("pin").contains(SESSION),
        "adopted anyway"
    );
    let out = env
        .sessctl()
        .args(["transcript", "repair", "web", "--adopt", "--allow-loss"])
        .stdout_read()
        .run();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("dropped record a2 (line 4) with the cut"),
        "{stdout}"
    );
    assert!(!fs::read_to_string(&pin)
        .expect("pin")
        .contains(&format!("\"session_id\":\"{SESSION}\"")));
}

#[test]
fn a_project_folder_that_cannot_be_read_is_an_error_naming_it_never_absent() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::offline();
    pinned_product(&env, SESSION);
    write(&env, SESSION, &well_formed(), "");
    // Root reads everything: the check runs as nobody, who owns sessctl's own directories but
    // may not enter the project folder.
    let root = env
        .var("HOME")
        .parent()
        .expect("the temp root")
        .to_path_buf();
    fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).expect("chmod root");
    for var in [
        "XDG_CONFIG_HOME",
        "XDG_STATE_HOME",
        "XDG_RUNTIME_DIR",
        "HOME",
    ] {
        let status = std::process::Command::new("chown")
            .args(["-R", "65534:65534"])
            .arg(env.var(var))
            .status()
            .expect("chown");
        assert!(status.success());
    }
    let folder = env.var("HOME").join(".claude/projects/-src-web");
    fs::set_permissions(&folder, fs::Permissions::from_mode(0o000)).expect("chmod folder");
    let mut cmd = std::process::Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(crate::support::SESSCTL)
        .args(["transcript", "check", "web"])
        .env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus");
    for var in [
        "XDG_CONFIG_HOME",
        "XDG_STATE_HOME",
        "XDG_RUNTIME_DIR",
        "HOME",
    ] {
        cmd.env(var, env.var(var));
    }
    let out = cmd.output().expect("running sessctl as nobody");
    let _ = fs::set_permissions(&folder, fs::Permissions::from_mode(0o755));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "sessctl: reading {}: Permission denied (os error 13)\n",
            folder.join(format!("{SESSION}.jsonl")).display()
        )
    );
}

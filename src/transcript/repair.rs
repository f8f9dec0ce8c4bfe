//! A repaired copy of a transcript, written beside it as a new conversation; the original is
//! never written to.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use super::{Analysis, FindingId, Kind};

/// What a repair did to a line, closed so that what counts as a loss (`adopt` refuses a copy
/// with [`ChangeKind::DropRecord`]) is matched, not spelled. Its spelling
/// ([`ChangeKind::as_str`]) is the `kind` of the sidecar log and of `transcript repair --json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// A cut-off last line left out.
    DropPartialLine,
    /// A line that is not JSON left out.
    DropUnparseableLine,
    /// The copy ends before a looping chain.
    Truncate,
    /// A record lost with the cut: the one change that loses conversation.
    DropRecord,
    /// An error result written for a tool call that never got one.
    InsertErrorResult,
    /// A record whose parent was never written linked to the record before it.
    Relink,
    /// A result without a call turned into a note.
    OrphanResultToNote,
}

impl ChangeKind {
    /// The kind as the sidecar log spells it, in kebab case: `drop-record`.
    pub fn as_str(self) -> &'static str {
        use ChangeKind::*;
        match self {
            DropPartialLine => "drop-partial-line",
            DropUnparseableLine => "drop-unparseable-line",
            Truncate => "truncate",
            DropRecord => "drop-record",
            InsertErrorResult => "insert-error-result",
            Relink => "relink",
            OrphanResultToNote => "orphan-result-to-note",
        }
    }
}

spelled_as_str!(serialize: ChangeKind);

/// One change a repair made, for the sidecar log.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub kind: ChangeKind,
    /// The original's line the change concerns.
    pub line: u64,
    pub uuid: Option<String>,
    pub detail: String,
}

/// What to do to one line of the original while copying it.
#[derive(Debug, Clone)]
enum Edit {
    Drop,
    /// Turn the results for these ids into text notes.
    OrphansToText(Vec<String>),
    Reparent(String),
}

/// The text of a result sessctl adds for a tool call that never got one.
const MISSING_RESULT: &str = "[sessctl] No result was recorded for this tool call: the session was interrupted before it finished. Treat it as failed and run it again if it is still needed.";

/// What a repair does to the original, line by line, and why.
#[derive(Default)]
struct Plan {
    edits: HashMap<u64, Vec<Edit>>,
    /// A new user record to write after a line: its uuid and the calls it answers.
    inserts: HashMap<u64, (String, Vec<String>)>,
    /// Lines from here on are cut.
    cut: Option<u64>,
    changes: Vec<Change>,
}

impl Plan {
    fn edit(&mut self, line: u64, edit: Edit, change: Change) {
        self.edits.entry(line).or_default().push(edit);
        self.changes.push(change);
    }
}

/// Writes a repaired copy of the analysed transcript to `fork`, as conversation `new_id`.
/// Untouched lines are copied byte for byte but for the session id, which has the same length;
/// changed records are re-serialised; chain links are kept across every insertion.
pub fn write_fork(
    original: &Path,
    analysis: &Analysis,
    new_id: &str,
    fork: &Path,
) -> Result<Vec<Change>> {
    let mut plan = Plan::default();
    plan_drops(analysis, &mut plan);
    plan_missing_results(analysis, &mut plan)?;
    plan_relinks(analysis, &mut plan);
    plan_orphans(analysis, &mut plan);
    copy_planned(original, analysis, &plan, new_id, fork)?;
    Ok(plan.changes)
}

/// A cut-off last line and lines that are not JSON hold no record the client could read:
/// they are dropped. Last resort: a looping chain is cut before the loop, and every record cut
/// is named.
fn plan_drops(analysis: &Analysis, plan: &mut Plan) {
    if analysis.partial_tail() {
        let line = analysis.report.lines;
        plan.edit(
            line,
            Edit::Drop,
            Change {
                kind: ChangeKind::DropPartialLine,
                line,
                uuid: None,
                detail: "dropped the cut-off last line".into(),
            },
        );
    }
    let findings = &analysis.report.findings;
    for f in findings
        .iter()
        .filter(|f| f.id == FindingId::UnparseableLine)
    {
        plan.edit(
            f.line,
            Edit::Drop,
            Change {
                kind: ChangeKind::DropUnparseableLine,
                line: f.line,
                uuid: None,
                detail: format!("dropped line {}, which is not JSON", f.line),
            },
        );
    }
    plan.cut = findings
        .iter()
        .filter(|f| f.id == FindingId::ChainCycle)
        .map(|f| f.line)
        .min();
    let Some(cut) = plan.cut else { return };
    plan.changes.push(Change {
        kind: ChangeKind::Truncate,
        line: cut,
        uuid: None,
        detail: format!("cut the conversation before line {cut}, where its chain loops"),
    });
    for n in analysis.nodes().filter(|n| u64::from(n.line) >= cut) {
        let uuid = analysis.name(n.uuid);
        plan.changes.push(Change {
            kind: ChangeKind::DropRecord,
            line: u64::from(n.line),
            detail: format!("dropped record {uuid} (line {}) with the cut", n.line),
            uuid: Some(uuid),
        });
    }
}

/// Missing results: a new user record right after the record of each call that has no result
/// anywhere in the file, where the client itself writes results, and the record that followed
/// the call relinked to it. A sibling of the same response (a parallel call) stays where it
/// is: the client puts results of parallel calls back by their source.
fn plan_missing_results(analysis: &Analysis, plan: &mut Plan) -> Result<()> {
    let mut missing_by_node: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for u in analysis.unpaired.iter().filter(|u| u.dangling) {
        if !analysis.answered(&u.tool_use_id) {
            missing_by_node
                .entry(u.node)
                .or_default()
                .push(u.tool_use_id.clone());
        }
    }
    for (call, missing) in missing_by_node {
        let new_uuid = crate::uuid::new_v4()?;
        let call = analysis.node(call);
        let child = analysis
            .chain
            .iter()
            .map(|&j| analysis.node(j as usize))
            .find(|n| {
                n.parent == call.uuid && !(n.kind == Kind::Assistant && n.message == call.message)
            });
        if let Some(child) = child {
            let edit = Edit::Reparent(new_uuid.clone());
            plan.edits
                .entry(u64::from(child.line))
                .or_default()
                .push(edit);
        }
        plan.changes.push(Change {
            kind: ChangeKind::InsertErrorResult,
            line: u64::from(call.line),
            uuid: Some(new_uuid.clone()),
            detail: format!(
                "inserted a user record with error results for {} right after the call",
                missing.join(", ")
            ),
        });
        plan.inserts
            .insert(u64::from(call.line), (new_uuid, missing));
    }
    Ok(())
}

/// A parent that was never written: link to the conversation record written just before.
fn plan_relinks(analysis: &Analysis, plan: &mut Plan) {
    for f in analysis
        .report
        .findings
        .iter()
        .filter(|f| f.id == FindingId::BrokenChain)
    {
        let Some(i) = analysis.at_line(f.line) else {
            continue;
        };
        let previous = (0..i)
            .rev()
            .map(|p| analysis.node(p))
            .find(|n| n.is_conversation());
        let Some(previous) = previous else { continue };
        let name = analysis.name(previous.uuid);
        let change = Change {
            kind: ChangeKind::Relink,
            line: f.line,
            uuid: f.uuid.clone(),
            detail: format!(
                "linked the record to {name} (line {}), the conversation record before it, in place of a parent that was never written",
                previous.line
            ),
        };
        plan.edit(f.line, Edit::Reparent(name), change);
    }
}

/// Results without calls, per record: turned into notes.
fn plan_orphans(analysis: &Analysis, plan: &mut Plan) {
    let mut orphans_by_node: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for u in analysis.unpaired.iter().filter(|u| !u.dangling) {
        orphans_by_node
            .entry(u.node)
            .or_default()
            .push(u.tool_use_id.clone());
    }
    for (i, orphans) in orphans_by_node {
        let line = u64::from(analysis.node(i).line);
        let change = Change {
            kind: ChangeKind::OrphanResultToNote,
            line,
            uuid: Some(analysis.name(analysis.node(i).uuid)),
            detail: format!(
                "turned the results for {} into a text note",
                orphans.join(", ")
            ),
        };
        plan.edit(line, Edit::OrphansToText(orphans), change);
    }
}

/// Copies `original` to `fork` as conversation `new_id`, carrying out `plan`.
fn copy_planned(
    original: &Path,
    analysis: &Analysis,
    plan: &Plan,
    new_id: &str,
    fork: &Path,
) -> Result<()> {
    let old_id = analysis.report.session_id.clone().unwrap_or_default();
    let old_field = format!("\"sessionId\":\"{old_id}\"");
    let new_field = format!("\"sessionId\":\"{new_id}\"");
    let out = File::create(fork).with_context(|| format!("creating {}", fork.display()))?;
    let mut out = std::io::BufWriter::new(out);
    let write = |out: &mut std::io::BufWriter<File>, mut text: Vec<u8>| -> Result<()> {
        text.push(b'\n');
        std::io::Write::write_all(out, &text).with_context(|| format!("writing {}", fork.display()))
    };
    let mut line_no = 0u64;
    for_each_line(original, |buf| {
        line_no += 1;
        if plan.cut.is_some_and(|cut| line_no >= cut) {
            return Ok(false);
        }
        let edits = plan.edits.get(&line_no).map_or(&[][..], Vec::as_slice);
        if edits.iter().any(|e| matches!(e, Edit::Drop)) {
            return Ok(true);
        }
        let body = buf.strip_suffix(b"\n").unwrap_or(buf);
        write(
            &mut out,
            edited(body, edits, new_id, (&old_field, &new_field))
                .with_context(|| format!("re-reading line {line_no} of {}", original.display()))?,
        )?;
        if let Some((uuid, ids)) = plan.inserts.get(&line_no) {
            write(&mut out, inserted_results(body, uuid, ids, new_id)?)?;
        }
        Ok(true)
    })?;
    std::io::Write::flush(&mut out).with_context(|| format!("writing {}", fork.display()))
}

/// One line of the copy: the original's bytes with the new session id, or, when `edits`
/// change it, the re-serialised record.
fn edited(body: &[u8], edits: &[Edit], new_id: &str, ids: (&str, &str)) -> Result<Vec<u8>> {
    if edits.is_empty() {
        return Ok(replace_bytes(body, ids.0.as_bytes(), ids.1.as_bytes()));
    }
    let mut value: serde_json::Value = serde_json::from_slice(body)?;
    for edit in edits {
        apply(&mut value, edit);
    }
    set_session(&mut value, new_id);
    serde_json::to_vec(&value).context("serialising a changed record")
}

/// The user record, right after the call in `call_body`, with error results for `ids`.
fn inserted_results(call_body: &[u8], uuid: &str, ids: &[String], new_id: &str) -> Result<Vec<u8>> {
    let call: serde_json::Value = serde_json::from_slice(call_body).unwrap_or_default();
    let mut record = serde_json::json!({
        "parentUuid": call.get("uuid").cloned().unwrap_or_default(),
        "isSidechain": false,
        "userType": call.get("userType").cloned().unwrap_or_else(|| "external".into()),
        "cwd": call.get("cwd").cloned().unwrap_or_default(),
        "sessionId": new_id,
        "version": call.get("version").cloned().unwrap_or_default(),
        "type": "user",
        "message": {"role": "user", "content": error_results(ids)},
        "uuid": uuid,
        "timestamp": call.get("timestamp").cloned().unwrap_or_default(),
        "sourceToolAssistantUUID": call.get("uuid").cloned().unwrap_or_default(),
    });
    if let Some(branch) = call.get("gitBranch") {
        record["gitBranch"] = branch.clone();
    }
    serde_json::to_vec(&record).context("serialising an inserted record")
}

/// Calls `each` with every line of `path` (newline included) until it returns `false`.
fn for_each_line(path: &Path, mut each: impl FnMut(&[u8]) -> Result<bool>) -> Result<()> {
    let input = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = BufReader::with_capacity(1 << 16, input);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 || !each(&buf)? {
            return Ok(());
        }
    }
}

/// Copies transcript `src` to `dest` as conversation `new_id`: every line byte for byte but for
/// its session id, `old_id`, which has the same length.
pub fn copy_as(src: &Path, dest: &Path, old_id: &str, new_id: &str) -> Result<()> {
    let out = File::create(dest).with_context(|| format!("creating {}", dest.display()))?;
    let mut out = std::io::BufWriter::new(out);
    let (from, to) = (
        format!("\"sessionId\":\"{old_id}\""),
        format!("\"sessionId\":\"{new_id}\""),
    );
    for_each_line(src, |line| {
        std::io::Write::write_all(
            &mut out,
            &replace_bytes(line, from.as_bytes(), to.as_bytes()),
        )
        .with_context(|| format!("writing {}", dest.display()))?;
        Ok(true)
    })?;
    std::io::Write::flush(&mut out).with_context(|| format!("writing {}", dest.display()))
}

fn error_results(ids: &[String]) -> Vec<serde_json::Value> {
    ids.iter()
        .map(|id| {
            serde_json::json!({"type": "tool_result", "tool_use_id": id, "is_error": true, "content": MISSING_RESULT})
        })
        .collect()
}

fn apply(value: &mut serde_json::Value, edit: &Edit) {
    match edit {
        Edit::Drop => {}
        Edit::Reparent(parent) => value["parentUuid"] = parent.clone().into(),
        Edit::OrphansToText(ids) => {
            if let Some(blocks) = value["message"]["content"].as_array_mut() {
                for block in blocks.iter_mut() {
                    let id = block
                        .get("tool_use_id")
                        .and_then(|v| v.as_str())
                        .map(str::to_string);
                    if block.get("type").and_then(|t| t.as_str()) == Some("tool_result")
                        && id.as_ref().is_some_and(|id| ids.contains(id))
                    {
                        *block = serde_json::json!({
                            "type": "text",
                            "text": format!("[sessctl] A result for tool call {} was removed here: that call is no longer in the conversation.", id.unwrap_or_default()),
                        });
                    }
                }
            }
        }
    }
}

fn set_session(value: &mut serde_json::Value, id: &str) {
    for key in ["sessionId", "session_id"] {
        if value.get(key).is_some() {
            value[key] = id.into();
        }
    }
}

fn replace_bytes(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    if from.is_empty() || from == to {
        return haystack.to_vec();
    }
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(at) = rest.windows(from.len()).position(|w| w == from) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(to);
        rest = &rest[at + from.len()..];
    }
    out.extend_from_slice(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(uuid: &str, parent: &str, kind: &str, second: u32) -> String {
        format!(
            "{{\"type\":\"{kind}\",\"uuid\":\"{uuid}\",\"parentUuid\":{parent},\"sessionId\":\"s1\",\"timestamp\":\"2026-12-07T00:00:{second:02}.000Z\",\"version\":\"2.1.332\",\"message\":{{\"role\":\"{kind}\",\"content\":\"x\"}}}}\n"
        )
    }

    /// The findings of `text` as a file, and the changes a repair makes for them.
    fn repaired(text: &[String]) -> (Vec<FindingId>, Vec<Change>) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let (original, fork) = (dir.path().join("t.jsonl"), dir.path().join("f.jsonl"));
        std::fs::write(&original, text.concat()).expect("writing the transcript");
        let analysis = super::super::analyze(&original).expect("analysing it");
        let found = analysis.report.findings.iter().map(|f| f.id).collect();
        let changes = write_fork(&original, &analysis, "s2", &fork).expect("repairing it");
        (found, changes)
    }

    /// Each finding repair acts on, told apart by its id, gets its own change: a line that is
    /// not JSON is dropped, a record whose parent was never written is relinked, a loop is cut
    /// and every record cut is named as lost (`drop-record`, what adopt counts).
    #[test]
    fn each_finding_it_mends_gets_its_change_by_id() {
        let (found, changes) = repaired(&[
            record("u1", "null", "user", 1),
            record("a1", "\"u1\"", "assistant", 2),
            "not json\n".to_string(),
            record("u2", "\"gone\"", "user", 30),
            record("a2", "\"u2\"", "assistant", 31),
        ]);
        assert_eq!(found, [FindingId::UnparseableLine, FindingId::BrokenChain]);
        let kinds: Vec<_> = changes.iter().map(|c| (c.kind, c.line)).collect();
        assert_eq!(
            kinds,
            [
                (ChangeKind::DropUnparseableLine, 3),
                (ChangeKind::Relink, 4)
            ]
        );

        let (found, changes) = repaired(&[
            record("u1", "null", "user", 1),
            record("a1", "\"u1\"", "assistant", 2),
            record("c1", "\"c2\"", "user", 3),
            record("c2", "\"c1\"", "assistant", 4),
        ]);
        assert_eq!(found, [FindingId::ChainCycle]);
        let kinds: Vec<_> = changes.iter().map(|c| (c.kind, c.line)).collect();
        assert_eq!(
            kinds,
            [(ChangeKind::Truncate, 4), (ChangeKind::DropRecord, 4)]
        );
        let json = serde_json::to_value(&changes[1]).expect("a change as JSON");
        assert_eq!(json["kind"], "drop-record");
    }
}

//! A repaired copy of a transcript, written beside it as a new conversation; the original is
//! never written to.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use super::{Analysis, Kind};

/// One change a repair made, for the sidecar log.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub kind: &'static str,
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
pub const MISSING_RESULT: &str = "[sessctl] No result was recorded for this tool call: the session was interrupted before it finished. Treat it as failed and run it again if it is still needed.";

/// Writes a repaired copy of the analysed transcript to `fork`, as conversation `new_id`.
/// Untouched lines are copied byte for byte but for the session id, which has the same length;
/// changed records are re-serialised; chain links are kept across every insertion.
pub fn write_fork(
    original: &Path,
    analysis: &Analysis,
    new_id: &str,
    fork: &Path,
) -> Result<Vec<Change>> {
    let mut edits: HashMap<u64, Vec<Edit>> = HashMap::new();
    let mut inserts: HashMap<u64, (String, Vec<String>)> = HashMap::new();
    let mut changes = Vec::new();
    let old_id = analysis.report.session_id.clone().unwrap_or_default();

    if analysis.partial_tail() {
        edits
            .entry(analysis.report.lines)
            .or_default()
            .push(Edit::Drop);
        changes.push(Change {
            kind: "drop-partial-line",
            line: analysis.report.lines,
            uuid: None,
            detail: "dropped the cut-off last line".into(),
        });
    }
    // A line that is not JSON holds no record the client could read: it is dropped.
    for f in analysis
        .report
        .findings
        .iter()
        .filter(|f| f.id == "unparseable-line")
    {
        edits.entry(f.line).or_default().push(Edit::Drop);
        changes.push(Change {
            kind: "drop-unparseable-line",
            line: f.line,
            uuid: None,
            detail: format!("dropped line {}, which is not JSON", f.line),
        });
    }
    // Last resort: a looping chain is cut before the loop, and every record cut is named.
    let cut = analysis
        .report
        .findings
        .iter()
        .filter(|f| f.id == "chain-cycle")
        .map(|f| f.line)
        .min();
    if let Some(cut) = cut {
        changes.push(Change {
            kind: "truncate",
            line: cut,
            uuid: None,
            detail: format!("cut the conversation before line {cut}, where its chain loops"),
        });
        changes.extend(
            analysis
                .nodes()
                .filter(|n| u64::from(n.line) >= cut)
                .map(|n| {
                    let uuid = analysis.name(n.uuid);
                    Change {
                        kind: "drop-record",
                        line: u64::from(n.line),
                        detail: format!("dropped record {uuid} (line {}) with the cut", n.line),
                        uuid: Some(uuid),
                    }
                }),
        );
    }
    // Missing results: a new user record right after the record of each call that has no
    // result anywhere in the file, where the client itself writes results, and the record
    // that followed the call relinked to it. A sibling of the same response (a parallel call)
    // stays where it is: the client puts results of parallel calls back by their source.
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
        let new_uuid = crate::agent::new_uuid()?;
        let call_node = analysis.node(call);
        let child = analysis
            .chain
            .iter()
            .map(|&j| analysis.node(j as usize))
            .find(|n| {
                n.parent == call_node.uuid
                    && !(n.kind == Kind::Assistant && n.message == call_node.message)
            });
        if let Some(child) = child {
            edits
                .entry(u64::from(child.line))
                .or_default()
                .push(Edit::Reparent(new_uuid.clone()));
        }
        changes.push(Change {
            kind: "insert-error-result",
            line: u64::from(call_node.line),
            uuid: Some(new_uuid.clone()),
            detail: format!(
                "inserted a user record with error results for {} right after the call",
                missing.join(", ")
            ),
        });
        inserts.insert(u64::from(call_node.line), (new_uuid, missing));
    }
    // A parent that was never written: link to the conversation record written just before.
    for f in analysis
        .report
        .findings
        .iter()
        .filter(|f| f.id == "broken-chain")
    {
        let Some(i) = analysis.at_line(f.line) else {
            continue;
        };
        let previous = (0..i)
            .rev()
            .map(|p| analysis.node(p))
            .find(|n| n.is_conversation());
        if let Some(previous) = previous {
            let name = analysis.name(previous.uuid);
            changes.push(Change {
                kind: "relink",
                line: f.line,
                uuid: f.uuid.clone(),
                detail: format!(
                    "linked the record to {name} (line {}), the conversation record before it, in place of a parent that was never written",
                    previous.line
                ),
            });
            edits.entry(f.line).or_default().push(Edit::Reparent(name));
        }
    }
    // Results without calls, per record: turned into notes.
    let mut orphans_by_node: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for u in analysis.unpaired.iter().filter(|u| !u.dangling) {
        orphans_by_node
            .entry(u.node)
            .or_default()
            .push(u.tool_use_id.clone());
    }
    for (i, orphans) in orphans_by_node {
        let line = u64::from(analysis.node(i).line);
        changes.push(Change {
            kind: "orphan-result-to-note",
            line,
            uuid: Some(analysis.name(analysis.node(i).uuid)),
            detail: format!(
                "turned the results for {} into a text note",
                orphans.join(", ")
            ),
        });
        edits
            .entry(line)
            .or_default()
            .push(Edit::OrphansToText(orphans));
    }

    let out = File::create(fork).with_context(|| format!("creating {}", fork.display()))?;
    let mut out = std::io::BufWriter::new(out);
    let input = File::open(original).with_context(|| format!("opening {}", original.display()))?;
    let mut reader = BufReader::with_capacity(1 << 16, input);
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    let old_field = format!("\"sessionId\":\"{old_id}\"");
    let new_field = format!("\"sessionId\":\"{new_id}\"");
    loop {
        buf.clear();
        if reader
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("reading {}", original.display()))?
            == 0
        {
            break;
        }
        line_no += 1;
        if cut.is_some_and(|cut| line_no >= cut) {
            break;
        }
        let line_edits = edits.get(&line_no).cloned().unwrap_or_default();
        if line_edits.iter().any(|e| matches!(e, Edit::Drop)) {
            continue;
        }
        let body = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let mut text = if line_edits.is_empty() {
            replace_bytes(body, old_field.as_bytes(), new_field.as_bytes())
        } else {
            let mut value: serde_json::Value = serde_json::from_slice(body)
                .with_context(|| format!("re-reading line {line_no} of {}", original.display()))?;
            for edit in &line_edits {
                apply(&mut value, edit);
            }
            set_session(&mut value, new_id);
            serde_json::to_vec(&value).context("serialising a changed record")?
        };
        text.push(b'\n');
        std::io::Write::write_all(&mut out, &text)
            .with_context(|| format!("writing {}", fork.display()))?;
        if let Some((uuid, ids)) = inserts.get(&line_no) {
            let parent: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            let mut record = serde_json::json!({
                "parentUuid": parent.get("uuid").cloned().unwrap_or_default(),
                "isSidechain": false,
                "userType": parent.get("userType").cloned().unwrap_or_else(|| "external".into()),
                "cwd": parent.get("cwd").cloned().unwrap_or_default(),
                "sessionId": new_id,
                "version": parent.get("version").cloned().unwrap_or_default(),
                "type": "user",
                "message": {"role": "user", "content": error_results(ids)},
                "uuid": uuid,
                "timestamp": parent.get("timestamp").cloned().unwrap_or_default(),
                "sourceToolAssistantUUID": parent.get("uuid").cloned().unwrap_or_default(),
            });
            if let Some(branch) = parent.get("gitBranch") {
                record["gitBranch"] = branch.clone();
            }
            let mut text = serde_json::to_vec(&record).context("serialising an inserted record")?;
            text.push(b'\n');
            std::io::Write::write_all(&mut out, &text)
                .with_context(|| format!("writing {}", fork.display()))?;
        }
    }
    std::io::Write::flush(&mut out).with_context(|| format!("writing {}", fork.display()))?;
    Ok(changes)
}

/// Copies transcript `src` to `dest` as conversation `new_id`: every line byte for byte but for
/// its session id, `old_id`, which has the same length.
pub fn copy_as(src: &Path, dest: &Path, old_id: &str, new_id: &str) -> Result<()> {
    let input = File::open(src).with_context(|| format!("opening {}", src.display()))?;
    let out = File::create(dest).with_context(|| format!("creating {}", dest.display()))?;
    let mut out = std::io::BufWriter::new(out);
    let mut reader = BufReader::with_capacity(1 << 16, input);
    let (from, to) = (
        format!("\"sessionId\":\"{old_id}\""),
        format!("\"sessionId\":\"{new_id}\""),
    );
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if reader
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("reading {}", src.display()))?
            == 0
        {
            break;
        }
        std::io::Write::write_all(
            &mut out,
            &replace_bytes(&buf, from.as_bytes(), to.as_bytes()),
        )
        .with_context(|| format!("writing {}", dest.display()))?;
    }
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

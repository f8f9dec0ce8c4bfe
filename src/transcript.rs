//! Reading a Claude Code transcript the way its resume does, without ever writing to it.
//!
//! Facts this relies on (sourced in ../shared/notes/research/agent-transcripts.md, checked
//! against the tests' generated transcripts, not against a live Claude Code here):
//! - a transcript is `~/.claude/projects/<cwd with every non-alphanumeric as '-'>/<session
//!   uuid>.jsonl` (or under `$CLAUDE_CONFIG_DIR`); the encoding is lossy and long paths are
//!   shortened, so a session is found by globbing for its uuid (S3, S6, S19c);
//! - each line is one JSON record with `uuid`, `parentUuid`, `sessionId`, `type` and
//!   `message`; content blocks include `tool_use {id}` and `tool_result {tool_use_id}`; some
//!   records (`summary`, `last-prompt`, `file-history-snapshot`, ...) carry no uuid (S2, S10);
//! - a transcript is a tree: resume starts at a leaf (the latest `last-prompt.leafUuid` that
//!   resolves, else the newest conversation record) and walks `parentUuid` back; a compaction
//!   writes a `system/compact_boundary` record with `parentUuid: null` followed by a summary
//!   (`isCompactSummary`), and the API context starts there (S2, S8, S9, S11, S32);
//! - the API rejects an assistant `tool_use` without a `tool_result` (by id) in the next user
//!   message, and a `tool_result` whose `tool_use` is not in the previous assistant message,
//!   with HTTP 400 (S20); consecutive assistant records of one response share `message.id`.
//!
//! The file is read as a stream, one line at a time: memory is one line plus a small index
//! entry per record (see README, "Transcripts").

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// How bad a finding is; the worst one decides `check`'s exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The next request will fail (exit status 2).
    Error,
    /// History is at risk or silently incomplete (exit status 1).
    Warning,
}

/// One problem in a transcript.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub id: &'static str,
    pub severity: Severity,
    /// 1-based line number in the file.
    pub line: u64,
    pub uuid: Option<String>,
    pub detail: String,
}

/// What `check` found; its JSON form is `transcript check --json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub file: PathBuf,
    pub lines: u64,
    pub records: usize,
    pub session_id: Option<String>,
    /// The record resume starts from.
    pub leaf: Option<String>,
    /// Records on the chain from the leaf back to the root or the last compaction.
    pub chain_length: usize,
    /// Messages the API would be sent.
    pub api_messages: usize,
    pub findings: Vec<Finding>,
}

impl Report {
    /// 0 clean, 1 warnings, 2 the next request will fail.
    pub fn exit_code(&self) -> u8 {
        match self.findings.iter().map(|f| f.severity).min() {
            Some(Severity::Error) => 2,
            Some(Severity::Warning) => 1,
            None => 0,
        }
    }
}

/// One record of the index: what the chain walk and the pairing need, nothing more.
#[derive(Debug, Clone, Default)]
pub struct Node {
    pub line: u64,
    pub uuid: String,
    pub parent: Option<String>,
    pub kind: Kind,
    pub message_id: Option<String>,
    pub tool_uses: Vec<String>,
    pub tool_results: Vec<String>,
    pub boundary: bool,
    pub compact_summary: bool,
    pub sidechain: bool,
    /// Not sent to the API: meta records and local API-error records.
    pub skipped: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Kind {
    User,
    Assistant,
    System,
    #[default]
    Other,
}

/// The parsed transcript: its index, the chain resume would load, and the API messages.
pub struct Analysis {
    pub nodes: Vec<Node>,
    pub by_uuid: HashMap<String, usize>,
    /// Indexes into `nodes`, root (or last boundary) first, leaf last.
    pub chain: Vec<usize>,
    /// Each message: the node indexes merged into it.
    pub messages: Vec<Vec<usize>>,
    /// The tool calls and results the API would refuse.
    pub unpaired: Vec<Unpaired>,
    pub report: Report,
    /// Whether the last line lacks its newline and does not parse.
    pub partial_tail: bool,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "type")]
    kind: Option<String>,
    uuid: Option<String>,
    #[serde(rename = "parentUuid")]
    parent_uuid: Option<String>,
    #[serde(rename = "sessionId")]
    session_id: Option<String>,
    subtype: Option<String>,
    #[serde(rename = "isSidechain", default)]
    sidechain: bool,
    #[serde(rename = "isCompactSummary", default)]
    compact_summary: bool,
    #[serde(rename = "isMeta", default)]
    meta: bool,
    #[serde(rename = "isApiErrorMessage", default)]
    api_error: bool,
    #[serde(rename = "leafUuid")]
    leaf_uuid: Option<String>,
    message: Option<Message>,
}

#[derive(Deserialize)]
struct Message {
    id: Option<String>,
    #[serde(default)]
    content: Blocks,
}

#[derive(Deserialize)]
struct Block {
    #[serde(rename = "type")]
    kind: Option<String>,
    id: Option<String>,
    tool_use_id: Option<String>,
}

/// A message's content: its blocks when it is an array, nothing when it is plain text. Text
/// is skipped, not stored, so a huge tool output costs no memory beyond its line.
#[derive(Default)]
struct Blocks(Vec<Block>);

impl<'de> Deserialize<'de> for Blocks {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Blocks;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("message content")
            }
            fn visit_seq<A: SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Blocks, A::Error> {
                let mut blocks = Vec::new();
                while let Some(block) = seq.next_element()? {
                    blocks.push(block);
                }
                Ok(Blocks(blocks))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> std::result::Result<Blocks, E> {
                Ok(Blocks::default())
            }
            fn visit_map<A: de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Blocks, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Blocks::default())
            }
            fn visit_unit<E: de::Error>(self) -> std::result::Result<Blocks, E> {
                Ok(Blocks::default())
            }
        }
        d.deserialize_any(V)
    }
}

/// Reads `path` line by line and judges it as resume would load it.
pub fn analyze(path: &Path) -> Result<Analysis> {
    let file =
        File::open(path).with_context(|| format!("opening transcript {}", path.display()))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut buf = Vec::new();
    let mut nodes: Vec<Node> = Vec::new();
    let mut by_uuid = HashMap::new();
    let mut findings = Vec::new();
    let mut leaf_hint: Option<(String, u64)> = None;
    let mut session_id = None;
    let mut line_no = 0u64;
    let mut partial_tail = false;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let complete = buf.last() == Some(&b'\n');
        let text = if complete {
            &buf[..buf.len() - 1]
        } else {
            &buf[..]
        };
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let raw: Raw = match serde_json::from_slice(text) {
            Ok(raw) => raw,
            Err(err) => {
                partial_tail = !complete;
                findings.push(Finding {
                    id: if complete { "unparseable-line" } else { "partial-last-line" },
                    severity: Severity::Error,
                    line: line_no,
                    uuid: None,
                    detail: if complete {
                        format!("line {line_no} is not JSON ({err}): Claude Code stops loading the transcript there")
                    } else {
                        format!("the last line was cut off mid-write ({} bytes, no newline): resume cannot parse it", text.len())
                    },
                });
                continue;
            }
        };
        if session_id.is_none() {
            session_id.clone_from(&raw.session_id);
        }
        if raw.kind.as_deref() == Some("last-prompt") {
            if let Some(leaf) = raw.leaf_uuid {
                leaf_hint = Some((leaf, line_no));
            }
        }
        let Some(uuid) = raw.uuid else { continue };
        let kind = match raw.kind.as_deref() {
            Some("user") => Kind::User,
            Some("assistant") => Kind::Assistant,
            Some("system") => Kind::System,
            _ => Kind::Other,
        };
        let (message_id, blocks) = match raw.message {
            Some(m) => (m.id, m.content.0),
            None => (None, Vec::new()),
        };
        let mut node = Node {
            line: line_no,
            uuid: uuid.clone(),
            parent: raw.parent_uuid,
            kind,
            message_id,
            boundary: kind == Kind::System && raw.subtype.as_deref() == Some("compact_boundary"),
            compact_summary: raw.compact_summary,
            sidechain: raw.sidechain,
            skipped: raw.meta || raw.api_error,
            ..Node::default()
        };
        for block in blocks {
            match block.kind.as_deref() {
                Some("tool_use") => node.tool_uses.extend(block.id),
                Some("tool_result") => node.tool_results.extend(block.tool_use_id),
                _ => {}
            }
        }
        by_uuid.insert(uuid, nodes.len());
        nodes.push(node);
    }

    // The leaf: the latest last-prompt that resolves, else the newest conversation record.
    let leaf = leaf_hint
        .map(|(uuid, _)| uuid)
        .filter(|uuid| by_uuid.contains_key(uuid))
        .and_then(|uuid| by_uuid.get(&uuid).copied())
        .or_else(|| {
            nodes
                .iter()
                .rposition(|n| !n.sidechain && matches!(n.kind, Kind::User | Kind::Assistant))
        });

    // The chain, walked from the leaf back to the root or the last compaction boundary.
    let mut chain = Vec::new();
    let mut seen = HashSet::new();
    let mut cursor = leaf;
    while let Some(i) = cursor {
        if !seen.insert(i) {
            findings.push(Finding {
                id: "chain-cycle",
                severity: Severity::Error,
                line: nodes[i].line,
                uuid: Some(nodes[i].uuid.clone()),
                detail: "the parentUuid chain loops back on itself".into(),
            });
            break;
        }
        chain.push(i);
        if nodes[i].boundary {
            break;
        }
        cursor = match &nodes[i].parent {
            None => None,
            Some(parent) => match by_uuid.get(parent) {
                Some(&p) => Some(p),
                None => {
                    // Resume would go on with a conversation that silently lost its past: as
                    // broken as one the API refuses.
                    findings.push(Finding {
                        id: "broken-chain",
                        severity: Severity::Error,
                        line: nodes[i].line,
                        uuid: Some(nodes[i].uuid.clone()),
                        detail: format!(
                            "parentUuid {parent} is not in the file: resume silently drops everything before line {}",
                            nodes[i].line
                        ),
                    });
                    None
                }
            },
        };
    }
    chain.reverse();

    // A compaction boundary must be followed by its summary.
    if let Some(&first) = chain.first() {
        if nodes[first].boundary {
            let summary = chain.get(1).map(|&i| &nodes[i]);
            if !summary.is_some_and(|n| n.compact_summary) {
                findings.push(Finding {
                    id: "boundary-without-summary",
                    severity: Severity::Warning,
                    line: nodes[first].line,
                    uuid: Some(nodes[first].uuid.clone()),
                    detail: "a compaction boundary has no summary after it: the conversation before it is gone from the agent's context".into(),
                });
            }
        }
    }

    let messages = api_messages(&nodes, &chain);
    let unpaired = unpaired(&nodes, &messages);
    findings.extend(pairing_findings(&nodes, &unpaired));
    findings.sort_by_key(|f| (f.severity, f.line));
    let report = Report {
        file: path.to_path_buf(),
        lines: line_no,
        records: nodes.len(),
        session_id,
        leaf: leaf.map(|i| nodes[i].uuid.clone()),
        chain_length: chain.len(),
        api_messages: messages.len(),
        findings,
    };
    Ok(Analysis {
        nodes,
        by_uuid,
        chain,
        messages,
        unpaired,
        report,
        partial_tail,
    })
}

/// The messages the API is sent: user and assistant records of the chain, consecutive records
/// of one role merged (an assistant response is split over records sharing `message.id`).
fn api_messages(nodes: &[Node], chain: &[usize]) -> Vec<Vec<usize>> {
    let mut messages: Vec<Vec<usize>> = Vec::new();
    for &i in chain {
        let n = &nodes[i];
        if n.sidechain || n.skipped || !matches!(n.kind, Kind::User | Kind::Assistant) {
            continue;
        }
        match messages.last_mut() {
            Some(last) if nodes[last[0]].kind == n.kind => last.push(i),
            _ => messages.push(vec![i]),
        }
    }
    messages
}

/// A tool call with no result in the next message, or a result with no call in the previous
/// one: what the API refuses with a 400.
#[derive(Debug, Clone)]
pub struct Unpaired {
    /// The API message it is in.
    pub message: usize,
    /// The record that holds it.
    pub node: usize,
    pub tool_use_id: String,
    /// A call without a result (else a result without a call).
    pub dangling: bool,
}

/// Tool calls paired by id with the results in the next message, and results with the calls
/// in the previous one; order within a message does not matter.
fn unpaired(nodes: &[Node], messages: &[Vec<usize>]) -> Vec<Unpaired> {
    let of_kind = |k: Option<usize>, kind: Kind| {
        k.and_then(|k| messages.get(k))
            .filter(|m| nodes[m[0]].kind == kind)
    };
    let ids = |m: Option<&Vec<usize>>, uses: bool| -> HashSet<&String> {
        m.into_iter()
            .flatten()
            .flat_map(|&i| {
                if uses {
                    &nodes[i].tool_uses
                } else {
                    &nodes[i].tool_results
                }
            })
            .collect()
    };
    let mut found = Vec::new();
    for (k, message) in messages.iter().enumerate() {
        let dangling = nodes[message[0]].kind == Kind::Assistant;
        // A call's partner is in the next (user) message; a result's in the previous one.
        let partners = if dangling {
            ids(of_kind(Some(k + 1), Kind::User), false)
        } else {
            ids(of_kind(k.checked_sub(1), Kind::Assistant), true)
        };
        for &i in message {
            let own = if dangling {
                &nodes[i].tool_uses
            } else {
                &nodes[i].tool_results
            };
            for id in own.iter().filter(|id| !partners.contains(id)) {
                found.push(Unpaired {
                    message: k,
                    node: i,
                    tool_use_id: id.clone(),
                    dangling,
                });
            }
        }
    }
    found
}

fn pairing_findings(nodes: &[Node], unpaired: &[Unpaired]) -> Vec<Finding> {
    unpaired
        .iter()
        .map(|u| {
            let (id, k) = (&u.tool_use_id, u.message);
            Finding {
                id: if u.dangling { "dangling-tool-use" } else { "orphan-tool-result" },
                severity: Severity::Error,
                line: nodes[u.node].line,
                uuid: Some(nodes[u.node].uuid.clone()),
                detail: if u.dangling {
                    format!("tool_use {id} (API message {k}) has no tool_result in the next user message: the API answers 400")
                } else {
                    format!("tool_result for {id} (API message {k}) has no tool_use in the previous assistant message: the API answers 400")
                },
            }
        })
        .collect()
}

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
    /// Put error results for these tool calls first in the record's content.
    AddResults(Vec<String>),
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
    let nodes = &analysis.nodes;
    let mut edits: HashMap<u64, Vec<Edit>> = HashMap::new();
    let mut inserts: HashMap<u64, (String, Vec<String>)> = HashMap::new();
    let mut changes = Vec::new();
    let old_id = analysis.report.session_id.clone().unwrap_or_default();

    if analysis.partial_tail {
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
    let by_line: HashMap<u64, usize> = nodes.iter().enumerate().map(|(i, n)| (n.line, i)).collect();
    // Last resort: what no edit can mend (a line that is not JSON, a looping chain) is cut
    // off, with everything after it.
    let cut = analysis
        .report
        .findings
        .iter()
        .filter(|f| matches!(f.id, "unparseable-line" | "chain-cycle"))
        .map(|f| f.line)
        .min();
    if let Some(cut) = cut {
        changes.push(Change {
            kind: "truncate",
            line: cut,
            uuid: None,
            detail: format!("cut the conversation before line {cut}, the last consistent point"),
        });
    }
    // Missing results, for each assistant message: its calls without a result in the next one.
    let mut missing_by_message: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for u in analysis.unpaired.iter().filter(|u| u.dangling) {
        missing_by_message
            .entry(u.message)
            .or_default()
            .push(u.tool_use_id.clone());
    }
    for (k, missing) in missing_by_message {
        let message = &analysis.messages[k];
        let last = *message.last().unwrap_or(&message[0]);
        match analysis
            .messages
            .get(k + 1)
            .filter(|m| nodes[m[0]].kind == Kind::User)
        {
            Some(next) => {
                let target = nodes[next[0]].line;
                edits
                    .entry(target)
                    .or_default()
                    .push(Edit::AddResults(missing.clone()));
                changes.push(Change {
                    kind: "add-error-result",
                    line: target,
                    uuid: Some(nodes[next[0]].uuid.clone()),
                    detail: format!(
                        "added error results for {} to the next user message",
                        missing.join(", ")
                    ),
                });
            }
            None => {
                let new_uuid = crate::agent::new_uuid()?;
                let position = analysis.chain.iter().position(|&i| i == last);
                if let Some(&child) = position.and_then(|p| analysis.chain.get(p + 1)) {
                    edits
                        .entry(nodes[child].line)
                        .or_default()
                        .push(Edit::Reparent(new_uuid.clone()));
                }
                changes.push(Change {
                    kind: "insert-error-result",
                    line: nodes[last].line,
                    uuid: Some(new_uuid.clone()),
                    detail: format!(
                        "inserted a user message with error results for {} after the assistant message, and re-linked the record after it",
                        missing.join(", ")
                    ),
                });
                inserts.insert(nodes[last].line, (new_uuid, missing));
            }
        }
    }
    // A parent that was never written: link to the conversation record written just before.
    for f in analysis
        .report
        .findings
        .iter()
        .filter(|f| f.id == "broken-chain")
    {
        let i = by_line[&f.line];
        let previous = nodes[..i]
            .iter()
            .rev()
            .find(|n| !n.sidechain && matches!(n.kind, Kind::User | Kind::Assistant));
        if let Some(previous) = previous {
            edits
                .entry(f.line)
                .or_default()
                .push(Edit::Reparent(previous.uuid.clone()));
            changes.push(Change {
                kind: "relink",
                line: f.line,
                uuid: Some(nodes[i].uuid.clone()),
                detail: format!(
                    "linked the record to {} (line {}), the conversation record before it, in place of a parent that was never written",
                    previous.uuid, previous.line
                ),
            });
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
        changes.push(Change {
            kind: "orphan-result-to-note",
            line: nodes[i].line,
            uuid: Some(nodes[i].uuid.clone()),
            detail: format!(
                "turned the results for {} into a text note",
                orphans.join(", ")
            ),
        });
        edits
            .entry(nodes[i].line)
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
        Edit::AddResults(ids) => {
            let content = &mut value["message"]["content"];
            let mut blocks = error_results(ids);
            match content.take() {
                serde_json::Value::Array(existing) => blocks.extend(existing),
                serde_json::Value::String(text) => {
                    blocks.push(serde_json::json!({"type": "text", "text": text}))
                }
                _ => {}
            }
            *content = blocks.into();
        }
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

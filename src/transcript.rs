//! Reading a Claude Code transcript the way the pinned client (2.1.x) loads it on resume,
//! without ever writing to it.
//!
//! What the client does, as observed with the real Claude Code 2.1.197 offline
//! (../shared/notes/research/claude-code-2.1-observed.md) and checked by this project's tests
//! against it:
//! - a transcript is `<config dir>/projects/<encoded cwd>/<session uuid>.jsonl`; every line is
//!   a JSON value, most of them records with `uuid` and `parentUuid`; records are not always
//!   in chain order, so they are indexed by uuid;
//! - resume goes on from the newest conversation record (a `last-prompt` record is written
//!   only on a clean exit, so after a crash it names a stale leaf) and walks `parentUuid` back;
//! - a parent that is not in the file is linked to the record written just before, when that
//!   one is at most 5 s older; past that, everything before is silently dropped;
//! - an assistant response is one record per content block, sharing `message.id`; parallel
//!   tool calls and their results sit on branches of their own, and the client puts them back
//!   together (results name their call's record in `sourceToolAssistantUUID`);
//! - a compaction writes a `compact_boundary` (`parentUuid: null`) whose
//!   `compactMetadata.preservedSegment` names records kept verbatim after the summary;
//! - 2.1.x drops a tool_use without a result and replaces a result without a call before it
//!   sends, so neither fails a request; 1.0.x clients sent them and got the API's 400.
//!
//! The file is read as a stream, one line at a time: memory is one line plus a small index
//! entry per record (see README, "Transcripts").

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How bad a finding is; the worst one decides `check`'s exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The resumed conversation fails or silently loses history (exit status 2).
    Error,
    /// The client mends it when it loads, dropping what the detail names (exit status 1).
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

impl Finding {
    /// Whether the client fails to resume at all: a shape that the pinned client sends as it
    /// is and the API refuses. Only these block a start (the crash-loop guard).
    pub fn blocks_resume(&self) -> bool {
        self.severity == Severity::Error
            && matches!(self.id, "dangling-tool-use" | "orphan-tool-result")
    }
}

/// What `check` found; its JSON form is `transcript check --json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub file: PathBuf,
    pub lines: u64,
    pub records: usize,
    pub session_id: Option<String>,
    /// The record resume goes on from.
    pub leaf: Option<String>,
    /// Records on the resumed chain (from the root or the last compaction to the leaf),
    /// with the parallel branches and the preserved segment the client puts back.
    pub chain_length: usize,
    /// Messages the API would be sent.
    pub api_messages: usize,
    pub findings: Vec<Finding>,
}

impl Report {
    /// 0 clean, 1 warnings, 2 errors.
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
    /// The record of the call a tool result answers.
    pub source: Option<String>,
    /// Milliseconds since the epoch, when the record has a readable timestamp.
    pub time: Option<i64>,
    pub boundary: bool,
    /// A compaction's preserved segment: head, anchor and tail uuids.
    pub preserved: Option<[String; 3]>,
    pub compact_summary: bool,
    pub sidechain: bool,
    /// Not sent to the API: meta records and local API-error records.
    pub skipped: bool,
}

impl Node {
    fn is_conversation(&self) -> bool {
        !self.sidechain && matches!(self.kind, Kind::User | Kind::Assistant)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Kind {
    User,
    Assistant,
    System,
    #[default]
    Other,
}

/// Which client's rules judge the pairing: 1.0.x sent broken pairs to the API as they were.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    Legacy,
    Current,
}

/// The parsed transcript: its index, the chain resume would load, and the API messages.
pub struct Analysis {
    pub nodes: Vec<Node>,
    pub by_uuid: HashMap<String, usize>,
    /// Indexes into `nodes`, in the order the client sends them, leaf last.
    pub chain: Vec<usize>,
    /// Each message: the node indexes merged into it.
    pub messages: Vec<Vec<usize>>,
    /// The tool calls and results the client has to mend (or, for 1.0.x, the API refuses).
    pub unpaired: Vec<Unpaired>,
    /// Every tool_use id that has a result somewhere in the file.
    pub answered: HashSet<String>,
    pub report: Report,
    /// Whether the last line lacks its newline and does not parse.
    pub partial_tail: bool,
    pub client: Client,
}

/// One line, read leniently: every valid JSON value parses, whatever its fields hold.
#[derive(Default)]
struct Raw {
    kind: Option<String>,
    uuid: Option<String>,
    parent_uuid: Option<String>,
    session_id: Option<String>,
    subtype: Option<String>,
    sidechain: bool,
    compact_summary: bool,
    meta: bool,
    api_error: bool,
    timestamp: Option<String>,
    version: Option<String>,
    source: Option<String>,
    preserved: Option<[String; 3]>,
    message: Message,
}

/// The keys of a record that matter; everything else is skipped unread.
#[derive(Deserialize)]
#[serde(field_identifier)]
enum Field {
    #[serde(rename = "type")]
    Type,
    #[serde(rename = "uuid")]
    Uuid,
    #[serde(rename = "parentUuid")]
    ParentUuid,
    #[serde(rename = "sessionId")]
    SessionId,
    #[serde(rename = "subtype")]
    Subtype,
    #[serde(rename = "isSidechain")]
    Sidechain,
    #[serde(rename = "isCompactSummary")]
    CompactSummary,
    #[serde(rename = "isMeta")]
    Meta,
    #[serde(rename = "isApiErrorMessage")]
    ApiError,
    #[serde(rename = "timestamp")]
    Timestamp,
    #[serde(rename = "version")]
    Version,
    #[serde(rename = "sourceToolAssistantUUID")]
    Source,
    #[serde(rename = "compactMetadata")]
    CompactMetadata,
    #[serde(rename = "message")]
    Message,
    #[serde(rename = "id")]
    Id,
    #[serde(rename = "content")]
    Content,
    #[serde(rename = "tool_use_id")]
    ToolUseId,
    #[serde(other)]
    Other,
}

/// A small field's value as a string, when it is one.
fn text<'de, A: MapAccess<'de>>(map: &mut A) -> Result<Option<String>, A::Error> {
    Ok(match map.next_value::<Value>()? {
        Value::String(s) => Some(s),
        _ => None,
    })
}

/// A flag: only `true` is true (`null`, absent or any other value is false).
fn flag<'de, A: MapAccess<'de>>(map: &mut A) -> Result<bool, A::Error> {
    Ok(map.next_value::<Value>()? == Value::Bool(true))
}

/// Implements `Deserialize` for a lenient type: a map goes to `$visit_map`, any other JSON
/// value gives the default.
macro_rules! lenient {
    ($ty:ty, $what:literal, |$map:ident| $body:block) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $ty;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str($what)
                    }
                    fn visit_map<A: MapAccess<'de>>(
                        self,
                        mut $map: A,
                    ) -> std::result::Result<$ty, A::Error> {
                        $body
                    }
                    fn visit_seq<A: SeqAccess<'de>>(
                        self,
                        mut seq: A,
                    ) -> std::result::Result<$ty, A::Error> {
                        while seq.next_element::<IgnoredAny>()?.is_some() {}
                        Ok(<$ty>::default())
                    }
                    fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<$ty, E> {
                        Ok(<$ty>::default())
                    }
                    fn visit_i64<E: de::Error>(self, _: i64) -> std::result::Result<$ty, E> {
                        Ok(<$ty>::default())
                    }
                    fn visit_u64<E: de::Error>(self, _: u64) -> std::result::Result<$ty, E> {
                        Ok(<$ty>::default())
                    }
                    fn visit_f64<E: de::Error>(self, _: f64) -> std::result::Result<$ty, E> {
                        Ok(<$ty>::default())
                    }
                    fn visit_str<E: de::Error>(self, _: &str) -> std::result::Result<$ty, E> {
                        Ok(<$ty>::default())
                    }
                    fn visit_unit<E: de::Error>(self) -> std::result::Result<$ty, E> {
                        Ok(<$ty>::default())
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

lenient!(Raw, "a transcript record", |map| {
    let mut raw = Raw::default();
    while let Some(key) = map.next_key::<Field>()? {
        match key {
            Field::Type => raw.kind = text(&mut map)?,
            Field::Uuid => raw.uuid = text(&mut map)?,
            Field::ParentUuid => raw.parent_uuid = text(&mut map)?,
            Field::SessionId => raw.session_id = text(&mut map)?,
            Field::Subtype => raw.subtype = text(&mut map)?,
            Field::Sidechain => raw.sidechain = flag(&mut map)?,
            Field::CompactSummary => raw.compact_summary = flag(&mut map)?,
            Field::Meta => raw.meta = flag(&mut map)?,
            Field::ApiError => raw.api_error = flag(&mut map)?,
            Field::Timestamp => raw.timestamp = text(&mut map)?,
            Field::Version => raw.version = text(&mut map)?,
            Field::Source => raw.source = text(&mut map)?,
            Field::CompactMetadata => {
                let meta = map.next_value::<Value>()?;
                let segment = &meta["preservedSegment"];
                let part = |k: &str| segment[k].as_str().map(str::to_string);
                raw.preserved = match (part("headUuid"), part("anchorUuid"), part("tailUuid")) {
                    (Some(h), Some(a), Some(t)) => Some([h, a, t]),
                    _ => None,
                };
            }
            Field::Message => raw.message = map.next_value()?,
            _ => {
                map.next_value::<IgnoredAny>()?;
            }
        }
    }
    Ok(raw)
});

#[derive(Default)]
struct Message {
    id: Option<String>,
    content: Blocks,
}

lenient!(Message, "a message", |map| {
    let mut message = Message::default();
    while let Some(key) = map.next_key::<Field>()? {
        match key {
            Field::Id => message.id = text(&mut map)?,
            Field::Content => message.content = map.next_value()?,
            _ => {
                map.next_value::<IgnoredAny>()?;
            }
        }
    }
    Ok(message)
});

#[derive(Default)]
struct Block {
    kind: Option<String>,
    id: Option<String>,
    tool_use_id: Option<String>,
}

lenient!(Block, "a content block", |map| {
    let mut block = Block::default();
    while let Some(key) = map.next_key::<Field>()? {
        match key {
            Field::Type => block.kind = text(&mut map)?,
            Field::Id => block.id = text(&mut map)?,
            Field::ToolUseId => block.tool_use_id = text(&mut map)?,
            _ => {
                map.next_value::<IgnoredAny>()?;
            }
        }
    }
    Ok(block)
});

/// A message's content: its blocks when it is an array, nothing otherwise. Text is skipped,
/// not stored, so a huge tool output costs no memory beyond its line.
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
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Blocks, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Blocks::default())
            }
            fn visit_str<E: de::Error>(self, _: &str) -> std::result::Result<Blocks, E> {
                Ok(Blocks::default())
            }
            fn visit_unit<E: de::Error>(self) -> std::result::Result<Blocks, E> {
                Ok(Blocks::default())
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<Blocks, E> {
                Ok(Blocks::default())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> std::result::Result<Blocks, E> {
                Ok(Blocks::default())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> std::result::Result<Blocks, E> {
                Ok(Blocks::default())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> std::result::Result<Blocks, E> {
                Ok(Blocks::default())
            }
        }
        d.deserialize_any(V)
    }
}

/// How far back the client links a record whose parent was never written (observed: 5 s
/// links, 120 s does not).
const LINK_WINDOW_MS: i64 = 5_000;

/// What the index pass collects before the chain is walked.
#[derive(Default)]
struct Index {
    nodes: Vec<Node>,
    by_uuid: HashMap<String, usize>,
    findings: Vec<Finding>,
    session_id: Option<String>,
    lines: u64,
    partial_tail: bool,
    /// Whether any record names a client version, and whether every one of them is 1.x.
    versions: (bool, bool),
}

/// Reads `path` line by line and judges it as the client would load it on resume.
pub fn analyze(path: &Path) -> Result<Analysis> {
    let index = index(path)?;
    let Index {
        nodes,
        by_uuid,
        mut findings,
        ..
    } = index;
    let client = match index.versions {
        (true, true) => Client::Legacy,
        _ => Client::Current,
    };
    let leaf = nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.is_conversation())
        .max_by_key(|(_, n)| (n.time.unwrap_or(i64::MIN), n.line))
        .map(|(i, _)| i);
    let walked = walk(&nodes, &by_uuid, leaf, &mut findings);
    let chain = regroup(&nodes, &by_uuid, &walked);
    boundary_findings(&nodes, &chain, &mut findings);
    let messages = api_messages(&nodes, &chain);
    let answered: HashSet<String> = nodes
        .iter()
        .flat_map(|n| n.tool_results.iter().cloned())
        .collect();
    let unpaired = unpaired(&nodes, &messages);
    findings.extend(pairing_findings(&nodes, &unpaired, client));
    findings.sort_by_key(|f| (f.severity, f.line));
    let report = Report {
        file: path.to_path_buf(),
        lines: index.lines,
        records: nodes.len(),
        session_id: index.session_id,
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
        answered,
        report,
        partial_tail: index.partial_tail,
        client,
    })
}

/// The index pass: one line at a time, keeping only what the chain walk needs.
fn index(path: &Path) -> Result<Index> {
    let file =
        File::open(path).with_context(|| format!("opening transcript {}", path.display()))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut buf = Vec::new();
    let mut index = Index {
        versions: (false, true),
        ..Index::default()
    };
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        index.lines += 1;
        let line_no = index.lines;
        let complete = buf.last() == Some(&b'\n');
        let text = if complete {
            &buf[..buf.len() - 1]
        } else {
            &buf[..]
        };
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Raw>(text) {
            Ok(raw) => index.add(raw, line_no),
            Err(err) => {
                index.partial_tail = !complete;
                index
                    .findings
                    .push(unparseable(line_no, complete, text.len(), &err));
            }
        }
    }
    Ok(index)
}

fn unparseable(line: u64, complete: bool, bytes: usize, err: &serde_json::Error) -> Finding {
    Finding {
        id: if complete {
            "unparseable-line"
        } else {
            "partial-last-line"
        },
        severity: if complete {
            Severity::Error
        } else {
            Severity::Warning
        },
        line,
        uuid: None,
        detail: if complete {
            format!(
                "line {line} is not JSON ({err}): the client skips it, and a record on it is lost"
            )
        } else {
            format!("the last line was cut off mid-write ({bytes} bytes, no newline): the client skips it")
        },
    }
}

impl Index {
    fn add(&mut self, raw: Raw, line: u64) {
        if self.session_id.is_none() {
            self.session_id.clone_from(&raw.session_id);
        }
        if let Some(version) = &raw.version {
            self.versions.0 = true;
            self.versions.1 &= version.starts_with("1.");
        }
        let Some(uuid) = raw.uuid else { return };
        let kind = match raw.kind.as_deref() {
            Some("user") => Kind::User,
            Some("assistant") => Kind::Assistant,
            Some("system") => Kind::System,
            _ => Kind::Other,
        };
        let boundary = kind == Kind::System && raw.subtype.as_deref() == Some("compact_boundary");
        let mut node = Node {
            line,
            uuid: uuid.clone(),
            parent: raw.parent_uuid,
            kind,
            message_id: raw.message.id,
            source: raw.source,
            time: raw.timestamp.as_deref().and_then(parse_time),
            boundary,
            preserved: raw.preserved.filter(|_| boundary),
            compact_summary: raw.compact_summary,
            sidechain: raw.sidechain,
            skipped: raw.meta || raw.api_error,
            ..Node::default()
        };
        for block in raw.message.content.0 {
            match block.kind.as_deref() {
                Some("tool_use") => node.tool_uses.extend(block.id),
                Some("tool_result") => node.tool_results.extend(block.tool_use_id),
                _ => {}
            }
        }
        self.by_uuid.insert(uuid, self.nodes.len());
        self.nodes.push(node);
    }
}

/// The chain from `leaf` back to the root or the last compaction boundary, root first, with
/// a missing parent linked as the client links it.
fn walk(
    nodes: &[Node],
    by_uuid: &HashMap<String, usize>,
    leaf: Option<usize>,
    findings: &mut Vec<Finding>,
) -> Vec<usize> {
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
                detail: "the parentUuid chain loops back on itself: the client drops what lies before the loop".into(),
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
                None => missing_parent(nodes, i, parent, findings),
            },
        };
    }
    chain.reverse();
    chain
}

/// Where the client goes on from record `i`, whose parent was never written: the record
/// written just before, when it is at most [`LINK_WINDOW_MS`] older. Else the history before
/// `i` is lost.
fn missing_parent(
    nodes: &[Node],
    i: usize,
    parent: &str,
    findings: &mut Vec<Finding>,
) -> Option<usize> {
    let node = &nodes[i];
    let previous = nodes[..i]
        .iter()
        .rposition(|n| !n.sidechain && n.kind != Kind::Other);
    let linked = previous.filter(|&p| match (nodes[p].time, node.time) {
        (Some(then), Some(now)) => now >= then && now - then <= LINK_WINDOW_MS,
        _ => false,
    });
    findings.push(match linked {
        Some(p) => Finding {
            id: "relinked-parent",
            severity: Severity::Warning,
            line: node.line,
            uuid: Some(node.uuid.clone()),
            detail: format!(
                "parentUuid {parent} is not in the file; the client links the record to {} (line {}), written just before",
                nodes[p].uuid, nodes[p].line
            ),
        },
        None => Finding {
            id: "broken-chain",
            severity: Severity::Error,
            line: node.line,
            uuid: Some(node.uuid.clone()),
            detail: format!(
                "parentUuid {parent} is not in the file and no record was written in the 5 s before: the client silently drops everything before line {}; `sessctl transcript repair` relinks it",
                node.line
            ),
        },
    });
    linked
}

/// The walked chain as the client sends it: each assistant response with all of its records
/// (parallel calls sit on sibling branches), each followed by the tool results that answer
/// them, and a compaction's preserved segment right after its anchor (the summary).
fn regroup(nodes: &[Node], by_uuid: &HashMap<String, usize>, walked: &[usize]) -> Vec<usize> {
    let mut responses: HashMap<&str, Vec<usize>> = HashMap::new();
    let mut results: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, n) in nodes.iter().enumerate().filter(|(_, n)| !n.sidechain) {
        match (n.kind, &n.message_id) {
            (Kind::Assistant, Some(id)) => responses.entry(id).or_default().push(i),
            (Kind::User, _) if !n.tool_results.is_empty() => {
                let source = n.source.as_deref().or(n.parent.as_deref());
                if let Some(source) = source {
                    results.entry(source).or_default().push(i);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::with_capacity(walked.len());
    let mut placed = HashSet::new();
    let mut place = |i: usize, out: &mut Vec<usize>| {
        if placed.insert(i) {
            out.push(i);
        }
    };
    for &i in &with_preserved(nodes, by_uuid, walked) {
        let group = nodes[i]
            .message_id
            .as_deref()
            .filter(|_| nodes[i].kind == Kind::Assistant)
            .and_then(|id| responses.get(id));
        let Some(group) = group else {
            place(i, &mut out);
            continue;
        };
        for &member in group {
            place(member, &mut out);
        }
        for &member in group {
            for &answer in results
                .get(nodes[member].uuid.as_str())
                .into_iter()
                .flatten()
            {
                place(answer, &mut out);
            }
        }
    }
    out
}

/// `walked` with a compaction's preserved segment (tail back to head) after its anchor.
fn with_preserved(
    nodes: &[Node],
    by_uuid: &HashMap<String, usize>,
    walked: &[usize],
) -> Vec<usize> {
    let Some([head, anchor, tail]) = walked.first().and_then(|&b| nodes[b].preserved.as_ref())
    else {
        return walked.to_vec();
    };
    let mut segment = Vec::new();
    let mut cursor = by_uuid.get(tail).copied();
    while let Some(i) = cursor {
        if segment.contains(&i) || walked.contains(&i) {
            break;
        }
        segment.push(i);
        if nodes[i].uuid == *head {
            break;
        }
        cursor = nodes[i]
            .parent
            .as_ref()
            .and_then(|p| by_uuid.get(p).copied());
    }
    segment.reverse();
    let at = walked
        .iter()
        .position(|&i| nodes[i].uuid == *anchor)
        .map_or(1, |p| p + 1)
        .min(walked.len());
    let mut out = walked[..at].to_vec();
    out.extend(segment);
    out.extend_from_slice(&walked[at..]);
    out
}

/// A compaction boundary must be followed by its summary.
fn boundary_findings(nodes: &[Node], chain: &[usize], findings: &mut Vec<Finding>) {
    let Some(&first) = chain.first() else { return };
    if !nodes[first].boundary {
        return;
    }
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

/// `2026-11-23T20:34:31.586Z` (or with an offset) as milliseconds since the epoch.
pub fn parse_time(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let s = text.get(from..from + len)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    if b.len() < 19 || b[4] != b'-' || b[10] != b'T' {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, min, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let mut rest = &text[19..];
    let mut millis = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        let ms: String = frac[..digits]
            .chars()
            .chain("000".chars())
            .take(3)
            .collect();
        millis = ms.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "" => 0,
        _ => {
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            let (h, m) = (num(text.len() - 5, 2)?, num(text.len() - 2, 2)?);
            sign * (h * 60 + m) * 60
        }
    };
    // Howard Hinnant's days-from-civil algorithm.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 86_400 + hour * 3600 + min * 60 + sec) - offset) * 1000 + millis)
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

fn pairing_findings(nodes: &[Node], unpaired: &[Unpaired], client: Client) -> Vec<Finding> {
    unpaired
        .iter()
        .map(|u| {
            let (id, k) = (&u.tool_use_id, u.message);
            let detail = match (u.dangling, client) {
                (true, Client::Legacy) => format!("tool_use {id} (API message {k}) has no tool_result in the next user message: this 1.0.x transcript is sent as it is, and the API answers 400"),
                (false, Client::Legacy) => format!("tool_result for {id} (API message {k}) has no tool_use in the previous assistant message: this 1.0.x transcript is sent as it is, and the API answers 400"),
                (true, Client::Current) => format!("tool_use {id} (API message {k}) has no result: the client drops the call when it resumes (the conversation goes on without it)"),
                (false, Client::Current) => format!("tool_result for {id} (API message {k}) has no call before it: the client replaces it with an empty message when it resumes"),
            };
            Finding {
                id: if u.dangling { "dangling-tool-use" } else { "orphan-tool-result" },
                severity: match client {
                    Client::Legacy => Severity::Error,
                    Client::Current => Severity::Warning,
                },
                line: nodes[u.node].line,
                uuid: Some(nodes[u.node].uuid.clone()),
                detail,
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
        changes.extend(nodes.iter().filter(|n| n.line >= cut).map(|n| Change {
            kind: "drop-record",
            line: n.line,
            uuid: Some(n.uuid.clone()),
            detail: format!("dropped record {} (line {}) with the cut", n.uuid, n.line),
        }));
    }
    // Missing results: a new user record right after the record of each call that has no
    // result anywhere in the file, where the client itself writes results, and the record
    // that followed the call relinked to it. A sibling of the same response (a parallel call)
    // stays where it is: the client puts results of parallel calls back by their source.
    let mut missing_by_node: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for u in analysis.unpaired.iter().filter(|u| u.dangling) {
        if !analysis.answered.contains(&u.tool_use_id) {
            missing_by_node
                .entry(u.node)
                .or_default()
                .push(u.tool_use_id.clone());
        }
    }
    for (call, missing) in missing_by_node {
        let new_uuid = crate::agent::new_uuid()?;
        let child = analysis.chain.iter().find(|&&j| {
            nodes[j].parent.as_deref() == Some(nodes[call].uuid.as_str())
                && !(nodes[j].kind == Kind::Assistant
                    && nodes[j].message_id == nodes[call].message_id)
        });
        if let Some(&child) = child {
            edits
                .entry(nodes[child].line)
                .or_default()
                .push(Edit::Reparent(new_uuid.clone()));
        }
        changes.push(Change {
            kind: "insert-error-result",
            line: nodes[call].line,
            uuid: Some(new_uuid.clone()),
            detail: format!(
                "inserted a user record with error results for {} right after the call",
                missing.join(", ")
            ),
        });
        inserts.insert(nodes[call].line, (new_uuid, missing));
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

/// The conversation records of `original`'s resumed chain that `fork` no longer holds, by
/// uuid: what a repair would lose.
pub fn lost_records(original: &Analysis, fork: &Analysis) -> Vec<String> {
    original
        .chain
        .iter()
        .map(|&i| &original.nodes[i])
        .filter(|n| n.is_conversation() && !fork.by_uuid.contains_key(&n.uuid))
        .map(|n| n.uuid.clone())
        .collect()
}

/// Whether the analysed transcript holds any conversation record at all.
pub fn has_conversation(analysis: &Analysis) -> bool {
    analysis.nodes.iter().any(Node::is_conversation)
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

//! Reading a Claude Code transcript the way the pinned client (2.1.x) loads it on resume,
//! without ever writing to it.
//!
//! What the client does, as observed with the real Claude Code 2.1.197 offline and checked by
//! this project's tests against it (`tests/it/real_claude.rs`, `tests/it/real_adopt.rs`):
//! - a transcript is `<config dir>/projects/<encoded cwd>/<session uuid>.jsonl`; every line is
//!   a JSON value, most of them records with `uuid` and `parentUuid`; records are not always
//!   in chain order, so they are indexed by uuid;
//! - resume goes on from the leaf in FILE ORDER, as both 2.1.197 and 2.1.332 load it (read
//!   from 2.1.332's loader): the only conversation record no conversation record follows, or
//!   of several, the one reached from the last record written; never the newest timestamp (a
//!   `last-prompt` record names a finished turn, stale after a crash) - then walks `parentUuid`
//!   back;
//! - a parent that is not in the file is linked to the record written last at or before the
//!   record's time, when that one is at most 5 s older; past that, everything before is
//!   dropped. A file's first record may name a parent outside the file (a conversation
//!   continued in a new file): nothing is before it, and nothing is lost;
//! - an assistant response is one record per content block, sharing `message.id`; parallel
//!   tool calls and their results sit on branches of their own, and the client puts them back
//!   together (results name their call's record in `sourceToolAssistantUUID`);
//! - a compaction writes a `compact_boundary` (`parentUuid: null`) whose
//!   `compactMetadata.preservedSegment` names records kept verbatim after the summary;
//! - 2.1.x drops a tool_use without a result and replaces a result without a call before it
//!   sends, so neither fails a request; 1.0.x clients sent them and got the API's 400. 2.1.332
//!   keeps a call cut off at the end (a crash mid-tool) and writes an "interrupted" result for
//!   it on resume ([`Client`]);
//! - 2.1.332 adds record types without a uuid (`api-request*`, `atis-latch`, `tools-used`,
//!   `cost-state`: off the chain, never indexed) and attachments with one (on the chain, never
//!   sent).
//!
//! The file is read as a stream, one line at a time, into a compact index ([`index`]): memory
//! is the longest line plus 64 bytes per record (see README, "sessctl transcript").
//!
//! `record` reads a line, `index` keeps it, this module walks the chain and judges it, and
//! `repair` writes a mended copy.
//!
//! Model layer. May import: `error`, `uuid`.

mod index;
mod record;
mod repair;

use std::borrow::Cow;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;

pub use index::Node;
use index::{about, Index};
pub use record::{Id, Kind};
pub use repair::{copy_as, write_fork, Change, ChangeKind};

pub use crate::error::Severity;

/// What a finding is about, closed so that a typo does not compile and repair's and the
/// guard's matches see every kind. Its spelling ([`FindingId::as_str`]) is the stable `id`
/// of `transcript check --json`, listed in `transcript check --help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FindingId {
    /// A parent not in the file and nothing written in the 5 s before: history is dropped.
    BrokenChain,
    /// A parent not in the file, linked by the client to the record written just before.
    RelinkedParent,
    /// A line that is not JSON: the client skips it.
    UnparseableLine,
    /// The last line was cut off mid-write.
    PartialLastLine,
    /// A tool call with no result.
    DanglingToolUse,
    /// A tool result with no call before it.
    OrphanToolResult,
    /// The parentUuid chain loops.
    ChainCycle,
    /// A pinned product's conversation has no transcript.
    MissingTranscript,
    /// A pinned product's transcript holds no conversation.
    EmptyTranscript,
    /// A compaction boundary with no summary after it.
    BoundaryWithoutSummary,
    /// The agent's own retention will delete the pinned transcript.
    Retention,
}

impl FindingId {
    /// The id as `transcript check` prints it, in kebab case: `broken-chain`.
    pub fn as_str(self) -> &'static str {
        use FindingId::*;
        match self {
            BrokenChain => "broken-chain",
            RelinkedParent => "relinked-parent",
            UnparseableLine => "unparseable-line",
            PartialLastLine => "partial-last-line",
            DanglingToolUse => "dangling-tool-use",
            OrphanToolResult => "orphan-tool-result",
            ChainCycle => "chain-cycle",
            MissingTranscript => "missing-transcript",
            EmptyTranscript => "empty-transcript",
            BoundaryWithoutSummary => "boundary-without-summary",
            Retention => "retention",
        }
    }
}

spelled_as_str!(serialize: FindingId);

/// One problem in a transcript.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub id: FindingId,
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
            && matches!(
                self.id,
                FindingId::DanglingToolUse | FindingId::OrphanToolResult
            )
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
    /// The worst finding's severity: what decides `check`'s exit status (see `error`).
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).min()
    }
}

/// Which client's rules judge the pairing, by the version of the last record that names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// 1.0.x: sent broken pairs to the API as they were, and got its 400.
    Legacy,
    /// 2.x before [`INTERRUPTED_SINCE`] (observed: 2.1.197): drops a call without a result.
    Current,
    /// [`INTERRUPTED_SINCE`] on (observed: 2.1.332): keeps a call without a result at the end
    /// of the conversation (a crash mid-tool) and writes an "interrupted" result for it when
    /// it resumes; a call without a result inside the conversation is still dropped. A file
    /// that names no version is judged by this, the newest client's rules.
    Interrupting,
}

/// The first version observed to keep an interrupted call: 2.1.332 (2.1.197 drops it; the
/// versions between were not run).
pub const INTERRUPTED_SINCE: u32 = 2 << 20 | 1 << 10 | 332;

impl Client {
    /// The client a transcript's version fields name.
    fn of(index: &Index) -> Client {
        match (index.versions, index.last_version) {
            ((true, true), _) => Client::Legacy,
            (_, Some(v)) if v < INTERRUPTED_SINCE => Client::Current,
            _ => Client::Interrupting,
        }
    }
}

/// The parsed transcript: its index, the chain resume would load, and the API messages.
#[derive(Debug)]
pub struct Analysis {
    index: Index,
    /// Node indexes in the order the client sends them, leaf last.
    pub chain: Vec<u32>,
    /// The tool calls and results the client has to mend (or, for 1.0.x, the API refuses).
    pub unpaired: Vec<Unpaired>,
    /// Fingerprints of every tool_use id that has a result somewhere in the file, sorted.
    answered: Vec<u64>,
    pub report: Report,
    pub client: Client,
}

impl Analysis {
    pub fn node(&self, i: usize) -> &Node {
        self.index.node(i)
    }
    pub fn nodes(&self) -> impl DoubleEndedIterator<Item = &Node> + '_ {
        self.index.nodes()
    }
    /// A record's uuid as the file spells it.
    pub fn name(&self, id: Id) -> String {
        self.index.name(id)
    }
    /// Whether the file holds a record with the uuid `text`.
    pub fn contains(&self, text: &str) -> bool {
        self.index.find(Id::of(text).0).is_some()
    }
    /// Whether tool call `tool_use_id` has a result anywhere in the file.
    pub fn answered(&self, tool_use_id: &str) -> bool {
        self.answered
            .binary_search(&record::hash64(tool_use_id))
            .is_ok()
    }
    pub fn partial_tail(&self) -> bool {
        self.index.partial_tail
    }
    pub fn at_line(&self, line: u64) -> Option<usize> {
        self.index.at_line(line)
    }
}

/// A tool call with no result in the next message, or a result with no call in the previous
/// one.
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

/// How far back the client links a record whose parent was never written, in the index's
/// tenths of a second (observed: 5 s links, 120 s does not).
const LINK_WINDOW: u32 = 50;

/// Reads `path` line by line and judges it as the client would load it on resume.
pub fn analyze(path: &Path) -> Result<Analysis> {
    let mut index = Index::read(path)?;
    let mut findings = std::mem::take(&mut index.findings);
    let client = Client::of(&index);
    let leaf = leaf(&index);
    findings.extend(cycles(&index));
    let walked = walk(&index, leaf, &mut findings);
    let chain = regroup(&index, &walked);
    drop(walked);
    boundary_findings(&index, &chain, &mut findings);
    let messages = api_messages(&index, &chain);
    let mut answered: Vec<u64> = index
        .nodes()
        .flat_map(|n| index.tool_results(n).iter().copied())
        .collect();
    answered.sort_unstable();
    let unpaired = unpaired(path, &index, &messages, &chain)?;
    findings.extend(pairing_findings(&index, &unpaired, messages.len(), client));
    findings.sort_by_key(|f| (f.severity, f.line));
    let report = Report {
        file: path.to_path_buf(),
        lines: index.lines,
        records: index.len(),
        session_id: index.session.map(|s| index.name(s)),
        leaf: leaf.map(|i| index.name(index.node(i).uuid)),
        chain_length: chain.len(),
        api_messages: messages.len(),
        findings,
    };
    Ok(Analysis {
        index,
        chain,
        unpaired,
        answered,
        report,
        client,
    })
}

fn unparseable(line: u64, complete: bool, bytes: usize, err: &serde_json::Error) -> Finding {
    Finding {
        id: if complete {
            FindingId::UnparseableLine
        } else {
            FindingId::PartialLastLine
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

/// The chain from `leaf` back to the root or the last compaction boundary, root first, with
/// a missing parent linked as the client links it.
fn walk(index: &Index, leaf: Option<usize>, findings: &mut Vec<Finding>) -> Vec<u32> {
    let mut chain = Vec::new();
    let mut seen = vec![false; index.len()];
    let mut cursor = leaf;
    while let Some(i) = cursor {
        if std::mem::replace(&mut seen[i], true) {
            // Reported by `cycles`, with every other loop in the file.
            break;
        }
        chain.push(i as u32);
        let node = index.node(i);
        if node.boundary() || node.parent.is_none() {
            break;
        }
        cursor = match index.find(node.parent) {
            Some(p) => Some(p),
            None => missing_parent(index, i, &seen, findings),
        };
    }
    chain.reverse();
    chain
}

/// Where the client goes on from record `i`, whose parent was never written: the record
/// written last at or before `i`'s time (of those not on the chain yet, on the same side; the
/// first in the file of equal times), when it is at most [`LINK_WINDOW`] older. Else the
/// history before `i` is lost, unless there is none: a file's first record may name a parent
/// in another file (a conversation continued in a new file, or after a compaction), and then
/// the history simply begins there.
fn missing_parent(
    index: &Index,
    i: usize,
    on_chain: &[bool],
    findings: &mut Vec<Finding>,
) -> Option<usize> {
    let node = index.node(i);
    let candidate = |p: usize| {
        let n = index.node(p);
        !on_chain[p] && n.sidechain() == node.sidechain() && n.kind != Kind::Progress
    };
    let before = match node.time {
        // Unreadable: the client links nothing; what the file holds before it is lost.
        0 => (0..i).find(|&p| candidate(p)),
        t => (0..index.len())
            .filter(|&p| candidate(p) && index.node(p).time != 0 && index.node(p).time <= t)
            // Of equal times, the last in the file: the index keeps tenths of a second, and
            // of records that close together the later one is the newer by the milliseconds.
            .max_by_key(|&p| (index.node(p).time, p)),
    };
    let before = before?;
    let parent = index.name(node.parent);
    let then = index.node(before).time;
    let linked = (node.time != 0 && node.time - then <= LINK_WINDOW).then_some(before);
    findings.push(match linked {
        Some(p) => about(index, i, FindingId::RelinkedParent, Severity::Warning, format!(
            "parentUuid {parent} is not in the file; the client links the record to {} (line {}), written just before",
            index.name(index.node(p).uuid), index.node(p).line
        )),
        None => about(index, i, FindingId::BrokenChain, Severity::Error, format!(
            "parentUuid {parent} is not in the file and no record was written in the 5 s before: the client drops everything before line {} (2.1.332 says \"Earlier messages in this session weren't loaded\"); `sessctl transcript repair` relinks it",
            node.line
        )),
    });
    linked
}

/// Every loop of parentUuid links, named at its last-written record: the client never
/// loads the records of a loop, nor what hangs below one.
fn cycles(index: &Index) -> Vec<Finding> {
    const DONE: u8 = 2;
    let mut state = vec![0u8; index.len()];
    let mut found = Vec::new();
    for start in 0..index.len() {
        let mut path = Vec::new();
        let mut cursor = Some(start);
        while let Some(i) = cursor.filter(|&i| state[i] != DONE) {
            if state[i] == 1 {
                let from = path.iter().position(|&p| p == i).unwrap_or(0);
                found.extend(path[from..].iter().copied().max());
                break;
            }
            state[i] = 1;
            path.push(i);
            cursor = index.find(index.node(i).parent);
        }
        for i in path {
            state[i] = DONE;
        }
    }
    found
        .into_iter()
        .map(|i| {
            let detail = "the parentUuid chain loops back on itself: the client drops the records of the loop and what lies after it";
            about(index, i, FindingId::ChainCycle, Severity::Error, detail.into())
        })
        .collect()
}

/// The record resume goes on from, as the client picks it: of the conversation records no
/// conversation record follows (the leaves), the only one; of several, the one reached from
/// the last record in FILE ORDER (its nearest conversation ancestor, itself when it is one),
/// not the newest by timestamp. With no leaf (every branch loops), the newest record.
/// (The client also honours a `last-prompt` checkpoint that names a leaf in some cases of a
/// rewind; after a crash or a plain turn the file order decides, as here.)
fn leaf(index: &Index) -> Option<usize> {
    let n = index.len();
    // The record each uuid resolves to: of duplicates, the last written.
    let canonical = |i: usize| index.find(index.node(i).uuid) == Some(i);
    let mut child = vec![0u8; n];
    const ANY: u8 = 1;
    const CONVERSATION: u8 = 2;
    for i in (0..n).filter(|&i| canonical(i)) {
        let node = index.node(i);
        if let Some(p) = index.find(node.parent) {
            let conversation = matches!(node.kind, Kind::User | Kind::Assistant);
            child[p] |= if conversation {
                ANY | CONVERSATION
            } else {
                ANY
            };
        }
    }
    let mut leaves: Vec<usize> = (0..n)
        .filter(|&i| canonical(i) && child[i] & ANY == 0)
        .filter_map(|i| nearest_conversation(index, i))
        .filter(|&i| child[i] & CONVERSATION == 0 && !index.node(i).sidechain())
        .collect();
    leaves.sort_unstable();
    leaves.dedup();
    if leaves.len() == 1 {
        return leaves.first().copied();
    }
    let last_row = (0..n).rev().find(|&i| {
        let node = index.node(i);
        !node.sidechain() && node.kind != Kind::Progress
    });
    let from_last = last_row.and_then(|i| nearest_conversation(index, i));
    let newest = |among: &mut dyn Iterator<Item = usize>| {
        among.max_by_key(|&i| (index.node(i).time, std::cmp::Reverse(i)))
    };
    from_last
        .or_else(|| newest(&mut leaves.iter().copied()))
        .or_else(|| newest(&mut (0..n).filter(|&i| index.node(i).is_conversation())))
}

/// `i` when it is a user or assistant record, else its nearest such ancestor.
fn nearest_conversation(index: &Index, i: usize) -> Option<usize> {
    let mut cursor = Some(i);
    for _ in 0..index.len() {
        let at = cursor?;
        if matches!(index.node(at).kind, Kind::User | Kind::Assistant) {
            return Some(at);
        }
        cursor = index.find(index.node(at).parent);
    }
    None
}

/// The walked chain as the client sends it: each assistant response with all of its records
/// (parallel calls sit on sibling branches), each followed by the tool results that answer
/// them, and a compaction's preserved segment right after its anchor (the summary).
fn regroup(index: &Index, walked: &[u32]) -> Vec<u32> {
    // The records of every response, by message fingerprint.
    let message = |i: u32| index.node(i as usize).message;
    let mut responses: Vec<u32> = (0..index.len() as u32)
        .filter(|&i| {
            let n = index.node(i as usize);
            n.kind == Kind::Assistant && n.message != 0 && !n.sidechain()
        })
        .collect();
    responses.sort_unstable_by_key(|&i| (message(i), i));
    let mut out = Vec::with_capacity(walked.len());
    let mut placed = vec![false; index.len()];
    let mut place = |i: u32, out: &mut Vec<u32>| {
        if !std::mem::replace(&mut placed[i as usize], true) {
            out.push(i);
        }
    };
    for &i in with_preserved(index, walked).iter() {
        let node = index.node(i as usize);
        if node.kind != Kind::Assistant || node.message == 0 {
            place(i, &mut out);
            continue;
        }
        let start = responses.partition_point(|&j| message(j) < node.message);
        let group: Vec<u32> = responses[start..]
            .iter()
            .take_while(|&&j| message(j) == node.message)
            .copied()
            .collect();
        for &member in &group {
            place(member, &mut out);
        }
        for &member in &group {
            for answer in index.answers(index.node(member as usize).uuid) {
                if !index.node(answer).sidechain() {
                    place(answer as u32, &mut out);
                }
            }
        }
    }
    out
}

/// `walked` with a compaction's preserved segment (tail back to head) after its anchor.
fn with_preserved<'a>(index: &Index, walked: &'a [u32]) -> Cow<'a, [u32]> {
    let Some(&first) = walked.first() else {
        return Cow::Borrowed(walked);
    };
    let Some(&(_, [head, anchor, tail])) = index.preserved.iter().find(|(b, _)| *b == first) else {
        return Cow::Borrowed(walked);
    };
    let on_chain: HashSet<u32> = walked.iter().copied().collect();
    let mut segment = Vec::new();
    let mut cursor = index.find(tail);
    while let Some(i) = cursor {
        if segment.contains(&(i as u32)) || on_chain.contains(&(i as u32)) {
            break;
        }
        segment.push(i as u32);
        if index.node(i).uuid == head {
            break;
        }
        cursor = index.find(index.node(i).parent);
    }
    segment.reverse();
    let at = walked
        .iter()
        .position(|&i| index.node(i as usize).uuid == anchor)
        .map_or(1, |p| p + 1)
        .min(walked.len());
    let mut out = walked[..at].to_vec();
    out.extend(segment);
    out.extend_from_slice(&walked[at..]);
    Cow::Owned(out)
}

/// A compaction boundary must be followed by its summary.
fn boundary_findings(index: &Index, chain: &[u32], findings: &mut Vec<Finding>) {
    let Some(&first) = chain.first() else { return };
    if !index.node(first as usize).boundary() {
        return;
    }
    let summary = chain.get(1).map(|&i| index.node(i as usize));
    if !summary.is_some_and(Node::compact_summary) {
        let detail = "a compaction boundary has no summary after it: the conversation before it is gone from the agent's context";
        findings.push(about(
            index,
            first as usize,
            FindingId::BoundaryWithoutSummary,
            Severity::Warning,
            detail.into(),
        ));
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
/// Each message is a range of the chain; the records in it that are not sent are skipped.
fn api_messages(index: &Index, chain: &[u32]) -> Vec<(u32, u32)> {
    let mut messages: Vec<(u32, u32)> = Vec::new();
    let mut last_kind = None;
    for (at, &i) in chain.iter().enumerate() {
        let n = index.node(i as usize);
        if !n.is_sent() {
            continue;
        }
        match messages.last_mut() {
            Some((_, end)) if last_kind == Some(n.kind) => *end = at as u32 + 1,
            _ => messages.push((at as u32, at as u32 + 1)),
        }
        last_kind = Some(n.kind);
    }
    messages
}

/// Tool calls paired by id with the results in the next message, and results with the calls
/// in the previous one; order within a message does not matter. Ids are fingerprints; the
/// texts of the few unpaired ones are read back from the file to name them.
fn unpaired(
    path: &Path,
    index: &Index,
    messages: &[(u32, u32)],
    chain: &[u32],
) -> Result<Vec<Unpaired>> {
    let view = Messages {
        index,
        messages,
        chain,
    };
    let found = view.unpaired_ids();
    let mut lines: Vec<u32> = found
        .iter()
        .map(|&(_, i, _, _)| index.node(i).line)
        .collect();
    lines.dedup();
    let texts = index::tool_id_texts(path, &lines)?;
    Ok(found
        .into_iter()
        .map(|(message, node, id, dangling)| Unpaired {
            message,
            node,
            tool_use_id: texts.get(&id).cloned().unwrap_or_default(),
            dangling,
        })
        .collect())
}

/// The API messages of the resumed chain, each a range of `chain`.
struct Messages<'a> {
    index: &'a Index,
    messages: &'a [(u32, u32)],
    chain: &'a [u32],
}

impl Messages<'_> {
    /// The records message `k` sends.
    fn nodes_of(&self, k: usize) -> Vec<u32> {
        let (start, end) = self.messages[k];
        let range = self.chain[start as usize..end as usize].iter().copied();
        range
            .filter(|&i| self.index.node(i as usize).is_sent())
            .collect()
    }

    fn kind_of(&self, k: usize) -> Kind {
        self.index.node(self.nodes_of(k)[0] as usize).kind
    }

    /// The tool ids message `k` calls (`uses`) or answers, when it is a message of `kind`.
    fn ids(&self, k: Option<usize>, kind: Kind, uses: bool) -> HashSet<u64> {
        k.filter(|&k| k < self.messages.len() && self.kind_of(k) == kind)
            .map(|k| self.nodes_of(k))
            .unwrap_or_default()
            .iter()
            .flat_map(|&i| self.own_ids(i, uses))
            .copied()
            .collect()
    }

    fn own_ids(&self, node: u32, uses: bool) -> &[u64] {
        let n = self.index.node(node as usize);
        if uses {
            self.index.tool_uses(n)
        } else {
            self.index.tool_results(n)
        }
    }

    /// (message, node, tool id, dangling) of every call without its result in the next
    /// message, and every result without its call in the previous one.
    fn unpaired_ids(&self) -> Vec<(usize, usize, u64, bool)> {
        let mut found = Vec::new();
        for k in 0..self.messages.len() {
            let dangling = self.kind_of(k) == Kind::Assistant;
            let partners = if dangling {
                self.ids(Some(k + 1), Kind::User, false)
            } else {
                self.ids(k.checked_sub(1), Kind::Assistant, true)
            };
            for i in self.nodes_of(k) {
                for &id in self
                    .own_ids(i, dangling)
                    .iter()
                    .filter(|id| !partners.contains(id))
                {
                    found.push((k, i as usize, id, dangling));
                }
            }
        }
        found
    }
}

fn pairing_findings(
    index: &Index,
    unpaired: &[Unpaired],
    messages: usize,
    client: Client,
) -> Vec<Finding> {
    unpaired
        .iter()
        .map(|u| {
            let (id, k) = (&u.tool_use_id, u.message);
            let at_end = k + 1 == messages;
            let detail = match (u.dangling, client) {
                (true, Client::Legacy) => format!("tool_use {id} (API message {k}) has no tool_result in the next user message: this 1.0.x transcript is sent as it is, and the API answers 400"),
                (false, Client::Legacy) => format!("tool_result for {id} (API message {k}) has no tool_use in the previous assistant message: this 1.0.x transcript is sent as it is, and the API answers 400"),
                (true, Client::Interrupting) if at_end => format!("tool_use {id} (API message {k}) has no result: the call was cut off (a crash mid-tool); the client keeps it and writes an \"interrupted\" result for it when it resumes"),
                (true, _) => format!("tool_use {id} (API message {k}) has no result: the client drops the call when it resumes (the conversation goes on without it)"),
                (false, _) => format!("tool_result for {id} (API message {k}) has no call before it: the client replaces it with an empty message when it resumes"),
            };
            let severity = match client {
                Client::Legacy => Severity::Error,
                Client::Current | Client::Interrupting => Severity::Warning,
            };
            let kind = if u.dangling { FindingId::DanglingToolUse } else { FindingId::OrphanToolResult };
            about(index, u.node, kind, severity, detail)
        })
        .collect()
}

/// The conversation records of `original`'s resumed chain that `fork` no longer holds, by
/// uuid: what a repair would lose.
pub fn lost_records(original: &Analysis, fork: &Analysis) -> Vec<String> {
    original
        .chain
        .iter()
        .map(|&i| original.node(i as usize))
        .filter(|n| n.is_conversation() && fork.index.find(n.uuid).is_none())
        .map(|n| original.name(n.uuid))
        .collect()
}

/// Whether the analysed transcript holds any conversation record at all.
pub fn has_conversation(analysis: &Analysis) -> bool {
    analysis.nodes().any(Node::is_conversation)
}

/// Fixtures trimmed from transcripts the real Claude Code 2.1.332 wrote against the fake API
/// (`tests/it/real_adopt.rs`, kept with `SESSCTL_KEEP_TRANSCRIPTS`): long strings and arrays
/// cut, every record's shape, uuid, link and timestamp as written.
#[cfg(test)]
mod tests {
    use super::*;

    fn analyzed(name: &str, text: &str) -> (tempfile::TempDir, Analysis) {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("writing the fixture");
        let analysis = analyze(&path).expect("analysing the fixture");
        (dir, analysis)
    }

    fn ids(analysis: &Analysis) -> Vec<&'static str> {
        analysis
            .report
            .findings
            .iter()
            .map(|f| f.id.as_str())
            .collect()
    }

    /// Only a pair the API refuses blocks a resume: a dangling call or an orphan result
    /// judged an error (a 1.0.x transcript); the same ids as warnings, or another error, do
    /// not. The id keeps its spelling in JSON.
    #[test]
    fn only_unpaired_errors_block_a_resume() {
        let finding = |id, severity| Finding {
            id,
            severity,
            line: 1,
            uuid: None,
            detail: String::new(),
        };
        for id in [FindingId::DanglingToolUse, FindingId::OrphanToolResult] {
            assert!(finding(id, Severity::Error).blocks_resume(), "{id}");
            assert!(!finding(id, Severity::Warning).blocks_resume(), "{id}");
        }
        for id in [FindingId::BrokenChain, FindingId::ChainCycle] {
            assert!(!finding(id, Severity::Error).blocks_resume(), "{id}");
        }
        let json = serde_json::to_value(finding(FindingId::BrokenChain, Severity::Error))
            .expect("a finding as JSON");
        assert_eq!(json["id"], "broken-chain");
    }

    /// The tail of a conversation from its second prompt on: the file's first record names a
    /// parent in the part that is not in this file, as a file that continues another does.
    /// Nothing is before it, so nothing is dropped.
    #[test]
    fn a_first_record_whose_parent_is_outside_the_file_is_no_break() {
        let (_dir, a) = analyzed("continued.jsonl", include_str!("testdata/continued.jsonl"));
        assert_eq!(ids(&a), Vec::<&str>::new(), "{:#?}", a.report.findings);
        assert_eq!((a.report.chain_length, a.report.api_messages), (6, 6));
    }

    /// Cut right after `/compact` wrote its command records, which carry older timestamps
    /// than the summary before them: the client goes on from the last of them in the file
    /// (line 60), not from the newest by timestamp (the summary, line 58).
    #[test]
    fn the_leaf_is_the_last_in_file_order_not_the_newest() {
        let (_dir, a) = analyzed(
            "compacting.jsonl",
            include_str!("testdata/compacting.jsonl"),
        );
        assert_eq!(
            a.report.leaf.as_deref(),
            Some("ac1d814b-e166-4539-be26-6e3c742878fe")
        );
        assert_eq!((a.report.chain_length, a.report.api_messages), (7, 3));
        assert_eq!(ids(&a), Vec::<&str>::new());
    }

    /// Two leaves: the branch written last in the file wins though its records are older.
    #[test]
    fn of_two_branches_the_last_written_is_resumed() {
        let record = |uuid: &str, parent: &str, kind: &str, time: &str| {
            format!(
                "{{\"type\":\"{kind}\",\"uuid\":\"{uuid}\",\"parentUuid\":{parent},\"timestamp\":\"2026-12-07T00:00:{time}Z\",\"version\":\"2.1.332\",\"message\":{{\"role\":\"{kind}\",\"content\":\"x\"}}}}\n"
            )
        };
        let text = [
            record("u1", "null", "user", "01.000"),
            record("a1", "\"u1\"", "assistant", "09.000"),
            record("a2", "\"u1\"", "assistant", "05.000"),
        ]
        .concat();
        let (_dir, a) = analyzed("branches.jsonl", &text);
        assert_eq!(a.report.leaf.as_deref(), Some("a2"));
    }

    /// The transcript a SIGKILL left in the middle of a Bash call: 2.1.332 keeps the call and
    /// writes an "interrupted" result for it when it resumes; 2.1.197 drops it.
    #[test]
    fn a_call_cut_off_by_a_crash_is_judged_by_the_client_version() {
        let text = include_str!("testdata/crashed.jsonl");
        let (_dir, a) = analyzed("crashed.jsonl", text);
        assert_eq!(a.client, Client::Interrupting);
        assert_eq!(ids(&a), ["dangling-tool-use"]);
        let detail = &a.report.findings[0].detail;
        assert!(
            detail.contains("writes an \"interrupted\" result"),
            "{detail}"
        );
        let older = text.replace("\"version\":\"2.1.332\"", "\"version\":\"2.1.197\"");
        let (_dir, a) = analyzed("crashed-197.jsonl", &older);
        assert_eq!(a.client, Client::Current);
        let detail = &a.report.findings[0].detail;
        assert!(detail.contains("the client drops the call"), "{detail}");
    }

    /// Every record type 2.1.332 writes (`atis-latch`, `api-request-shape`, `api-request-blob`
    /// with the empty system message that carries only settings, `api-request`, `tools-used`,
    /// `cost-state`, the new attachments, `prompt_snapshot`, `stop_hook_summary`) through
    /// parallel calls, a restart and a compaction: understood, none flagged, and the client's
    /// version read from them.
    #[test]
    fn the_newest_clients_record_types_are_understood() {
        let (_dir, a) = analyzed("newest.jsonl", include_str!("testdata/newest.jsonl"));
        assert_eq!(ids(&a), Vec::<&str>::new(), "{:#?}", a.report.findings);
        assert_eq!(a.client, Client::Interrupting);
        assert_eq!(
            a.report.leaf.as_deref(),
            Some("91166830-7b41-4a8a-ba42-8946c0d7c0a8")
        );
        assert_eq!((a.report.chain_length, a.report.api_messages), (25, 6));
    }

    #[test]
    fn versions_order_as_versions() {
        let v = |t| record::version(t).expect("a version");
        assert!(v("2.1.197") < v("2.1.332") && v("2.1.332") < v("2.2.0"));
        assert!(v("1.0.51") < 2 << 20);
        assert_eq!(record::version("dev"), None);
    }
}

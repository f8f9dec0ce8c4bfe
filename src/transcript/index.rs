//! The compact index of a transcript: one fixed-size entry of 64 bytes per record, in pages that
//! never move, so a transcript of half a million records fits in a few tens of MiB and its
//! size never doubles while it grows (README, "sessctl transcript", states the figure).

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::{mpsc, Mutex};

use anyhow::{Context, Result};

use super::record::{Id, Kind, Raw, RawId};
use super::{Finding, FindingId, Severity};

/// One record: what the chain walk and the pairing need, nothing more.
#[derive(Debug, Clone, Copy, Default)]
pub struct Node {
    pub uuid: Id,
    /// [`Id::NONE`] for a root.
    pub parent: Id,
    /// The message id's fingerprint, 0 for none.
    pub message: u64,
    /// When it was written, in tenths of a second after the index's base (see
    /// [`Index::tick`]); 0 when its timestamp is unreadable.
    pub time: u32,
    /// 1-based line number.
    pub line: u32,
    /// The record's tool ids: `uses` calls then `results` results, from `tools` in the arena.
    tools: u32,
    uses: u16,
    results: u16,
    pub kind: Kind,
    flags: u8,
}

const SIDECHAIN: u8 = 1;
const SKIPPED: u8 = 2;
const BOUNDARY: u8 = 4;
const SUMMARY: u8 = 8;

impl Node {
    pub fn is_conversation(&self) -> bool {
        !self.sidechain() && matches!(self.kind, Kind::User | Kind::Assistant)
    }
    /// Sent to the API on resume: a conversation record that is not meta.
    pub fn is_sent(&self) -> bool {
        self.is_conversation() && !self.skipped()
    }
    pub fn sidechain(&self) -> bool {
        self.flags & SIDECHAIN != 0
    }
    /// Not sent to the API: meta records and local API-error records.
    pub fn skipped(&self) -> bool {
        self.flags & SKIPPED != 0
    }
    pub fn boundary(&self) -> bool {
        self.flags & BOUNDARY != 0
    }
    pub fn compact_summary(&self) -> bool {
        self.flags & SUMMARY != 0
    }
}

/// Records per page: a page is allocated once and never moved.
const PAGE: usize = 1 << 14;

/// The index pass's result.
#[derive(Default)]
pub struct Index {
    pages: Vec<Vec<Node>>,
    len: usize,
    /// Tool call and result fingerprints, referenced by the nodes.
    arena: Vec<u64>,
    /// Node indexes sorted by uuid (then position): the uuid lookup.
    sorted: Vec<u32>,
    /// The text of every id that is not a canonical UUID.
    names: HashMap<Id, Box<str>>,
    /// (the call record a result answers, the result's node), sorted.
    pub sources: Vec<(Id, u32)>,
    /// A compaction boundary's preserved segment: (boundary node, head, anchor, tail).
    pub preserved: Vec<(u32, [Id; 3])>,
    pub findings: Vec<Finding>,
    pub session: Option<Id>,
    pub lines: u64,
    pub partial_tail: bool,
    /// Whether any record names a client version, and whether every one of them is 1.x.
    pub versions: (bool, bool),
    /// The version of the last record that names one: the newest client that wrote the file.
    pub last_version: Option<u32>,
    /// Milliseconds since the epoch that tick 2^31 stands for: the first timestamp read.
    base: Option<i64>,
}

impl Index {
    /// Reads `path` in blocks that worker threads parse, one line at a time each, while this
    /// thread adds their records in file order: a transcript is checked at the speed of all
    /// the cores, with a bounded number of blocks in flight.
    pub fn read(path: &Path) -> Result<Index> {
        let file =
            File::open(path).with_context(|| format!("opening transcript {}", path.display()))?;
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
        let mut index = Index {
            versions: (false, true),
            ..Index::default()
        };
        let (blocks, to_parse) = mpsc::sync_channel::<(u64, Vec<u8>)>(workers);
        let to_parse = Mutex::new(to_parse);
        // Parsed blocks' buffers go back to the reader, so no block is allocated twice.
        let (spent, reuse) = mpsc::channel::<Vec<u8>>();
        // The reader reads a block only with a credit, and a block's credit comes back once
        // its records are in: a slow parser never lets blocks pile up behind it.
        let (credit, credits) = mpsc::channel::<()>();
        for _ in 0..2 * workers {
            let _ = credit.send(());
        }
        std::thread::scope(|scope| -> Result<()> {
            let (parsed, done) = mpsc::sync_channel::<(u64, Vec<Line>)>(workers);
            let reader = scope.spawn(move || read_blocks(file, blocks, reuse, credits));
            for _ in 0..workers {
                let (to_parse, parsed, spent) = (&to_parse, parsed.clone(), spent.clone());
                scope.spawn(move || parse_blocks(to_parse, parsed, spent));
            }
            drop((parsed, spent));
            let mut waiting = BTreeMap::new();
            let mut next = 0u64;
            for (seq, lines) in done {
                waiting.insert(seq, lines);
                while let Some(lines) = waiting.remove(&next) {
                    index.take(lines);
                    let _ = credit.send(());
                    next += 1;
                }
            }
            reader
                .join()
                .map_err(|_| anyhow::anyhow!("the transcript reader panicked"))?
                .with_context(|| format!("reading {}", path.display()))
        })?;
        index.finish();
        Ok(index)
    }

    /// Adds the lines of one block, numbering them on from the blocks before.
    fn take(&mut self, lines: Vec<Line>) {
        for line in lines {
            self.lines += 1;
            match line {
                Line::Blank => {}
                Line::Record(raw) => self.add(raw),
                Line::Bad {
                    complete,
                    bytes,
                    err,
                } => {
                    self.partial_tail = !complete;
                    let finding = super::unparseable(self.lines, complete, bytes, &err);
                    self.findings.push(finding);
                }
            }
        }
    }

    /// `ms` (since the epoch) as a tick: tenths of a second, 2^31 at the first timestamp read,
    /// so 4 bytes cover 6.8 years either side of it (beyond, a time is clamped).
    fn tick(&mut self, ms: i64) -> u32 {
        let base = *self.base.get_or_insert(ms);
        let tick = (ms - base).div_euclid(100) + (1 << 31);
        tick.clamp(1, i64::from(u32::MAX)) as u32
    }

    fn id(&mut self, raw: RawId) -> Id {
        match raw {
            RawId::Absent => Id::NONE,
            RawId::Canonical(id) => id,
            RawId::Other(text) => {
                let id = Id::of(&text).0;
                self.names.entry(id).or_insert_with(|| text.into());
                id
            }
        }
    }

    fn add(&mut self, raw: Raw) {
        if self.session.is_none() {
            let session = self.id(raw.session);
            self.session = (!session.is_none()).then_some(session);
        }
        if let Some(version) = raw.version {
            let legacy = version < 2 << 20;
            self.versions = (true, self.versions.1 && legacy);
            self.last_version = Some(version);
        }
        let uuid = self.id(raw.uuid);
        if uuid.is_none() {
            return;
        }
        let at = self.len as u32;
        let source = self.id(raw.source);
        let parent = self.id(raw.parent);
        if !raw.tool_results.is_empty() {
            // A result without a source names its call by its parent, as 1.0.x wrote them.
            let call = if source.is_none() { parent } else { source };
            self.sources.push((call, at));
        }
        if let (true, Some(segment)) = (raw.compact_boundary, raw.preserved) {
            let [head, anchor, tail] = segment.map(|s| Id::of(&s).0);
            self.preserved.push((at, [head, anchor, tail]));
        }
        let flags = [
            (raw.sidechain, SIDECHAIN),
            (raw.skipped, SKIPPED),
            (raw.compact_boundary, BOUNDARY),
            (raw.compact_summary, SUMMARY),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .fold(0, |flags, (_, bit)| flags | bit);
        let node = Node {
            uuid,
            parent,
            message: raw.message_id.unwrap_or(0),
            time: raw.time.map_or(0, |ms| self.tick(ms)),
            line: self.lines as u32,
            tools: self.arena.len() as u32,
            uses: raw.tool_uses.len() as u16,
            results: raw.tool_results.len() as u16,
            kind: raw.kind,
            flags,
        };
        self.arena.extend(raw.tool_uses);
        self.arena.extend(raw.tool_results);
        if self.pages.last().is_none_or(|p| p.len() == PAGE) {
            self.pages.push(Vec::with_capacity(PAGE));
        }
        if let Some(page) = self.pages.last_mut() {
            page.push(node);
            self.len += 1;
        }
    }

    /// Sorts the lookups once every record is in.
    fn finish(&mut self) {
        let mut sorted: Vec<u32> = (0..self.len as u32).collect();
        sorted.sort_unstable_by_key(|&i| (self.node(i as usize).uuid, i));
        self.sorted = sorted;
        self.sources.sort_unstable();
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn node(&self, i: usize) -> &Node {
        &self.pages[i / PAGE][i % PAGE]
    }

    pub fn nodes(&self) -> impl DoubleEndedIterator<Item = &Node> + '_ {
        self.pages.iter().flatten()
    }

    /// The record with `uuid`; of several, the last written, as the client keeps it.
    pub fn find(&self, uuid: Id) -> Option<usize> {
        if uuid.is_none() {
            return None;
        }
        let end = self
            .sorted
            .partition_point(|&i| self.node(i as usize).uuid <= uuid);
        let last = *self.sorted.get(end.checked_sub(1)?)?;
        (self.node(last as usize).uuid == uuid).then_some(last as usize)
    }

    /// The id's text: a canonical UUID, or the string it was made from.
    pub fn name(&self, id: Id) -> String {
        match self.names.get(&id) {
            Some(text) => text.to_string(),
            None => id.uuid_text(),
        }
    }

    pub fn tool_uses(&self, n: &Node) -> &[u64] {
        &self.arena[n.tools as usize..n.tools as usize + n.uses as usize]
    }

    pub fn tool_results(&self, n: &Node) -> &[u64] {
        let start = n.tools as usize + n.uses as usize;
        &self.arena[start..start + n.results as usize]
    }

    /// The result records that answer calls of record `call`.
    pub fn answers(&self, call: Id) -> impl Iterator<Item = usize> + '_ {
        let start = self.sources.partition_point(|&(c, _)| c < call);
        self.sources[start..]
            .iter()
            .take_while(move |&&(c, _)| c == call)
            .map(|&(_, i)| i as usize)
    }

    /// The node whose record is on `line`.
    pub fn at_line(&self, line: u64) -> Option<usize> {
        let (mut lo, mut hi) = (0, self.len);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match u64::from(self.node(mid).line).cmp(&line) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }
}

/// Bytes a reader hands the parsers at a time: large enough to keep them busy, small enough
/// that the blocks in flight stay a few MiB.
const BLOCK: usize = 1 << 20;

/// One line, parsed. Most lines are records, so the record is kept inline: a block's lines
/// are one allocation.
#[allow(clippy::large_enum_variant)]
enum Line {
    Blank,
    Record(Raw),
    /// Not JSON: `complete` says whether it ended in a newline.
    Bad {
        complete: bool,
        bytes: usize,
        err: serde_json::Error,
    },
}

/// Sends `file` in blocks of whole lines (the last one may end without a newline), each
/// with a credit; a line longer than a block makes its block longer.
fn read_blocks(
    mut file: File,
    blocks: mpsc::SyncSender<(u64, Vec<u8>)>,
    reuse: mpsc::Receiver<Vec<u8>>,
    credits: mpsc::Receiver<()>,
) -> std::io::Result<()> {
    let mut carry: Vec<u8> = Vec::new();
    for seq in 0.. {
        let mut block = reuse.try_recv().unwrap_or_default();
        block.clear();
        block.append(&mut carry);
        let mut eof = false;
        loop {
            let start = block.len();
            block.resize(start + BLOCK, 0);
            let n = read_full(&mut file, &mut block[start..])?;
            block.truncate(start + n);
            if n == 0 {
                eof = true;
                break;
            }
            // A line cut at the block's end goes on in the next block.
            if let Some(end) = block[start..].iter().rposition(|&b| b == b'\n') {
                carry.extend_from_slice(&block[start + end + 1..]);
                block.truncate(start + end + 1);
                break;
            }
        }
        if block.is_empty() || credits.recv().is_err() || blocks.send((seq, block)).is_err() || eof
        {
            break;
        }
    }
    Ok(())
}

/// Reads until `buf` is full or the file ends.
fn read_full(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(n)
}

/// A parser thread: takes blocks until the reader is done, and hands back their lines.
fn parse_blocks(
    to_parse: &Mutex<mpsc::Receiver<(u64, Vec<u8>)>>,
    parsed: mpsc::SyncSender<(u64, Vec<Line>)>,
    spent: mpsc::Sender<Vec<u8>>,
) {
    loop {
        let next = match to_parse.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok((seq, block)) = next else { return };
        let lines = parse_block(&block);
        let _ = spent.send(block);
        if parsed.send((seq, lines)).is_err() {
            return;
        }
    }
}

fn parse_block(block: &[u8]) -> Vec<Line> {
    block
        .split_inclusive(|&b| b == b'\n')
        .map(|line| {
            let complete = line.last() == Some(&b'\n');
            let text = if complete {
                &line[..line.len() - 1]
            } else {
                line
            };
            if text.iter().all(u8::is_ascii_whitespace) {
                return Line::Blank;
            }
            match serde_json::from_slice::<Raw>(text) {
                Ok(raw) => Line::Record(raw),
                Err(err) => Line::Bad {
                    complete,
                    bytes: text.len(),
                    err,
                },
            }
        })
        .collect()
}

/// The texts of the tool ids in the records on `lines` (sorted) of `path`, by fingerprint:
/// read back only for what a report names, which keeps the index free of strings.
pub fn tool_id_texts(path: &Path, lines: &[u32]) -> Result<HashMap<u64, String>> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut reader = BufReader::with_capacity(1 << 18, file);
    let (mut texts, mut buf, mut line) = (HashMap::new(), Vec::new(), 0u32);
    for &wanted in lines {
        while line < wanted {
            buf.clear();
            if reader
                .read_until(b'\n', &mut buf)
                .with_context(|| format!("reading {}", path.display()))?
                == 0
            {
                return Ok(texts);
            }
            line += 1;
        }
        let value: serde_json::Value = serde_json::from_slice(&buf).unwrap_or_default();
        for block in value["message"]["content"].as_array().into_iter().flatten() {
            for id in [block["id"].as_str(), block["tool_use_id"].as_str()]
                .into_iter()
                .flatten()
            {
                texts.insert(super::record::hash64(id), id.to_string());
            }
        }
    }
    Ok(texts)
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Index({} records)", self.len)
    }
}

/// A finding about the record `node` of `index`.
pub fn about(
    index: &Index,
    node: usize,
    id: FindingId,
    severity: Severity,
    detail: String,
) -> Finding {
    let n = index.node(node);
    Finding {
        id,
        severity,
        line: u64::from(n.line),
        uuid: Some(index.name(n.uuid)),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines longer than a block, blank lines and a cut-off last line come out whole and
    /// numbered as in the file.
    #[test]
    fn blocks_keep_every_line_whole() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("t.jsonl");
        let long = "x".repeat(3 * BLOCK + 7);
        let record = |uuid: &str, text: &str| {
            format!("{{\"type\":\"user\",\"uuid\":\"{uuid}\",\"message\":{{\"content\":\"{text}\"}}}}\n")
        };
        let text = format!(
            "{}\n{}{}{{\"type\":\"user\",\"uu",
            record("a", &long),
            record("b", "short"),
            record("c", &long)
        );
        std::fs::write(&path, text).expect("writing");
        let index = Index::read(&path).expect("reading");
        assert_eq!(index.lines, 5);
        assert_eq!(index.len(), 3);
        let lines: Vec<u32> = index.nodes().map(|n| n.line).collect();
        assert_eq!(lines, [1, 3, 4]);
        assert!(index.partial_tail);
        assert_eq!(index.findings.len(), 1);
        assert_eq!(index.findings[0].line, 5);
        assert_eq!(index.name(index.node(1).uuid), "b");
    }

    /// The README's memory bound rests on this size.
    #[test]
    fn a_record_costs_64_bytes() {
        assert_eq!(std::mem::size_of::<Node>(), 64);
    }

    #[test]
    fn an_empty_file_has_no_lines() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("empty.jsonl");
        std::fs::write(&path, "").expect("writing");
        let index = Index::read(&path).expect("reading");
        assert_eq!((index.lines, index.len()), (0, 0));
    }
}

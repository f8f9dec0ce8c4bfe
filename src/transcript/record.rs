//! One line of a transcript, read leniently and without allocating: every valid JSON value
//! parses, whatever its fields hold (`"isMeta": null`, unknown fields, a line that is a number),
//! and only the fields the index needs are kept, in compact form.

use std::fmt;
use std::hash::{Hash, Hasher};

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

/// A record's uuid in 16 bytes. A canonical UUID is its own 128 bits; any other string (a
/// hand-made id) is hashed, and the index keeps its text to print it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(pub [u64; 2]);

impl Id {
    pub const NONE: Id = Id([0, 0]);

    /// The id of `text`, and whether it is a canonical UUID (else its text must be kept).
    pub fn of(text: &str) -> (Id, bool) {
        match canonical(text) {
            Some(id) => (Id(id), true),
            None => {
                let hi = hash64(&(1u8, text));
                let lo = hash64(&(2u8, text));
                (Id([hi | 1 << 63, lo]), false)
            }
        }
    }

    pub fn is_none(self) -> bool {
        self == Id::NONE
    }

    /// The canonical UUID text of an id that was one.
    pub fn uuid_text(self) -> String {
        let [hi, lo] = self.0;
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            hi >> 32,
            (hi >> 16) & 0xffff,
            hi & 0xffff,
            lo >> 48,
            lo & 0xffff_ffff_ffff
        )
    }
}

/// `8-4-4-4-12` lowercase hex, as two words.
fn canonical(text: &str) -> Option<[u64; 2]> {
    let b = text.as_bytes();
    if b.len() != 36 || b[8] != b'-' || b[13] != b'-' || b[18] != b'-' || b[23] != b'-' {
        return None;
    }
    let hex = |range: std::ops::Range<usize>, mut acc: u64| -> Option<u64> {
        for &c in &b[range] {
            let digit = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                _ => return None,
            };
            acc = acc << 4 | u64::from(digit);
        }
        Some(acc)
    };
    let hi = hex(14..18, hex(9..13, hex(0..8, 0)?)?)?;
    let lo = hex(24..36, hex(19..23, 0)?)?;
    // The all-zero UUID would read as no id at all.
    (hi | lo != 0).then_some([hi, lo])
}

/// A 64-bit fingerprint of a message or tool id: what pairing compares. SipHash with fixed
/// keys, so one analysis always agrees with itself.
pub fn hash64<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// An id as a record holds it: canonical, or a text to keep.
#[derive(Debug, Default)]
pub enum RawId {
    #[default]
    Absent,
    Canonical(Id),
    Other(String),
}

impl<'de> Deserialize<'de> for RawId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Text(|s: &str| match Id::of(s) {
            (id, true) => RawId::Canonical(id),
            (_, false) => RawId::Other(s.to_string()),
        }))
    }
}
/// The visits of every value a lenient type does not read: numbers, booleans, null, and maps
/// and sequences skipped unread, each giving `$default`.
macro_rules! skip_other_values {
    ($default:expr, $($kind:ident),*) => {
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($default)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($default)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($default)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($default)
        }
        $(skip_other_values!(@$kind $default);)*
    };
    (@bool $default:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($default)
        }
    };
    (@str $default:expr) => {
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($default)
        }
    };
    (@map $default:expr) => {
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok($default)
        }
    };
    (@seq $default:expr) => {
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok($default)
        }
    };
}

/// A type read from any JSON value: a map, a sequence, a string or a boolean as it says, and
/// any other value as its default. Nothing valid is ever an error.
trait Lenient: Default + Sized {
    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Self::default())
    }
    fn from_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Self::default())
    }
    fn from_bool(_: bool) -> Self {
        Self::default()
    }
}

struct Any<T>(std::marker::PhantomData<T>);

impl<'de, T: Lenient> Visitor<'de> for Any<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::from_map(map)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<T, A::Error> {
        T::from_seq(seq)
    }
    fn visit_bool<E: de::Error>(self, b: bool) -> Result<T, E> {
        Ok(T::from_bool(b))
    }
    skip_other_values!(T::default(), str);
}

/// `Deserialize` for lenient types.
macro_rules! lenient {
    ($($ty:ty),*) => {$(
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                d.deserialize_any(Any::<$ty>(std::marker::PhantomData))
            }
        }
    )*};
}

/// A visitor that maps a string through `F`, and any other value to the default.
struct Text<F>(F);

impl<'de, T: Default, F: FnOnce(&str) -> T> Visitor<'de> for Text<F> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<T, E> {
        Ok((self.0)(s))
    }
    skip_other_values!(T::default(), bool, map, seq);
}

/// A string field mapped through `f`; any other JSON value is the default.
fn text<'de, A: MapAccess<'de>, T: Default, F: FnOnce(&str) -> T>(
    map: &mut A,
    f: F,
) -> Result<T, A::Error> {
    struct Seed<F>(F);
    impl<'de, T: Default, F: FnOnce(&str) -> T> de::DeserializeSeed<'de> for Seed<F> {
        type Value = T;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
            d.deserialize_any(Text(self.0))
        }
    }
    map.next_value_seed(Seed(f))
}

/// A flag: only `true` is true (`null`, absent or any other value is false).
#[derive(Default)]
struct Flag(bool);

impl Lenient for Flag {
    fn from_bool(b: bool) -> Flag {
        Flag(b)
    }
}

/// The kind of a record, from its `type`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Kind {
    User,
    Assistant,
    System,
    /// A tool's progress: the client keeps none of them when it loads, and links their
    /// children to their parents.
    Progress,
    /// Attachments and the record types of newer clients: on the chain when they have a uuid,
    /// never sent as messages.
    #[default]
    Other,
}

/// The fields of one line that the index keeps.
#[derive(Default)]
pub struct Raw {
    pub kind: Kind,
    pub uuid: RawId,
    pub parent: RawId,
    pub source: RawId,
    pub session: RawId,
    pub compact_boundary: bool,
    pub sidechain: bool,
    pub compact_summary: bool,
    /// Not sent to the API: `isMeta` or `isApiErrorMessage`.
    pub skipped: bool,
    pub time: Option<i64>,
    /// The client version that wrote it ([`version`]).
    pub version: Option<u32>,
    pub preserved: Option<[String; 3]>,
    pub message_id: Option<u64>,
    pub tool_uses: Vec<u64>,
    pub tool_results: Vec<u64>,
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

fn skip<'de, A: MapAccess<'de>>(map: &mut A) -> Result<(), A::Error> {
    map.next_value::<IgnoredAny>().map(|_| ())
}

impl Lenient for Raw {
    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Raw, A::Error> {
        let mut raw = Raw::default();
        let mut boundary = false;
        while let Some(key) = map.next_key::<Field>()? {
            match key {
                Field::Type => raw.kind = text(&mut map, kind_of)?,
                Field::Uuid => raw.uuid = map.next_value()?,
                Field::ParentUuid => raw.parent = map.next_value()?,
                Field::Source => raw.source = map.next_value()?,
                Field::SessionId => raw.session = map.next_value()?,
                Field::Subtype => boundary = text(&mut map, |s| s == "compact_boundary")?,
                Field::Sidechain => raw.sidechain = map.next_value::<Flag>()?.0,
                Field::CompactSummary => raw.compact_summary = map.next_value::<Flag>()?.0,
                Field::Meta | Field::ApiError => raw.skipped |= map.next_value::<Flag>()?.0,
                Field::Timestamp => raw.time = text(&mut map, super::parse_time)?,
                Field::Version => raw.version = text(&mut map, version)?,
                Field::CompactMetadata => raw.preserved = preserved(map.next_value()?),
                Field::Message => {
                    let m: Message = map.next_value()?;
                    (raw.message_id, raw.tool_uses, raw.tool_results) = (m.id, m.uses, m.results);
                }
                _ => skip(&mut map)?,
            }
        }
        raw.compact_boundary = boundary && raw.kind == Kind::System;
        Ok(raw)
    }
}

fn kind_of(s: &str) -> Kind {
    match s {
        "user" => Kind::User,
        "assistant" => Kind::Assistant,
        "system" => Kind::System,
        "progress" => Kind::Progress,
        _ => Kind::Other,
    }
}

/// `major.minor.patch` (a suffix ignored) as one number that orders as versions do; 10 bits
/// each for minor and patch.
pub fn version(text: &str) -> Option<u32> {
    let mut parts = text
        .split(['.', '-', '+', ' '])
        .map(|p| p.parse::<u32>().ok());
    let (major, minor, patch) = (parts.next()??, parts.next()??, parts.next()??);
    (minor < 1024 && patch < 1024 && major < 4096).then_some(major << 20 | minor << 10 | patch)
}

/// A compaction's preserved segment: head, anchor and tail uuids.
fn preserved(meta: Value) -> Option<[String; 3]> {
    let segment = &meta["preservedSegment"];
    let part = |k: &str| segment[k].as_str().map(str::to_string);
    Some([part("headUuid")?, part("anchorUuid")?, part("tailUuid")?])
}

/// A message: its id and the tool calls and results among its blocks. Text is skipped, not
/// stored, so a huge tool output costs no memory beyond its line.
#[derive(Default)]
struct Message {
    id: Option<u64>,
    uses: Vec<u64>,
    results: Vec<u64>,
}

impl Lenient for Message {
    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Message, A::Error> {
        let mut m = Message::default();
        while let Some(key) = map.next_key::<Field>()? {
            match key {
                Field::Id => m.id = text(&mut map, |s| Some(hash64(s)))?,
                Field::Content => {
                    for block in map.next_value::<Blocks>()?.0 {
                        match block {
                            Block::Use(id) => m.uses.push(id),
                            Block::Result(id) => m.results.push(id),
                            Block::Other => {}
                        }
                    }
                }
                _ => skip(&mut map)?,
            }
        }
        Ok(m)
    }
}

/// One content block, as far as pairing cares.
#[derive(Default)]
enum Block {
    Use(u64),
    Result(u64),
    #[default]
    Other,
}

/// A message's content: its blocks when it is an array, nothing otherwise.
#[derive(Default)]
struct Blocks(Vec<Block>);

impl Lenient for Blocks {
    fn from_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Blocks, A::Error> {
        let mut blocks = Vec::new();
        while let Some(block) = seq.next_element::<Block>()? {
            if !matches!(block, Block::Other) {
                blocks.push(block);
            }
        }
        Ok(Blocks(blocks))
    }
}

impl Lenient for Block {
    fn from_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Block, A::Error> {
        let (mut kind, mut id, mut use_id) = (0u8, None, None);
        while let Some(key) = map.next_key::<Field>()? {
            match key {
                Field::Type => {
                    kind = text(&mut map, |s| match s {
                        "tool_use" => 1,
                        "tool_result" => 2,
                        _ => 0,
                    })?
                }
                Field::Id => id = text(&mut map, |s| Some(hash64(s)))?,
                Field::ToolUseId => use_id = text(&mut map, |s| Some(hash64(s)))?,
                _ => skip(&mut map)?,
            }
        }
        Ok(match (kind, id, use_id) {
            (1, Some(id), _) => Block::Use(id),
            (2, _, Some(id)) => Block::Result(id),
            _ => Block::Other,
        })
    }
}

lenient!(Raw, Message, Blocks, Block, Flag);

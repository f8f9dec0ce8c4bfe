//! The product's event log (`events.jsonl`): what happened to its sessions, one JSON line per
//! event, each also sent to the user journal; and the reading of its last resume.
//!
//! Its kinds are `journal::EventKind`, re-exported here: each is a journal identity too.
//!
//! May import: `error`, `identity`, `journal`, `paths`, `store`, and `time` of this module.

use std::fmt;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::SystemTime;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::lock::Writer;
use super::time::rfc3339;
use crate::error::Verdict;
use crate::identity::Identity;
use crate::journal;
pub use crate::journal::EventKind;
use crate::paths::StateDir;

/// One line of the event log; its JSON form is what `sessctl log --json` prints.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Event {
    /// UTC, RFC 3339.
    pub time: String,
    pub event: EventKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<EventVerdict>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invocation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub main_pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_pid: Option<u32>,
    /// How the agent ended (`exit` events): its exit status ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i32>,
    /// ... or the signal that killed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
}

/// An event's `verdict`, written as one word either way: what a resume, an attach or a loss
/// found of the session ([`Verdict`]), or what a change did (`settled`, `repaired`,
/// `restored`, how a conversation was followed, what gc removed), whose words their own
/// modules own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EventVerdict {
    Session(Verdict),
    Change(String),
}

impl fmt::Display for EventVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventVerdict::Session(verdict) => f.pad(verdict.as_str()),
            EventVerdict::Change(what) => f.pad(what),
        }
    }
}

impl Event {
    /// An event about the session `identity` shows, stamped now.
    pub fn new(event: EventKind, identity: Option<&Identity>) -> Event {
        let live = identity.filter(|i| i.main_pid != 0);
        Event {
            time: rfc3339(SystemTime::now()),
            event,
            verdict: None,
            reason: None,
            invocation_id: live.map(|i| i.invocation_id.clone()),
            main_pid: live.map(|i| i.main_pid),
            agent_pid: live.and_then(|i| i.agent_pid),
            status: None,
            signal: None,
        }
    }

    /// The journal's MESSAGE: "web: resume survived (...)".
    pub fn message(&self, product: &str) -> String {
        let mut message = format!("{product}: {}", self.event);
        let verdict = self.verdict.as_ref().map(EventVerdict::to_string);
        for word in [&verdict, &self.reason].into_iter().flatten() {
            message.push(' ');
            message.push_str(word);
        }
        message
    }

    /// The journal fields of what this event carries beyond its kind.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let text = [
            (
                "SESSCTL_VERDICT",
                self.verdict.as_ref().map(EventVerdict::to_string),
            ),
            ("SESSCTL_REASON", self.reason.clone()),
            ("SESSCTL_INVOCATION_ID", self.invocation_id.clone()),
            ("SESSCTL_SIGNAL", self.signal.clone()),
        ];
        let numbers = [
            ("SESSCTL_MAIN_PID", self.main_pid.map(i64::from)),
            ("SESSCTL_AGENT_PID", self.agent_pid.map(i64::from)),
            ("SESSCTL_STATUS", self.status.map(i64::from)),
        ];
        text.into_iter()
            .filter_map(|(k, v)| Some((k, v?)))
            .chain(
                numbers
                    .into_iter()
                    .filter_map(|(k, v)| Some((k, v?.to_string()))),
            )
            .collect()
    }

    /// What a resume, an attach or a loss found of the session, and why.
    pub fn judged(mut self, verdict: Verdict, reason: Option<&str>) -> Event {
        self.verdict = Some(EventVerdict::Session(verdict));
        self.reason = reason.map(str::to_string);
        self
    }

    /// What a change did, in a word, and to what.
    pub fn did(mut self, what: &str, reason: Option<&str>) -> Event {
        self.verdict = Some(EventVerdict::Change(what.to_string()));
        self.reason = reason.map(str::to_string);
        self
    }
}

/// Appends one event to the log of the product whose state directory is `dir`, and sends it
/// to the user journal. The log records what happened to a session; it is not the session, so
/// a log that cannot be written (a full disk) is a warning naming the file, never the failure
/// of an operation that succeeded.
pub fn append(writer: &impl Writer, event: &Event) {
    let product = writer.dir().product().unwrap_or("");
    append_or_warn(&writer.dir().events_log(), event);
    journal::send(
        product,
        event.event,
        &event.message(product),
        &event.fields(),
    );
}

/// Appends `event` to the JSON-lines log at `path`, warning on stderr when it cannot.
pub fn append_or_warn(path: &Path, event: &Event) {
    if let Err(err) = append_to(path, event) {
        errln!("sessctl: warning: the event was not logged: {err:#}");
    }
}

/// Appends `event` as one JSON line, whole or not at all: O_APPEND and a single write, so
/// concurrent writers never interleave within a line, and a short write (a full disk) is cut
/// back off, so the log never ends in half a line.
fn append_to(path: &Path, event: &Event) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut line = serde_json::to_string(event).context("serialising an event")?;
    line.push('\n');
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let written = file
        .write(line.as_bytes())
        .with_context(|| format!("appending to {}", path.display()))?;
    if written < line.len() {
        let end = file
            .metadata()
            .with_context(|| format!("reading {}", path.display()))?
            .len();
        file.set_len(end.saturating_sub(written as u64))
            .with_context(|| format!("cutting a partial line off {}", path.display()))?;
        anyhow::bail!(
            "appending to {}: only {written} of {} bytes could be written (is the disk full?)",
            path.display(),
            line.len()
        );
    }
    Ok(())
}

/// The events of the product whose state directory is `dir`, oldest first.
pub fn events(dir: &Path) -> Result<Vec<Event>> {
    let path = StateDir(dir).events_log();
    let file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err).with_context(|| format!("opening {}", path.display())),
    };
    let mut events = Vec::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        // A line cut by a crash or a full disk (before writes were made whole), or an event of
        // a kind this sessctl does not know (written by a newer one), is skipped with a note:
        // never a reason to show nothing, and never shown as a kind it is not.
        match serde_json::from_str::<Event>(&line) {
            Ok(event) => events.push(event),
            Err(err) => {
                let what = match err.is_data() {
                    true => "an event this sessctl does not know",
                    false => "not a whole event",
                };
                errln!(
                    "sessctl: note: skipped line {} of {}, which is {what} ({err})",
                    n + 1,
                    path.display()
                )
            }
        }
    }
    Ok(events)
}

/// How much of the end of an event log [`last_resume`] reads: dozens of events, so a list of
/// 200 products never reads 200 whole logs.
const TAIL_BYTES: u64 = 16 * 1024;

/// The events that judge a resume: `resume` (and `verify`'s rounds), and `attach`'s judgement.
const RESUME_EVENTS: [EventKind; 2] = [EventKind::Resume, EventKind::Attach];

/// The product's last resume as its event log tells it: the resume's event, and whether the
/// event before it says the lost session was recovered. `None` when the end of the log holds
/// no resume.
pub fn last_resume(dir: &Path) -> Result<Option<(Event, bool)>> {
    let path = StateDir(dir).events_log();
    let Some(tail) = read_tail(&path, TAIL_BYTES)? else {
        return Ok(None);
    };
    // The first line may be cut by the tail's edge, and a torn line is no event: both skipped.
    let events: Vec<Event> = tail
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    let Some(at) = events
        .iter()
        .rposition(|e| RESUME_EVENTS.contains(&e.event) && e.verdict.is_some())
    else {
        return Ok(None);
    };
    let recovered = at > 0 && events[at - 1].event == EventKind::Recovered;
    Ok(Some((events[at].clone(), recovered)))
}

/// The last `max` bytes of the file at `path`; `None` when there is no file.
fn read_tail(path: &Path, max: u64) -> Result<Option<String>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err).with_context(|| format!("opening {}", path.display())),
    };
    let read = |file: &mut std::fs::File| -> std::io::Result<String> {
        let len = file.metadata()?.len();
        file.seek(SeekFrom::Start(len.saturating_sub(max)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    };
    read(&mut file)
        .map(Some)
        .with_context(|| format!("reading {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log as older and newer sessctls leave it: `loss` (the name of `lost` before 0.3), a
    /// verdict word of a change, a kind this sessctl does not know, and a torn last line.
    #[test]
    fn a_log_reads_past_what_it_does_not_know() {
        let dir = tempfile::tempdir().unwrap();
        let log = [
            r#"{"time":"T1","event":"resume","verdict":"survived"}"#,
            r#"{"time":"T2","event":"loss","verdict":"lost","reason":"gone"}"#,
            r#"{"time":"T3","event":"adopt","verdict":"repaired"}"#,
            r#"{"time":"T4","event":"teleport","verdict":"survived"}"#,
            r#"{"time":"T5","event":"st"#,
        ];
        std::fs::write(StateDir(dir.path()).events_log(), log.join("\n")).unwrap();
        let read = events(dir.path()).unwrap();
        let kinds: Vec<_> = read.iter().map(|e| (e.event, e.verdict.clone())).collect();
        assert_eq!(
            kinds,
            [
                (
                    EventKind::Resume,
                    Some(EventVerdict::Session(Verdict::Survived))
                ),
                (EventKind::Lost, Some(EventVerdict::Session(Verdict::Lost))),
                (
                    EventKind::Adopt,
                    Some(EventVerdict::Change("repaired".into()))
                ),
            ]
        );
    }

    /// The log's lines are what they were before kinds and verdicts were typed.
    #[test]
    fn an_event_is_written_as_before() {
        let mut event =
            Event::new(EventKind::AgentStart, None).judged(Verdict::NeedsRepair, Some("r"));
        event.time = "T".into();
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            r#"{"time":"T","event":"agent-start","verdict":"needs-repair","reason":"r"}"#
        );
        assert_eq!(event.message("web"), "web: agent-start needs-repair r");
        assert_eq!(format!("{:<12}|", event.event), "agent-start |");
    }

    #[test]
    fn the_last_resume_is_found_with_the_recovery_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let own = crate::state::UnitClaim::new(dir.path());
        append(&own, &Event::new(EventKind::Recovered, None));
        append(
            &own,
            &Event::new(EventKind::Resume, None).judged(Verdict::Started, None),
        );
        append(&own, &Event::new(EventKind::Stop, None));
        let (event, recovered) = last_resume(dir.path()).unwrap().unwrap();
        assert_eq!(
            (event.event, event.verdict, recovered),
            (
                EventKind::Resume,
                Some(EventVerdict::Session(Verdict::Started)),
                true
            )
        );
    }
}

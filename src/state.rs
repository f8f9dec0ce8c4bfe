//! What sessctl remembers about a product between calls, under `$XDG_STATE_HOME/sessctl/<product>/`:
//! the identity of the session it last saw (`session.json`), so a loss is noticed even when
//! nobody watched it happen, and the event log (`events.jsonl`).
//!
//! Records layer. May import: `identity`, `paths`, `store`, and `journal`, where every product
//! event also goes.

use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::identity::Identity;
use crate::journal;
use crate::paths::{Paths, StateDir};
use crate::store;

/// The session sessctl last saw for a product. (Records written before 0.3 also hold a
/// `loss_logged` flag, which the `lost.<invocation>` marker replaced.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub identity: Identity,
}

pub fn load_record(paths: &Paths, product: &str) -> Result<Option<Record>> {
    store::read_json(&StateDir(&paths.state_dir(product)).session_record())
}

pub fn save_record(paths: &Paths, product: &str, record: &Record) -> Result<()> {
    store::write_json(
        &StateDir(&paths.state_dir(product)).session_record(),
        record,
        "the session record",
    )
}

/// Remembers `identity` as the product's session when it is live, else forgets the session.
/// `previous` is the record as the caller read it under the product's lock: an unchanged one
/// costs no I/O, which matters on a resume's hot path.
pub fn remember(
    paths: &Paths,
    product: &str,
    identity: &Identity,
    previous: Option<&Record>,
) -> Result<()> {
    if identity.is_live() {
        let record = Record {
            identity: identity.clone(),
        };
        if previous == Some(&record) {
            return Ok(());
        }
        if let Some(previous) = previous {
            store::remove_file(&loss_marker(paths, product, &previous.identity))?;
        }
        save_record(paths, product, &record)
    } else if previous.is_some() {
        forget(paths, product)
    } else {
        Ok(())
    }
}

/// Forgets the product's session: a deliberate stop is not a loss.
pub fn forget(paths: &Paths, product: &str) -> Result<()> {
    if let Some(record) = load_record(paths, product)? {
        store::remove_file(&loss_marker(paths, product, &record.identity))?;
    }
    store::remove_file(&StateDir(&paths.state_dir(product)).session_record())
}

/// Claims the logging of the loss of `seen`: true for exactly one caller however many race
/// (the marker `lost.<invocation>` is created with O_EXCL), so a loss is logged once without
/// the product's lock, which a read such as `status` never takes.
pub fn claim_loss(paths: &Paths, product: &str, seen: &Identity) -> Result<bool> {
    let marker = loss_marker(paths, product, seen);
    if let Some(dir) = marker.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&marker)
    {
        Ok(_) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(err) => Err(err).with_context(|| format!("creating {}", marker.display())),
    }
}

fn loss_marker(paths: &Paths, product: &str, seen: &Identity) -> std::path::PathBuf {
    StateDir(&paths.state_dir(product)).loss_marker(&seen.invocation_id)
}

/// One line of the event log; its JSON form is what `sessctl log --json` prints.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Event {
    /// UTC, RFC 3339.
    pub time: String,
    /// enable, start, resume, attach, stop, restart, disable, lost, recovered; and from inside
    /// the unit, agent-start and exit.
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
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

impl Event {
    /// An event about the session `identity` shows, stamped now.
    pub fn new(event: &str, identity: Option<&Identity>) -> Event {
        let live = identity.filter(|i| i.main_pid != 0);
        Event {
            time: rfc3339(SystemTime::now()),
            event: event.to_string(),
            invocation_id: live.map(|i| i.invocation_id.clone()),
            main_pid: live.map(|i| i.main_pid),
            agent_pid: live.and_then(|i| i.agent_pid),
            ..Event::default()
        }
    }

    /// The journal's MESSAGE: "web: resume survived (...)".
    pub fn message(&self, product: &str) -> String {
        let mut message = format!("{product}: {}", self.event);
        for word in [&self.verdict, &self.reason].into_iter().flatten() {
            message.push(' ');
            message.push_str(word);
        }
        message
    }

    /// The journal fields of what this event carries beyond its kind.
    pub fn fields(&self) -> Vec<(&'static str, String)> {
        let text = [
            ("SESSCTL_VERDICT", &self.verdict),
            ("SESSCTL_REASON", &self.reason),
            ("SESSCTL_INVOCATION_ID", &self.invocation_id),
            ("SESSCTL_SIGNAL", &self.signal),
        ];
        let numbers = [
            ("SESSCTL_MAIN_PID", self.main_pid.map(i64::from)),
            ("SESSCTL_AGENT_PID", self.agent_pid.map(i64::from)),
            ("SESSCTL_STATUS", self.status.map(i64::from)),
        ];
        text.into_iter()
            .filter_map(|(k, v)| Some((k, v.clone()?)))
            .chain(
                numbers
                    .into_iter()
                    .filter_map(|(k, v)| Some((k, v?.to_string()))),
            )
            .collect()
    }

    pub fn verdict(mut self, verdict: &str, reason: Option<&str>) -> Event {
        self.verdict = Some(verdict.to_string());
        self.reason = reason.map(str::to_string);
        self
    }
}

/// How the agent last ended, as its tmux server saw it: `last-exit.json` in the product's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastExit {
    /// The exit status; absent when a signal ended the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i32>,
    /// The signal that ended it, by name (`SIGKILL`); absent when it exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<String>,
    /// UTC, RFC 3339.
    pub at: String,
    /// The same instant in microseconds since the epoch, as systemd gives a start.
    #[serde(default)]
    pub at_us: u64,
    /// The unit's InvocationID the agent ran in.
    pub invocation_id: String,
    /// The end was asked for: a stop or restart job was under way (or systemd could not be
    /// asked). Only an end nobody asked for is logged, and restarted when abnormal.
    #[serde(default)]
    pub requested: bool,
}

impl LastExit {
    /// An end nobody asked for that was not a clean exit (status 0): a non-zero status or a
    /// signal. systemd restarts the session after such an end.
    pub fn abnormal(&self) -> bool {
        !self.requested && self.status != Some(0)
    }

    /// "the agent was killed by SIGKILL at T", "the agent exited with status 3 at T".
    pub fn describe(&self) -> String {
        let how = match (&self.signal, self.status) {
            (Some(signal), _) => format!("was killed by {signal}"),
            (None, Some(status)) => format!("exited with status {status}"),
            (None, None) => "ended without a status or a signal".to_string(),
        };
        format!("the agent {how} at {}", self.at)
    }

    /// The `exit` event that logs this end.
    pub fn event(&self) -> Event {
        Event {
            time: self.at.clone(),
            event: "exit".to_string(),
            reason: Some(self.describe()),
            invocation_id: Some(self.invocation_id.clone()),
            status: self.status,
            signal: self.signal.clone(),
            ..Event::default()
        }
    }

    /// The end recorded in the product state directory `dir`.
    pub fn load(dir: &Path) -> Result<Option<LastExit>> {
        store::read_json(&StateDir(dir).last_exit())
    }

    pub fn save(&self, dir: &Path) -> Result<()> {
        store::write_json(&StateDir(dir).last_exit(), self, "the agent's end")
    }
}

/// Appends one event to the product's log, and sends it to the user journal. The log records
/// what happened to a session; it is not the session, so a log that cannot be written (a full
/// disk) is a warning naming the file, never the failure of an operation that succeeded.
pub fn append(paths: &Paths, product: &str, event: &Event) {
    log(&paths.state_dir(product), product, event);
}

/// [`append`] from inside a product's unit, which knows its state directory, named after the
/// product (`paths::Paths::state_dir`).
pub fn append_in(state_dir: &Path, event: &Event) {
    log(state_dir, product_of(state_dir).unwrap_or(""), event);
}

/// The product whose state directory is `state_dir`: its last component.
pub fn product_of(state_dir: &Path) -> Option<&str> {
    StateDir(state_dir).product()
}

fn log(state_dir: &Path, product: &str, event: &Event) {
    append_or_warn(&StateDir(state_dir).events_log(), event);
    journal::send(
        product,
        &event.event,
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

/// The product's events, oldest first.
pub fn events(paths: &Paths, product: &str) -> Result<Vec<Event>> {
    let path = StateDir(&paths.state_dir(product)).events_log();
    let file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err).with_context(|| format!("opening {}", path.display())),
    };
    let mut events = Vec::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        // A line cut by a crash or a full disk (before writes were made whole) is skipped,
        // never a reason to show nothing.
        match serde_json::from_str(&line) {
            Ok(event) => events.push(event),
            Err(err) => errln!(
                "sessctl: note: skipped line {} of {}, which is not a whole event ({err})",
                n + 1,
                path.display()
            ),
        }
    }
    Ok(events)
}

/// A change that ends or replaces a session, or writes a product's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Enable,
    Stop,
    Restart,
    Disable,
    /// `disable --purge`.
    Purge,
}

impl Action {
    /// The command that asked for it, as a person would type it again.
    pub fn command(self, product: &str) -> String {
        match self {
            Action::Enable => format!("sessctl enable {product}"),
            Action::Stop => format!("sessctl stop {product}"),
            Action::Restart => format!("sessctl restart {product}"),
            Action::Disable => format!("sessctl disable {product}"),
            Action::Purge => format!("sessctl disable {product} --purge"),
        }
    }

    /// A disable asked for the product to go: only another disable, or an enable that keeps
    /// the product after all, may take its place.
    pub fn removes(self) -> bool {
        matches!(self, Action::Disable | Action::Purge)
    }
}

/// A change under way, kept in the product's state as `intent.json`: written under the
/// product's lock before the change's first step and removed after its last. One found under
/// the lock was therefore interrupted (its writer died with the lock); one found without it
/// may be under way, which its writer's PID and start time tell. Either way the session's end
/// or replacement was asked for, and is never taken for a loss.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Intent {
    pub action: Action,
    /// The sessctl process making the change, and its start time (`/proc/<pid>/stat`).
    pub pid: u32,
    pub start_ticks: Option<u64>,
    /// UTC, RFC 3339.
    pub at: String,
}

impl Intent {
    pub fn load(paths: &Paths, product: &str) -> Result<Option<Intent>> {
        store::read_json(&paths.intent_file(product))
    }

    /// Records that this process (started at `start_ticks`) begins `action`.
    pub fn begin(
        paths: &Paths,
        product: &str,
        action: Action,
        start_ticks: Option<u64>,
    ) -> Result<()> {
        let intent = Intent {
            action,
            pid: std::process::id(),
            start_ticks,
            at: rfc3339(SystemTime::now()),
        };
        store::write_json(&paths.intent_file(product), &intent, "the change under way")
    }

    /// The change is over: finished, or settled by a later call.
    pub fn end(paths: &Paths, product: &str) -> Result<()> {
        store::remove_file(&paths.intent_file(product))
    }
}

/// The agent waits for its human: since when, and what said so (`stop`: it finished a response;
/// `notification`: it asks for something, a permission or an answer). Kept in the product's
/// state as `waiting.json` until the next prompt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waiting {
    /// UTC, RFC 3339.
    pub since: String,
    pub kind: String,
}

impl Waiting {
    /// The mark in the product state directory `dir`, if any.
    pub fn load(dir: &Path) -> Result<Option<Waiting>> {
        store::read_json(&StateDir(dir).waiting())
    }

    /// Marks the agent of state directory `dir` as waiting, now, for `kind`, and returns the
    /// mark when it is new. A mark already there stays as it is: the wait began then (tmux
    /// repeats its silence alert, and a client's notification may follow its finished
    /// response).
    pub fn record(dir: &Path, kind: &str) -> Result<Option<Waiting>> {
        if Waiting::load(dir)?.is_some() {
            return Ok(None);
        }
        let waiting = Waiting {
            since: rfc3339(SystemTime::now()),
            kind: kind.to_string(),
        };
        store::write_json(&StateDir(dir).waiting(), &waiting, "the waiting mark")?;
        Ok(Some(waiting))
    }

    /// The agent got its input: it no longer waits.
    pub fn clear(dir: &Path) -> Result<()> {
        store::remove_file(&StateDir(dir).waiting())
    }
}

/// How much of the end of an event log [`last_resume`] reads: dozens of events, so a list of
/// 200 products never reads 200 whole logs.
const TAIL_BYTES: u64 = 16 * 1024;

/// The events that judge a resume: `resume` (and `verify`'s rounds), and `attach`'s judgement.
const RESUME_EVENTS: [&str; 2] = ["resume", "attach"];

/// The product's last resume as its event log tells it: the resume's event, and whether the
/// event before it says the lost session was recovered. `None` when the end of the log holds
/// no resume.
pub fn last_resume(paths: &Paths, product: &str) -> Result<Option<(Event, bool)>> {
    let path = StateDir(&paths.state_dir(product)).events_log();
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
        .rposition(|e| RESUME_EVENTS.contains(&e.event.as_str()) && e.verdict.is_some())
    else {
        return Ok(None);
    };
    let recovered = at > 0 && events[at - 1].event == "recovered";
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

/// `time` as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn rfc3339(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86400, secs % 86400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_wait_keeps_its_start_until_it_is_cleared() {
        let dir = tempfile::tempdir().unwrap();
        Waiting::record(dir.path(), "stop").unwrap();
        let first = Waiting::load(dir.path()).unwrap().unwrap();
        Waiting::record(dir.path(), "notification").unwrap();
        assert_eq!(Waiting::load(dir.path()).unwrap(), Some(first));
        Waiting::clear(dir.path()).unwrap();
        assert_eq!(Waiting::load(dir.path()).unwrap(), None);
        Waiting::record(dir.path(), "silence").unwrap();
        assert_eq!(Waiting::load(dir.path()).unwrap().unwrap().kind, "silence");
    }

    use super::*;
    use rstest::rstest;
    use std::time::Duration;

    fn end(status: Option<i32>, signal: Option<&str>, requested: bool) -> LastExit {
        LastExit {
            status,
            signal: signal.map(str::to_string),
            at: "T".to_string(),
            at_us: 0,
            invocation_id: "i".to_string(),
            requested,
        }
    }

    #[rstest]
    #[case(
        end(Some(0), None, false),
        false,
        "the agent exited with status 0 at T"
    )]
    #[case(end(Some(3), None, false), true, "the agent exited with status 3 at T")]
    #[case(
        end(None, Some("SIGKILL"), false),
        true,
        "the agent was killed by SIGKILL at T"
    )]
    #[case(
        end(None, Some("SIGTERM"), true),
        false,
        "the agent was killed by SIGTERM at T"
    )]
    fn an_end_nobody_asked_for_that_is_not_status_0_is_abnormal(
        #[case] end: LastExit,
        #[case] abnormal: bool,
        #[case] text: &str,
    ) {
        assert_eq!((end.abnormal(), end.describe().as_str()), (abnormal, text));
    }

    #[rstest]
    #[case(0, "1970-01-01T00:00:00Z")]
    #[case(951_782_400, "2000-02-29T00:00:00Z")]
    #[case(1_795_435_199, "2026-11-23T11:59:59Z")]
    fn formats_utc(#[case] secs: u64, #[case] expected: &str) {
        assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(secs)), expected);
    }
}

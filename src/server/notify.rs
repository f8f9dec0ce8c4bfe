//! The notifier: a task of `sessctl serve` that tells every subscribed device (Web Push, see
//! `push` and `server/push`) when a product starts waiting for its human (a question, a
//! permission with its tool and exact input, or silence), is lost, recovers, or is stopped by
//! systemd's start limit after a crash loop.
//!
//! Every [`EVERY`] it reads the products as the list does (`App::reports`), and the other
//! hosts' products as their tasks last listed them (`product@host`; a subscribed device keeps
//! the hosts watched), never writing and never locking, and compares the reading with the one
//! before. The first reading after the server starts is only a baseline: a restart of the
//! server sends nothing old. While no device is subscribed it reads every [`IDLE`] only, to
//! keep that baseline fresh for the first device.
//!
//! Never a storm: each product's notices share one Topic (a push service keeps only the
//! newest undelivered one) and pass [`limit`]: at most one notice per product per [`GAP`];
//! what happens inside the gap is held, the newest replacing older ones, and sent once when
//! the gap ends, unless it was a wait that ended meanwhile. So ten waits of one product in a
//! minute make at most three notices in that minute, and the newest one more when its gap
//! ends.
//!
//! Each device is sent to on the blocking pool on its own, so a slow or failing push service
//! delays no other device and no reading; a failure is logged on stderr (the dashboard
//! unit's journal) and a 404 or 410 drops that subscription.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::Serialize;

use super::api::ApiError;
use super::{blocking, App};
use crate::login;
use crate::push::{self, Keys, Sent, Subscription, Urgency};
use crate::query::status::Report;
use crate::state::rfc3339;

/// How often the products are read.
const EVERY: Duration = Duration::from_millis(500);
/// How often the products are read while no device is subscribed.
const IDLE: Duration = Duration::from_secs(5);
/// At most one notice per product per this long.
pub const GAP: Duration = Duration::from_secs(20);
/// How many bytes of a tool's input a notice shows: a push message holds at most 4 KB.
const INPUT_SHOWN: usize = 1000;

/// One notice, as the service worker reads it (`event.data.json()`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    product: String,
    /// `waiting`, `lost`, `recovered` or `crash-loop`.
    kind: &'static str,
    title: String,
    body: String,
    url: String,
    tag: String,
    #[serde(skip)]
    urgency: Urgency,
}

impl Notice {
    fn new(product: &str, kind: &'static str, title: String, body: String) -> Notice {
        Notice {
            urgency: match kind {
                "recovered" => Urgency::Normal,
                _ => Urgency::High,
            },
            product: product.to_string(),
            kind,
            title,
            body,
            url: format!("/p/{product}"),
            tag: format!("sessctl-{product}"),
        }
    }
}

/// What the notifier keeps of a product from one reading to the next.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Seen {
    /// When its current wait began.
    waiting: Option<String>,
    /// The ids of its open permission questions.
    asked: Vec<String>,
    lost: bool,
    /// When the last resume that found it lost and recovered it ran.
    recovered: Option<String>,
    start_limit: bool,
}

impl Seen {
    fn of(report: &Report) -> Seen {
        Seen {
            waiting: report.waiting.as_ref().map(|w| w.since.clone()),
            asked: report.permissions.iter().map(|a| a.id.clone()).collect(),
            lost: report.lost.is_some(),
            recovered: report
                .last_resume
                .as_ref()
                .filter(|r| r.verdict == "recovered")
                .map(|r| r.at.clone()),
            start_limit: report.start_limit_hit,
        }
    }

    /// What of `report` began before `started` (RFC 3339, compared as text: both are UTC to
    /// the second): the baseline of a product first read after the server's first reading.
    /// A loss, which has no time, counts as old.
    fn before(report: &Report, started: &str) -> Seen {
        let old = |at: &String| at.as_str() < started;
        let now = Seen::of(report);
        Seen {
            waiting: now.waiting.filter(old),
            asked: (report.permissions.iter())
                .filter(|asked| old(&asked.since))
                .map(|asked| asked.id.clone())
                .collect(),
            recovered: now.recovered.filter(old),
            ..now
        }
    }
}

/// The notice of what changed in `report`'s product between `before` and `now`, the most
/// pressing first: one product's notices replace each other on the device anyway.
fn change(report: &Report, before: &Seen, now: &Seen) -> Option<Notice> {
    let name = &report.product;
    if now.start_limit && !before.start_limit {
        return Some(Notice::new(
            name,
            "crash-loop",
            format!("{name} stopped: it crashed again and again"),
            format!("systemd's start limit stopped its restarts; `sessctl status {name}` says why, `sessctl resume {name}` starts it again"),
        ));
    }
    if now.lost && !before.lost {
        let why = report.lost.as_deref().unwrap_or("its session is gone");
        return Some(Notice::new(
            name,
            "lost",
            format!("{name} is lost"),
            why.to_string(),
        ));
    }
    if let Some(asked) = report
        .permissions
        .iter()
        .rev()
        .find(|a| !before.asked.contains(&a.id))
    {
        let input = match asked.tool_input.get("command").and_then(|c| c.as_str()) {
            Some(command) => command.to_string(),
            None => asked.tool_input.to_string(),
        };
        let input = match input.len() > INPUT_SHOWN {
            true => format!("{}…", cut(&input, INPUT_SHOWN)),
            false => input,
        };
        let body = format!("It asks permission for {}: {input}", asked.tool_name);
        return Some(waiting(name, body));
    }
    if let (Some(_), Some(wait)) = (&now.waiting, &report.waiting) {
        if before.waiting != now.waiting {
            let body = match wait.kind.as_str() {
                "silence" => "No output for a while: it may be waiting for you.",
                "notification" => "It asks you something.",
                _ => "It finished and waits for your next prompt.",
            };
            return Some(waiting(name, body.to_string()));
        }
    }
    let back = now.recovered.is_some() && now.recovered != before.recovered;
    if back || (before.lost && !now.lost && report.active_state.is_running()) {
        return Some(Notice::new(
            name,
            "recovered",
            format!("{name} recovered"),
            "A new session runs on the same conversation.".to_string(),
        ));
    }
    None
}

/// The longest start of `text` that fits in `bytes` bytes and ends on a character.
fn cut(text: &str, bytes: usize) -> &str {
    let end = (0..=bytes.min(text.len()))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    &text[..end]
}

/// Whether a notice held through its product's gap still says what is so when it can go: a
/// wait that ended meanwhile is not sent.
fn still_so(notice: &Notice, now: &Seen) -> bool {
    notice.kind != "waiting" || now.waiting.is_some() || !now.asked.is_empty()
}

fn waiting(name: &str, body: String) -> Notice {
    Notice::new(name, "waiting", format!("{name} waits for you"), body)
}

/// One product's place in the limit: when its last notice went, and what waits to go.
#[derive(Debug)]
struct Slot<T> {
    last: Option<Instant>,
    held: Option<T>,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot {
            last: None,
            held: None,
        }
    }
}

/// What to send now for one product, given `event`, what just happened to it (if anything),
/// at `now`: at most one notice per `gap`. An event inside the gap is held, replacing an
/// older one held, and goes when the gap ends.
fn limit<T>(slot: &mut Slot<T>, now: Instant, event: Option<T>, gap: Duration) -> Option<T> {
    if let Some(event) = event {
        slot.held = Some(event);
    }
    let open = slot.last.is_none_or(|last| now.duration_since(last) >= gap);
    if open && slot.held.is_some() {
        slot.last = Some(now);
        return slot.held.take();
    }
    None
}

/// Runs the notifier until the server ends.
pub async fn run(app: Arc<App>) {
    let mut notifier = Notifier {
        started: rfc3339(std::time::SystemTime::now()),
        ..Notifier::default()
    };
    let mut complaint = String::new();
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // A failure is said once, not every round, until it changes.
        match notifier.round(&app).await {
            Ok(()) => complaint.clear(),
            Err(err) => {
                let said = err.to_string();
                if said != complaint {
                    errln!("sessctl: the notifier failed a round: {said}");
                    complaint = said;
                }
            }
        }
    }
}

/// What the notifier keeps from one round to the next.
#[derive(Default)]
struct Notifier {
    /// When it started (RFC 3339): what began before is old.
    started: String,
    /// The last reading; none before the first, which is only a baseline.
    before: Option<HashMap<String, Seen>>,
    slots: HashMap<String, Slot<Notice>>,
    keys: Option<Arc<Keys>>,
    last_read: Option<Instant>,
}

impl Notifier {
    /// One reading, and the notices it makes.
    async fn round(&mut self, app: &Arc<App>) -> Result<(), ApiError> {
        let devices = devices(app).await?;
        if devices.is_empty() && self.last_read.is_some_and(|at| at.elapsed() < IDLE) {
            return Ok(());
        }
        self.last_read = Some(Instant::now());
        let (reports, seen) = read(app, !devices.is_empty()).await?;
        let was = self.before.replace(seen.clone());
        let (Some(was), false) = (was, devices.is_empty()) else {
            return Ok(());
        };
        let keys = self.keys(app).await?;
        let now = Instant::now();
        self.slots.retain(|name, _| seen.contains_key(name));
        for report in &reports {
            let name = &report.product;
            // Another host's product first seen (its host answered after the baseline) is
            // a baseline of what began before the server started, as every product here is.
            let before = match was.get(name) {
                Some(before) => before.clone(),
                None if name.contains('@') => Seen::before(report, &self.started),
                None => Seen::default(),
            };
            let event = change(report, &before, &seen[name]);
            let slot = self.slots.entry(name.clone()).or_default();
            let due = limit(slot, now, event, GAP);
            if let Some(notice) = due.filter(|n| still_so(n, &seen[name])) {
                send(app, &keys, &devices, notice);
            }
        }
        Ok(())
    }

    /// The server's VAPID key pair, read (or made) on first use.
    async fn keys(&mut self, app: &Arc<App>) -> Result<Arc<Keys>, ApiError> {
        if let Some(keys) = &self.keys {
            return Ok(keys.clone());
        }
        let file = app.paths.push_key();
        let keys = Arc::new(blocking(move || Keys::load_or_create(&file)).await?);
        Ok(self.keys.insert(keys).clone())
    }
}

/// The subscriptions of the live login sessions.
async fn devices(app: &Arc<App>) -> Result<Vec<Subscription>, ApiError> {
    let mark = login::token_mark(&app.gate.token()?);
    let paths = app.paths.clone();
    blocking(move || {
        let now = std::time::SystemTime::now();
        Ok(login::load(&paths)?
            .sessions
            .into_iter()
            .filter(|s| s.is_live(&mark, now))
            .filter_map(|s| s.push.map(|p| *p))
            .collect())
    })
    .await
}

/// Every product's report, other hosts' as their tasks last read them (`product@host`), and
/// what the notifier keeps of each; with `keep` the hosts are kept watched.
async fn read(
    app: &Arc<App>,
    keep: bool,
) -> Result<(Vec<Report>, HashMap<String, Seen>), ApiError> {
    let mut reports = app.reports(None).await?;
    reports.extend(app.fleet.latest(keep));
    let seen = reports
        .iter()
        .map(|r| (r.product.clone(), Seen::of(r)))
        .collect();
    Ok((reports, seen))
}

/// Sends `notice` to every device, each on its own.
fn send(app: &Arc<App>, keys: &Arc<Keys>, devices: &[Subscription], notice: Notice) {
    let payload = match serde_json::to_vec(&notice) {
        Ok(payload) => Arc::new(payload),
        Err(err) => return errln!("sessctl: writing a notice of {}: {err}", notice.product),
    };
    let topic = Arc::new(push::topic(&notice.product));
    for device in devices {
        let (app, keys, device) = (app.clone(), keys.clone(), device.clone());
        let (payload, topic, product) = (payload.clone(), topic.clone(), notice.product.clone());
        let urgency = notice.urgency;
        tokio::task::spawn_blocking(move || {
            let message = push::Message {
                topic: &topic,
                urgency,
                payload: &payload,
            };
            let service = device.service();
            match push::send(&keys, &device, &message) {
                Ok(Sent::Accepted) => {}
                Ok(Sent::Gone) => {
                    let dropped = app
                        .gate
                        .token()
                        .and_then(|token| login::drop_push(&app.paths, &token, &device.endpoint));
                    match dropped {
                        Ok(()) => errln!("sessctl: {service} says a device's subscription has ended; it gets no more notices"),
                        Err(err) => errln!("sessctl: dropping a subscription {service} ended: {err:#}"),
                    }
                }
                Err(err) => errln!("sessctl: sending {product}'s notice to {service}: {err:#}"),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ten waits in a minute, one every six seconds, read every half second: one notice at
    /// once, then one at the end of each gap, carrying the newest wait.
    #[test]
    fn ten_waits_in_a_minute_make_at_most_three_notices_in_it() {
        let start = Instant::now();
        let mut slot = Slot::default();
        let mut sent = Vec::new();
        for tick in 0..240u64 {
            let at = Duration::from_millis(tick * 500);
            let wait = (at.as_millis().is_multiple_of(6000) && at < Duration::from_secs(60))
                .then_some(at.as_secs());
            if let Some(which) = limit(&mut slot, start + at, wait, GAP) {
                sent.push((at.as_secs(), which));
            }
        }
        let in_the_minute: Vec<_> = sent.iter().filter(|(at, _)| *at < 60).collect();
        assert_eq!(in_the_minute, [&(0, 0), &(20, 18), &(40, 36)]);
        // The last wait (at 54 s) goes when its gap ends, and nothing after it.
        assert_eq!(sent.len(), 4);
        assert_eq!(sent[3], (60, 54));
    }

    #[test]
    fn a_held_wait_that_ended_is_not_sent_and_a_long_input_is_cut_on_a_character() {
        let wait = waiting("web", "It asks you something.".to_string());
        let lost = Notice::new("web", "lost", "web is lost".to_string(), String::new());
        let waits = Seen {
            waiting: Some("2026-01-01T00:00:00Z".to_string()),
            ..Seen::default()
        };
        assert!(still_so(&wait, &waits));
        assert!(!still_so(&wait, &Seen::default()));
        assert!(still_so(&lost, &Seen::default()));
        assert_eq!(cut("aé", 2), "a");
        assert_eq!(cut("aé", 3), "aé");
        assert_eq!(cut("ab", 9), "ab");
    }

    /// Another host's product first read after the server started: what began before the
    /// start is its baseline, what began after is news.
    #[test]
    fn a_remote_products_first_reading_is_old_only_before_the_start() {
        let started = "2026-12-07T17:00:00Z";
        let report = |since: &str| -> Report {
            serde_json::from_value(serde_json::json!({
                "product": "web@h1", "unit": "sessctl-web.service",
                "active_state": "active", "sub_state": "running",
                "main_pid": 1, "n_restarts": 0, "unit_file": "current", "cgroup": "",
                "invocation_id": "",
                "need_daemon_reload": false, "restart_pending": false,
                "waiting": {"since": since, "kind": "notification"},
            }))
            .expect("a report")
        };
        let old = report("2026-12-07T16:59:59Z");
        let before = Seen::before(&old, started);
        assert_eq!(before, Seen::of(&old));
        assert!(change(&old, &before, &Seen::of(&old)).is_none());
        let new = report("2026-12-07T17:00:01Z");
        let before = Seen::before(&new, started);
        assert_eq!(before.waiting, None);
        let notice = change(&new, &before, &Seen::of(&new)).expect("a notice");
        assert_eq!((notice.kind, notice.url.as_str()), ("waiting", "/p/web@h1"));
    }

    #[test]
    fn a_quiet_product_sends_at_once_and_nothing_is_sent_twice() {
        let start = Instant::now();
        let mut slot = Slot::default();
        assert_eq!(limit(&mut slot, start, Some("a"), GAP), Some("a"));
        assert_eq!(limit(&mut slot, start + GAP, None::<&str>, GAP), None);
        let later = start + GAP * 3;
        assert_eq!(limit(&mut slot, later, Some("b"), GAP), Some("b"));
        assert_eq!(limit(&mut slot, later + GAP, None, GAP), None);
    }
}

//! The other hosts on the dashboard: every host of hosts.toml, and only those (a request never
//! makes the server ssh to a destination of its choosing), each watched by a task of its own
//! through `fleet`, and the actions on their products (`web@build`).
//!
//! Requests never wait for a remote: a host's task refreshes its snapshot every
//! [`EVERY`] while a page asked in the last [`WATCHED_FOR`], on the blocking pool, each call
//! waiting at most [`HELLO_WITHIN`] for the host's hello and [`ANSWER_WITHIN`] for its list;
//! the list answers with each host's latest snapshot and its age. So a host that stops
//! answering shows as unreachable within `EVERY + ANSWER_WITHIN` (stated: 10 s), and slows no
//! page.
//! hosts.toml is read again when its modification time or size changes.
//!
//! May import: what the server may, and `fleet`.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::AbortHandle;

use super::api::{json, Action, ApiError};
use super::auth::Access;
use super::mask::Reveal;
use super::{blocking, segment, App, Product};
use crate::error::quoted;
use crate::fleet;
use crate::hosts::{self, HostName};
use crate::lifecycle::terminal::Size;
use crate::paths::{Paths, ProductName};
use crate::query;
use crate::state::{rfc3339, Asked, Behavior};

/// How long a call waits for a host's hello: a first connection on a LAN takes well under a
/// second; a host that swallows packets must not hold its snapshot past the stated bound.
const HELLO_WITHIN: Duration = Duration::from_secs(3);
/// How long a host has to give its whole list, hello included: one that said hello and then
/// stalled must not hold its snapshot past the stated bound either.
const ANSWER_WITHIN: Duration = Duration::from_secs(8);
/// How long a request waits for an action on a host (a resume there may wait 15 s for its
/// session to settle, then start it and prove it): past it, the host goes on alone.
const ACT_WITHIN: Duration = Duration::from_secs(60);
/// How often a watched host is asked while it answers.
const EVERY: Duration = Duration::from_secs(2);
/// How often while it does not: each try may hold a blocking thread for [`HELLO_WITHIN`].
const UNREACHABLE_EVERY: Duration = Duration::from_secs(10);
/// How long after a page asked the hosts are still watched.
const WATCHED_FOR: Duration = Duration::from_secs(30);

/// The hosts of hosts.toml as last read, and when a page last asked for them.
pub struct Fleet {
    paths: Paths,
    known: Mutex<Known>,
    asked: Arc<Mutex<Option<Instant>>>,
}

/// hosts.toml as last read: its modification time and size, and its hosts with their tasks.
#[derive(Default)]
struct Known {
    stamp: Option<(Option<SystemTime>, u64)>,
    hosts: Vec<(Arc<Watched>, AbortHandle)>,
}

/// How many terminals the dashboard keeps open on one host at once: each is a session on the
/// shared connection, and sshd allows 10 by default (MaxSessions); the list and the actions
/// need the rest.
const TERMINALS: usize = 6;

/// One host, its latest snapshot, the bell that makes its task ask it now, and the permits of
/// its open terminals.
pub struct Watched {
    host: Arc<fleet::Host>,
    snap: Mutex<Snapshot>,
    wake: Notify,
    terminals: Arc<Semaphore>,
}

/// What a host last answered.
#[derive(Default)]
struct Snapshot {
    /// None until the first call ended.
    reachable: Option<bool>,
    sessctl: Option<String>,
    last_contact: Option<SystemTime>,
    error: Option<String>,
    /// As of `last_contact`.
    reports: Vec<query::status::Report>,
    /// When the last call ended.
    at: Option<Instant>,
}

/// A host as the list's JSON shows it.
#[derive(Serialize)]
pub struct Shown {
    host: String,
    dest: String,
    /// null until the first call ended.
    reachable: Option<bool>,
    sessctl: Option<String>,
    last_contact: Option<String>,
    /// How old this snapshot is; null before the first call ended.
    age_seconds: Option<u64>,
    error: Option<String>,
    /// Its products' reports (`list --json` there), as of `last_contact`.
    products: serde_json::Value,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while a snapshot was written leaves a whole snapshot: its fields are set at once.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Fleet {
    pub fn new(paths: Paths) -> Fleet {
        Fleet {
            paths,
            known: Mutex::new(Known::default()),
            asked: Arc::new(Mutex::new(None)),
        }
    }

    /// Every host's latest snapshot, masked as `reveal` asks; the hosts are watched from now
    /// for [`WATCHED_FOR`].
    pub fn shown(&self, reveal: &Reveal) -> Result<Vec<Shown>, ApiError> {
        let hosts = self.watch();
        hosts.iter().map(|watched| watched.shown(reveal)).collect()
    }

    /// Every host's products as its task last listed them, named `product@host`, for the
    /// notifier. With `keep` the hosts are watched from now, as for a page: a subscribed
    /// device is a page that is never closed.
    pub fn latest(&self, keep: bool) -> Vec<query::status::Report> {
        let hosts = match keep {
            true => self.watch(),
            false => self.current(),
        };
        let named = |watched: &Arc<Watched>| {
            let snap = lock(&watched.snap);
            (snap.reports.iter())
                .map(|report| query::status::Report {
                    product: hosts::join_at(&report.product, &watched.host.name),
                    ..report.clone()
                })
                .collect::<Vec<_>>()
        };
        hosts.iter().flat_map(named).collect()
    }

    /// `product`'s report in `watched`'s latest snapshot, and the host as shown, masked as
    /// `reveal` asks; the hosts are watched from now, as for the list. A product the host did
    /// not list is a 404.
    pub fn product(
        &self,
        watched: &Watched,
        product: &ProductName,
        reveal: &Reveal,
    ) -> Result<(serde_json::Value, Shown), ApiError> {
        self.watch();
        let shown = watched.shown(reveal)?;
        let snap = lock(&watched.snap);
        let report = (snap.reports.iter())
            .find(|report| report.product == product.as_str())
            .ok_or_else(|| {
                ApiError::refused(
                    StatusCode::NOT_FOUND,
                    format!(
                        "host {} listed no product {product}{}",
                        watched.host.name,
                        match snap.reachable {
                            Some(true) => "",
                            _ => " (it does not answer now)",
                        }
                    ),
                )
            })?;
        Ok((reveal.apply(report)?, shown))
    }

    /// The hosts, watched from now for [`WATCHED_FOR`]: hosts no page asked for lately are
    /// asked at once.
    fn watch(&self) -> Vec<Arc<Watched>> {
        let idle = lock(&self.asked).is_none_or(|at| at.elapsed() >= WATCHED_FOR);
        *lock(&self.asked) = Some(Instant::now());
        let hosts = self.current();
        if idle {
            hosts.iter().for_each(|watched| watched.wake.notify_one());
        }
        hosts
    }

    /// The host of hosts.toml named `name`.
    fn host(&self, name: &str) -> Option<Arc<Watched>> {
        self.current()
            .into_iter()
            .find(|watched| watched.host.name == name)
    }

    /// The hosts of hosts.toml, read again if it changed. A hosts.toml that cannot be read
    /// leaves the hosts as they were, and the server says why once.
    fn current(&self) -> Vec<Arc<Watched>> {
        let mut known = lock(&self.known);
        let stamp = std::fs::metadata(self.paths.hosts_file())
            .map_or((None, 0), |meta| (meta.modified().ok(), meta.len()));
        if known.stamp != Some(stamp) {
            known.stamp = Some(stamp);
            match fleet::configured(&self.paths, HELLO_WITHIN) {
                Ok(hosts) => self.replace(&mut known, hosts),
                Err(err) => errln!("sessctl: the dashboard keeps the hosts it had: {err:#}"),
            }
        }
        known
            .hosts
            .iter()
            .map(|(watched, _)| watched.clone())
            .collect()
    }

    /// Watches `hosts` instead of `known`'s: a host of the same name and destination keeps
    /// its task and snapshot.
    fn replace(&self, known: &mut Known, hosts: Vec<fleet::Host>) {
        let mut old = std::mem::take(&mut known.hosts);
        for host in hosts {
            let same = (old.iter()).position(|(watched, _)| {
                watched.host.name == host.name && watched.host.dest() == host.dest()
            });
            let entry = match same {
                Some(i) => old.swap_remove(i),
                None => {
                    let watched = Arc::new(Watched {
                        host: Arc::new(host),
                        snap: Mutex::new(Snapshot::default()),
                        wake: Notify::new(),
                        terminals: Arc::new(Semaphore::new(TERMINALS)),
                    });
                    let task = tokio::spawn(watch(watched.clone(), self.asked.clone()));
                    (watched, task.abort_handle())
                }
            };
            known.hosts.push(entry);
        }
        old.iter().for_each(|(_, task)| task.abort());
    }
}

/// Asks `watched`'s host for its list while a page asked in the last [`WATCHED_FOR`]; rings
/// of its bell ask at once.
async fn watch(watched: Arc<Watched>, asked: Arc<Mutex<Option<Instant>>>) {
    loop {
        let wanted = lock(&asked).is_some_and(|at| at.elapsed() < WATCHED_FOR);
        if wanted {
            let host = watched.host.clone();
            let call = tokio::task::spawn_blocking(move || host.reports(None, true));
            let answer = match tokio::time::timeout(ANSWER_WITHIN, call).await {
                Ok(Ok(answer)) => answer,
                Ok(Err(err)) => Err(anyhow::anyhow!("the worker that asked failed: {err}")),
                // The call goes on, on its blocking thread, until ssh gives up; the snapshot
                // says so now.
                Err(_) => Err(anyhow::anyhow!(
                    "host {} gave no list within {} s",
                    watched.host.name,
                    ANSWER_WITHIN.as_secs()
                )),
            };
            watched.record(answer);
        }
        let pause = match lock(&watched.snap).reachable {
            Some(false) => UNREACHABLE_EVERY,
            _ => EVERY,
        };
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = watched.wake.notified() => {}
        }
    }
}

impl Watched {
    /// The host's name in hosts.toml.
    pub fn name(&self) -> &str {
        &self.host.name
    }

    /// Keeps what a call answered: the reports, or why there are none now.
    fn record(&self, answer: anyhow::Result<fleet::Reply<Vec<query::status::Report>>>) {
        let mut snap = lock(&self.snap);
        snap.at = Some(Instant::now());
        match answer {
            Ok(reply) => {
                let mut reports = reply.value;
                query::triage::sort(&mut reports);
                snap.reachable = Some(true);
                snap.sessctl = Some(reply.sessctl);
                snap.last_contact = Some(SystemTime::now());
                snap.error = None;
                snap.reports = reports;
            }
            Err(err) => {
                snap.reachable = Some(false);
                snap.error = Some(format!("{err:#}"));
            }
        }
    }

    fn shown(&self, reveal: &Reveal) -> Result<Shown, ApiError> {
        let snap = lock(&self.snap);
        Ok(Shown {
            host: self.host.name.clone(),
            dest: self.host.dest(),
            reachable: snap.reachable,
            sessctl: snap.sessctl.clone(),
            last_contact: snap.last_contact.map(rfc3339),
            age_seconds: snap.at.map(|at| at.elapsed().as_secs()),
            error: snap.error.clone(),
            products: reveal.apply(&snap.reports)?,
        })
    }
}

/// The product a request's `{product}` segment names: one here ([`Product`]), or
/// `PRODUCT@HOST` for a host of hosts.toml. Any other host is a 404, and nothing is asked of
/// it.
pub enum Target {
    Here(ProductName),
    There(ProductName, Arc<Watched>),
}

impl FromRequestParts<Arc<App>> for Target {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Target, ApiError> {
        let name = segment(parts, "product").await?;
        let Some((product, host)) = name.split_once('@') else {
            let Product(product) = Product::from_request_parts(parts, app).await?;
            return Ok(Target::Here(product));
        };
        let not_found = |what: String| ApiError::refused(StatusCode::NOT_FOUND, what);
        let product = ProductName::parse(product)
            .map_err(|err| not_found(format!("no product {}: {err:#}", quoted(&name))))?;
        let watched = app.fleet.host(host).ok_or_else(|| {
            not_found(format!(
                "no host {} in hosts.toml; `sessctl host add NAME DEST` adds one",
                quoted(host)
            ))
        })?;
        Ok(Target::There(product, watched))
    }
}

/// The product a page names. A page's shell (see `auth`) looks nothing up, here or in
/// hosts.toml, as [`Product`] does: it takes any name sessctl accepts.
pub enum Page {
    Shell(String),
    Shown(Target),
}

impl FromRequestParts<Arc<App>> for Page {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Page, ApiError> {
        if parts.extensions.get::<Access>() != Some(&Access::Shell) {
            return Ok(Page::Shown(Target::from_request_parts(parts, app).await?));
        }
        let name = segment(parts, "product").await?;
        let (product, host) = hosts::split_at(&name)?;
        let name = match host {
            Some(host) => hosts::join_at(product.as_str(), HostName::parse(&host)?.as_str()),
            None => product.to_string(),
        };
        Ok(Page::Shell(name))
    }
}

/// `action` of `product` on `watched`'s host, answered as the local action answers; its
/// host is asked for its list at once after.
pub async fn act(
    watched: Arc<Watched>,
    product: ProductName,
    action: Action,
) -> Result<Response, ApiError> {
    let verb = action.as_str();
    changing(&watched, format!("`{verb} {product}`"), move |host| {
        Ok(match action {
            Action::Resume => json(&host.resume(&product)?.value),
            _ => json(&host.control(verb, &product)?.value),
        })
    })
    .await
}

/// `work` (`what` it does, for the error) on `watched`'s host, on the blocking pool; the host
/// is asked for its list at once after it ends. A request waits [`ACT_WITHIN`] for it.
async fn changing<T: Send + 'static>(
    watched: &Arc<Watched>,
    what: String,
    work: impl FnOnce(&fleet::Host) -> anyhow::Result<T> + Send + 'static,
) -> Result<T, ApiError> {
    let what = format!("host {} has not finished {what}", watched.host.name);
    let watched = watched.clone();
    let done = async move {
        let host = watched.host.clone();
        let done = blocking(move || work(&host)).await;
        watched.wake.notify_one();
        done
    };
    within(ACT_WITHIN, what, done).await
}

/// `work`'s result if it ends within `limit`; else a 504 saying `unfinished`, and `work` goes
/// on to its end. A host's action cannot be taken back halfway, and a connection that broke
/// after the hello leaves ssh waiting as long as TCP does: the answer must not.
async fn within<T: Send + 'static>(
    limit: Duration,
    unfinished: String,
    work: impl std::future::Future<Output = Result<T, ApiError>> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::time::timeout(limit, tokio::spawn(work)).await {
        Ok(Ok(done)) => done,
        Ok(Err(err)) => Err(ApiError::internal(format!(
            "a request's worker failed: {err}"
        ))),
        Err(_) => Err(ApiError::timed_out(format!(
            "{unfinished} within {} s; it goes on there, and the list shows how it ends",
            limit.as_secs()
        ))),
    }
}

/// A terminal on `product`'s session on `watched`'s host, and the permit it holds while open.
/// More than [`TERMINALS`] at once are refused (503), before sshd would refuse them.
pub async fn terminal(
    watched: &Watched,
    product: ProductName,
    write: bool,
    size: Size,
) -> Result<(fleet::Terminal, OwnedSemaphorePermit), ApiError> {
    let permit = watched.terminals.clone().try_acquire_owned().map_err(|_| {
        ApiError::refused(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{TERMINALS} terminals are open on host {} already; close one",
                watched.host.name
            ),
        )
    })?;
    let host = watched.host.clone();
    let terminal = blocking(move || host.terminal(&product, write, size)).await?;
    Ok((terminal, permit))
}

/// Answers `product`'s question `id` on `watched`'s host (see [`fleet::Host::decide`]); its
/// host is asked for its list at once after.
pub async fn decide(
    watched: &Arc<Watched>,
    product: ProductName,
    id: String,
    behavior: Behavior,
    by: String,
) -> Result<Option<Asked>, ApiError> {
    let what = format!("the answer to {product}'s question {}", quoted(&id));
    changing(watched, what, move |host| {
        Ok(host.decide(&product, &id, behavior, &by)?.value)
    })
    .await
}

/// `product`'s events (newest first, at most `shown`) and doctor's findings on `watched`'s
/// host, asked at once, each within [`ANSWER_WITHIN`]; `None` while the host does not answer,
/// so a page never waits on a host known to be gone.
pub async fn details(
    watched: &Watched,
    product: &ProductName,
    shown: usize,
) -> Option<(serde_json::Value, serde_json::Value)> {
    if lock(&watched.snap).reachable != Some(true) {
        return None;
    }
    let (host, name) = (watched.host.clone(), product.clone());
    let events = blocking(move || Ok(host.events(&name)?.value));
    let (host, name) = (watched.host.clone(), product.clone());
    let doctor = blocking(move || Ok(host.doctor(&name)?.value));
    let both = async { tokio::join!(events, doctor) };
    let (Ok(events), Ok(doctor)) = tokio::time::timeout(ANSWER_WITHIN, both).await.ok()? else {
        return None;
    };
    let mut events = match events {
        serde_json::Value::Array(events) => events,
        _ => return None,
    };
    events.reverse();
    events.truncate(shown);
    Some((serde_json::Value::Array(events), doctor))
}

#[cfg(test)]
mod tests {
    use axum::response::IntoResponse;
    use tokio::sync::oneshot;

    use super::*;

    /// What a request answers: its status and JSON body.
    async fn answered(err: ApiError) -> (StatusCode, serde_json::Value) {
        let response = err.into_response();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await;
        let body = serde_json::from_slice(&body.expect("the body")).expect("JSON");
        (status, body)
    }

    #[tokio::test]
    async fn an_action_past_its_limit_is_a_504_and_goes_on_to_its_end() {
        let (go, gone) = oneshot::channel::<()>();
        let (ended, end) = oneshot::channel();
        let slow = async move {
            let _ = gone.await;
            let _ = ended.send(());
            Ok(7)
        };
        let unfinished = "host h1 has not finished `resume web`".to_string();
        let late = within(Duration::from_millis(10), unfinished, slow).await;
        let (status, body) = answered(late.expect_err("no answer in time")).await;
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(body["error"], "host h1 has not finished `resume web` within 0 s; it goes on there, and the list shows how it ends");
        assert_eq!(body["exit_code"], 3);
        // The request gave up; the action did not.
        go.send(()).expect("the action still runs");
        end.await.expect("the action ends");
        let quick = async { Ok(7) };
        let done = within(Duration::from_secs(60), String::new(), quick).await;
        assert_eq!(done.expect("an answer"), 7);
    }
}

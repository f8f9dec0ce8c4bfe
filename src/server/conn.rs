//! One dashboard connection from accept to close, the table that bounds how many are open
//! and shares places out between source addresses, and the bound on how long an answer may
//! wait for its client to take it.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::{Request, Response, StatusCode};
use axum::Router;
use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use nix::sys::resource::{getrlimit, Resource};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify};
use tokio::time::{Instant, Sleep};

use super::tls::TlsAcceptor;

/// How long a client has to send a request's header, from the moment the server waits for it:
/// a phone on a poor link sends a few hundred bytes well within it, and a client that stalls
/// holds its connection seconds, not minutes. hyper waits for the next request on a kept-alive
/// connection with the same timer, so this is the idle timeout too.
const HEADER_READ: Duration = Duration::from_secs(10);

/// How long a request's body may take after its header: the dashboard's bodies are a login
/// form or an action's few bytes, and a body trickled slower would keep its connection busy,
/// out of reach of both the header timeout and eviction.
const BODY_READ: Duration = Duration::from_secs(10);

/// How long an answer's bytes may wait for the client to take any before its connection is
/// reset. Each write the kernel takes starts the wait anew, and a connection with nothing to
/// write never waits, so only a client that stops reading meets it. Without it a client that
/// never reads (a 289 KB script is more than the kernel buffers hold) would keep its place
/// for good, since a busy connection is never closed to make room; 30 s is room for a phone's
/// link to drop out and come back. A terminal's WebSocket is bound alike: a browser that
/// takes none of its output for this long has frozen its tab or lost its link, the tmux
/// client behind it stalls meanwhile, and the page, once back, reconnects and is sent the
/// pane's history anew.
const WRITE_STALL: Duration = Duration::from_secs(30);

/// The most connections open at once. One user's browsers need a few dozen at most (six per
/// browser and origin, and a terminal per open product page).
const MOST: usize = 512;

/// How many connections may be open at once: [`MOST`], or half the soft file limit when that
/// is lower. The other half is the server's own (its runtime, the bus connection, the files a
/// report reads, a terminal's tmux client), and covers the moment in which an evicted
/// connection is still closing.
pub fn cap() -> usize {
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, _)) => usize::try_from(soft / 2).unwrap_or(MOST).clamp(1, MOST),
        Err(_) => MOST,
    }
}

/// The open connections, oldest first, and how many may be open at once.
#[derive(Clone)]
pub struct Connections {
    open: Arc<Mutex<Open>>,
    cap: usize,
}

#[derive(Default)]
struct Open {
    next: u64,
    by_age: BTreeMap<u64, Conn>,
}

struct Conn {
    /// The client's address: places are shared out between addresses.
    source: IpAddr,
    /// Requests whose answers are not yet written.
    serving: usize,
    /// Switched to a WebSocket (the live terminal): it waits for no further request.
    upgraded: bool,
    /// Told to close, to make room; its socket is gone a moment later.
    closing: bool,
    close: Arc<Notify>,
}

impl Conn {
    /// Shaking hands, reading a header or idle between requests: nothing is lost by closing it.
    fn waiting(&self) -> bool {
        self.serving == 0 && !self.upgraded && !self.closing
    }
}

fn lock(open: &Mutex<Open>) -> MutexGuard<'_, Open> {
    // The table stays consistent whatever panicked while holding it: every change is one step.
    open.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Connections {
    pub fn new(cap: usize) -> Connections {
        Connections {
            open: Arc::default(),
            cap,
        }
    }

    /// A place for one more connection, from `source`. At the cap a connection waiting for a
    /// request is closed to make room (see [`Open::make_room`]), so a flood of idle or
    /// half-sent connections costs its own places, never a newcomer's. `None` when every
    /// place holds a request in flight or a terminal: the newcomer is refused at once rather
    /// than left waiting.
    pub fn admit(&self, source: IpAddr) -> Option<Slot> {
        let mut open = lock(&self.open);
        let live = open.by_age.values().filter(|c| !c.closing).count();
        if live >= self.cap {
            open.make_room()?;
        }
        let id = open.next;
        open.next += 1;
        let close = Arc::new(Notify::new());
        let conn = Conn {
            source,
            serving: 0,
            upgraded: false,
            closing: false,
            close: close.clone(),
        };
        open.by_age.insert(id, conn);
        Some(Slot {
            mark: Mark {
                id,
                open: self.open.clone(),
            },
            close,
        })
    }
}

impl Open {
    /// Closes the oldest waiting connection of the address that holds the most places, among
    /// addresses with one waiting (of addresses holding as many, the one whose waiting
    /// connection is oldest). Oldest-first across all addresses would let a flood from one
    /// address push out another's newcomer before its header arrives; this way the flood
    /// pushes out its own. `None` when none is waiting.
    fn make_room(&mut self) -> Option<()> {
        let victim = self.victim()?;
        let conn = self.by_age.get_mut(&victim)?;
        conn.closing = true;
        conn.close.notify_one();
        Some(())
    }

    /// The connection [`Open::make_room`] closes.
    fn victim(&self) -> Option<u64> {
        // Per address: its places, and its oldest waiting connection (the map is oldest first).
        let mut sources: HashMap<IpAddr, (usize, Option<u64>)> = HashMap::new();
        for (&id, conn) in self.by_age.iter().filter(|(_, c)| !c.closing) {
            let (held, oldest) = sources.entry(conn.source).or_default();
            *held += 1;
            if conn.waiting() && oldest.is_none() {
                *oldest = Some(id);
            }
        }
        sources
            .into_values()
            .filter_map(|(held, oldest)| Some((Reverse(held), oldest?)))
            .min()
            .map(|(_, id)| id)
    }
}

/// One connection's place among the open ones. Its socket holds it, so a WebSocket keeps it
/// until the terminal closes, long after the HTTP connection handed the socket over.
pub struct Slot {
    mark: Mark,
    close: Arc<Notify>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        lock(&self.mark.open).by_age.remove(&self.mark.id);
    }
}

/// Where a connection's requests record whether it is busy.
#[derive(Clone)]
struct Mark {
    id: u64,
    open: Arc<Mutex<Open>>,
}

impl Mark {
    fn waiting(&self) -> bool {
        lock(&self.open)
            .by_age
            .get(&self.id)
            .is_none_or(Conn::waiting)
    }

    fn update(&self, change: impl FnOnce(&mut Conn)) {
        if let Some(conn) = lock(&self.open).by_age.get_mut(&self.id) {
            change(conn);
        }
    }
}

/// A request in flight, from its header to the last byte of its answer.
struct Serving(Mark);

impl Serving {
    fn new(mark: Mark) -> Serving {
        mark.update(|c| c.serving += 1);
        Serving(mark)
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.update(|c| c.serving = c.serving.saturating_sub(1));
    }
}

/// Serves one accepted connection, over TLS with `tls`, until the client closes it, a timeout
/// ends it, it is closed to make room, or the server stops.
pub async fn serve(
    stream: TcpStream,
    peer: SocketAddr,
    slot: Slot,
    tls: Option<TlsAcceptor>,
    router: Router,
    stop: watch::Receiver<()>,
) {
    let (close, mark) = (slot.close.clone(), slot.mark.clone());
    let io = Tracked::new(stream, slot);
    let served = async move {
        match tls {
            None => http(io, peer, mark, router, stop).await,
            Some(tls) => {
                if let Some(io) = super::tls::handshake(&tls, io).await {
                    http(io, peer, mark, router, stop).await;
                }
            }
        }
    };
    tokio::select! {
        () = served => {}
        () = close.notified() => {}
    }
}

/// HTTP/1.1 on `io`, WebSocket upgrades included. Once the server stops, a request in flight
/// is answered before the connection closes; a connection waiting for one closes at once.
async fn http<I>(io: I, peer: SocketAddr, mark: Mark, router: Router, mut stop: watch::Receiver<()>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let requests = Requests {
        router: TowerToHyperService::new(router),
        peer,
        mark: mark.clone(),
    };
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ)
        .serve_connection(TokioIo::new(io), requests)
        .with_upgrades();
    tokio::pin!(conn);
    // A connection's error (a reset, a header too slow) is its client's, and ends only it.
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = stop.changed() => {}
    }
    if !mark.waiting() {
        conn.as_mut().graceful_shutdown();
        let _ = conn.await;
    }
}

/// The router as each connection calls it.
struct Requests {
    router: TowerToHyperService<Router>,
    peer: SocketAddr,
    mark: Mark,
}

type Answering = Pin<Box<dyn Future<Output = Result<Response<Answer>, Infallible>> + Send>>;

impl Service<Request<Incoming>> for Requests {
    type Response = Response<Answer>;
    type Error = Infallible;
    type Future = Answering;

    /// Handlers may ask for the peer (`ConnectInfo<SocketAddr>`), as behind axum's own
    /// `into_make_service_with_connect_info`; the connection is busy until the answer is out.
    fn call(&self, mut request: Request<Incoming>) -> Answering {
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let serving = Serving::new(self.mark.clone());
        let answer = self.router.call(request.map(Deadline::new));
        Box::pin(async move {
            let response = answer.await?;
            if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                serving.0.update(|c| c.upgraded = true);
            }
            Ok(response.map(|body| Answer {
                body,
                _serving: serving,
            }))
        })
    }
}

/// An answer's body: its connection is busy until hyper has taken the last of it.
struct Answer {
    body: axum::body::Body,
    _serving: Serving,
}

impl Body for Answer {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A request's body, cut off [`BODY_READ`] after its header.
struct Deadline {
    body: Incoming,
    at: Instant,
    /// Made on the first wait only: most requests never read a body.
    timer: Option<Pin<Box<Sleep>>>,
}

impl Deadline {
    fn new(body: Incoming) -> Deadline {
        Deadline {
            body,
            at: Instant::now() + BODY_READ,
            timer: None,
        }
    }
}

impl Body for Deadline {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(BoxError::from)));
        }
        let at = self.at;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(BoxError::from(format!(
                "the request's body took over {} s",
                BODY_READ.as_secs()
            ))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A connection's socket with its place among the open connections, its writes bounded by
/// [`WRITE_STALL`]. It lies under TLS, where every byte the client takes shows as a write.
struct Tracked {
    io: TcpStream,
    /// Held until the socket closes, a WebSocket's too.
    _slot: Slot,
    stall: Stall,
}

impl Tracked {
    fn new(io: TcpStream, slot: Slot) -> Tracked {
        Tracked {
            io,
            _slot: slot,
            stall: Stall::new(),
        }
    }

    /// One write, failed once the writes have stalled. The connection is then reset when it
    /// closes: a client that takes nothing would otherwise leave the kernel holding what is
    /// left of the answer, and retrying to send it, long after.
    fn write(
        &mut self,
        cx: &mut Context<'_>,
        write: impl FnOnce(Pin<&mut TcpStream>, &mut Context<'_>) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        if self.stall.out {
            return Poll::Ready(Err(stalled()));
        }
        let polled = write(Pin::new(&mut self.io), cx);
        let bounded = self.stall.bound(cx, polled);
        if self.stall.out {
            // Failing only loses the reset, not the close.
            let _ = self.io.set_zero_linger();
        }
        bounded
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

/// TCP's flush and shutdown never wait, so only writes pass through the stall.
impl AsyncWrite for Tracked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().write(cx, |io, cx| io.poll_write(cx, buf))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut()
            .write(cx, |io, cx| io.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// How long a connection's writes have been waiting for its client.
struct Stall {
    /// Made once per connection and moved on: writes wait often on a long answer.
    timer: Pin<Box<Sleep>>,
    /// Whether a write is waiting, so the timer runs.
    waiting: bool,
    /// Whether the writes waited [`WRITE_STALL`]: every later one fails at once.
    out: bool,
}

impl Stall {
    fn new() -> Stall {
        Stall {
            timer: Box::pin(tokio::time::sleep(WRITE_STALL)),
            waiting: false,
            out: false,
        }
    }

    /// `polled`, a write's outcome, but an error once writes have waited [`WRITE_STALL`] in a
    /// row. Any write that goes through, even of one byte, is progress.
    fn bound<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if polled.is_ready() {
            self.waiting = false;
            return polled;
        }
        if !self.waiting {
            self.waiting = true;
            self.timer.as_mut().reset(Instant::now() + WRITE_STALL);
        }
        ready!(self.timer.as_mut().poll(cx));
        self.out = true;
        Poll::Ready(Err(stalled()))
    }
}

fn stalled() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "the client took none of the answer for {} s",
            WRITE_STALL.as_secs()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const HERE: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    const FLOOD: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    const THIRD: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));

    fn states(connections: &Connections) -> Vec<(u64, bool)> {
        let open = lock(&connections.open);
        open.by_age.iter().map(|(id, c)| (*id, c.closing)).collect()
    }

    fn admit(connections: &Connections, source: IpAddr) -> Slot {
        connections.admit(source).expect("a place")
    }

    #[test]
    fn at_the_cap_the_oldest_waiting_connection_makes_room_and_busy_ones_never_do() {
        let connections = Connections::new(3);
        let serving = admit(&connections, HERE);
        let upgraded = admit(&connections, HERE);
        let _busy = Serving::new(serving.mark.clone());
        upgraded.mark.update(|c| c.upgraded = true);
        let _waiting = admit(&connections, HERE);
        // Full: the oldest waiting connection (2) is closed, not the older busy ones.
        let _newcomer = admit(&connections, HERE);
        assert_eq!(
            states(&connections),
            [(0, false), (1, false), (2, true), (3, false)]
        );
        // Full again: the busy ones still stay, and the one now oldest of the waiting goes.
        let _next = admit(&connections, HERE);
        assert_eq!(
            states(&connections),
            [(0, false), (1, false), (2, true), (3, true), (4, false)]
        );
    }

    #[test]
    fn with_every_place_busy_a_newcomer_is_refused_and_a_closed_one_frees_its_place() {
        let connections = Connections::new(2);
        let first = admit(&connections, HERE);
        let second = admit(&connections, HERE);
        let busy = Serving::new(first.mark.clone());
        second.mark.update(|c| c.upgraded = true);
        assert!(connections.admit(HERE).is_none());
        // The answer is out: the connection waits for its next request, and makes room.
        drop(busy);
        assert!(connections.admit(HERE).is_some());
        drop(second);
        assert_eq!(states(&connections), [(0, true)]);
    }

    #[test]
    fn at_the_cap_the_address_holding_most_makes_room_however_new_its_connections() {
        let connections = Connections::new(4);
        let _here = admit(&connections, HERE);
        let _flood: Vec<Slot> = (0..3).map(|_| admit(&connections, FLOOD)).collect();
        // The flood holds 3 places, 127.0.0.1 the oldest one: each newcomer, from either
        // address, closes the flood's oldest.
        let _more = admit(&connections, FLOOD);
        let _newcomer = admit(&connections, THIRD);
        assert_eq!(
            states(&connections),
            [
                (0, false),
                (1, true),
                (2, true),
                (3, false),
                (4, false),
                (5, false)
            ]
        );
    }

    #[test]
    fn ties_go_to_the_oldest_and_an_address_with_nothing_waiting_is_passed_over() {
        let connections = Connections::new(3);
        let flood: Vec<Slot> = (0..2).map(|_| admit(&connections, FLOOD)).collect();
        let _here = admit(&connections, HERE);
        // The flood holds most, but both its places are busy: 127.0.0.1's waiting one goes.
        let busy: Vec<Serving> = flood.iter().map(|s| Serving::new(s.mark.clone())).collect();
        let _third = admit(&connections, THIRD);
        assert_eq!(
            states(&connections),
            [(0, false), (1, false), (2, true), (3, false)]
        );
        // The flood's answers are out: it holds 2, the third address 1, and the flood's
        // oldest goes; then each holds 1 of the waiting, and the oldest (1) goes.
        drop(busy);
        let _fourth = admit(&connections, HERE);
        let _fifth = admit(&connections, HERE);
        assert_eq!(
            states(&connections),
            [
                (0, true),
                (1, true),
                (2, true),
                (3, false),
                (4, false),
                (5, false)
            ]
        );
    }

    /// One write's outcome through `stall`, polled once.
    async fn write(stall: &mut Stall, write: Poll<io::Result<()>>) -> Poll<io::Result<()>> {
        let mut write = Some(write);
        std::future::poll_fn(|cx| {
            let polled = write.take().unwrap_or(Poll::Pending);
            Poll::Ready(stall.bound(cx, polled))
        })
        .await
    }

    #[tokio::test(start_paused = true)]
    async fn writes_that_wait_30_s_in_a_row_fail_and_any_progress_starts_the_wait_anew() {
        let mut stall = Stall::new();
        let second = Duration::from_secs(1);
        assert!(write(&mut stall, Poll::Pending).await.is_pending());
        tokio::time::advance(WRITE_STALL - second).await;
        assert!(write(&mut stall, Poll::Pending).await.is_pending());
        // A write goes through: the next wait has its own 30 s.
        assert!(matches!(
            write(&mut stall, Poll::Ready(Ok(()))).await,
            Poll::Ready(Ok(()))
        ));
        assert!(write(&mut stall, Poll::Pending).await.is_pending());
        tokio::time::advance(WRITE_STALL - second).await;
        assert!(write(&mut stall, Poll::Pending).await.is_pending());
        assert!(!stall.out);
        tokio::time::advance(second).await;
        match write(&mut stall, Poll::Pending).await {
            Poll::Ready(Err(err)) => assert_eq!(err.kind(), io::ErrorKind::TimedOut),
            other => panic!("not timed out: {other:?}"),
        }
        assert!(stall.out);
    }
}

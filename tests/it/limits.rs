//! The dashboard's bounds on connections: a header that never ends and a kept-alive
//! connection left idle are closed after the 10 s header timeout, an answer its client takes
//! nothing of is cut off after the 30 s write stall, and a flood of idle connections costs its
//! own oldest connections, never a normal request, from its own address or another.
//!
//! Each test runs `sessctl serve` on an ephemeral loopback port with no manager, and speaks
//! HTTP/1.1 on raw sockets: what is tested is when the server closes them.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::resource::{setrlimit, Resource};
use nix::sys::socket::{
    connect, getsockopt, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn,
};

use crate::support::http::connect_from;
use crate::support::{Env, SESSCTL};

/// The server's header timeout (`HEADER_READ`, src/server/conn.rs), which is also how long a
/// kept-alive connection may wait for its next request.
const HEADER_READ: Duration = Duration::from_secs(10);

/// The server's write stall (`WRITE_STALL`, src/server/conn.rs): an answer whose bytes wait
/// this long for the client to take any is cut off, and its connection reset.
const WRITE_STALL: Duration = Duration::from_secs(30);

/// Room for a loaded two-core machine, beyond a stated bound.
const SLACK: Duration = Duration::from_secs(10);

/// The server starts its timer a moment before the test's clock does (on accepting, or on
/// writing its answer), so the test sees a timeout end up to this much early.
const EARLY: Duration = Duration::from_secs(1);

/// A normal request on a quiet loopback server: answered far within this, however loaded.
const PROMPT: Duration = Duration::from_secs(30);

const LOGIN: &[u8] = b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
const HALF: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n";

/// `sessctl serve --listen 127.0.0.1:0`, killed when dropped.
struct Server {
    child: Child,
    port: u16,
    _stderr: BufReader<ChildStderr>,
    _env: Env,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// A server whose file limit is `nofile` when given.
    fn start(nofile: Option<u64>) -> Server {
        let env = Env::offline();
        let mut command = Command::new(SESSCTL);
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .envs(env.vars())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(nofile) = nofile {
            // SAFETY: setrlimit is one system call, safe between fork and exec.
            unsafe {
                command.pre_exec(move || {
                    setrlimit(Resource::RLIMIT_NOFILE, nofile, nofile).map_err(Into::into)
                });
            }
        }
        let mut child = command.spawn().expect("spawning sessctl serve");
        let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
        let mut line = String::new();
        stderr
            .read_line(&mut line)
            .expect("reading the server's first line");
        let port = line
            .strip_prefix("sessctl: dashboard on http://sessctl.localhost:")
            .and_then(|rest| rest.split('/').next())
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("the server did not start: {line}"));
        Server {
            child,
            port,
            _stderr: stderr,
            _env: env,
        }
    }

    fn connect(&self) -> TcpStream {
        TcpStream::connect(("127.0.0.1", self.port)).expect("connecting to the dashboard")
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A connection whose receive buffer is the smallest the kernel allows (it rounds 1 up),
    /// asked for before connecting so that the window it offers is small from the first byte:
    /// the client's side holds next to nothing of what the server sends.
    fn connect_small(&self) -> TcpStream {
        let fd = socket(
            AddressFamily::Inet,
            SockType::Stream,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .expect("a socket");
        setsockopt(&fd, sockopt::RcvBuf, &1).expect("a small receive buffer");
        let to = SockaddrIn::new(127, 0, 0, 1, self.port);
        connect(fd.as_raw_fd(), &to).expect("connecting to the dashboard");
        TcpStream::from(fd)
    }
}

/// Reads until the server closes `stream` (an end of file or a reset), failing the test if it
/// is still open after `bound`: how long that took, and what the server sent meanwhile.
#[track_caller]
fn closed_within(mut stream: &TcpStream, bound: Duration) -> (Duration, Vec<u8>) {
    let start = Instant::now();
    let mut sent = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = bound.saturating_sub(start.elapsed());
        assert!(!left.is_zero(), "still open after {bound:?}");
        stream.set_read_timeout(Some(left)).expect("a read timeout");
        match stream.read(&mut buf) {
            Ok(0) => return (start.elapsed(), sent),
            Ok(n) => sent.extend_from_slice(&buf[..n]),
            Err(err) if err.kind() == ErrorKind::ConnectionReset => return (start.elapsed(), sent),
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!("still open after {bound:?}, having sent {sent:?}")
            }
            Err(err) => panic!("reading: {err}"),
        }
    }
}

/// Whether the server has closed `stream`, asked without waiting.
fn is_closed(stream: &TcpStream) -> bool {
    stream.set_nonblocking(true).expect("non-blocking");
    let mut buf = [0u8; 1];
    match (&mut &*stream).read(&mut buf) {
        Ok(0) => true,
        Ok(_) => panic!("the server sent something unasked"),
        Err(err) if err.kind() == ErrorKind::WouldBlock => false,
        Err(err) if err.kind() == ErrorKind::ConnectionReset => true,
        Err(err) => panic!("reading: {err}"),
    }
}

/// Whether the server has reset `stream`, asked without reading: a read would take some of an
/// answer, the very progress a stalled client withholds. (Asking clears the error.)
fn is_reset(stream: &TcpStream) -> bool {
    match getsockopt(stream, sockopt::SocketError).expect("reading SO_ERROR") {
        0 => false,
        err if err == Errno::ECONNRESET as i32 => true,
        err => panic!("the socket failed: {}", Errno::from_raw(err)),
    }
}

/// Waits, without reading, until the server resets `stream`, failing the test if it has not
/// `bound` after `start`: how long after `start` it was reset.
#[track_caller]
fn reset_within(stream: &TcpStream, start: Instant, bound: Duration) -> Duration {
    while !is_reset(stream) {
        assert!(start.elapsed() < bound, "still open after {bound:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    start.elapsed()
}

/// One line of an answer; the test fails if the server closed the connection instead.
#[track_caller]
fn line(reader: &mut impl BufRead) -> String {
    let mut line = String::new();
    match reader.read_line(&mut line) {
        Ok(0) => panic!("the connection was closed before its answer"),
        Ok(_) => line,
        Err(err) if err.kind() == ErrorKind::ConnectionReset => {
            panic!("the connection was reset before its answer")
        }
        Err(err) => panic!("reading an answer: {err}"),
    }
}

/// One answer read off `stream`: its status line and its `content-length` bytes of body.
#[track_caller]
fn answer(stream: &mut TcpStream) -> (String, Vec<u8>) {
    stream
        .set_read_timeout(Some(PROMPT))
        .expect("a read timeout");
    let mut reader = BufReader::new(stream);
    let status = line(&mut reader);
    let mut length = None;
    loop {
        let line = line(&mut reader);
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.trim().parse::<usize>().expect("a length"));
            }
        }
    }
    let mut body = vec![0; length.expect("a content-length")];
    reader.read_exact(&mut body).expect("reading the body");
    assert!(reader.buffer().is_empty(), "more than one answer");
    (status.trim_end().to_string(), body)
}

#[test]
fn a_half_sent_header_is_closed_after_the_10_s_header_timeout() {
    let server = Server::start(None);
    let mut stream = server.connect();
    stream.write_all(HALF).expect("sending half a header");
    let (took, sent) = closed_within(&stream, HEADER_READ + SLACK);
    assert_eq!(sent, b"", "closed without an answer");
    assert!(took >= HEADER_READ - EARLY, "closed after {took:?}");
}

#[test]
fn a_kept_alive_connection_left_idle_is_closed_after_the_10_s_idle_timeout() {
    let server = Server::start(None);
    let mut stream = server.connect();
    stream.write_all(LOGIN).expect("sending a request");
    let (status, _) = answer(&mut stream);
    assert_eq!(status, "HTTP/1.1 200 OK");
    let (took, sent) = closed_within(&stream, HEADER_READ + SLACK);
    assert_eq!(sent, b"", "closed without a further answer");
    assert!(took >= HEADER_READ - EARLY, "closed after {took:?}");
}

/// With a file limit of 128 the server holds at most 64 connections (half the limit).
const NOFILE: u64 = 128;
const CAP: usize = 64;
const FLOOD: usize = 150;

#[test]
fn a_flood_of_idle_connections_loses_its_oldest_and_never_blocks_a_request() {
    let server = Server::start(Some(NOFILE));
    // Idle connections and half-sent headers alike: both are waiting for a request.
    let flooded = Instant::now();
    let flood: Vec<TcpStream> = (0..FLOOD)
        .map(|i| {
            let mut stream = server.connect();
            if i % 2 == 1 {
                stream.write_all(HALF).expect("sending half a header");
            }
            stream
        })
        .collect();

    // A normal request takes the place of the oldest, and is answered before any of the
    // flood's headers could time out: had it waited for a place, it would not be.
    let mut stream = server.connect();
    stream.write_all(LOGIN).expect("sending a request");
    let (status, _) = answer(&mut stream);
    let answered = flooded.elapsed();
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(
        answered < HEADER_READ,
        "answered {answered:?} after the flood began"
    );

    // The flood's oldest 150 - 64 + 1 = 87 were closed to make room, the newest 63 left open
    // (counted only while their header timeout cannot have passed).
    let evicted = FLOOD - CAP + 1;
    let open = flood.iter().skip(evicted).filter(|s| !is_closed(s)).count();
    if flooded.elapsed() < HEADER_READ - EARLY {
        assert_eq!(open, CAP - 1);
    } else {
        eprintln!("the flood's header timeout may have passed: its newest are not counted");
    }
    for (i, old) in flood.iter().take(evicted).enumerate() {
        let (_, sent) = closed_within(old, SLACK);
        assert_eq!(sent, b"", "connection {i} closed without an answer");
    }
}

/// The largest public file, 289 KB as it is (no `Accept-Encoding`, so not compressed).
const BIG: &[u8] = b"GET /static/xterm.js HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

/// Requests for it sent at once: their answers are 9 MB, over twice the most Linux buffers
/// for a socket by default (`tcp_wmem`'s 4 MB), so the server's writes must wait.
const PIPELINED: usize = 32;

#[test]
fn an_answer_its_client_takes_nothing_of_is_cut_off_after_the_30_s_write_stall() {
    let server = Server::start(None);
    let start = Instant::now();
    let mut stalled = server.connect_small();
    stalled
        .write_all(&BIG.repeat(PIPELINED))
        .expect("sending the requests");

    // While it stalls, the server answers others.
    let mut stream = server.connect();
    stream.write_all(LOGIN).expect("sending a request");
    let (status, _) = answer(&mut stream);
    assert_eq!(status, "HTTP/1.1 200 OK");
    let answered = start.elapsed();
    if answered < WRITE_STALL - EARLY {
        assert!(!is_reset(&stalled), "reset {answered:?} after its requests");
    }

    // The stall began once the buffers were full, after the test's clock started.
    let took = reset_within(&stalled, start, WRITE_STALL + SLACK);
    assert!(took >= WRITE_STALL - EARLY, "reset after {took:?}");
}

/// How long the client of the normal request waits before sending its header: a slow phone's
/// pause, well within the header timeout.
const PAUSE: Duration = Duration::from_secs(2);

/// The flood opens a connection this often while the request pauses: some 200, far more than
/// the [`CAP`] that oldest-first eviction needs to reach the request's connection.
const FLOOD_EVERY: Duration = Duration::from_millis(10);

#[test]
fn a_flood_from_one_address_costs_its_own_connections_not_another_address_s() {
    let server = Server::start(Some(NOFILE));
    let flooder = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let mut flood: VecDeque<TcpStream> = (0..FLOOD)
        .map(|_| connect_from(&server.addr(), flooder))
        .collect();

    // A request from 127.0.0.1 connects, and pauses while the flood goes on. The flood keeps
    // its newest connections open, all the server can have left of it.
    let mut stream = server.connect();
    let paused = Instant::now();
    let mut opened = 0;
    while paused.elapsed() < PAUSE {
        flood.push_back(connect_from(&server.addr(), flooder));
        if flood.len() > FLOOD {
            flood.pop_front();
        }
        opened += 1;
        std::thread::sleep(FLOOD_EVERY);
    }
    assert!(opened > CAP, "the flood opened only {opened} connections");

    // An answer on a third address: the server has accepted every connection before it, in
    // order, and made room for each.
    let mut probe = connect_from(&server.addr(), IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)));
    probe.write_all(LOGIN).expect("sending a request");
    assert_eq!(answer(&mut probe).0, "HTTP/1.1 200 OK");

    let pause = paused.elapsed();
    assert!(
        pause < HEADER_READ - EARLY,
        "the pause took {pause:?}, up to the header timeout: the machine is too slow for this test"
    );
    stream.write_all(LOGIN).expect("sending the paused request");
    let (status, _) = answer(&mut stream);
    assert_eq!(status, "HTTP/1.1 200 OK");
}

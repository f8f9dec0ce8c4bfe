//! `GET /api/products/{p}/terminal`: a WebSocket onto a tmux client of the product's session
//! (see `lifecycle::terminal`). Each viewer is a client of its own, sized to its browser. For
//! another host's product (`web@build`) the same client runs there, on the terminal ssh gives
//! `sessctl internal view` over the host's shared connection (`fleet::Host::terminal`), and
//! window sizes travel as ssh's window changes.
//!
//! The socket is answered with the subprotocol `sessctl` (the page offers it, and its login key
//! as a second one). The browser sends text frames, `{"input": "..."}` for keys and
//! `{"resize": [cols, rows]}`; the server sends the pane's history and then the terminal's
//! output as binary frames. It closes with [`NOT_RUNNING`] when there is no session to show
//! and with [`ENDED`] when the client ends (the session ended, or the viewer was detached), so
//! the page can say which. Keys of a read-only viewer are dropped here, and tmux (`-r`) would
//! ignore them too.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use tokio::io::unix::AsyncFd;

use super::api::ApiError;
use super::hosts::{self, Target};
use super::{auth, blocking, App};
use crate::fleet;
use crate::lifecycle::terminal::{self, Opened, Size, Viewer};

/// The close code for a product whose session is not running (4000-4999 are the
/// application's own).
const NOT_RUNNING: u16 = 4001;
/// The close code for a client that ended: its session ended, or it was detached.
const ENDED: u16 = 4002;

#[derive(Deserialize)]
pub struct Open {
    #[serde(default)]
    write: u8,
    #[serde(default = "default_cols")]
    cols: u16,
    #[serde(default = "default_rows")]
    rows: u16,
}

fn default_cols() -> u16 {
    80
}

fn default_rows() -> u16 {
    24
}

/// What the browser sends.
#[derive(Deserialize)]
struct Frame {
    input: Option<String>,
    resize: Option<(u16, u16)>,
}

/// Axum extracts in the order of the arguments: the origin is checked before the product, so
/// another site's page learns nothing of which products exist. A product of another host
/// (`web@build`) is shown through ssh: its sessctl there runs the same client on the
/// terminal ssh gives it.
pub async fn open(
    State(app): State<Arc<App>>,
    Query(open): Query<Open>,
    upgrade: WebSocketUpgrade,
    _: SameOrigin,
    target: Target,
) -> Result<Response, ApiError> {
    let write = open.write == 1;
    let size = Size {
        cols: open.cols.clamp(10, 500),
        rows: open.rows.clamp(5, 200),
    };
    let upgrade = upgrade.protocols([auth::PROTOCOL]);
    let name = match target {
        Target::Here(name) => name,
        Target::There(name, watched) => {
            let (shown, permit) = hosts::terminal(&watched, name, write, size).await?;
            let fleet::Terminal { viewer, early } = shown;
            return Ok(upgrade.on_upgrade(move |socket| async move {
                pump(socket, viewer, early, write, Client::Remote).await;
                drop(permit);
            }));
        }
    };
    let paths = app.paths.clone();
    let opened = blocking(move || terminal::open(&paths, &name, write, size)).await?;
    Ok(match opened {
        Opened::Running { viewer, history } => {
            upgrade.on_upgrade(move |socket| pump(socket, viewer, history, write, Client::Local))
        }
        Opened::NotRunning => upgrade.on_upgrade(|mut socket| async move {
            let _ = socket.send(close(NOT_RUNNING, "session not running")).await;
        }),
    })
}

/// Which program runs on a viewer's terminal, so what its end means.
#[derive(Clone, Copy)]
enum Client {
    /// The session's own tmux client: it ends when the session ends, or is detached.
    Local,
    /// ssh to the sessctl of another host, which ends [`fleet::VIEW_NOT_RUNNING`] when it
    /// found no session there.
    Remote,
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// A request whose `Origin` is the host it was sent to. A page of another site can open a
/// WebSocket with the user's cookie: only the dashboard's own pages may.
pub struct SameOrigin;

impl<S: Send + Sync> FromRequestParts<S> for SameOrigin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<SameOrigin, ApiError> {
        let value = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
        if let (Some(origin), Some(host)) = (value(header::ORIGIN), value(header::HOST)) {
            if origin == format!("http://{host}") || origin == format!("https://{host}") {
                return Ok(SameOrigin);
            }
        }
        Err(ApiError::refused(
            StatusCode::FORBIDDEN,
            "a terminal opens only from the dashboard's own pages (the Origin header must be this server)",
        ))
    }
}

/// Sends the history, then relays until either side ends, then ends the client (never the
/// session) and says why it ended.
async fn pump(
    mut socket: WebSocket,
    viewer: Viewer,
    history: Vec<u8>,
    write: bool,
    client: Client,
) {
    let Viewer {
        master,
        client: mut child,
    } = viewer;
    let sent = history.is_empty() || socket.send(Message::Binary(history.into())).await.is_ok();
    let ended = match (sent, nonblocking(master)) {
        (true, Ok(master)) => relay(&mut socket, &master, write).await,
        _ => false,
    };
    // The client only shows the session; killing it ends nothing else. One that ended on its
    // own is a zombie the kill leaves as it was, with its exit code.
    let _ = child.kill();
    let status = tokio::task::spawn_blocking(move || child.wait()).await;
    let code = status.ok().and_then(Result::ok).and_then(|s| s.code());
    let last = match (ended, client, code) {
        (false, _, _) => Message::Close(None),
        (true, Client::Remote, Some(fleet::VIEW_NOT_RUNNING)) => {
            close(NOT_RUNNING, "session not running")
        }
        (true, _, _) => close(ENDED, "session ended"),
    };
    let _ = socket.send(last).await;
}

/// Copies the terminal's output to the browser and the browser's keys to the terminal until
/// either side ends; true when the client ended.
async fn relay(socket: &mut WebSocket, master: &AsyncFd<OwnedFd>, write: bool) -> bool {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            n = read(master, &mut buf) => match n {
                Some(n) => {
                    let out = Message::Binary(buf[..n].to_vec().into());
                    if socket.send(out).await.is_err() {
                        return false;
                    }
                }
                None => return true,
            },
            frame = socket.recv() => match frame {
                Some(Ok(Message::Text(text))) => {
                    if handle(master, &text, write).await.is_err() {
                        return false;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return false,
                Some(Ok(_)) => {}
            },
        }
    }
}

fn nonblocking(master: OwnedFd) -> std::io::Result<AsyncFd<OwnedFd>> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = fcntl(&master, FcntlArg::F_GETFL)?;
    fcntl(
        &master,
        FcntlArg::F_SETFL(OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK),
    )?;
    // SAFETY: an `OwnedFd` is a valid open descriptor that it alone closes, and its
    // `as_raw_fd` is the same descriptor for as long as the `AsyncFd` owns it.
    unsafe { AsyncFd::register(master) }.map_err(|err| std::io::Error::other(err.to_string()))
}

/// The next output; `None` once the client has ended (the pty then reads EIO).
async fn read(master: &AsyncFd<OwnedFd>, buf: &mut [u8]) -> Option<usize> {
    loop {
        let mut guard = master.readable().await.ok()?;
        match guard.try_io(|fd| nix::unistd::read(fd.get_ref(), buf).map_err(Into::into)) {
            Ok(Ok(0)) | Ok(Err(_)) => return None,
            Ok(Ok(n)) => return Some(n),
            Err(_would_block) => continue,
        }
    }
}

/// One frame from the browser: keys (dropped for a read-only viewer) or a new size.
async fn handle(master: &AsyncFd<OwnedFd>, text: &str, write: bool) -> std::io::Result<()> {
    let Ok(frame) = serde_json::from_str::<Frame>(text) else {
        return Ok(());
    };
    if let Some((cols, rows)) = frame.resize {
        let size = Size {
            cols: cols.clamp(10, 500),
            rows: rows.clamp(5, 200),
        };
        terminal::resize(master.get_ref().as_fd(), size).map_err(std::io::Error::other)?;
    }
    match frame.input {
        Some(keys) if write => write_all(master, keys.as_bytes()).await,
        _ => Ok(()),
    }
}

async fn write_all(master: &AsyncFd<OwnedFd>, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        let mut guard = master.writable().await?;
        match guard.try_io(|fd| nix::unistd::write(fd.get_ref(), bytes).map_err(Into::into)) {
            Ok(Ok(n)) => bytes = &bytes[n..],
            Ok(Err(err)) => return Err(err),
            Err(_would_block) => continue,
        }
    }
    Ok(())
}

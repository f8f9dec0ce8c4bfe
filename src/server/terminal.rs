//! `GET /api/products/{p}/terminal`: a WebSocket onto a tmux client of the product's session
//! (see `lifecycle::terminal`). Each viewer is a client of its own, sized to its browser.
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
use super::{auth, blocking, App, Product};
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
/// another site's page learns nothing of which products exist.
pub async fn open(
    State(app): State<Arc<App>>,
    Query(open): Query<Open>,
    upgrade: WebSocketUpgrade,
    _: SameOrigin,
    Product(name): Product,
) -> Result<Response, ApiError> {
    let paths = app.paths.clone();
    let write = open.write == 1;
    let size = Size {
        cols: open.cols.clamp(10, 500),
        rows: open.rows.clamp(5, 200),
    };
    let opened = blocking(move || terminal::open(&paths, &name, write, size)).await?;
    let upgrade = upgrade.protocols([auth::PROTOCOL]);
    Ok(match opened {
        Opened::Running { viewer, history } => {
            upgrade.on_upgrade(move |socket| pump(socket, viewer, history, write))
        }
        Opened::NotRunning => upgrade.on_upgrade(|mut socket| async move {
            let _ = socket.send(close(NOT_RUNNING, "session not running")).await;
        }),
    })
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

/// Sends the history, then relays until either side ends, then ends the tmux client (never
/// the session).
async fn pump(mut socket: WebSocket, viewer: Viewer, history: Vec<u8>, write: bool) {
    let Viewer { master, mut client } = viewer;
    let sent = history.is_empty() || socket.send(Message::Binary(history.into())).await.is_ok();
    if let (true, Ok(master)) = (sent, nonblocking(master)) {
        let last = match relay(&mut socket, &master, write).await {
            true => close(ENDED, "session ended"),
            false => Message::Close(None),
        };
        let _ = socket.send(last).await;
    }
    // The client only shows the session; killing it ends nothing else.
    let _ = client.kill();
    let _ = tokio::task::spawn_blocking(move || client.wait()).await;
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

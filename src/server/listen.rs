//! Where the dashboard listens and how it serves: the socket systemd hands over or one of its
//! own, plain HTTP or TLS, until SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::conn::{self, Connections};
use super::tls::TlsAcceptor;
use crate::lifecycle::dashboard::{check_reach, served_url, Tls};
use crate::tls::ServerConfig;

/// How long to wait after a failed accept: it fails when the process is out of descriptors,
/// and retrying at once would spin.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// Serves `router` on the socket systemd passed, else on `listen`; over TLS with `config`.
/// `listening` runs once the server listens and has said so: what it starts may speak only
/// after that line, which whoever started the server waits for.
pub async fn run(
    router: Router,
    listen: SocketAddr,
    tls: Option<Tls>,
    config: Option<Arc<ServerConfig>>,
    listening: impl FnOnce(),
) -> Result<()> {
    let listener = listener(listen, tls.as_ref()).await?;
    let addr = listener
        .local_addr()
        .context("reading the listening address")?;
    errln!(
        "sessctl: dashboard on {} (`sessctl dashboard url` prints the login link)",
        served_url(addr, config.is_some())
    );
    listening();
    let connections = Connections::new(conn::cap());
    accept(listener, router, config.map(TlsAcceptor::from), connections).await;
    Ok(())
}

/// Serves every connection in a task of its own until SIGTERM or Ctrl-C, then lets the
/// requests in flight finish. A connection with no place left is closed at once, so accepting
/// never waits on a full table.
async fn accept(
    listener: TcpListener,
    router: Router,
    tls: Option<TlsAcceptor>,
    connections: Connections,
) {
    let (stop, stopping) = watch::channel(());
    let signal = shutdown();
    tokio::pin!(signal);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut signal => break,
        };
        let Ok((stream, peer)) = accepted else {
            tokio::time::sleep(ACCEPT_RETRY).await;
            continue;
        };
        match connections.admit(peer.ip()) {
            Some(slot) => {
                let (tls, router, stop) = (tls.clone(), router.clone(), stopping.clone());
                tokio::spawn(conn::serve(stream, peer, slot, tls, router, stop));
            }
            // Every place holds a request in flight or a terminal. Closing costs nothing and
            // tells the client at once; a 503 would first need the request read, then be
            // written to a client that may never read it, holding for up to the write stall
            // the very descriptor and task that the cap is there to bound.
            None => drop(stream),
        }
    }
    drop((listener, stopping));
    // Each connection holds a receiver until it ends; none left means every answer is out.
    let _ = stop.send(());
    stop.closed().await;
}

/// The socket systemd passed (`LISTEN_FDS`), else a new one on `listen`; beyond loopback only
/// with TLS.
async fn listener(listen: SocketAddr, tls: Option<&Tls>) -> Result<tokio::net::TcpListener> {
    let mut fds = listenfd::ListenFd::from_env();
    let listener = match fds
        .take_tcp_listener(0)
        .context("taking the socket systemd passed")?
    {
        Some(socket) => {
            socket
                .set_nonblocking(true)
                .context("making the passed socket non-blocking")?;
            tokio::net::TcpListener::from_std(socket).context("using the passed socket")?
        }
        None => {
            check_reach(listen, tls)?;
            tokio::net::TcpListener::bind(listen)
                .await
                .with_context(|| format!("listening on {listen}"))?
        }
    };
    check_reach(
        listener
            .local_addr()
            .context("reading the listening address")?,
        tls,
    )?;
    Ok(listener)
}

async fn shutdown() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}

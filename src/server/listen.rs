//! Where the dashboard listens and how it serves: the socket systemd hands over or one of its
//! own, plain HTTP or TLS, until SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::Router;

use super::tls;
use crate::lifecycle::dashboard::{check_reach, served_url, Tls};
use crate::tls::ServerConfig;

/// Serves `router` on the socket systemd passed, else on `listen`; over TLS with `config`.
pub async fn run(
    router: Router,
    listen: SocketAddr,
    tls: Option<Tls>,
    config: Option<Arc<ServerConfig>>,
) -> Result<()> {
    let listener = listener(listen, tls.as_ref()).await?;
    let addr = listener
        .local_addr()
        .context("reading the listening address")?;
    errln!(
        "sessctl: dashboard on {} (`sessctl dashboard url` prints the login link)",
        served_url(addr, config.is_some())
    );
    let served = match config {
        Some(config) => {
            let listener = tls::TlsListener::new(listener, config)
                .context("reading the listening address")?;
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown())
                .await
        }
        None => {
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown())
                .await
        }
    };
    served.context("serving the dashboard")
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


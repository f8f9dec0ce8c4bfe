//! The fake services' shared server: an axum app on 127.0.0.1 in a network namespace of the
//! test's choosing, over http or https, served from a runtime of its own so a synchronous
//! test can keep calling sessctl while it answers.

use std::os::fd::BorrowedFd;
use std::sync::Arc;

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use nix::sched::{setns, CloneFlags};

/// A running server; it stops when dropped.
pub struct Loopback {
    pub port: u16,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Loopback {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Serves `app` on an ephemeral port of 127.0.0.1 in `netns` (this thread's namespace when
/// `None`), over TLS with `tls`. `what` names the service in a failure.
pub fn serve(
    what: &str,
    netns: Option<BorrowedFd<'_>>,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> Loopback {
    // A socket belongs to the namespace of the thread that made it: bind on a thread that
    // joined `netns`, then serve from the runtime's own threads.
    let listener = std::thread::scope(|s| {
        s.spawn(|| {
            if let Some(netns) = netns {
                setns(netns, CloneFlags::CLONE_NEWNET)
                    .unwrap_or_else(|e| panic!("joining the netns for {what}: {e}"));
            }
            std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap_or_else(|e| panic!("binding {what}: {e}"))
        })
        .join()
        .expect("the binding thread")
    });
    let port = listener.local_addr().expect("local address").port();
    listener.set_nonblocking(true).expect("non-blocking");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        match tls {
            None => {
                let _ = axum::serve(listener, app).await;
            }
            Some(config) => serve_https(listener, app, config.into()).await,
        }
    });
    Loopback {
        port,
        runtime: Some(runtime),
    }
}

/// Answers each connection on `listener` over TLS; one whose handshake fails (a client that
/// does not trust the certificate) is dropped, as a real service drops it.
async fn serve_https(
    listener: tokio::net::TcpListener,
    app: Router,
    acceptor: tokio_rustls::TlsAcceptor,
) {
    while let Ok((tcp, _)) = listener.accept().await {
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), TowerToHyperService::new(app))
                .await;
        });
    }
}

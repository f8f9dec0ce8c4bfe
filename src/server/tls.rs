//! The dashboard over TLS: each connection's handshake, in that connection's own task. The
//! only module that names tokio_rustls (the certificate and rustls itself are `crate::tls`'s).

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;
pub use tokio_rustls::TlsAcceptor;

/// A client that has not finished its handshake by then is dropped: a handshake is a few
/// round trips, and a stalled one must not hold its connection for long.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// `stream` over TLS once its handshake is done; `None` when the handshake fails (a plain-HTTP
/// client, a refused certificate) or takes longer than [`HANDSHAKE`].
pub async fn handshake<S>(acceptor: &TlsAcceptor, stream: S) -> Option<TlsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    tokio::time::timeout(HANDSHAKE, acceptor.accept(stream))
        .await
        .ok()?
        .ok()
}

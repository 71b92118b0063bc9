//! STOMP over plain TCP (`StompServerBuilder::stomp_tcp`), as RabbitMQ and ActiveMQ serve it
//! on port 61613: the accept loop, and the adapter ([`StompTcpStream`]) that lets the one
//! session lifecycle (`session::run_session_from`) run over a byte stream. Sessions, handlers,
//! the broker, interceptors, limits, events and shutdown are the WebSocket endpoint's; there
//! is no handshake and so no origin check, but a connection is held to the pending
//! connection caps until its first frame is whole, and to `max_sessions` after. With TLS
//! (`StompServerBuilder::stomp_tcp_tls`) each connection's handshake runs first, within
//! the handshake timeout and holding its pending place.

mod stream;

pub(crate) use stream::StompTcpStream;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::accept::{Acceptor, PendingConnections};
use crate::session::{run_session_from, SessionStart};
use crate::tls::TlsConfig;
use crate::trace::Transport;
use crate::web::EndpointContext;

/// Accepts STOMP-over-TCP connections from `listener` until `stop` turns true; each runs
/// a session told of the same stop, inside TLS when `tls` is given.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    app: Arc<EndpointContext>,
    (pending, tls): (PendingConnections, Option<TlsConfig>),
    stop: watch::Receiver<bool>,
) {
    let mut acceptor = Acceptor::new(&pending, "STOMP TCP");
    let mut watching = stop.clone();
    let mut stopped = std::pin::pin!(async move {
        let _ = watching.changed().await;
    });
    let refusing = |tcp: &TcpStream| refuse(tcp, "too many connections waiting for CONNECT");
    while let Some((tcp, remote, place)) = acceptor.next(&listener, &mut stopped, refusing).await {
        let Some(slot) = app.admit() else {
            app.stats().rejected_handshake();
            refuse(&tcp, "too many sessions");
            tracing::warn!(%remote, "STOMP TCP connection refused: session limit reached");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let sessions = Arc::clone(&app.sessions);
        let stop = stop.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            // Held until the session ends, whether or not it ever sends CONNECT.
            let _slot = slot;
            let Some(tls) = tls else {
                let transport = StompTcpStream::new(tcp, Some(place));
                let start = SessionStart::over(Transport::Tcp);
                run_session_from(transport, sessions, remote, stop, start).await;
                return;
            };
            // The pending place is held through the handshake too (and then until the first
            // frame is whole), so a client that stalls it holds one for a bounded time.
            if let Some(stream) = tls.accept(tcp, remote).await {
                let transport = StompTcpStream::new(stream, Some(place));
                let start = SessionStart::over(Transport::TcpTls);
                run_session_from(transport, sessions, remote, stop, start).await;
            }
        });
    }
}

/// Answers a connection refused at once with an `ERROR` frame, if its socket takes the
/// bytes at once, and closes it (by dropping it).
fn refuse(tcp: &TcpStream, message: &str) {
    let frame = format!("ERROR\ncontent-type:text/plain\nmessage:{message}\n\n{message}\0");
    let _ = tcp.try_write(frame.as_bytes());
}

/// Binds the STOMP-over-TCP address.
pub(crate) async fn bind(addr: &str) -> Result<(TcpListener, SocketAddr), crate::StartError> {
    let bind_error = |source| crate::StartError::Bind {
        addr: addr.to_owned(),
        source,
    };
    let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
    let local = listener.local_addr().map_err(bind_error)?;
    Ok((listener, local))
}

//! STOMP over plain TCP (`StompServerBuilder::stomp_tcp`), as RabbitMQ and ActiveMQ serve it
//! on port 61613: the accept loop, and the adapter ([`StompTcpStream`]) that lets the one
//! session lifecycle (`session::run_session`) run over a byte stream. Sessions, handlers,
//! the broker, interceptors, limits, events and shutdown are the WebSocket endpoint's; there
//! is no handshake and so no origin check, but a connection is held to the pending
//! connection caps until its first frame is whole, and to `max_sessions` after.

mod stream;

pub(crate) use stream::StompTcpStream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::accept::{AcceptBackoff, LogEvery, PendingConnections, Refusal};
use crate::session::run_session;
use crate::web::EndpointContext;

/// How often the accept loop's warnings may be logged.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Accepts STOMP-over-TCP connections from `listener` until `stop` turns true; each runs
/// a session told of the same stop.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    app: Arc<EndpointContext>,
    pending: PendingConnections,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = AcceptBackoff::default();
    let mut failure_log = LogEvery::new(LOG_EVERY);
    let mut refusal_log = LogEvery::new(LOG_EVERY);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => return,
        };
        let (tcp, remote) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // Out of file descriptors and similar: back off instead of spinning.
                let delay = backoff.failed();
                if let Some(more) = failure_log.due(tokio::time::Instant::now()) {
                    tracing::warn!(%error, failures_not_logged = more, ?delay, "STOMP TCP accept failed; backing off");
                }
                tokio::select! {
                    () = tokio::time::sleep(delay) => continue,
                    _ = stop.changed() => return,
                }
            }
        };
        backoff.succeeded();
        let place = match pending.admit(remote.ip()) {
            Ok(place) => place,
            Err(refusal) => {
                refuse(&tcp, "too many connections waiting for CONNECT");
                if let Some(more) = refusal_log.due(tokio::time::Instant::now()) {
                    let cap = match refusal {
                        Refusal::Full => "max_pending_connections",
                        Refusal::AddressFull => "max_pending_connections_per_address",
                    };
                    tracing::warn!(%remote, refusals_not_logged = more, cap, "STOMP TCP connection refused: too many connections before CONNECT");
                }
                continue;
            }
        };
        let Some(slot) = app.admit() else {
            app.stats().rejected_handshake();
            refuse(&tcp, "too many sessions");
            tracing::warn!(%remote, "STOMP TCP connection refused: session limit reached");
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let sessions = Arc::clone(&app.sessions);
        let stop = stop.clone();
        tokio::spawn(async move {
            // Held until the session ends, whether or not it ever sends CONNECT.
            let _slot = slot;
            let transport = StompTcpStream::new(tcp, Some(place));
            run_session(transport, sessions, remote, stop).await;
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

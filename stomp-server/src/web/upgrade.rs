//! The WebSocket upgrade: the handshake checks, the connection's limits, and what runs on
//! the upgraded connection (given by the caller: a STOMP session, or SockJS's pump).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use stomp_core::Version;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

use super::context::EndpointContext;
use super::origin::origin_allowed;
use super::{body, handshake, status, ResponseBody};
use crate::session::{MeteredIo, MeteredWebSocket, SessionContext, WireMeter};

/// How many bytes tungstenite gathers before writing to the socket. The session writer
/// flushes after every batch anyway, so this only caps how much one `sendto` carries: 8 KiB
/// split a typical fan-out batch of 20 chat messages in two writes; 32 KiB is one. The
/// buffer is allocated on the first write and grows only as far as the batches do.
const WRITE_BUFFER_SIZE: usize = 32 * 1024;

/// An upgraded connection, as what runs on it gets it.
pub(crate) type UpgradedSocket = MeteredWebSocket<TokioIo<hyper::upgrade::Upgraded>>;

/// Which WebSocket sub-protocols the upgrade answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subprotocols {
    /// The highest STOMP version the client offers (`v12.stomp`...).
    Stomp,
    /// None (SockJS frames its messages itself).
    None,
}

/// True when the request asks for a WebSocket upgrade.
pub(crate) fn is_upgrade(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Answers a WebSocket handshake and runs `run` on the upgraded connection.
pub(crate) fn upgrade<B, R, F>(
    mut request: Request<B>,
    (app, remote, shutdown): (Arc<EndpointContext>, SocketAddr, watch::Receiver<bool>),
    subprotocols: Subprotocols,
    run: R,
) -> Response<ResponseBody>
where
    R: FnOnce(UpgradedSocket, Arc<SessionContext>, SocketAddr, watch::Receiver<bool>) -> F
        + Send
        + 'static,
    F: Future<Output = ()> + Send,
{
    let headers = request.headers();
    let key = match handshake::check(request.method(), headers) {
        Ok(key) => key,
        Err(refusal) => {
            app.stats().rejected_handshake();
            tracing::debug!(%remote, ?refusal, "WebSocket handshake refused");
            return refused(refusal);
        }
    };
    if !origin_allowed(&app, request.uri(), headers) {
        app.stats().rejected_handshake();
        tracing::debug!(%remote, origin = ?headers.get(header::ORIGIN), "WebSocket handshake refused: origin not allowed");
        return status(StatusCode::FORBIDDEN, "origin not allowed");
    }
    let Some(slot) = app.admit() else {
        app.stats().rejected_handshake();
        tracing::warn!(%remote, "WebSocket handshake refused: session limit reached");
        return status(StatusCode::SERVICE_UNAVAILABLE, "too many sessions");
    };
    let accept = derive_accept_key(key.as_bytes());
    let protocol = match subprotocols {
        Subprotocols::Stomp => choose_subprotocol(headers),
        Subprotocols::None => None,
    };
    let limits = *app.limits();
    let mut config = WebSocketConfig::default();
    config.read_buffer_size = limits.read_buffer_size;
    // The session writer feeds every queued frame and then flushes once; tungstenite only
    // holds frames back (so that one flush becomes one write) when its write buffer is not
    // zero. The buffer is allocated lazily, so idle sessions pay nothing for it. Measured:
    // 0 meant one `sendto` per frame and half the bare broadcaster's rate (BENCHMARKS.md).
    config.write_buffer_size = WRITE_BUFFER_SIZE;
    config.max_message_size = Some(limits.message_size * 2 + 4096);
    config.max_frame_size = Some(limits.message_size * 2 + 4096);
    // What the connection holds for its client, pongs included, is metered: a reading
    // client's own frames take at most one write buffer and one frame (no frame is larger
    // than the send buffer), and its pongs may take one send buffer more; past that it is
    // not reading. Behind the meter, tungstenite's own hard cap leaves room for a SockJS
    // frame (JSON escaping can make one several times its messages).
    config.max_write_buffer_size = WRITE_BUFFER_SIZE + 8 * limits.send_buffer_size;
    let meter = WireMeter::new(WRITE_BUFFER_SIZE + 2 * limits.send_buffer_size);
    let on_upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        // Held until the session ends, whether or not it ever sends CONNECT.
        let _slot = slot;
        match on_upgrade.await {
            Ok(upgraded) => {
                let io = MeteredIo::new(TokioIo::new(upgraded), Arc::clone(&meter));
                let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
                let ws = MeteredWebSocket::new(ws, meter);
                run(ws, Arc::clone(&app.sessions), remote, shutdown).await;
            }
            Err(error) => tracing::debug!(%remote, %error, "WebSocket upgrade failed"),
        }
    });
    let mut response = Response::new(body(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let out = response.headers_mut();
    out.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    out.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        out.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    if let Some(protocol) = protocol {
        out.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(protocol),
        );
    }
    response
}

/// The highest STOMP sub-protocol the client offers; none when it offers none (accepted).
fn choose_subprotocol(headers: &http::HeaderMap) -> Option<&'static str> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(Version::from_subprotocol)
        .max()
        .map(Version::subprotocol)
}

/// The answer to a malformed handshake: 400, or 426 naming the version spoken here.
fn refused(refusal: handshake::Refusal) -> Response<ResponseBody> {
    match refusal {
        handshake::Refusal::BadRequest(text) => status(StatusCode::BAD_REQUEST, text),
        handshake::Refusal::UpgradeRequired => {
            let mut response = status(
                StatusCode::UPGRADE_REQUIRED,
                "this endpoint speaks WebSocket version 13",
            );
            response.headers_mut().insert(
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static("13"),
            );
            response
        }
    }
}

//! HTTP/1.1 with hyper: the WebSocket upgrade of STOMP endpoints, the Origin check, and
//! static resources served beside them.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use stomp_core::Version;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

mod handshake;

use crate::app::App;
use crate::session::{run_session, MeteredIo, MeteredWebSocket, WireMeter};
use crate::sockjs::{self, SockJs, SockSession};

/// How many bytes tungstenite gathers before writing to the socket. The session writer
/// flushes after every batch anyway, so this only caps how much one `sendto` carries: 8 KiB
/// split a typical fan-out batch of 20 chat messages in two writes; 32 KiB is one. The
/// buffer is allocated on the first write and grows only as far as the batches do.
const WRITE_BUFFER_SIZE: usize = 32 * 1024;

/// A response served at a fixed path (the demo's page and script).
#[derive(Debug, Clone)]
pub struct StaticResource {
    /// The `content-type`.
    pub content_type: &'static str,
    /// The bytes.
    pub body: Bytes,
}

/// A plain HTTP handler for paths that are neither endpoints nor static resources (a login
/// endpoint, a health check). It receives the request with its body collected, and the
/// client's address as a [`SocketAddr`] in its extensions (`request.extensions().get()`)
/// when the server knows it (always when it accepted the connection itself; through the
/// tower service only when the host router put one there), e.g. for rate limits.
pub type HttpHandler = dyn Fn(Request<Bytes>) -> Response<Full<Bytes>> + Send + Sync + 'static;

/// The body of every response the server writes (a whole body, or the stream of a SockJS
/// `xhr_streaming` response).
pub type ResponseBody = BoxBody<Bytes, Infallible>;

/// A whole body.
pub(crate) fn body(bytes: Bytes) -> ResponseBody {
    Full::new(bytes).boxed()
}

/// What the HTTP layer serves.
pub(crate) struct HttpRoutes {
    pub(crate) resources: HashMap<String, StaticResource>,
    pub(crate) handlers: HashMap<String, Arc<HttpHandler>>,
    /// SockJS under every endpoint, when enabled.
    pub(crate) sockjs: Option<Arc<SockJs>>,
}

/// What an upgraded connection runs.
pub(crate) enum Upgrade {
    /// STOMP frames in WebSocket messages.
    Stomp,
    /// The SockJS `websocket` transport, with this heartbeat interval.
    SockJs(std::time::Duration),
}

/// The error type request bodies may have.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Serves one HTTP request (from hyper directly, or through the tower `Service`).
pub(crate) async fn serve_request<B>(
    request: Request<B>,
    app: Arc<App>,
    routes: Arc<HttpRoutes>,
    remote: SocketAddr,
    shutdown: watch::Receiver<bool>,
) -> Result<Response<ResponseBody>, Infallible>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let path = request.uri().path().to_owned();
    if let Some(sockjs) = &routes.sockjs {
        if let Some(route) = sockjs::route(&path, &app.config.endpoints) {
            return Ok(sockjs::serve(sockjs, route, request, app, remote, shutdown).await);
        }
    }
    if app.config.endpoints.contains(&path) {
        return Ok(upgrade(request, app, remote, shutdown, Upgrade::Stomp));
    }
    if let Some(handler) = routes.handlers.get(&path) {
        let (mut parts, body) = request.into_parts();
        // The tower service passes the unspecified address when it knows none: say nothing.
        if !remote.ip().is_unspecified() {
            parts.extensions.insert(remote);
        }
        // Bodies are bounded like frames: a handler never sees more than `message_size`.
        let limits = app.config.limits;
        let body = match read_body(body, limits.message_size, limits.http_request_time).await {
            Ok(body) => body,
            Err(error) => {
                tracing::info!(%remote, path, %error, "HTTP request refused");
                return Ok(error.response());
            }
        };
        return Ok(handler(Request::from_parts(parts, body)).map(BodyExt::boxed));
    }
    if request.method() == Method::GET || request.method() == Method::HEAD {
        if let Some(resource) = routes.resources.get(&path) {
            let mut response = Response::new(body(resource.body.clone()));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(resource.content_type),
            );
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            return Ok(response);
        }
    }
    Ok(status(StatusCode::NOT_FOUND, "not found"))
}

/// Why a request body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BodyError {
    /// Longer than allowed.
    #[error("request body too large")]
    TooLarge,
    /// Not complete within `http_request_time`.
    #[error("request body too slow")]
    TooSlow,
    /// The connection failed while reading it.
    #[error("unreadable request body")]
    Unreadable,
}

impl BodyError {
    /// 413, 408 or 400; the connection is closed after it (the rest of the body is not read).
    pub(crate) fn response(self) -> Response<ResponseBody> {
        let code = match self {
            BodyError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::TooSlow => StatusCode::REQUEST_TIMEOUT,
            BodyError::Unreadable => StatusCode::BAD_REQUEST,
        };
        let text = match self {
            BodyError::TooLarge => "request body too large",
            BodyError::TooSlow => "request body not received in time",
            BodyError::Unreadable => "unreadable request body",
        };
        let mut response = status(code, text);
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        response
    }
}

/// Reads a whole request body of at most `max` bytes within `within`.
pub(crate) async fn read_body<B>(body: B, max: usize, within: Duration) -> Result<Bytes, BodyError>
where
    B: hyper::body::Body,
    B::Error: Into<BoxError>,
{
    let limited = http_body_util::Limited::new(body, max);
    match tokio::time::timeout(within, limited.collect()).await {
        Err(_) => Err(BodyError::TooSlow),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => {
            Err(BodyError::TooLarge)
        }
        Ok(Err(_)) => Err(BodyError::Unreadable),
    }
}

fn status(code: StatusCode, text: &'static str) -> Response<ResponseBody> {
    let mut response = Response::new(body(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = code;
    response
}

/// True when the request asks for a WebSocket upgrade.
pub(crate) fn is_upgrade(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Answers a WebSocket handshake and starts what `kind` says on the upgraded connection.
pub(crate) fn upgrade<B>(
    mut request: Request<B>,
    app: Arc<App>,
    remote: SocketAddr,
    shutdown: watch::Receiver<bool>,
    kind: Upgrade,
) -> Response<ResponseBody> {
    let headers = request.headers();
    let key = match handshake::check(request.method(), headers) {
        Ok(key) => key,
        Err(refusal) => {
            app.stats.rejected_handshake();
            tracing::info!(%remote, ?refusal, "WebSocket handshake refused");
            return refused(refusal);
        }
    };
    if !origin_allowed(&app, request.uri(), headers) {
        app.stats.rejected_handshake();
        tracing::info!(%remote, origin = ?headers.get(header::ORIGIN), "WebSocket handshake refused: origin not allowed");
        return status(StatusCode::FORBIDDEN, "origin not allowed");
    }
    let Some(slot) = app.admit() else {
        app.stats.rejected_handshake();
        tracing::warn!(%remote, "WebSocket handshake refused: session limit reached");
        return status(StatusCode::SERVICE_UNAVAILABLE, "too many sessions");
    };
    let accept = derive_accept_key(key.as_bytes());
    let protocol = match kind {
        Upgrade::Stomp => choose_subprotocol(headers),
        Upgrade::SockJs(_) => None,
    };
    let limits = app.config.limits;
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
                match kind {
                    Upgrade::Stomp => run_session(ws, app, remote, shutdown).await,
                    Upgrade::SockJs(heartbeat) => {
                        let (session, transport) =
                            SockSession::new(app.config.limits.send_buffer_size);
                        let send_time = app.config.limits.send_time;
                        tokio::spawn(run_session(transport, app, remote, shutdown));
                        sockjs::pump(ws, session, heartbeat, send_time).await;
                    }
                }
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

/// Same-origin by default (scheme, host and port, see [`handshake::same_origin`]);
/// otherwise the configured patterns (`*` wildcards, `"*"` for any). A request without
/// `Origin` (a non-browser client) is allowed, as in Spring.
pub(crate) fn origin_allowed(app: &App, uri: &http::Uri, headers: &http::HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    if app.config.allowed_origins.is_empty() {
        return handshake::same_origin(origin, uri, headers);
    }
    app.config
        .allowed_origins
        .iter()
        .any(|pattern| wildcard_match(pattern, origin))
}

/// Matches `text` against `pattern` where `*` stands for any run of characters.
pub(crate) fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern.eq_ignore_ascii_case(text);
    }
    let text = text.to_ascii_lowercase();
    let mut rest = text.as_str();
    for (i, part) in parts.iter().enumerate() {
        let part = part.to_ascii_lowercase();
        if i == 0 {
            let Some(after) = rest.strip_prefix(part.as_str()) else {
                return false;
            };
            rest = after;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part.as_str());
        } else {
            let Some(at) = rest.find(part.as_str()) else {
                return false;
            };
            rest = &rest[at + part.len()..];
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::wildcard_match;

    #[test]
    fn origin_patterns() {
        assert!(wildcard_match("*", "http://a.example"));
        assert!(wildcard_match(
            "http://*.example.com",
            "http://chat.example.com"
        ));
        assert!(!wildcard_match(
            "http://*.example.com",
            "http://example.org"
        ));
        assert!(wildcard_match(
            "http://localhost:*",
            "http://localhost:8080"
        ));
        assert!(wildcard_match("https://a.b", "HTTPS://A.B"));
    }
}

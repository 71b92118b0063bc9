//! The HTTP side of SockJS: routing a request to `info`, a transport, or the WebSocket
//! upgrade, and the CORS and caching headers every SockJS response carries.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use tokio::sync::watch;

use super::cookie::session_cookie;
use super::flushed::Flushes;
use super::framing::{self, Framing};
use super::response::plain;
use super::service::{Route, SockJs};
use super::session::SockSession;
use super::websocket::pump;
use super::{receive, streaming, xhr};
use crate::accept::PendingPlace;
use crate::session::{run_session_from, SessionContext, SessionStart};
use crate::stats::SockJsTransport;
use crate::trace::Transport;
use crate::web::EndpointContext;
use crate::web::{
    body, intercept_handshake, is_upgrade, origin_allowed, upgrade, BoxError, ResponseBody,
    Subprotocols, UpgradedSocket,
};

/// The SockJS `websocket` transport on an upgraded connection: a STOMP session behind the
/// SockJS session adapter, and the pump between the adapter and the WebSocket.
async fn sockjs_websocket(
    ws: UpgradedSocket,
    (heartbeat, start): (Duration, SessionStart),
    (sessions, remote, shutdown): (Arc<SessionContext>, SocketAddr, watch::Receiver<bool>),
) {
    let (session, transport) = SockSession::new(sessions.limits.send_buffer_size);
    let send_time = sessions.limits.send_time;
    let counted = sessions.stats.sockjs_opened(SockJsTransport::WebSocket);
    tokio::spawn(async move {
        let _counted = counted;
        run_session_from(transport, sessions, remote, shutdown, start).await;
    });
    pump(ws, session, heartbeat, send_time).await;
}

/// Plain STOMP over WebSocket under the SockJS path.
fn stomp_upgrade<B>(
    request: Request<B>,
    connection: (Arc<EndpointContext>, SocketAddr, watch::Receiver<bool>),
    start: SessionStart,
) -> Response<ResponseBody> {
    let run =
        move |ws, context, remote, shutdown| run_session_from(ws, context, remote, shutdown, start);
    upgrade(request, connection, Subprotocols::Stomp, run)
}

const NO_CACHE: &str = "no-store, no-cache, must-revalidate, max-age=0";

/// Serves a SockJS request.
pub(crate) async fn serve<B>(
    sockjs: &Arc<SockJs>,
    route: Route,
    request: Request<B>,
    app: Arc<EndpointContext>,
    remote: SocketAddr,
    shutdown: watch::Receiver<bool>,
) -> Response<ResponseBody>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    if !origin_allowed(&app, request.uri(), request.headers()) {
        app.stats().rejected_handshake();
        return plain(StatusCode::FORBIDDEN, "origin not allowed");
    }
    let origin = request.headers().get(header::ORIGIN).cloned();
    let preflight = request.method() == Method::OPTIONS;
    let start = if opens_session(sockjs, &route, &request) {
        match intercept_handshake(&app, &request, remote).await {
            Ok(start) => start,
            Err(mut refusal) => {
                cors(refusal.headers_mut(), origin);
                return refusal;
            }
        }
    } else {
        SessionStart::default()
    };
    let start = SessionStart {
        transport: transport_of(&route),
        ..start
    };
    let connection = (app, remote, shutdown);
    let mut response = match route {
        Route::Greeting if is_upgrade(request.headers()) => {
            return stomp_upgrade(request, connection, start);
        }
        Route::RawWebSocket => return stomp_upgrade(request, connection, start),
        Route::Greeting => plain(StatusCode::OK, "Welcome to SockJS!\n"),
        Route::Info if preflight => preflight_response("OPTIONS, GET"),
        Route::Info if request.method() == Method::GET => info(sockjs),
        Route::Info => plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
        Route::Iframe => return iframe(sockjs, &request, &connection.0),
        Route::Transport { transport, .. } if transport == "websocket" => {
            if request.method() != Method::GET {
                return plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
            }
            let heartbeat = sockjs.options.heartbeat;
            return upgrade(
                request,
                connection,
                Subprotocols::None,
                move |ws, app, remote, shutdown| {
                    sockjs_websocket(ws, (heartbeat, start), (app, remote, shutdown))
                },
            );
        }
        Route::Transport { session, transport } => {
            let needed = sockjs.options.session_cookie_needed;
            let cookie = needed.then(|| session_cookie(request.headers()));
            let mut response =
                http_transport(sockjs, (&session, &transport), request, connection, start).await;
            if let Some(cookie) = cookie {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            response
        }
    };
    cors(response.headers_mut(), origin);
    response
}

/// An HTTP transport request: its preflight, a receiving request (`xhr`, `xhr_streaming`,
/// `eventsource`, `htmlfile`) or `xhr_send`.
async fn http_transport<B>(
    sockjs: &Arc<SockJs>,
    (session, transport): (&str, &str),
    request: Request<B>,
    (app, remote, shutdown): (Arc<EndpointContext>, SocketAddr, watch::Receiver<bool>),
    start: SessionStart,
) -> Response<ResponseBody>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let method = request.method().clone();
    if method == Method::OPTIONS {
        let methods = match transport {
            "eventsource" | "htmlfile" => "OPTIONS, GET",
            _ => "OPTIONS, POST",
        };
        return preflight_response(methods);
    }
    let framing = match (transport, &method) {
        ("xhr_send", &Method::POST) => {
            return xhr::send(sockjs, session, &app, request.into_body()).await
        }
        ("xhr", &Method::POST) => None,
        ("xhr_streaming", &Method::POST) => Some(Framing::XhrStreaming),
        ("eventsource", &Method::GET) => Some(Framing::EventSource),
        ("htmlfile", &Method::GET) => match framing::callback(request.uri().query()) {
            Ok(callback) => Some(Framing::HtmlFile { callback }),
            Err(error) => {
                tracing::debug!(session, "SockJS htmlfile refused: {}", error.text());
                return plain(StatusCode::INTERNAL_SERVER_ERROR, error.text());
            }
        },
        _ => return plain(StatusCode::NOT_FOUND, "not found"),
    };
    // The receiving request (the session limit counts it) gives the connection's place
    // among plain connections back while it lasts, and only then.
    let client = receive::Client {
        app,
        remote,
        shutdown,
        place: request.extensions().get::<PendingPlace>().cloned(),
        flushes: request.extensions().get::<Flushes>().cloned(),
        start,
        transport: match &framing {
            None => SockJsTransport::XhrPolling,
            Some(Framing::XhrStreaming) => SockJsTransport::XhrStreaming,
            Some(Framing::EventSource) => SockJsTransport::EventSource,
            Some(Framing::HtmlFile { .. }) => SockJsTransport::HtmlFile,
        },
    };
    match framing {
        Some(framing) => streaming::stream(sockjs, session, client, framing).await,
        None => xhr::poll(sockjs, session, client).await,
    }
}

/// The `iframe.html` page. With allowed origins configured (other than `*`) it is not
/// served, as in Spring: a page inside an iframe cannot check who embeds it. Same-origin
/// only (the default), it may only be framed by the same origin.
fn iframe<B>(
    sockjs: &SockJs,
    request: &Request<B>,
    app: &EndpointContext,
) -> Response<ResponseBody> {
    if request.method() != Method::GET {
        return plain(StatusCode::NOT_FOUND, "not found");
    }
    if !app.allowed_origins.is_empty() && !app.allowed_origins.iter().any(|o| o == "*") {
        tracing::debug!("SockJS iframe page refused: the endpoint checks origins");
        return plain(
            StatusCode::NOT_FOUND,
            "iframe transports need any origin allowed",
        );
    }
    let mut response = sockjs.iframe.response(request.headers());
    if app.allowed_origins.is_empty() {
        response.headers_mut().insert(
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("SAMEORIGIN"),
        );
    }
    response
}

/// True when `request` opens a session, so that the handshake interceptors see it: a
/// WebSocket upgrade (SockJS's `websocket` transport, or raw STOMP over WebSocket under the
/// SockJS path), or a receiving request (`xhr`, `xhr_streaming`, `eventsource`, `htmlfile`)
/// naming a session not known yet.
fn opens_session<B>(sockjs: &SockJs, route: &Route, request: &Request<B>) -> bool {
    match route {
        Route::Greeting => is_upgrade(request.headers()),
        Route::RawWebSocket => true,
        Route::Transport { transport, .. } if transport == "websocket" => {
            request.method() == Method::GET
        }
        Route::Transport { session, transport } => {
            let receiving = match transport.as_str() {
                "xhr" | "xhr_streaming" => request.method() == Method::POST,
                "eventsource" | "htmlfile" => request.method() == Method::GET,
                _ => false,
            };
            receiving && sockjs.session(session).is_none()
        }
        Route::Info | Route::Iframe => false,
    }
}

/// The transport a session opened by a request at `route` runs over, as its span names it:
/// the SockJS transport the URL names, or plain STOMP over WebSocket.
fn transport_of(route: &Route) -> Transport {
    match route {
        Route::Transport { transport, .. } => {
            SockJsTransport::from_url(transport).map_or(Transport::WebSocket, Transport::SockJs)
        }
        _ => Transport::WebSocket,
    }
}

/// `{"websocket":true,...}` with a fresh entropy.
fn info(sockjs: &SockJs) -> Response<ResponseBody> {
    let json = serde_json::json!({
        "websocket": true,
        "origins": ["*:*"],
        "cookie_needed": sockjs.options.session_cookie_needed,
        "entropy": entropy(),
    });
    let mut response = Response::new(body(Bytes::from(json.to_string())));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_CACHE));
    response
}

/// A random `u32` from the standard library's randomly keyed hasher.
fn entropy() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    (hasher.finish() >> 32) as u32
}

fn preflight_response(methods: &'static str) -> Response<ResponseBody> {
    let mut response = plain(StatusCode::NO_CONTENT, "");
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(methods),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("31536000"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000"),
    );
    response
}

/// The CORS headers of every SockJS response: the request's origin (or `*`), credentials.
fn cors(headers: &mut http::HeaderMap, origin: Option<HeaderValue>) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        origin.unwrap_or(HeaderValue::from_static("*")),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
}

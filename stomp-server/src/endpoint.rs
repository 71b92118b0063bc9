//! HTTP/1.1 with hyper: routing a request to a STOMP endpoint's WebSocket upgrade, to
//! SockJS, to an application's handler or to a static resource (the building blocks they
//! share are in `web`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tokio::sync::watch;

use crate::session::{run_session_from, MockUser, SessionStart};
use crate::sockjs::{self, SockJs};
pub(crate) use crate::web::BoxError;
use crate::web::EndpointContext;
pub use crate::web::ResponseBody;
use crate::web::{
    acceptable_handshake, body, intercept_handshake, read_body, status, upgrade, Subprotocols,
};
use crate::websocket::{run_raw_session, RawEndpoint};

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

/// What the HTTP layer serves.
pub(crate) struct HttpRoutes {
    pub(crate) resources: HashMap<String, StaticResource>,
    pub(crate) handlers: HashMap<String, Arc<HttpHandler>>,
    /// SockJS under every endpoint, when enabled.
    pub(crate) sockjs: Option<Arc<SockJs>>,
    /// Raw WebSocket endpoints (no STOMP), by path.
    pub(crate) raw: HashMap<String, Arc<RawEndpoint>>,
}

/// Serves one HTTP request (from hyper directly, or through the tower `Service`).
pub(crate) async fn serve_request<B>(
    request: Request<B>,
    app: Arc<EndpointContext>,
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
        if let Some(route) = sockjs::route(&path, &app.endpoints) {
            return Ok(sockjs::serve(sockjs, route, request, app, remote, shutdown).await);
        }
    }
    if let Some(endpoint) = routes.raw.get(&path) {
        let start = match handshake_start(&app, &request, remote).await {
            Ok(start) => start,
            Err(refusal) => return Ok(refusal),
        };
        let (endpoint, uri) = (Arc::clone(endpoint), request.uri().clone());
        let run = move |ws, _, remote, shutdown| {
            run_raw_session(ws, endpoint, (uri, remote, start), shutdown)
        };
        return Ok(upgrade(
            request,
            (app, remote, shutdown),
            Subprotocols::None,
            run,
        ));
    }
    if app.endpoints.contains(&path) {
        let start = match handshake_start(&app, &request, remote).await {
            Ok(start) => start,
            Err(refusal) => return Ok(refusal),
        };
        let connection = (app, remote, shutdown);
        return Ok(upgrade(
            request,
            connection,
            Subprotocols::Stomp,
            move |ws, context, remote, shutdown| {
                run_session_from(ws, context, remote, shutdown, start)
            },
        ));
    }
    if let Some(handler) = routes.handlers.get(&path) {
        let (mut parts, body) = request.into_parts();
        // The tower service passes the unspecified address when it knows none: say nothing.
        if !remote.ip().is_unspecified() {
            parts.extensions.insert(remote);
        }
        // Bodies are bounded like frames: a handler never sees more than `message_size`.
        let limits = *app.limits();
        let body = match read_body(body, limits.message_size, limits.http_request_time).await {
            Ok(body) => body,
            Err(error) => {
                tracing::debug!(%remote, path, %error, "HTTP request refused");
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

/// What the handshake interceptors give the session a WebSocket upgrade at `request` starts,
/// or the response refusing it. A malformed or cross-origin handshake is refused by
/// `upgrade` as it is; without handshake interceptors nothing is looked at twice. The
/// request is read before the future is made (its body need not be `Sync`). A connection
/// of the test harness with a mock user starts its sessions as that user, without them.
fn handshake_start<B>(
    app: &Arc<EndpointContext>,
    request: &Request<B>,
    remote: SocketAddr,
) -> impl Future<Output = Result<SessionStart, Response<ResponseBody>>> + Send + 'static {
    let mock_user = request.extensions().get::<MockUser>().map(MockUser::start);
    let intercept = (mock_user.is_none()
        && !app.handshake_interceptors.is_empty()
        && acceptable_handshake(app, request))
    .then(|| intercept_handshake(app, request, remote));
    async move {
        match (intercept, mock_user) {
            (Some(intercept), _) => intercept.await,
            (None, start) => Ok(start.unwrap_or_default()),
        }
    }
}

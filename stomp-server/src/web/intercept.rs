//! Running the handshake interceptors on a request that opens a session, before the
//! upgrade. Every transport that opens sessions over HTTP calls [`intercept_handshake`]
//! first and hands what it returns to the session it starts (`run_session_from`): the STOMP
//! WebSocket endpoint, SockJS's `websocket` transport and its session-creating `xhr`
//! requests. A raw WebSocket endpoint reuses it the same way: call it before
//! `web::upgrade`, answer its `Err` as the response, and give the `SessionStart` to the
//! session it runs.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use tokio::time::timeout;

use super::context::EndpointContext;
use super::origin::origin_allowed;
use super::{body, handshake, ResponseBody};
use crate::handshake::{HandshakeRejection, HandshakeRequest};
use crate::session::SessionStart;

/// True for a well-formed WebSocket handshake from an allowed origin: what is worth running
/// the application's interceptors on (`upgrade` refuses the others as it always did, with
/// 400, 426 or 403, and no application code runs for them).
pub(crate) fn acceptable_handshake<B>(app: &EndpointContext, request: &Request<B>) -> bool {
    handshake::check(request.method(), request.headers()).is_ok()
        && origin_allowed(app, request.uri(), request.headers())
}

/// Runs the handshake interceptors (in registration order, each within
/// `Limits::interceptor_time`) on `request`: what the session starts with, or the response
/// refusing it (the interceptor's status and text, or 503 when one timed out). Nothing runs,
/// and nothing is copied, when there are none. The request is read before the future is
/// made, so the future does not borrow it (its body need not be `Sync`).
pub(crate) fn intercept_handshake<B>(
    app: &Arc<EndpointContext>,
    request: &Request<B>,
    remote: SocketAddr,
) -> impl Future<Output = Result<SessionStart, Response<ResponseBody>>> + Send + 'static {
    let shown = (!app.handshake_interceptors.is_empty()).then(|| {
        HandshakeRequest::new(
            request.method().clone(),
            request.uri().clone(),
            request.headers().clone(),
            remote,
        )
    });
    let app = Arc::clone(app);
    async move {
        match shown {
            None => Ok(SessionStart::default()),
            Some(shown) => run_chain(&app, shown).await,
        }
    }
}

async fn run_chain(
    app: &EndpointContext,
    shown: HandshakeRequest,
) -> Result<SessionStart, Response<ResponseBody>> {
    let mut start = SessionStart::default();
    let remote = shown.remote_addr();
    let time = app.limits().interceptor_time;
    for interceptor in &app.handshake_interceptors {
        let Ok(decided) = timeout(time, interceptor.before_handshake(shown.clone())).await else {
            app.stats().rejected_handshake();
            tracing::warn!(%remote, path = shown.path(), "handshake interceptor timed out after {time:?}; answering 503");
            let text = "the server could not check this request in time; try again later";
            return Err(refusal(StatusCode::SERVICE_UNAVAILABLE, text));
        };
        match decided {
            Ok(handshake) => {
                start.principal = handshake.principal.or(start.principal);
                start.expires_at = match (start.expires_at, handshake.expires_at) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            Err(HandshakeRejection { status, message }) => {
                app.stats().rejected_handshake();
                tracing::debug!(%remote, path = shown.path(), %status, reason = %crate::log::Escaped(&message), "handshake refused by an interceptor");
                return Err(refusal(status, &message));
            }
        }
    }
    start.attributes = shown.attributes().clone();
    Ok(start)
}

/// A plain-text refusal; 401 also names the scheme (`WWW-Authenticate: Bearer`).
fn refusal(status: StatusCode, text: &str) -> Response<ResponseBody> {
    let mut response = Response::new(body(Bytes::from(text.to_owned())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

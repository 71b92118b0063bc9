//! The XHR transports `xhr` (long polling) and `xhr_send` (`xhr_streaming` is one of the
//! [`streaming`](super::streaming) transports).

use std::sync::Arc;

use bytes::Bytes;
use http::{Response, StatusCode};
use tokio::sync::mpsc;

use super::frame::{
    decode_messages, message_frame, DecodeError, ANOTHER_CONNECTION, GO_AWAY, HEARTBEAT, OPEN,
};
use super::receive::Client;
use super::response::{channel_response, full_response, plain};
use super::service::SockJs;
use super::session::Receiving;
use crate::web::EndpointContext;
use crate::web::{read_body, BoxError, ResponseBody};

/// The `Content-Type` of the XHR transports' responses.
const JAVASCRIPT: &str = "application/javascript;charset=UTF-8";

fn javascript(payload: Bytes) -> Response<ResponseBody> {
    full_response(payload, JAVASCRIPT)
}

fn line(frame: &str) -> Bytes {
    Bytes::from(format!("{frame}\n"))
}

/// `xhr`: one frame per request: `o` first, then `a[...]`, `h` after the heartbeat
/// interval, or `c[...]`.
pub(crate) async fn poll(
    sockjs: &Arc<SockJs>,
    id: &str,
    mut client: Client,
) -> Response<ResponseBody> {
    let session = match client.session(sockjs, id) {
        Ok(session) => session,
        Err(busy) => return busy,
    };
    if session.open() {
        session.stop_receiving();
        return javascript(line(OPEN));
    }
    if !session.start_receiving() {
        return javascript(line(ANOTHER_CONNECTION));
    }
    let _receiving = Receiving::new(Arc::clone(&session), client.place);
    let heartbeat = tokio::time::sleep(sockjs.options.heartbeat);
    tokio::pin!(heartbeat);
    let taken = tokio::select! {
        taken = session.next_batch() => taken,
        () = &mut heartbeat => return javascript(line(HEARTBEAT)),
    };
    if taken.messages.is_empty() {
        // Closed, with nothing left to deliver.
        return javascript(line(GO_AWAY));
    }
    // Written only once the connection flushed the response; a response hyper could not
    // write gives its messages back to the session.
    let payload = line(&message_frame(&taken.messages));
    let (tx, rx) = mpsc::channel(1);
    let _ = tx.try_send((payload, Some(taken.messages)));
    channel_response(rx, client.flushes, JAVASCRIPT)
}

/// `xhr_send`: a JSON array of STOMP strings for the session; 204, or 404 for an unknown
/// session.
pub(crate) async fn send<B>(
    sockjs: &Arc<SockJs>,
    id: &str,
    app: &EndpointContext,
    request: B,
) -> Response<ResponseBody>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let Some(session) = sockjs.session(id) else {
        return plain(StatusCode::NOT_FOUND, "unknown session");
    };
    // A JSON-encoded frame is at most six bytes per byte of the frame.
    let limits = *app.limits();
    let max = limits.message_size * 6 + 1024;
    let body = match read_body(request, max, limits.http_request_time).await {
        Ok(body) => body,
        Err(error) => {
            tracing::debug!(session = id, %error, "SockJS xhr_send refused");
            return error.response();
        }
    };
    let messages = match decode_messages(&body) {
        Ok(messages) => messages,
        Err(DecodeError::Empty) => {
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "Payload expected.")
        }
        Err(DecodeError::Broken) => {
            return plain(StatusCode::INTERNAL_SERVER_ERROR, "Broken JSON encoding.")
        }
    };
    for message in messages {
        if !session.deliver(message).await {
            return plain(StatusCode::NOT_FOUND, "session closed");
        }
    }
    plain(StatusCode::NO_CONTENT, "")
}

//! The XHR transports: `xhr` (long polling), `xhr_streaming` and `xhr_send`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Frame;
use tokio::sync::{mpsc, watch};

use super::flushed::Flushes;
use super::frame::{
    decode_messages, message_frame, DecodeError, ANOTHER_CONNECTION, GO_AWAY, HEARTBEAT, OPEN,
};
use super::response::plain;
use super::service::SockJs;
use super::session::{Delivery, Receiving, SockSession};
use crate::accept::PendingPlace;
use crate::session::{run_session_from, SessionStart};
use crate::web::EndpointContext;
use crate::web::{body, read_body, BoxError, ResponseBody};

/// The `h` bytes that open an `xhr_streaming` response, so that browsers hand the body to
/// the page as it arrives.
const PRELUDE_BYTES: usize = 2048;

/// Who sent a receiving request, and the place its connection holds among plain ones.
pub(crate) struct Client {
    /// The application.
    pub(crate) app: Arc<EndpointContext>,
    /// The client's address.
    pub(crate) remote: SocketAddr,
    /// The server's shutdown signal.
    pub(crate) shutdown: watch::Receiver<bool>,
    /// The connection's place, when the accept loop counts it.
    pub(crate) place: Option<PendingPlace>,
    /// What tells when the connection flushed a response.
    pub(crate) flushes: Option<Flushes>,
    /// What the handshake interceptors gave a session this request creates.
    pub(crate) start: SessionStart,
}

/// The session `id`, created (and its STOMP session task started) when unknown; `None`
/// when the session limit is reached.
fn session_for(
    sockjs: &Arc<SockJs>,
    id: &str,
    app: Arc<EndpointContext>,
    remote: SocketAddr,
    (shutdown, start): (watch::Receiver<bool>, SessionStart),
) -> Option<Arc<SockSession>> {
    if let Some(session) = sockjs.session(id) {
        return Some(session);
    }
    let Some(slot) = app.admit() else {
        app.stats().rejected_handshake();
        tracing::warn!(%remote, "SockJS session refused: session limit reached");
        return None;
    };
    let (session, transport) = SockSession::new(app.limits().send_buffer_size);
    if let Some(existing) = sockjs.register(id, &session) {
        return Some(existing);
    }
    tokio::spawn(async move {
        // Held until the session ends, whether or not it ever sends CONNECT.
        let _slot = slot;
        let context = Arc::clone(&app.sessions);
        run_session_from(transport, context, remote, shutdown, start).await;
    });
    // The disconnect delay: without a receiving request for that long, the session ends.
    let (sockjs, id, watched) = (Arc::clone(sockjs), id.to_owned(), Arc::clone(&session));
    tokio::spawn(async move {
        let delay = sockjs.options.disconnect_delay;
        let tick = (delay / 4).max(std::time::Duration::from_millis(10));
        loop {
            tokio::time::sleep(tick).await;
            if watched.abandoned(delay) {
                break;
            }
        }
        sockjs.remove(&id);
        watched.disconnect();
        tracing::debug!(session = %id, "SockJS session closed after the disconnect delay");
    });
    Some(session)
}

fn javascript(payload: Bytes) -> Response<ResponseBody> {
    let mut response = Response::new(body(payload));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/javascript;charset=UTF-8"),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache, must-revalidate, max-age=0"),
    );
    response
}

fn line(frame: &str) -> Bytes {
    Bytes::from(format!("{frame}\n"))
}

/// `xhr`: one frame per request: `o` first, then `a[...]`, `h` after the heartbeat
/// interval, or `c[...]`.
pub(crate) async fn poll(sockjs: &Arc<SockJs>, id: &str, client: Client) -> Response<ResponseBody> {
    let Some(session) = session_for(
        sockjs,
        id,
        client.app,
        client.remote,
        (client.shutdown, client.start),
    ) else {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "too many sessions");
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
    javascript_stream(rx, client.flushes)
}

/// `xhr_streaming`: a chunked response of newline-separated frames, ended after
/// `stream_bytes_limit` bytes so that the client opens the next one.
pub(crate) async fn stream(
    sockjs: &Arc<SockJs>,
    id: &str,
    client: Client,
) -> Response<ResponseBody> {
    let send_time = client.app.limits().send_time;
    let Some(session) = session_for(
        sockjs,
        id,
        client.app,
        client.remote,
        (client.shutdown, client.start),
    ) else {
        return plain(StatusCode::SERVICE_UNAVAILABLE, "too many sessions");
    };
    // A client that stops reading the stream fills the channel: past `send_time` the
    // response ends instead of holding the task and the frame forever.
    let mut prelude = vec![b'h'; PRELUDE_BYTES + 1];
    prelude[PRELUDE_BYTES] = b'\n';
    let (tx, rx) = mpsc::channel::<Chunk>(16);
    let _ = tx.try_send((Bytes::from(prelude), None));
    if !session.start_receiving() {
        let _ = tx.try_send((line(ANOTHER_CONNECTION), None));
        drop(tx);
        return javascript_stream(rx, client.flushes);
    }
    let (heartbeat, limit) = (sockjs.options.heartbeat, sockjs.options.stream_bytes_limit);
    let receiving = Receiving::new(Arc::clone(&session), client.place);
    let client_flushes = client.flushes;
    tokio::spawn(async move {
        let _receiving = receiving;
        if session.open()
            && tx
                .send_timeout((line(OPEN), None), send_time)
                .await
                .is_err()
        {
            return;
        }
        let mut sent = 0;
        loop {
            let taken = tokio::select! {
                taken = session.next_batch() => taken,
                () = tx.closed() => return,
                () = tokio::time::sleep(heartbeat) => {
                    if tx.send_timeout((line(HEARTBEAT), None), send_time).await.is_err() {
                        return;
                    }
                    continue;
                }
            };
            if !taken.messages.is_empty() {
                let frame = line(&message_frame(&taken.messages));
                sent += frame.len();
                // Written once the connection flushed it. Not taken in time (a client that
                // stopped reading, or went away), it is dropped and the next receiving
                // request gets these first, rather than a gap.
                if tx
                    .send_timeout((frame, Some(taken.messages)), send_time)
                    .await
                    .is_err()
                {
                    return;
                }
                if sent >= limit {
                    return;
                }
            }
            if taken.closed {
                let _ = tx.send_timeout((line(GO_AWAY), None), send_time).await;
                return;
            }
        }
    });
    javascript_stream(rx, client_flushes)
}

/// Bytes of a response, and the messages they carry.
type Chunk = (Bytes, Option<Delivery>);

fn javascript_stream(
    rx: mpsc::Receiver<Chunk>,
    flushes: Option<Flushes>,
) -> Response<ResponseBody> {
    let mut response = javascript(Bytes::new());
    *response.body_mut() = ChannelBody { rx, flushes }.boxed();
    response
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
            tracing::info!(session = id, %error, "SockJS xhr_send refused");
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

/// A response body fed by a channel, ending when the sender is dropped. The messages of a
/// chunk hyper takes count as written once the connection flushed it (at once without
/// [`Flushes`]); chunks never taken give theirs back to the session.
struct ChannelBody {
    rx: mpsc::Receiver<Chunk>,
    flushes: Option<Flushes>,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let chunk = std::task::ready!(self.rx.poll_recv(cx));
        Poll::Ready(chunk.map(|(data, delivery)| {
            match (delivery, &self.flushes) {
                (Some(delivery), Some(flushes)) => flushes.after_next_flush(delivery),
                (Some(delivery), None) => delivery.written(),
                (None, _) => {}
            }
            Ok(Frame::data(data))
        }))
    }
}

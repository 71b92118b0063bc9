//! The life of one raw WebSocket session: open (registered, writer started, the handler
//! told) → read messages into the handler within the limits → close → teardown.

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::{FutureExt, Sink, Stream, StreamExt};
use tokio::sync::watch;
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};
use tracing::{Instrument, Span};

use super::endpoint::{RawContext, RawEndpoint};
use super::message::{BinaryMessage, CloseStatus, TextMessage, TransportError};
use super::session::{SessionParts, WebSocketSession};
use crate::config::FAR_FUTURE;
use crate::peer::{CloseCause, Outbound};
use crate::principal::SessionId;
use crate::session::{linger, run_writer, split, SessionStart};
use crate::trace::raw_session_span;

/// Why a raw session ended.
enum End {
    /// The client sent a close frame with this status.
    Client(CloseStatus),
    /// The server closes with this status, after what is queued.
    Server(CloseStatus),
    /// The client does not read what it is sent: cut without a close frame.
    SlowConsumer(&'static str),
    /// The connection is gone.
    Lost,
}

impl End {
    /// The status the handler's `after_connection_closed` is given.
    fn status(&self) -> CloseStatus {
        match self {
            End::Client(status) | End::Server(status) => status.clone(),
            End::SlowConsumer(why) => CloseStatus::SESSION_NOT_RELIABLE.with_reason(*why),
            End::Lost => CloseStatus::NO_CLOSE_FRAME,
        }
    }
}

/// The session's writer task, aborted when dropped (a panicking handler must not leave it
/// holding the socket open).
struct WriterTask(tokio::task::JoinHandle<()>);

impl Drop for WriterTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The session's place in [`RawSessions`](super::RawSessions) and the counters: given back
/// when the session task ends, however it ends.
struct Registration<'a> {
    context: &'a RawContext,
    session: &'a WebSocketSession,
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.context.sessions.remove(self.session.id());
        self.context.stats.raw_session_closed();
    }
}

/// Closes a raw session with 1008 ("credentials expired") when the credentials its
/// handshake interceptor gave it expire; aborted when dropped (the session ended first).
struct ExpiryClose(tokio::task::JoinHandle<()>);

impl ExpiryClose {
    fn start(session: &WebSocketSession, at: std::time::SystemTime) -> ExpiryClose {
        let session = session.clone();
        let closing = async move {
            // The wall clock says how far away `at` is; tokio's clock counts it down.
            let left = at
                .duration_since(std::time::SystemTime::now())
                .unwrap_or_default();
            tokio::time::sleep(left).await;
            session.close(CloseStatus::POLICY_VIOLATION.with_reason("credentials expired"));
        };
        ExpiryClose(tokio::spawn(closing.in_current_span()))
    }
}

impl Drop for ExpiryClose {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs one raw session until it ends, in its `websocket_session` span. Never panics on
/// client input; a handler's panic closes the session with 1011. Not an `async fn`, for
/// the reason `run_session_from` is not.
pub(crate) fn run_raw_session<T>(
    transport: T,
    endpoint: Arc<RawEndpoint>,
    (uri, remote, start): (http::Uri, SocketAddr, SessionStart),
    shutdown: watch::Receiver<bool>,
) -> impl std::future::Future<Output = ()> + Send
where
    T: Stream<Item = Result<WsMessage, WsError>> + Sink<WsMessage, Error = WsError>,
    T: Send + Unpin + 'static,
{
    let id = crate::session::new_session_id();
    let span = raw_session_span(&id, start.principal.as_ref(), remote);
    run(transport, endpoint, (id, uri, remote, start), shutdown).instrument(span)
}

/// [`run_raw_session`], inside the session's span.
async fn run<T>(
    transport: T,
    endpoint: Arc<RawEndpoint>,
    (id, uri, remote, start): (SessionId, http::Uri, SocketAddr, SessionStart),
    mut shutdown: watch::Receiver<bool>,
) where
    T: Stream<Item = Result<WsMessage, WsError>> + Sink<WsMessage, Error = WsError>,
    T: Send + Unpin + 'static,
{
    let context = &*endpoint.context;
    let limits = context.limits;
    let (sink, mut stream) = split(transport);
    let (outbound, rx) = Outbound::new(limits.send_buffer_size);
    let session = WebSocketSession::new(SessionParts {
        id,
        remote,
        uri,
        principal: start.principal,
        attributes: start.attributes,
        outbound: outbound.clone(),
        template: context.template.clone(),
        sessions: context.sessions.clone(),
    });
    let writing = run_writer(sink, rx, outbound, None, limits.send_time, Span::current());
    let mut writer = WriterTask(tokio::spawn(writing));
    context.sessions.add(&session);
    context.stats.raw_session_opened();
    let registration = Registration {
        context,
        session: &session,
    };
    let _expiry = start.expires_at.map(|at| ExpiryClose::start(&session, at));
    tracing::debug!(%remote, session = %session.id(), "raw WebSocket session opened");
    let handler = &*endpoint.handler;
    let end = match guarded(handler.established(&session)).await {
        Ok(()) => serve(&endpoint, &session, &mut stream, &mut shutdown).await,
        Err(end) => end,
    };
    stop_writer(context, &session, &mut writer, &end).await;
    drop(registration);
    let status = match (&end, session.closed_with()) {
        (End::Server(_), Some(given)) => given.clone(),
        _ => end.status(),
    };
    tracing::debug!(session = %session.id(), %status, "raw WebSocket session closed");
    let _ = guarded(handler.closed(&session, status)).await;
    if matches!(end, End::Server(_)) {
        linger(&mut stream).await;
    }
}

/// Runs a handler call; a panic in it ends the session with 1011.
async fn guarded(call: impl std::future::Future<Output = ()>) -> Result<(), End> {
    AssertUnwindSafe(call).catch_unwind().await.map_err(|_| {
        tracing::error!("raw WebSocket handler panicked; closing its session");
        End::Server(CloseStatus::SERVER_ERROR.with_reason("handler failed"))
    })
}

/// Reads messages into the handler until the session ends.
async fn serve<S>(
    endpoint: &RawEndpoint,
    session: &WebSocketSession,
    stream: &mut S,
    shutdown: &mut watch::Receiver<bool>,
) -> End
where
    S: Stream<Item = Result<WsMessage, WsError>> + Unpin,
{
    let context = &*endpoint.context;
    let limits = context.limits;
    let mut rate =
        crate::session::FrameRate::new(limits.max_frames_per_second, std::time::Instant::now());
    let close_requested = session.outbound().close_requested();
    tokio::pin!(close_requested);
    let shutting_down = shutdown.changed();
    tokio::pin!(shutting_down);
    let idle = context.idle.unwrap_or(FAR_FUTURE);
    // One timer, moved only when it fires: a read just records its time, so that a busy
    // session does not touch the timer wheel on every message.
    let silence = tokio::time::sleep(idle);
    tokio::pin!(silence);
    let (mut last_read, mut pinged) = (Instant::now(), false);
    loop {
        let next = tokio::select! {
            biased;
            () = &mut close_requested => return closed_by_server(session),
            _ = &mut shutting_down => {
                return End::Server(CloseStatus::GOING_AWAY.with_reason("server shutting down"));
            }
            () = &mut silence, if context.idle.is_some() => {
                if let Some(end) = silent(session, &mut pinged, last_read + idle) {
                    return end;
                }
                let due = if pinged { Instant::now() } else { last_read } + idle;
                silence.as_mut().reset(due);
                continue;
            }
            next = stream.next() => next,
        };
        (last_read, pinged) = (Instant::now(), false);
        rate.refill(std::time::Instant::now());
        if !rate.take() {
            tracing::warn!(session = %session.id(), "closing a flooding raw WebSocket session");
            let why = format!(
                "more than {} messages per second",
                limits.max_frames_per_second
            );
            return End::Server(CloseStatus::POLICY_VIOLATION.with_reason(why));
        }
        if let Some(end) = received(endpoint, session, next).await {
            return end;
        }
    }
}

/// The silence timer fired: a client silent since `due - idle` is pinged, and closed when
/// it was pinged already; `pinged` stays false when something was read since.
fn silent(session: &WebSocketSession, pinged: &mut bool, due: Instant) -> Option<End> {
    if Instant::now() < due {
        return None;
    }
    if *pinged {
        tracing::debug!(session = %session.id(), "closing a silent raw WebSocket session");
        let why = "no message or pong received in time";
        return Some(End::Server(CloseStatus::POLICY_VIOLATION.with_reason(why)));
    }
    *pinged = true;
    let _ = session.send(WsMessage::Ping(Default::default()));
    None
}

/// Hands one read to the handler; the end of the session when it ends it.
async fn received(
    endpoint: &RawEndpoint,
    session: &WebSocketSession,
    next: Option<Result<WsMessage, WsError>>,
) -> Option<End> {
    let handler = &*endpoint.handler;
    let max = endpoint.context.limits.message_size;
    let call = match next {
        Some(Ok(WsMessage::Text(text))) if text.len() <= max => {
            handler.text(session, TextMessage(text))
        }
        Some(Ok(WsMessage::Binary(data))) if data.len() <= max => {
            handler.binary(session, BinaryMessage(data))
        }
        Some(Ok(WsMessage::Text(_) | WsMessage::Binary(_))) => {
            let why = format!("a message over {max} bytes");
            return Some(failed(handler, session, why, CloseStatus::TOO_BIG_TO_PROCESS).await);
        }
        Some(Ok(WsMessage::Close(frame))) => {
            return Some(End::Client(CloseStatus::from_frame(frame.as_ref())))
        }
        Some(Ok(_)) => return None,
        Some(Err(WsError::WriteBufferFull(_))) => return Some(End::SlowConsumer("pongs not read")),
        Some(Err(error)) => return read_failed(handler, session, &error).await,
        None => return Some(End::Lost),
    };
    if let Err(end) = guarded(call).await {
        return Some(end);
    }
    None
}

/// Ends a session whose read failed: the handler hears of an error in the client's input.
async fn read_failed(
    handler: &dyn super::handler::DynHandler,
    session: &WebSocketSession,
    error: &WsError,
) -> Option<End> {
    let status = match error {
        // The client went away without a close frame: nothing it sent was wrong.
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => return Some(End::Lost),
        WsError::Utf8(_) => CloseStatus::BAD_DATA,
        WsError::Capacity(_) => CloseStatus::TOO_BIG_TO_PROCESS,
        WsError::Protocol(_) => CloseStatus::PROTOCOL_ERROR,
        _ => {
            tracing::debug!(session = %session.id(), %error, "raw WebSocket read failed");
            return Some(End::Lost);
        }
    };
    Some(failed(handler, session, error.to_string(), status).await)
}

/// Tells the handler about bad client input, then ends the session with `status`.
async fn failed(
    handler: &dyn super::handler::DynHandler,
    session: &WebSocketSession,
    why: String,
    status: CloseStatus,
) -> End {
    tracing::debug!(session = %session.id(), remote = %session.remote_address(), reason = %crate::log::Escaped(&why), "closing a raw WebSocket session");
    let error = TransportError { message: why };
    if let Err(end) = guarded(handler.transport_error(session, &error)).await {
        return end;
    }
    End::Server(status)
}

/// The end of a session its own queue asked to close: the application's close, or a
/// slow consumer.
fn closed_by_server(session: &WebSocketSession) -> End {
    match session.outbound().close_cause() {
        CloseCause::SendBufferLimit => End::SlowConsumer("send buffer limit exceeded"),
        CloseCause::SendTimeLimit => End::SlowConsumer("send time limit exceeded"),
        CloseCause::WriteFailed => End::Lost,
        // The close frame is queued already (`WebSocketSession::close`).
        _ => End::Server(CloseStatus::NORMAL),
    }
}

/// Lets the writer flush what the client is owed and send the close frame (within the
/// send-time limit), or stops it at once for a slow consumer or a lost connection.
async fn stop_writer(
    context: &RawContext,
    session: &WebSocketSession,
    writer: &mut WriterTask,
    end: &End,
) {
    let outbound = session.outbound();
    match end {
        End::SlowConsumer(why) => {
            context.stats.slow_consumer();
            tracing::warn!(session = %session.id(), remote = %session.remote_address(), queued_bytes = outbound.queued_bytes(), reason = why, "closing slow consumer");
            writer.0.abort();
        }
        End::Lost => writer.0.abort(),
        End::Server(status) => {
            // A close already queued (by the application) keeps its status.
            session.close_after_flush(status.clone());
            let _ = timeout(context.limits.send_time, &mut writer.0).await;
        }
        End::Client(_) => {
            session.close_after_flush(CloseStatus::NORMAL);
            let _ = timeout(context.limits.send_time, &mut writer.0).await;
        }
    }
    context.stats.send_buffer_peak(outbound.peak_bytes());
}

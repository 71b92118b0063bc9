//! The life of one STOMP session over one WebSocket, as a skeleton of short steps:
//! handshake and first frame → accept the `CONNECT` → open the session (broker, registry,
//! writer) → serve its commands → teardown.

use std::future::Future;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::sync::Arc;

use futures_util::{Sink, Stream};
use stomp_core::{names, Command, Decoder, Frame, Version};
use tokio::sync::watch;
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};
use tracing::{Instrument, Span};

use super::before_connect::{await_connect, FirstFrame};
use super::close::{linger, read_failure, refuse};
use super::connect::{accept_connect, Accepted};
use super::context::SessionContext;
use super::end::End;
use super::id::new_session_id;
use super::rate::{flood_message, FrameRate};
use super::split::{split, ReadHalf, WriteHalf};
use super::start::{ExpiryTimer, SessionStart};
use super::state::SessionState;
use super::writer::run_writer;
use crate::attributes::SessionAttributes;
use crate::connection::{Fill, FrameReader, Messages, Received};
use crate::event::SessionEvent;
use crate::peer::error_frame;
use crate::peer::CloseStatus;
use crate::peer::Receiver;
use crate::peer::SessionHandle;
use crate::peer::{CloseCause, Outbound, OutboundHook};
use crate::principal::SessionId;
use crate::trace::{record_user, session_span};

/// How long a CONNECT waits for the broker relay to open the session's broker connection.
const BROKER_CONNECT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The reading side of a session's transport.
type Reader<T> = FrameReader<Messages<ReadHalf<T>>>;

/// The session's writer task, aborted when this is dropped: the session task ends by
/// closing or waiting for it, and if it ends any other way (a handler panicked, the task was
/// dropped) the writer must not hold the socket open with nobody left to close it. Once the
/// session has waited the send-time limit for a last flush, the writer goes with it too.
struct WriterTask(tokio::task::JoinHandle<()>);

impl Drop for WriterTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A session refused before it started: the `ERROR` frame to answer with, and the close.
struct Refusal {
    frame: Frame,
    version: Version,
    status: CloseStatus,
}

impl Refusal {
    /// Answers with the `ERROR` and closes the socket.
    async fn send<T>(
        self,
        context: &SessionContext,
        sink: &mut WriteHalf<T>,
        reader: &mut Reader<T>,
    ) where
        T: Stream<Item = Result<WsMessage, WsError>> + Sink<WsMessage, Error = WsError>,
        T: Send + Unpin + 'static,
    {
        let stream = reader.transport_mut().get_mut();
        refuse(
            context,
            (sink, stream),
            &self.frame,
            self.version,
            self.status,
        )
        .await;
    }
}

/// Runs a session until it ends, over any message transport (a `WebSocketStream`, a SockJS
/// session adapter, a TCP stream), with what its handshake gave it in `start` (its
/// transport, and from the handshake interceptors its user, attributes and credential
/// expiry before `CONNECT`). Never panics on client input. Everything it does runs in its
/// `stomp_session` span.
///
/// Not an `async fn`: one would keep its arguments beside the `run` future made of them,
/// and every session's task would carry the transport twice (0.6 KiB more per idle
/// session, measured).
pub(crate) fn run_session_from<T>(
    transport: T,
    context: Arc<SessionContext>,
    remote: SocketAddr,
    shutdown: watch::Receiver<bool>,
    start: SessionStart,
) -> impl Future<Output = ()> + Send
where
    T: Stream<Item = Result<WsMessage, WsError>> + Sink<WsMessage, Error = WsError>,
    T: Send + Unpin + 'static,
{
    let id = new_session_id();
    let span = session_span(&id, remote, start.transport);
    let identity = Identity {
        id,
        remote,
        span: span.clone(),
    };
    run(transport, context, identity, shutdown, start).instrument(span)
}

/// Who a session is from its first byte: its id, its client's address and its span (whose
/// `user` is recorded once `CONNECT` is accepted).
struct Identity {
    id: SessionId,
    remote: SocketAddr,
    span: Span,
}

/// [`run_session_from`], inside the session's span.
async fn run<T>(
    transport: T,
    context: Arc<SessionContext>,
    identity: Identity,
    mut shutdown: watch::Receiver<bool>,
    start: SessionStart,
) where
    T: Stream<Item = Result<WsMessage, WsError>> + Sink<WsMessage, Error = WsError>,
    T: Send + Unpin + 'static,
{
    let remote = identity.remote;
    let (mut sink, stream) = split(transport);
    let limits = context.limits;
    // No heart-beat window until CONNECT negotiated one: the time to the first frame is
    // bounded by its own deadline.
    let decoder = Decoder::new(limits.frame_limits());
    let mut reader = FrameReader::new(Messages(stream), decoder, None);
    // Every WebSocket message counts against the frame rate, from the handshake on.
    let mut rate = FrameRate::new(limits.max_frames_per_second, Instant::now().into_std());
    let first = await_connect(
        &context,
        remote,
        &mut sink,
        &mut reader,
        &mut rate,
        &mut shutdown,
    );
    let FirstFrame::Frame(connect) = first.await else {
        return;
    };
    // Boxed: the CONNECT step (its interceptors' futures, the accepted CONNECT) lives on
    // the heap while it runs, instead of widening every session task for its whole life.
    let opened = Box::pin(open(&context, connect, start, sink, &mut reader, identity)).await;
    let Some(Opened {
        session,
        writer,
        expiry: _expiry,
    }) = opened
    else {
        return;
    };
    let mut state = SessionState::new(&context, &session, remote);
    let end = serve(&mut state, &mut reader, &mut rate, &mut shutdown).await;
    teardown(&context, &session, writer, &end, remote).await;
    // Read on until the client's close, so that unread input cannot reset the connection
    // before the client has read the ERROR or RECEIPT that ended it.
    if end.lingers() {
        linger(reader.transport_mut().get_mut()).await;
    }
}

/// A session past `CONNECT`: its handle, its writer and its credentials' timer.
struct Opened {
    session: Arc<SessionHandle>,
    writer: WriterTask,
    expiry: ExpiryTimer,
}

/// Accepts `connect`, opens the session with the broker, answers `CONNECTED` and starts the
/// writer; `None` when it was refused (and answered and closed here).
async fn open<T>(
    context: &Arc<SessionContext>,
    connect: Frame,
    start: SessionStart,
    mut sink: WriteHalf<T>,
    reader: &mut Reader<T>,
    Identity { id, remote, span }: Identity,
) -> Option<Opened>
where
    T: Stream<Item = Result<WsMessage, WsError>> + Sink<WsMessage, Error = WsError>,
    T: Send + Unpin + 'static,
{
    let accepted = match accept(context, connect, &id, &start, remote).await {
        Ok(accepted) => accepted,
        Err(refusal) => {
            refusal.send(context, &mut sink, reader).await;
            return None;
        }
    };
    record_user(&span, accepted.principal.as_ref());
    reader.decoder_mut().set_version(accepted.version);
    let (session, rx) = open_session(context, id, start.attributes, &accepted);
    if let Err(refusal) = confirm_broker(context, &session, remote).await {
        refusal.send(context, &mut sink, reader).await;
        return None;
    }
    let writer = begin(context, &session, sink, rx, &accepted, remote);
    let expiry = ExpiryTimer::start(&session, accepted.expires_at, &context.stats);
    // Tolerate late heart-beats: the spec leaves the margin to the server; twice the
    // promised interval survives a busy client or network.
    let window = accepted.heartbeat.expect_every.map(|every| every * 2);
    reader.window_mut().set(window);
    Some(Opened {
        session,
        writer,
        expiry,
    })
}

/// Accepts the first frame as the session's `CONNECT`, or says why not.
async fn accept(
    context: &SessionContext,
    connect: Frame,
    id: &SessionId,
    start: &SessionStart,
    remote: SocketAddr,
) -> Result<Accepted, Refusal> {
    context.stats.frame_in(connect.command);
    if !matches!(connect.command, Command::Connect | Command::Stomp) {
        let message = format!(
            "expected CONNECT or STOMP as the first frame, got {}",
            connect.command
        );
        return Err(Refusal {
            frame: error_frame(&message, connect.receipt()),
            version: Version::V1_2,
            status: CloseStatus::Protocol,
        });
    }
    accept_connect(context, connect, id, start).await.map_err(|frame| {
        tracing::debug!(%remote, session = %id, reason = %crate::log::Escaped(frame.get(names::MESSAGE).unwrap_or("")), "CONNECT refused");
        Refusal {
            frame,
            version: Version::V1_2,
            status: CloseStatus::Policy,
        }
    })
}

/// The session's handle (what brokers and handlers reach it by) and its outbound queue.
fn open_session(
    context: &SessionContext,
    id: SessionId,
    attributes: SessionAttributes,
    accepted: &Accepted,
) -> (Arc<SessionHandle>, Receiver) {
    let (mut outbound, rx) = Outbound::new(context.limits.send_buffer_size);
    outbound.set_hook(OutboundHook {
        interceptors: context.outbound_interceptors.clone(),
        session_id: id.clone(),
        principal: accepted.principal.clone(),
    });
    let session = Arc::new(SessionHandle {
        id,
        principal: accepted.principal.clone(),
        version: accepted.version,
        attributes,
        outbound,
        unacked_bytes: std::sync::atomic::AtomicUsize::new(0),
        queue_unacked_bytes: std::sync::atomic::AtomicUsize::new(0),
    });
    (session, rx)
}

/// Waits for the broker to take the session: the relay opens this session's broker
/// connection first, and a broker that cannot be reached answers the CONNECT with an
/// ERROR, as Spring's relay does.
async fn confirm_broker(
    context: &SessionContext,
    session: &Arc<SessionHandle>,
    remote: SocketAddr,
) -> Result<(), Refusal> {
    let Some(confirmation) = context.broker().session_connected(session) else {
        return Ok(());
    };
    let message = match timeout(BROKER_CONNECT_WAIT, confirmation).await {
        Ok(Ok(Ok(()))) => return Ok(()),
        Ok(Ok(Err(error))) => error.to_string(),
        Ok(Err(_)) => "broker unavailable: the broker connection closed".to_owned(),
        Err(_) => "broker unavailable: no answer from the broker".to_owned(),
    };
    context.broker().session_closed(&session.id);
    tracing::debug!(%remote, session = %session.id, reason = %crate::log::Escaped(&message), "CONNECT refused");
    Err(Refusal {
        frame: error_frame(&message, None),
        version: session.version,
        status: CloseStatus::Internal,
    })
}

/// Makes the session reachable, answers `CONNECTED` and starts the writer.
fn begin<T>(
    context: &SessionContext,
    session: &Arc<SessionHandle>,
    sink: WriteHalf<T>,
    rx: Receiver,
    accepted: &Accepted,
    remote: SocketAddr,
) -> WriterTask
where
    T: Sink<WsMessage, Error = WsError> + Send + Unpin + 'static,
{
    let id = &session.id;
    let principal = &session.principal;
    context.publish_event(&SessionEvent::Connect {
        session: id.clone(),
        principal: principal.clone(),
    });
    context.routing.users.add(session);
    context.stats.session_opened();
    let outbound = &session.outbound;
    outbound.push_frame(&accepted.connected, accepted.version);
    let heartbeat = accepted.heartbeat.send_every;
    let send_time = context.limits.send_time;
    let writing = run_writer(
        sink,
        rx,
        outbound.clone(),
        heartbeat,
        send_time,
        Span::current(),
    );
    let writer = WriterTask(tokio::spawn(writing));
    context.publish_event(&SessionEvent::Connected {
        session: id.clone(),
        principal: principal.clone(),
    });
    tracing::debug!(%remote, session = %id, version = %accepted.version, "session connected");
    writer
}

/// Serves the client's frames until the session ends, and says why it ended.
async fn serve<T>(
    state: &mut SessionState<'_>,
    reader: &mut Reader<T>,
    rate: &mut FrameRate,
    shutdown: &mut watch::Receiver<bool>,
) -> End
where
    T: Stream<Item = Result<WsMessage, WsError>> + Sink<WsMessage, Error = WsError>,
    T: Send + Unpin + 'static,
{
    let session = state.session;
    // The token of the last message read, kept for the first frame it completes: a message
    // holding one frame costs one token, a message holding several costs one per frame.
    let mut message_token = false;
    // Made once for the session, not once per WebSocket message: each would register with
    // (and, when dropped, leave) a waiter list, twice for every message read.
    let close_requested = session.outbound.close_requested();
    tokio::pin!(close_requested);
    let shutting_down = shutdown.changed();
    tokio::pin!(shutting_down);
    loop {
        // Handle every complete frame already buffered.
        loop {
            let frame = match reader.next_buffered() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(error) => return state.decode_failed(&error),
            };
            if !std::mem::take(&mut message_token) && !rate.take() {
                return flooding(state, frame.receipt());
            }
            if let ControlFlow::Break(end) = state.handle(frame).await {
                return end;
            }
        }
        tokio::select! {
            // A close asked for by the server side wins over more input.
            biased;
            () = &mut close_requested => return End::Closed(session.outbound.close_cause()),
            _ = &mut shutting_down => return shut_down(state),
            fill = reader.fill() => {
                if let ControlFlow::Break(end) = received(state, fill, rate) {
                    return end;
                }
                message_token = true;
            }
        }
    }
}

/// What one read from the transport means for the session.
fn received(
    state: &SessionState<'_>,
    fill: Fill<WsError>,
    rate: &mut FrameRate,
) -> ControlFlow<End> {
    let Fill::Received(received, read_at) = fill else {
        state.context.stats.heartbeat_timeout();
        let message = "no frame or heart-beat received within the negotiated interval";
        state.send_error(message, None);
        return ControlFlow::Break(End::HeartBeat);
    };
    rate.refill(read_at.into_std());
    if !rate.take() {
        return ControlFlow::Break(flooding(state, None));
    }
    // Only STOMP bytes (frames, heart-beat EOLs) are heart-beats: pings and pongs keep a
    // WebSocket open, not a STOMP session (the reader knows).
    match received {
        Received::Data | Received::Control => ControlFlow::Continue(()),
        Received::Closing(_) | Received::Ended => {
            ControlFlow::Break(End::Client("connection closed by client"))
        }
        Received::Failed(WsError::WriteBufferFull(_)) => {
            ControlFlow::Break(End::Closed(CloseCause::SendBufferLimit))
        }
        Received::Failed(error) => ControlFlow::Break(read_failed(state, &error)),
    }
}

/// Ends a session whose WebSocket read failed: with an `ERROR` when its own input was at
/// fault, quietly when the connection is gone.
fn read_failed(state: &SessionState<'_>, error: &WsError) -> End {
    if let Some((message, status)) = read_failure(error) {
        return state.fail_with(message, None, status);
    }
    tracing::debug!(session = %state.session.id, %error, "websocket read failed");
    End::Client("connection lost")
}

/// Ends a session that sends more frames than `max_frames_per_second`.
fn flooding(state: &SessionState<'_>, receipt: Option<&str>) -> End {
    tracing::warn!(session = %state.session.id, remote = %state.remote, "closing a flooding session");
    let message = flood_message(state.context.limits.max_frames_per_second);
    state.fail_with(message, receipt, CloseStatus::Policy)
}

/// Tells the client why, so that it reconnects (to another instance) instead of guessing;
/// what is queued before the ERROR is still written.
fn shut_down(state: &SessionState<'_>) -> End {
    state.send_error("server is shutting down", None);
    let outbound = &state.session.outbound;
    outbound.close_after_flush(CloseStatus::GoingAway);
    End::Closed(CloseCause::Shutdown)
}

/// Closes the session's writer, then makes the session unreachable and tells everyone.
async fn teardown(
    context: &SessionContext,
    session: &Arc<SessionHandle>,
    mut writer: WriterTask,
    end: &End,
    remote: SocketAddr,
) {
    stop_writer(context, session, &mut writer, end, remote).await;
    let outbound = &session.outbound;
    // Unreachable for user destinations first, so that nothing is held for it afterwards.
    context.routing.users.remove(session);
    context.broker().session_closed(&session.id);
    context.stats.session_closed();
    context.stats.send_buffer_peak(outbound.peak_bytes());
    context.stats.session_ended(end.cause());
    let reason = end.reason();
    tracing::debug!(session = %session.id, reason = %crate::log::Escaped(&reason), "session ended");
    context.publish_event(&SessionEvent::Disconnected {
        session: session.id.clone(),
        principal: session.principal.clone(),
        reason,
    });
}

/// Lets the writer flush what the client is owed (within the send-time limit), or stops
/// it at once for a slow consumer.
async fn stop_writer(
    context: &SessionContext,
    session: &SessionHandle,
    writer: &mut WriterTask,
    end: &End,
    remote: SocketAddr,
) {
    let (id, outbound) = (&session.id, &session.outbound);
    let send_time = context.limits.send_time;
    match end {
        End::Closed(CloseCause::SendBufferLimit | CloseCause::SendTimeLimit) => {
            context.stats.slow_consumer();
            tracing::warn!(session = %id, %remote, queued_bytes = outbound.queued_bytes(), reason = %crate::log::Escaped(end.reason()), "closing slow consumer");
            writer.0.abort();
        }
        End::Closed(CloseCause::AckBacklog) => {
            // The ERROR saying why is queued; let it reach the client.
            context.stats.slow_consumer();
            tracing::warn!(session = %id, %remote, reason = %crate::log::Escaped(end.reason()), "closing slow consumer");
            outbound.close_after_flush(end.close_status());
            let _ = timeout(send_time, &mut writer.0).await;
        }
        End::Closed(CloseCause::Shutdown | CloseCause::Ended)
        | End::Error(..)
        | End::HeartBeat
        | End::Client(_) => {
            // What the client is owed (for `Ended`: the ERROR saying why) is flushed first.
            outbound.close_after_flush(end.close_status());
            let _ = timeout(send_time, &mut writer.0).await;
        }
        End::Closed(_) => writer.0.abort(),
    }
    if !writer.0.is_finished() {
        // Stopped before the broker hears of the end, so that how far it wrote is final:
        // point-to-point messages it never wrote go back to their queues, not lost.
        writer.0.abort();
        let _ = (&mut writer.0).await;
    }
}

//! The life of one STOMP session over one WebSocket.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Sink, Stream};
use stomp_core::{names, Command, DecodeError, Decoder, Frame, Version};
use tokio::sync::watch;
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};

use super::attributes::SessionAttributes;
use super::before_connect::await_connect;
use super::close::{decode_status, linger, read_failure, refuse, CloseStatus};
use super::connect::{accept_connect, error_frame};
use super::handle::SessionHandle;
use super::id::new_session_id;
use super::outbound::{CloseCause, Outbound, OutboundHook};
use super::rate::{flood_message, FrameRate};
use super::split::split;
use super::user_send::user_message_headers;
use super::writer::run_writer;
use crate::app::App;
use crate::broker::PublishedMessage;
use crate::connection::{Fill, FrameReader, Messages, Received};
use crate::event::SessionEvent;
use crate::handler::dispatch::dispatch;
use crate::handler::MappingKind;
use crate::interceptor::InterceptorContext;
use crate::routing::SendRoute;

/// How long a CONNECT waits for the broker relay to open the session's broker connection.
const BROKER_CONNECT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

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

/// Why a session ended, for the log and the disconnect event.
pub(super) enum End {
    /// The client sent `DISCONNECT` or closed the socket.
    Client(&'static str),
    /// The server sent an `ERROR` frame with this message, and closes with this status.
    Error(String, CloseStatus),
    /// The server closed it for this cause.
    Closed(CloseCause),
    /// The client went silent past the heart-beat window.
    HeartBeat,
}

impl End {
    fn reason(&self) -> String {
        match self {
            End::Client(why) => (*why).to_owned(),
            End::Error(message, _) => format!("ERROR sent: {message}"),
            End::Closed(CloseCause::SendBufferLimit) => {
                "send buffer limit exceeded (slow consumer)".to_owned()
            }
            End::Closed(CloseCause::SendTimeLimit) => {
                "send time limit exceeded (slow consumer)".to_owned()
            }
            End::Closed(CloseCause::Shutdown) => "server shutting down".to_owned(),
            End::Closed(CloseCause::AckBacklog) => {
                "too many messages waiting for acknowledgement (slow consumer)".to_owned()
            }
            End::Closed(_) => "connection lost".to_owned(),
            End::HeartBeat => "no heart-beat from client".to_owned(),
        }
    }

    /// The status of the close frame the client gets.
    fn close_status(&self) -> CloseStatus {
        match self {
            End::Client(_) => CloseStatus::Normal,
            End::Error(_, status) => *status,
            End::HeartBeat => CloseStatus::Protocol,
            End::Closed(CloseCause::Shutdown) => CloseStatus::GoingAway,
            End::Closed(_) => CloseStatus::Policy,
        }
    }
}

/// Runs a session until it ends, over any message transport: a `WebSocketStream`, or a
/// SockJS session adapter. Never panics on client input.
pub(crate) async fn run_session<T>(
    transport: T,
    app: Arc<App>,
    remote: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) where
    T: Stream<Item = Result<WsMessage, WsError>> + Sink<WsMessage, Error = WsError>,
    T: Send + Unpin + 'static,
{
    let (mut sink, stream) = split(transport);
    let limits = app.config.limits;
    let decoder = Decoder::new(limits.frame_limits());
    // No heart-beat window until CONNECT negotiated one: the time to the first frame is
    // bounded by its own deadline.
    let mut reader = FrameReader::new(Messages(stream), decoder, None);
    let id = new_session_id();
    let attributes = SessionAttributes::new();

    // Every WebSocket message counts against the frame rate, from the handshake on.
    let mut rate = FrameRate::new(limits.max_frames_per_second, Instant::now().into_std());
    let Some(connect) = await_connect(
        &app,
        remote,
        &mut sink,
        &mut reader,
        &mut rate,
        &mut shutdown,
    )
    .await
    else {
        return;
    };
    app.stats.frame_in(connect.command);
    if !matches!(connect.command, Command::Connect | Command::Stomp) {
        let frame = error_frame(
            &format!(
                "expected CONNECT or STOMP as the first frame, got {}",
                connect.command
            ),
            connect.receipt(),
        );
        refuse(
            &app,
            (&mut sink, reader.transport_mut().get_mut()),
            &frame,
            Version::V1_2,
            CloseStatus::Protocol,
        )
        .await;
        return;
    }
    let accepted = match accept_connect(&app, connect, &id, &attributes) {
        Ok(accepted) => accepted,
        Err(frame) => {
            tracing::info!(%remote, session = %id, reason = %crate::log::Escaped(frame.get(names::MESSAGE).unwrap_or("")), "CONNECT refused");
            refuse(
                &app,
                (&mut sink, reader.transport_mut().get_mut()),
                &frame,
                Version::V1_2,
                CloseStatus::Policy,
            )
            .await;
            return;
        }
    };
    reader.decoder_mut().set_version(accepted.version);
    let (mut outbound, rx) = Outbound::new(limits.send_buffer_size);
    outbound.set_hook(OutboundHook {
        interceptors: app.outbound_interceptors.clone(),
        session_id: id.clone(),
        principal: accepted.principal.clone(),
    });
    let session = Arc::new(SessionHandle {
        id: id.clone(),
        principal: accepted.principal.clone(),
        version: accepted.version,
        attributes,
        outbound: outbound.clone(),
        unacked_bytes: std::sync::atomic::AtomicUsize::new(0),
        queue_unacked_bytes: std::sync::atomic::AtomicUsize::new(0),
    });
    if let Some(confirmation) = app.broker().session_connected(&session) {
        // The relay opens this session's broker connection first: a broker that cannot be
        // reached answers the CONNECT with an ERROR, as Spring's relay does.
        let refused = match timeout(BROKER_CONNECT_WAIT, confirmation).await {
            Ok(Ok(Ok(()))) => None,
            Ok(Ok(Err(error))) => Some(error.to_string()),
            Ok(Err(_)) => Some("broker unavailable: the broker connection closed".to_owned()),
            Err(_) => Some("broker unavailable: no answer from the broker".to_owned()),
        };
        if let Some(message) = refused {
            app.broker().session_closed(&id);
            tracing::info!(%remote, session = %id, reason = %crate::log::Escaped(&message), "CONNECT refused");
            let frame = error_frame(&message, None);
            refuse(
                &app,
                (&mut sink, reader.transport_mut().get_mut()),
                &frame,
                accepted.version,
                CloseStatus::Internal,
            )
            .await;
            return;
        }
    }
    app.publish_event(&SessionEvent::Connect {
        session: id.clone(),
        principal: session.principal.clone(),
    });
    app.routing.users.add(&session);
    app.stats.session_opened();
    outbound.push_frame(&accepted.connected, accepted.version);
    let mut writer = WriterTask(tokio::spawn(run_writer(
        sink,
        rx,
        outbound.clone(),
        accepted.heartbeat.send_every,
        limits.send_time,
    )));
    app.publish_event(&SessionEvent::Connected {
        session: id.clone(),
        principal: session.principal.clone(),
    });
    tracing::debug!(%remote, session = %id, version = %accepted.version, "session connected");

    // Tolerate late heart-beats: the spec leaves the margin to the server; twice the
    // promised interval survives a busy client or network.
    reader
        .window_mut()
        .set(accepted.heartbeat.expect_every.map(|every| every * 2));
    let mut state = SessionState {
        app: &app,
        session: &session,
        subscriptions: HashMap::new(),
        transactions: HashMap::new(),
        transaction_bytes: 0,
    };
    // The token of the last message read, kept for the first frame it completes: a message
    // holding one frame costs one token, a message holding several costs one per frame.
    let mut message_token = false;
    // Made once for the session, not once per WebSocket message: each would register with
    // (and, when dropped, leave) a waiter list, twice for every message read.
    let close_requested = outbound.close_requested();
    tokio::pin!(close_requested);
    let shutting_down = shutdown.changed();
    tokio::pin!(shutting_down);
    let end = 'session: loop {
        // Handle every complete frame already buffered.
        loop {
            match reader.next_buffered() {
                Ok(Some(frame)) => {
                    if !std::mem::take(&mut message_token) && !rate.take() {
                        let message = flood_message(limits.max_frames_per_second);
                        tracing::warn!(session = %id, %remote, "closing a flooding session");
                        if let Some(end) =
                            state.fail_with(message, frame.receipt(), CloseStatus::Policy)
                        {
                            break 'session end;
                        }
                    }
                    if let Some(end) = state.handle(frame).await {
                        break 'session end;
                    }
                }
                Ok(None) => break,
                Err(error) => break 'session state.decode_failed(&error),
            }
        }
        tokio::select! {
            // A close asked for by the server side wins over more input.
            biased;
            () = &mut close_requested => break End::Closed(outbound.close_cause()),
            _ = &mut shutting_down => {
                // Tell the client why, so that it reconnects (to another instance) instead
                // of guessing; what is queued before the ERROR is still written.
                state.send_error("server is shutting down", None);
                outbound.close_after_flush(CloseStatus::GoingAway);
                break End::Closed(CloseCause::Shutdown);
            }
            fill = reader.fill() => {
                let Fill::Received(received, read_at) = fill else {
                    app.stats.heartbeat_timeout();
                    let message = "no frame or heart-beat received within the negotiated interval";
                    state.send_error(message, None);
                    break End::HeartBeat;
                };
                rate.refill(read_at.into_std());
                if !rate.take() {
                    tracing::warn!(session = %id, %remote, "closing a flooding session");
                    if let Some(end) = state.fail_with(flood_message(limits.max_frames_per_second), None, CloseStatus::Policy) {
                        break end;
                    }
                }
                message_token = true;
                // Only STOMP bytes (frames, heart-beat EOLs) are heart-beats: pings and
                // pongs keep a WebSocket open, not a STOMP session (the reader knows).
                match received {
                    Received::Data | Received::Control => {}
                    Received::Closing(_) | Received::Ended => break End::Client("connection closed by client"),
                    Received::Failed(WsError::WriteBufferFull(_)) => break End::Closed(CloseCause::SendBufferLimit),
                    Received::Failed(error) => {
                        if let Some((message, status)) = read_failure(&error) {
                            if let Some(end) = state.fail_with(message, None, status) {
                                break end;
                            }
                        }
                        tracing::debug!(session = %id, %error, "websocket read failed");
                        break End::Client("connection lost");
                    }
                }
            }
        }
    };
    match &end {
        End::Closed(CloseCause::SendBufferLimit | CloseCause::SendTimeLimit) => {
            app.stats.slow_consumer();
            tracing::warn!(session = %id, %remote, queued_bytes = outbound.queued_bytes(), reason = %crate::log::Escaped(end.reason()), "closing slow consumer");
            writer.0.abort();
        }
        End::Closed(CloseCause::AckBacklog) => {
            // The ERROR saying why is queued; let it reach the client.
            app.stats.slow_consumer();
            tracing::warn!(session = %id, %remote, reason = %crate::log::Escaped(end.reason()), "closing slow consumer");
            outbound.close_after_flush(end.close_status());
            let _ = timeout(limits.send_time, &mut writer.0).await;
        }
        End::Closed(CloseCause::Shutdown) | End::Error(..) | End::HeartBeat | End::Client(_) => {
            outbound.close_after_flush(end.close_status());
            let _ = timeout(limits.send_time, &mut writer.0).await;
        }
        End::Closed(_) => writer.0.abort(),
    }
    if !writer.0.is_finished() {
        // Stopped before the broker hears of the end, so that how far it wrote is final:
        // point-to-point messages it never wrote go back to their queues, not lost.
        writer.0.abort();
        let _ = (&mut writer.0).await;
    }
    // Unreachable for user destinations first, so that nothing is held for it afterwards.
    app.routing.users.remove(&session);
    app.broker().session_closed(&id);
    app.stats.session_closed();
    app.stats.send_buffer_peak(outbound.peak_bytes());
    tracing::debug!(session = %id, reason = %crate::log::Escaped(end.reason()), "session ended");
    app.publish_event(&SessionEvent::Disconnected {
        session: id,
        principal: session.principal.clone(),
        reason: end.reason(),
    });
    // Read on until the client's close, so that unread input cannot reset the connection
    // before the client has read the ERROR or RECEIPT that ended it.
    if matches!(
        end,
        End::Error(..) | End::HeartBeat | End::Client(_) | End::Closed(CloseCause::Shutdown)
    ) {
        linger(reader.transport_mut().get_mut()).await;
    }
}

/// Where the body of a `SEND` handed to [`SessionState::send`] lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Body {
    /// A slice of the session's receive buffer: copied before the broker keeps it.
    Received,
    /// Already a buffer of its own (a `SEND` held by a transaction): kept as it is.
    Detached,
}

/// Per-session state the frame handlers share.
pub(super) struct SessionState<'a> {
    pub(super) app: &'a Arc<App>,
    pub(super) session: &'a Arc<SessionHandle>,
    /// Every subscription of the session by id: broker ones and those answered by
    /// `#[subscribe_mapping]` (not stored in the broker, so that their `UNSUBSCRIBE` is
    /// accepted). Counted against `max_subscriptions_per_session`.
    pub(super) subscriptions: HashMap<String, Subscribed>,
    /// `SEND`, `ACK` and `NACK` frames held by open transactions.
    pub(super) transactions: HashMap<String, Vec<Frame>>,
    /// What the open transactions hold, in bytes (bounded by `max_transaction_bytes`).
    pub(super) transaction_bytes: usize,
}

/// One subscription of the session.
pub(super) struct Subscribed {
    /// The destination as the client wrote it.
    pub(super) destination: String,
    /// True when a `#[subscribe_mapping]` answered it (the broker does not know it).
    pub(super) application: bool,
}

impl SessionState<'_> {
    fn send_error(&self, message: &str, receipt: Option<&str>) {
        self.app.stats.error_sent();
        self.session
            .outbound
            .push_frame(&error_frame(message, receipt), self.session.version);
    }

    /// Sends an `ERROR` and ends the session with a protocol error (1002), as Spring does.
    pub(super) fn fail(&self, message: String, receipt: Option<&str>) -> Option<End> {
        self.fail_with(message, receipt, CloseStatus::Protocol)
    }

    /// Sends an `ERROR` and ends the session, closing with `status`.
    pub(super) fn fail_with(
        &self,
        message: String,
        receipt: Option<&str>,
        status: CloseStatus,
    ) -> Option<End> {
        tracing::info!(session = %self.session.id, reason = %crate::log::Escaped(&message), "sending ERROR");
        self.send_error(&message, receipt);
        Some(End::Error(message, status))
    }

    fn decode_failed(&self, error: &DecodeError) -> End {
        self.app.stats.decode_error();
        tracing::info!(session = %self.session.id, error = %crate::log::Escaped(error), "malformed frame");
        self.send_error(&error.to_string(), None);
        End::Error(error.to_string(), decode_status(error))
    }

    pub(super) fn receipt(&self, frame: &Frame) {
        if let Some(receipt) = frame.receipt() {
            let reply = Frame::new(Command::Receipt).header(names::RECEIPT_ID, receipt);
            self.session
                .outbound
                .push_frame(&reply, self.session.version);
        }
    }

    /// Handles one client frame; `Some` ends the session.
    async fn handle(&mut self, mut frame: Frame) -> Option<End> {
        self.app.stats.frame_in(frame.command);
        if !self.app.interceptors.is_empty() {
            let mut principal = self.session.principal.clone();
            let mut context = InterceptorContext {
                session_id: &self.session.id,
                principal: &mut principal,
                attributes: &self.session.attributes,
            };
            for interceptor in &self.app.interceptors {
                if let Err(rejection) = interceptor.pre_send(&mut frame, &mut context) {
                    return self.fail(rejection.message, frame.receipt());
                }
            }
        }
        match frame.command {
            Command::Connect | Command::Stomp => self.fail(
                "already connected: a session accepts one CONNECT".to_owned(),
                frame.receipt(),
            ),
            Command::Send | Command::Ack | Command::Nack
                if frame.get(names::TRANSACTION).is_some()
                    && !self.app.broker().forwards_transactions() =>
            {
                self.hold(frame)
            }
            Command::Send => {
                let receipt = frame.receipt().map(str::to_owned);
                let end = self.send(frame, Body::Received).await;
                if end.is_none() {
                    if let Some(receipt) = receipt {
                        self.receipt(&Frame::new(Command::Send).header(names::RECEIPT, &receipt));
                    }
                }
                end
            }
            Command::Subscribe => self.subscribe(frame).await,
            Command::Unsubscribe => self.unsubscribe(&frame),
            Command::Ack | Command::Nack => self.acknowledge(&frame),
            Command::Begin | Command::Commit | Command::Abort => self.transaction(frame).await,
            Command::Disconnect => {
                self.receipt(&frame);
                Some(End::Client("DISCONNECT"))
            }
            Command::Connected | Command::Message | Command::Receipt | Command::Error => self.fail(
                format!(
                    "{} is a server command; a client may not send it",
                    frame.command
                ),
                frame.receipt(),
            ),
        }
    }

    pub(super) async fn send(&mut self, frame: Frame, body: Body) -> Option<End> {
        let Some(destination) = frame.destination().map(str::to_owned) else {
            return self.fail(
                "SEND requires a destination header".to_owned(),
                frame.receipt(),
            );
        };
        let to_user = match self.app.routing.send_route(&destination) {
            Ok(SendRoute::Application { lookup_offset }) => {
                let receipt = frame.receipt().map(str::to_owned);
                let dispatched = dispatch(
                    &self.app.handlers,
                    self.session,
                    frame,
                    MappingKind::Message,
                    lookup_offset,
                );
                return match dispatched.await {
                    Ok(()) => None,
                    Err(error) => self.fail(error.to_string(), receipt.as_deref()),
                };
            }
            Ok(route) => route == SendRoute::User,
            Err(text) => return self.fail(text, frame.receipt()),
        };
        let message = PublishedMessage {
            destination,
            headers: if to_user {
                user_message_headers(&frame, self.session.principal.as_ref())
            } else {
                client_headers(&frame)
            },
            // The broker may hold it (queues, unacknowledged deliveries): a body of its own
            // rather than a slice pinning the session's receive buffer.
            body: match body {
                Body::Received => Bytes::copy_from_slice(&frame.body),
                Body::Detached => frame.body.clone(),
            },
        };
        let result = self
            .app
            .routing
            .publish_from_client(&self.session.id, message, frame.get(names::TRANSACTION))
            .map_err(|e| e.to_string());
        match result {
            Ok(delivered) => {
                self.app.stats.delivered(delivered);
                None
            }
            Err(error) => self.fail(error, frame.receipt()),
        }
    }
}

/// The headers of a client's `SEND` that its `MESSAGE` frames carry: all but those the
/// broker sets itself or that only mean something on the way in.
fn client_headers(frame: &Frame) -> Vec<(String, String)> {
    frame
        .headers
        .iter()
        .filter(|(n, _)| {
            !matches!(
                *n,
                names::DESTINATION
                    | names::RECEIPT
                    | names::TRANSACTION
                    | names::CONTENT_LENGTH
                    | names::MESSAGE_ID
                    | names::SUBSCRIPTION
                    | names::ACK
            )
        })
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
}

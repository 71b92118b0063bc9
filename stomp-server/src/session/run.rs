//! The life of one STOMP session over one WebSocket.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use stomp_core::{names, Command, DecodeError, Decoder, Frame, Version};
use tokio::sync::watch;
use tokio::time::{timeout, timeout_at, Instant};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};

use super::attributes::SessionAttributes;
use super::connect::{accept_connect, error_frame};
use super::handle::SessionHandle;
use super::outbound::{encode_frame, to_ws_message, CloseCause, Outbound, OutboundHook};
use super::rate::FrameRate;
use super::split::split;
use super::writer::run_writer;
use crate::app::App;
use crate::broker::PublishedMessage;
use crate::config::FAR_FUTURE;
use crate::event::SessionEvent;
use crate::handler::dispatch::dispatch;
use crate::handler::MappingKind;
use crate::interceptor::InterceptorContext;
use crate::principal::SessionId;
use crate::user::{is_session_destination, reserved_destination};

static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

/// How long a CONNECT waits for the broker relay to open the session's broker connection.
const BROKER_CONNECT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A short tag that tells this process apart from other instances (session ids must be
/// unique across servers that share a relayed broker): process id and start time, in hex.
fn instance_tag() -> &'static str {
    static TAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TAG.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        format!("{:x}{:05x}", std::process::id(), nanos & 0xfffff)
    })
}

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
    /// The server sent an `ERROR` frame with this message.
    Error(String),
    /// The server closed it for this cause.
    Closed(CloseCause),
    /// The client went silent past the heart-beat window.
    HeartBeat,
}

impl End {
    fn reason(&self) -> String {
        match self {
            End::Client(why) => (*why).to_owned(),
            End::Error(message) => format!("ERROR sent: {message}"),
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
}

/// Answers a session that never started (a bad first frame, a refused `CONNECT`) with
/// `frame` and closes the socket; counted as an `ERROR` sent.
async fn refuse<S>(app: &App, sink: &mut S, frame: &Frame, version: Version)
where
    S: Sink<WsMessage, Error = WsError> + Unpin,
{
    app.stats.error_sent();
    let _ = sink.send(to_ws_message(encode_frame(frame, version))).await;
    let _ = sink.close().await;
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
    let (mut sink, mut stream) = split(transport);
    let limits = app.config.limits;
    let mut decoder = Decoder::new(limits.frame_limits());
    let mut buffer = BytesMut::new();
    let id = SessionId::new(format!(
        "s{}-{}",
        NEXT_SESSION.fetch_add(1, Ordering::Relaxed),
        instance_tag()
    ));
    let attributes = SessionAttributes::new();

    // Until CONNECT: read directly, answer errors directly. The time to the first frame is
    // one deadline for the whole wait, so pings or stray heart-beats cannot stretch it.
    let connect_deadline = Instant::now() + limits.time_to_first_frame;
    let connect = loop {
        match decoder.decode(&mut buffer) {
            Ok(Some(frame)) => break frame,
            Ok(None) => {}
            Err(error) => {
                app.stats.decode_error();
                tracing::info!(%remote, %error, "malformed frame before CONNECT");
                let frame = error_frame(&error.to_string(), None);
                refuse(&app, &mut sink, &frame, Version::V1_2).await;
                return;
            }
        }
        let next = tokio::select! {
            next = timeout_at(connect_deadline, stream.next()) => next,
            _ = shutdown.changed() => return,
        };
        match next {
            Ok(Some(Ok(WsMessage::Text(text)))) => buffer.extend_from_slice(text.as_bytes()),
            Ok(Some(Ok(WsMessage::Binary(bytes)))) => buffer.extend_from_slice(&bytes),
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) => return,
            Err(_) => {
                tracing::info!(%remote, "no CONNECT within {:?}; closing", limits.time_to_first_frame);
                let _ = sink.close().await;
                return;
            }
        }
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
        refuse(&app, &mut sink, &frame, Version::V1_2).await;
        return;
    }
    let accepted = match accept_connect(&app, connect, &id, &attributes) {
        Ok(accepted) => accepted,
        Err(frame) => {
            tracing::info!(%remote, session = %id, message = frame.get(names::MESSAGE).unwrap_or(""), "CONNECT refused");
            refuse(&app, &mut sink, &frame, Version::V1_2).await;
            return;
        }
    };
    decoder.set_version(accepted.version);
    let (mut outbound, rx) = Outbound::new(limits.send_buffer_size);
    outbound.set_hook(OutboundHook {
        interceptors: app.outbound_interceptors.clone(),
        session_id: id.clone(),
        principal: accepted.principal.clone(),
        version: accepted.version,
    });
    let session = Arc::new(SessionHandle {
        id: id.clone(),
        principal: accepted.principal.clone(),
        version: accepted.version,
        attributes,
        outbound: outbound.clone(),
        unacked_bytes: std::sync::atomic::AtomicUsize::new(0),
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
            tracing::info!(%remote, session = %id, message, "CONNECT refused");
            refuse(
                &app,
                &mut sink,
                &error_frame(&message, None),
                accepted.version,
            )
            .await;
            return;
        }
    }
    app.publish_event(&SessionEvent::Connect {
        session: id.clone(),
        principal: session.principal.clone(),
    });
    app.messaging.users.add(&session);
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
    let read_timeout = accepted.heartbeat.expect_every.map(|every| every * 2);
    let mut state = SessionState {
        app: &app,
        session: &session,
        subscriptions: HashMap::new(),
        transactions: HashMap::new(),
        transaction_bytes: 0,
    };
    // One read-deadline timer for the session, not one per WebSocket message: it is moved
    // only when it fires (a read just records when it happened), so a busy session never
    // touches the timer wheel for its heart-beats.
    let window = read_timeout.unwrap_or(FAR_FUTURE);
    let mut last_read = Instant::now();
    let mut rate = FrameRate::new(limits.max_frames_per_second, last_read.into_std());
    let deadline = tokio::time::sleep_until(last_read + window);
    tokio::pin!(deadline);
    // Made once for the session, not once per WebSocket message: each would register with
    // (and, when dropped, leave) a waiter list, twice for every message read.
    let close_requested = outbound.close_requested();
    tokio::pin!(close_requested);
    let shutting_down = shutdown.changed();
    tokio::pin!(shutting_down);
    let end = 'session: loop {
        // Handle every complete frame already buffered.
        rate.refill(last_read.into_std());
        loop {
            match decoder.decode(&mut buffer) {
                Ok(Some(frame)) => {
                    if !rate.take() {
                        let message = format!(
                            "more than {} frames per second: the session is flooding the server",
                            limits.max_frames_per_second
                        );
                        tracing::warn!(session = %id, %remote, "closing a flooding session");
                        if let Some(end) = state.fail(message, frame.receipt()) {
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
                outbound.close_after_flush();
                break End::Closed(CloseCause::Shutdown);
            }
            next = stream.next() => {
                last_read = Instant::now();
                match next {
                    Some(Ok(WsMessage::Text(text))) => buffer.extend_from_slice(text.as_bytes()),
                    Some(Ok(WsMessage::Binary(bytes))) => buffer.extend_from_slice(&bytes),
                    Some(Ok(WsMessage::Close(_))) | None => break End::Client("connection closed by client"),
                    Some(Ok(_)) => {}
                    Some(Err(error)) => {
                        tracing::debug!(session = %id, %error, "websocket read failed");
                        break End::Client("connection lost");
                    }
                }
            }
            () = &mut deadline, if read_timeout.is_some() => {
                let due = last_read + window;
                if due > Instant::now() {
                    deadline.as_mut().reset(due);
                    continue;
                }
                app.stats.heartbeat_timeout();
                let message = "no frame or heart-beat received within the negotiated interval";
                state.send_error(message, None);
                break End::HeartBeat;
            }
        }
    };
    match &end {
        End::Closed(CloseCause::SendBufferLimit | CloseCause::SendTimeLimit) => {
            app.stats.slow_consumer();
            tracing::warn!(session = %id, %remote, queued_bytes = outbound.queued_bytes(), reason = end.reason(), "closing slow consumer");
            writer.0.abort();
        }
        End::Closed(CloseCause::AckBacklog) => {
            // The ERROR saying why is queued; let it reach the client.
            app.stats.slow_consumer();
            tracing::warn!(session = %id, %remote, reason = end.reason(), "closing slow consumer");
            outbound.close_after_flush();
            let _ = timeout(limits.send_time, &mut writer.0).await;
        }
        End::Closed(CloseCause::Shutdown) | End::Error(_) | End::HeartBeat | End::Client(_) => {
            outbound.close_after_flush();
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
    app.messaging.users.remove(&session);
    app.broker().session_closed(&id);
    app.stats.session_closed();
    app.stats.send_buffer_peak(outbound.peak_bytes());
    tracing::debug!(session = %id, reason = end.reason(), "session ended");
    app.publish_event(&SessionEvent::Disconnected {
        session: id,
        principal: session.principal.clone(),
        reason: end.reason(),
    });
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

    pub(super) fn fail(&self, message: String, receipt: Option<&str>) -> Option<End> {
        tracing::info!(session = %self.session.id, message, "sending ERROR");
        self.send_error(&message, receipt);
        Some(End::Error(message))
    }

    fn decode_failed(&self, error: &DecodeError) -> End {
        self.app.stats.decode_error();
        tracing::info!(session = %self.session.id, %error, "malformed frame");
        self.send_error(&error.to_string(), None);
        End::Error(error.to_string())
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
        if let Some(offset) = self.app.application_lookup_offset(&destination) {
            let receipt = frame.receipt().map(str::to_owned);
            return match dispatch(self.app, self.session, frame, MappingKind::Message, offset).await
            {
                Ok(()) => None,
                Err(error) => self.fail(error.to_string(), receipt.as_deref()),
            };
        }
        if is_session_destination(&destination) {
            return self.fail(reserved_destination(&destination), frame.receipt());
        }
        let message = PublishedMessage {
            destination,
            headers: frame
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
                .collect(),
            // The broker may hold it (queues, unacknowledged deliveries): a body of its own
            // rather than a slice pinning the session's receive buffer.
            body: match body {
                Body::Received => Bytes::copy_from_slice(&frame.body),
                Body::Detached => frame.body.clone(),
            },
        };
        let own_connection = if self.app.broker().handles(&message.destination) {
            self.app.broker().publish_from_session(
                &self.session.id,
                &message,
                frame.get(names::TRANSACTION),
            )
        } else {
            None
        };
        let result = match own_connection {
            Some(result) => result.map_err(|e| e.to_string()),
            None => self
                .app
                .messaging
                .publish(message)
                .map_err(|e| e.to_string()),
        };
        match result {
            Ok(delivered) => {
                self.app.stats.delivered(delivered);
                None
            }
            Err(error) => self.fail(error, frame.receipt()),
        }
    }
}

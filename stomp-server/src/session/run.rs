//! The life of one STOMP session over one WebSocket.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use stomp_core::{names, Command, DecodeError, Decoder, Frame, Version};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

use super::attributes::SessionAttributes;
use super::connect::{accept_connect, error_frame};
use super::handle::SessionHandle;
use super::outbound::{encode_frame, to_ws_message, CloseCause, Outbound};
use super::writer::run_writer;
use crate::app::App;
use crate::broker::{AckMode, PublishedMessage, SubscribeRequest};
use crate::event::SessionEvent;
use crate::handler::dispatch::dispatch;
use crate::handler::MappingKind;
use crate::interceptor::InterceptorContext;
use crate::principal::SessionId;
use crate::user::{parse_user_destination, session_destination, UserDestination};

static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

/// Why a session ended, for the log and the disconnect event.
enum End {
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
            End::Closed(_) => "connection lost".to_owned(),
            End::HeartBeat => "no heart-beat from client".to_owned(),
        }
    }
}

/// Runs a session until it ends. Never panics on client input.
pub(crate) async fn run_session<S>(
    ws: WebSocketStream<S>,
    app: Arc<App>,
    remote: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut stream) = ws.split();
    let limits = app.config.limits;
    let mut decoder = Decoder::new(limits.frame_limits());
    let mut buffer = BytesMut::new();
    let id = SessionId::new(format!("s{}", NEXT_SESSION.fetch_add(1, Ordering::Relaxed)));
    let attributes = SessionAttributes::new();

    // Until CONNECT: read directly, answer errors directly.
    let connect = loop {
        match decoder.decode(&mut buffer) {
            Ok(Some(frame)) => break frame,
            Ok(None) => {}
            Err(error) => {
                app.stats.decode_error();
                let frame = error_frame(&error.to_string(), None);
                let _ = sink
                    .send(to_ws_message(encode_frame(&frame, Version::V1_2)))
                    .await;
                let _ = sink.close().await;
                tracing::info!(%remote, %error, "malformed frame before CONNECT");
                return;
            }
        }
        let next = tokio::select! {
            next = timeout(limits.time_to_first_frame, stream.next()) => next,
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
        app.stats.error_sent();
        let _ = sink
            .send(to_ws_message(encode_frame(&frame, Version::V1_2)))
            .await;
        let _ = sink.close().await;
        return;
    }
    let accepted = match accept_connect(&app, connect, &id, &attributes) {
        Ok(accepted) => accepted,
        Err(frame) => {
            tracing::info!(%remote, session = %id, message = frame.get(names::MESSAGE).unwrap_or(""), "CONNECT refused");
            app.stats.error_sent();
            let _ = sink
                .send(to_ws_message(encode_frame(&frame, Version::V1_2)))
                .await;
            let _ = sink.close().await;
            return;
        }
    };
    decoder.set_version(accepted.version);
    let (outbound, rx) = Outbound::new(limits.send_buffer_size);
    let session = Arc::new(SessionHandle {
        id: id.clone(),
        principal: accepted.principal.clone(),
        version: accepted.version,
        attributes,
        outbound: outbound.clone(),
    });
    app.publish_event(&SessionEvent::Connect {
        session: id.clone(),
        principal: session.principal.clone(),
    });
    app.messaging.users.add(&session);
    app.stats.session_opened();
    outbound.push_frame(&accepted.connected, accepted.version);
    let writer = tokio::spawn(run_writer(
        sink,
        rx,
        outbound.clone(),
        accepted.heartbeat.send_every,
        limits.send_time,
    ));
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
        app_subscriptions: HashSet::new(),
        transactions: HashMap::new(),
    };
    let end = 'session: loop {
        // Handle every complete frame already buffered.
        loop {
            match decoder.decode(&mut buffer) {
                Ok(Some(frame)) => {
                    if let Some(end) = state.handle(frame).await {
                        break 'session end;
                    }
                }
                Ok(None) => break,
                Err(error) => break 'session state.decode_failed(&error),
            }
        }
        let read = async {
            match read_timeout {
                Some(window) => timeout(window, stream.next()).await.map_err(|_| ()),
                None => Ok(stream.next().await),
            }
        };
        tokio::select! {
            next = read => match next {
                Ok(Some(Ok(WsMessage::Text(text)))) => buffer.extend_from_slice(text.as_bytes()),
                Ok(Some(Ok(WsMessage::Binary(bytes)))) => buffer.extend_from_slice(&bytes),
                Ok(Some(Ok(WsMessage::Close(_)))) | Ok(None) => break End::Client("connection closed by client"),
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(error))) => {
                    tracing::debug!(session = %id, %error, "websocket read failed");
                    break End::Client("connection lost");
                }
                Err(()) => {
                    app.stats.heartbeat_timeout();
                    let message = "no frame or heart-beat received within the negotiated interval";
                    state.send_error(message, None);
                    break End::HeartBeat;
                }
            },
            () = outbound.close_requested() => break End::Closed(outbound.close_cause()),
            _ = shutdown.changed() => {
                outbound.close_after_flush();
                break End::Closed(CloseCause::Shutdown);
            }
        }
    };
    match &end {
        End::Closed(CloseCause::SendBufferLimit | CloseCause::SendTimeLimit) => {
            app.stats.slow_consumer();
            tracing::warn!(session = %id, %remote, queued_bytes = outbound.queued_bytes(), reason = end.reason(), "closing slow consumer");
            writer.abort();
        }
        End::Closed(CloseCause::Shutdown) | End::Error(_) | End::HeartBeat | End::Client(_) => {
            outbound.close_after_flush();
            let _ = timeout(limits.send_time, writer).await;
        }
        End::Closed(_) => writer.abort(),
    }
    app.broker().session_closed(&id);
    app.messaging.users.remove(&session);
    app.stats.session_closed();
    tracing::debug!(session = %id, reason = end.reason(), "session ended");
    app.publish_event(&SessionEvent::Disconnected {
        session: id,
        principal: session.principal.clone(),
        reason: end.reason(),
    });
}

/// Per-session state the frame handlers share.
struct SessionState<'a> {
    app: &'a Arc<App>,
    session: &'a Arc<SessionHandle>,
    /// Subscriptions answered by `#[subscribe_mapping]` (not stored in the broker), so that
    /// their `UNSUBSCRIBE` is accepted.
    app_subscriptions: HashSet<String>,
    /// Frames held by open transactions.
    transactions: HashMap<String, Vec<Frame>>,
}

impl SessionState<'_> {
    fn send_error(&self, message: &str, receipt: Option<&str>) {
        self.app.stats.error_sent();
        self.session
            .outbound
            .push_frame(&error_frame(message, receipt), self.session.version);
    }

    fn fail(&self, message: String, receipt: Option<&str>) -> Option<End> {
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

    fn receipt(&self, frame: &Frame) {
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
        match frame.command {
            Command::Connect | Command::Stomp => self.fail(
                "already connected: a session accepts one CONNECT".to_owned(),
                frame.receipt(),
            ),
            Command::Send => {
                if let Some(tx) = frame.get(names::TRANSACTION) {
                    let Some(held) = self.transactions.get_mut(tx) else {
                        return self.fail(format!("unknown transaction `{tx}`"), frame.receipt());
                    };
                    held.push(frame.clone());
                    self.receipt(&frame);
                    return None;
                }
                let receipt = frame.receipt().map(str::to_owned);
                let end = self.send(frame).await;
                if end.is_none() {
                    if let Some(receipt) = receipt {
                        self.receipt(&Frame::new(Command::Send).header(names::RECEIPT, &receipt));
                    }
                }
                end
            }
            Command::Subscribe => self.subscribe(frame).await,
            Command::Unsubscribe => {
                let Some(id) = frame.id().map(str::to_owned) else {
                    return self.fail(
                        "UNSUBSCRIBE requires an id header".to_owned(),
                        frame.receipt(),
                    );
                };
                if !self.app_subscriptions.remove(&id) {
                    if let Err(error) = self.app.broker().unsubscribe(&self.session.id, &id) {
                        return self.fail(error.to_string(), frame.receipt());
                    }
                }
                self.receipt(&frame);
                self.app.publish_event(&SessionEvent::Unsubscribe {
                    session: self.session.id.clone(),
                    principal: self.session.principal.clone(),
                    subscription: id,
                });
                None
            }
            Command::Ack | Command::Nack => {
                let has_id = match self.session.version {
                    Version::V1_2 => frame.id().is_some(),
                    _ => frame.get(names::MESSAGE_ID).is_some(),
                };
                if !has_id {
                    return self.fail(
                        format!(
                            "{} requires an id (1.2) or message-id (1.0, 1.1) header",
                            frame.command
                        ),
                        frame.receipt(),
                    );
                }
                self.receipt(&frame);
                None
            }
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

    async fn transaction(&mut self, frame: Frame) -> Option<End> {
        let Some(tx) = frame.get(names::TRANSACTION).map(str::to_owned) else {
            return self.fail(
                format!("{} requires a transaction header", frame.command),
                frame.receipt(),
            );
        };
        match frame.command {
            Command::Begin => {
                if self.transactions.contains_key(&tx) {
                    return self.fail(
                        format!("transaction `{tx}` is already open"),
                        frame.receipt(),
                    );
                }
                self.transactions.insert(tx, Vec::new());
            }
            Command::Commit => {
                let Some(held) = self.transactions.remove(&tx) else {
                    return self.fail(format!("unknown transaction `{tx}`"), frame.receipt());
                };
                for mut send in held {
                    send.headers.remove(names::TRANSACTION);
                    send.headers.remove(names::RECEIPT);
                    if let Some(end) = self.send(send).await {
                        return Some(end);
                    }
                }
            }
            _ => {
                if self.transactions.remove(&tx).is_none() {
                    return self.fail(format!("unknown transaction `{tx}`"), frame.receipt());
                }
            }
        }
        self.receipt(&frame);
        None
    }

    async fn send(&mut self, frame: Frame) -> Option<End> {
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
            body: frame.body.clone(),
        };
        match self.app.messaging.publish(message) {
            Ok(delivered) => {
                self.app.stats.delivered(delivered);
                None
            }
            Err(error) => self.fail(error.to_string(), frame.receipt()),
        }
    }

    async fn subscribe(&mut self, frame: Frame) -> Option<End> {
        let Some(destination) = frame.destination().map(str::to_owned) else {
            return self.fail(
                "SUBSCRIBE requires a destination header".to_owned(),
                frame.receipt(),
            );
        };
        let id = match (frame.id(), self.session.version) {
            (Some(id), _) => id.to_owned(),
            (None, Version::V1_0) => destination.clone(),
            (None, _) => {
                return self.fail(
                    "SUBSCRIBE requires an id header".to_owned(),
                    frame.receipt(),
                )
            }
        };
        let Some(ack) = AckMode::parse(frame.get(names::ACK)) else {
            return self.fail(
                format!(
                    "unknown ack mode `{}`; use auto, client or client-individual",
                    frame.get(names::ACK).unwrap_or("")
                ),
                frame.receipt(),
            );
        };
        if let Some(offset) = self.app.application_lookup_offset(&destination) {
            if self.app_subscriptions.contains(&id) {
                return self.fail(
                    format!("subscription id `{id}` is already in use by this session"),
                    frame.receipt(),
                );
            }
            // The receipt first: the reply of a subscribe mapping follows the subscription's
            // confirmation, as a client expects.
            self.receipt(&frame);
            let receipt = frame.receipt().map(str::to_owned);
            self.app_subscriptions.insert(id.clone());
            if let Err(error) = dispatch(
                self.app,
                self.session,
                frame,
                MappingKind::Subscribe,
                offset,
            )
            .await
            {
                return self.fail(error.to_string(), receipt.as_deref());
            }
            self.subscribed(id, destination);
            return None;
        }
        let request = match parse_user_destination(&destination, &self.app.config.user_prefix, false) {
            Some(UserDestination::Own(own)) => SubscribeRequest {
                id: Arc::from(id.as_str()),
                destination: session_destination(own, &self.session.id),
                reported_destination: Some(Arc::from(destination.as_str())),
                ack,
            },
            _ if self.app.broker().handles(&destination) => SubscribeRequest {
                id: Arc::from(id.as_str()),
                destination: destination.clone(),
                reported_destination: None,
                ack,
            },
            _ => {
                return self.fail(
                    format!("no broker or handler for destination `{destination}`; check the broker and application prefixes"),
                    frame.receipt(),
                )
            }
        };
        if let Err(error) = self.app.broker().subscribe(self.session, request) {
            return self.fail(error.to_string(), frame.receipt());
        }
        // The subscription is live now; only now does the client learn so.
        self.receipt(&frame);
        self.subscribed(id, destination);
        None
    }

    fn subscribed(&self, id: String, destination: String) {
        self.app.publish_event(&SessionEvent::Subscribe {
            session: self.session.id.clone(),
            principal: self.session.principal.clone(),
            subscription: id,
            destination,
        });
    }
}

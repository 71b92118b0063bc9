//! One broker connection per client session: the client's subscriptions, acknowledgements
//! and the `MESSAGE` frames coming back, with subscription ids and destinations translated.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use stomp_core::{names, Command, Frame, Version};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::connection::{closed, connect, frame_size, Backlog, BrokerSender, ConnectOptions};
use super::destination::from_broker;
use super::inbound::ReadAhead;
use crate::broker::BrokerError;
use crate::peer::{error_frame, CloseStatus, Paced, SessionHandle};

/// What the relay asks of a session's broker connection.
pub(super) enum Request {
    /// Send these `SUBSCRIBE` frames; the last carries `receipt`, whose `RECEIPT` confirms.
    Subscribe {
        frames: Vec<Frame>,
        receipt: String,
        confirm: oneshot::Sender<Result<(), BrokerError>>,
    },
    /// Send one frame (`SEND`, `UNSUBSCRIBE`, `ACK`, `NACK`), with the bytes it was counted
    /// as in the connection's backlog (0 for the small control frames).
    Send(Frame, usize),
}

/// Where a broker subscription's messages go.
#[derive(Debug, Clone)]
pub(super) struct Route {
    pub(super) client_id: Arc<str>,
    /// The destination to report; `None` for wildcard subscriptions (mapped back instead).
    pub(super) reported: Option<Arc<str>>,
}

/// The subscriptions of one session, shared by the relay and the connection task.
#[derive(Debug, Default)]
pub(super) struct Subscriptions {
    next: u64,
    pub(super) routes: HashMap<String, Route>,
    pub(super) by_client: HashMap<Arc<str>, Vec<String>>,
    /// `(message-id, broker ack id)`, oldest first, for 1.0/1.1 clients that acknowledge by
    /// message-id. Bounded: a cumulative `ACK` leaves older entries behind, and the oldest go
    /// once [`ACK_IDS_KEPT`] are remembered.
    ack_ids: VecDeque<(String, String)>,
}

/// How many message-id → ack id pairs a session remembers.
const ACK_IDS_KEPT: usize = 4_096;

impl Subscriptions {
    /// Remembers the broker's ack id of a delivered message.
    fn remember_ack_id(&mut self, message_id: &str, ack: &str) {
        if self.ack_ids.len() >= ACK_IDS_KEPT {
            self.ack_ids.pop_front();
        }
        self.ack_ids
            .push_back((message_id.to_owned(), ack.to_owned()));
    }

    /// The broker's ack id of `message_id`, forgotten once taken.
    pub(super) fn take_ack_id(&mut self, message_id: &str) -> Option<String> {
        let at = self.ack_ids.iter().position(|(m, _)| m == message_id)?;
        self.ack_ids.remove(at).map(|(_, ack)| ack)
    }

    /// A fresh broker-side subscription id.
    pub(super) fn next_id(&mut self) -> String {
        self.next += 1;
        format!("r{}", self.next)
    }
}

/// The relay's handle on a session's broker connection.
pub(super) struct SessionRelay {
    pub(super) requests: mpsc::UnboundedSender<Request>,
    pub(super) subscriptions: Arc<Mutex<Subscriptions>>,
    /// What waits to be written to this session's broker connection.
    pub(super) backlog: Backlog,
    /// The most that may wait.
    pub(super) backlog_limit: usize,
    /// What its connection read and the session did not take yet.
    #[cfg(test)]
    read_ahead: ReadAhead,
}

impl SessionRelay {
    /// Opens the session's broker connection in a task; the confirmation resolves once it
    /// is open (or could not be opened).
    pub(super) fn start(
        options: ConnectOptions,
        session: &Arc<SessionHandle>,
    ) -> (SessionRelay, oneshot::Receiver<Result<(), BrokerError>>) {
        let (requests, rx) = mpsc::unbounded_channel();
        let (connected, confirmation) = oneshot::channel();
        let subscriptions = Arc::new(Mutex::new(Subscriptions::default()));
        let backlog = Backlog::default();
        let backlog_limit = options.send_buffer_size;
        // The session's writer says when its connection drained after running out of
        // credit; a stored permit, so a drain before the relay waits is not missed.
        let drained = Arc::new(Notify::new());
        session.outbound.on_drained(|| {
            let drained = Arc::clone(&drained);
            Box::new(move || drained.notify_one())
        });
        let links = Links {
            backlog: backlog.clone(),
            read_ahead: ReadAhead::default(),
        };
        #[cfg(test)]
        let read_ahead = links.read_ahead.clone();
        // The relay's side of the session logs in the session's span.
        let relaying = run(
            drained,
            options,
            links,
            Arc::clone(session),
            Arc::clone(&subscriptions),
            rx,
            connected,
        );
        tokio::spawn(tracing::Instrument::in_current_span(relaying));
        (
            SessionRelay {
                requests,
                subscriptions,
                backlog,
                backlog_limit,
                #[cfg(test)]
                read_ahead,
            },
            confirmation,
        )
    }

    /// Queues a small control frame (`UNSUBSCRIBE`, `ACK`, `NACK`, `BEGIN`, `COMMIT`,
    /// `ABORT`): counted in the backlog while it waits, never refused for it.
    pub(super) fn send_control(&self, frame: Frame) -> Result<(), BrokerError> {
        let size = frame_size(&frame);
        self.backlog.add(size);
        self.requests.send(Request::Send(frame, size)).map_err(|_| {
            self.backlog.release(size);
            closed()
        })
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Subscriptions> {
        self.subscriptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Tells the client why its session cannot go on, then closes it.
fn fail_session(session: &SessionHandle, message: &str) {
    tracing::debug!(session = %session.id, reason = %crate::log::Escaped(&message), "closing session: broker relay failed");
    session
        .outbound
        .push_frame(&error_frame(message, None), session.version);
    session.outbound.close_after_flush(CloseStatus::Internal);
}

async fn run(
    drained: Arc<Notify>,
    options: ConnectOptions,
    links: Links,
    session: Arc<SessionHandle>,
    subscriptions: Arc<Mutex<Subscriptions>>,
    mut requests: mpsc::UnboundedReceiver<Request>,
    connected: oneshot::Sender<Result<(), BrokerError>>,
) {
    let mut connection = match connect(&options, links.backlog, links.read_ahead).await {
        Ok(connection) => {
            let _ = connected.send(Ok(()));
            connection
        }
        Err(error) => {
            // Opened when the session first needed it (a queue, an acknowledging
            // subscription, a transaction): the session cannot go on without it.
            let _ = connected.send(Err(BrokerError::Unavailable(error.to_string())));
            refuse_requests(&mut requests, &error.to_string());
            fail_session(&session, &format!("broker unavailable: {error}"));
            return;
        }
    };
    let mut waiting = Waiting::new();
    // Broker input is taken all the time: a `RECEIPT`, an `ERROR` or a lost connection is
    // handled at once, while `MESSAGE` frames the client has no credit for are parked.
    let window = connection.frames.window().clone();
    let mut parked = Parked::default();
    loop {
        tokio::select! {
            () = drained.notified(), if !parked.0.is_empty() => parked.flush(&session, &window),
            request = requests.recv() => match request {
                // The session ended: dropping the connection closes it.
                None => return,
                Some(request) => forward(&connection.sender, &mut waiting, request),
            },
            frame = connection.frames.recv_counted() => match frame {
                Some(Ok((frame, size))) if frame.command == Command::Message => {
                    match for_client(&session, &subscriptions, frame) {
                        Some(message) => parked.offer(&session, &window, message, size),
                        None => window.release(size),
                    }
                }
                Some(Ok((frame, size))) => {
                    window.release(size);
                    if !control(&session, &mut waiting, &frame) {
                        return;
                    }
                }
                Some(Err(error)) => {
                    fail_session(&session, &format!("broker unavailable: {error}"));
                    return;
                }
                None => {
                    fail_session(&session, "broker unavailable: connection closed");
                    return;
                }
            }
        }
    }
}

/// Answers the subscriptions that were waiting for a connection that could not be opened.
fn refuse_requests(requests: &mut mpsc::UnboundedReceiver<Request>, reason: &str) {
    while let Ok(request) = requests.try_recv() {
        if let Request::Subscribe { confirm, .. } = request {
            let _ = confirm.send(Err(BrokerError::Unavailable(reason.to_owned())));
        }
    }
}

/// What the connection task shares with the relay besides the session.
struct Links {
    /// What waits to be written to the broker.
    backlog: Backlog,
    /// What was read from the broker and is not handed over yet.
    read_ahead: ReadAhead,
}

/// Subscriptions waiting for their `RECEIPT`, by receipt id.
type Waiting = HashMap<String, oneshot::Sender<Result<(), BrokerError>>>;

/// Passes one of the relay's requests to the broker connection.
fn forward(sender: &BrokerSender, waiting: &mut Waiting, request: Request) {
    // A closed connection is reported by its reader.
    match request {
        Request::Subscribe {
            frames,
            receipt,
            confirm,
        } => {
            waiting.insert(receipt, confirm);
            for frame in frames {
                let _ = sender.forward(frame, 0);
            }
        }
        Request::Send(frame, size) => {
            let _ = sender.forward(frame, size);
        }
    }
}

/// Handles a broker frame other than `MESSAGE`; false when the session cannot go on.
fn control(session: &SessionHandle, waiting: &mut Waiting, frame: &Frame) -> bool {
    match frame.command {
        Command::Receipt => {
            if let Some(confirm) = frame
                .get(names::RECEIPT_ID)
                .and_then(|id| waiting.remove(id))
            {
                let _ = confirm.send(Ok(()));
            }
            true
        }
        Command::Error => {
            let message = frame.get(names::MESSAGE).unwrap_or("(no message)");
            for (_, confirm) in waiting.drain() {
                let _ = confirm.send(Err(BrokerError::Unavailable(message.to_owned())));
            }
            fail_session(session, &format!("broker error: {message}"));
            false
        }
        _ => true,
    }
}

/// `MESSAGE` frames for the client that its connection had no credit for yet, oldest first,
/// each with the bytes it counts for in the broker connection's read-ahead. They stay
/// counted until handed over, so they are bounded in bytes: once
/// [`READ_AHEAD`](super::inbound::READ_AHEAD) bytes are
/// counted the reader stops reading the broker, which keeps the rest in its queues.
#[derive(Default)]
struct Parked(VecDeque<(WsMessage, usize)>);

impl Parked {
    /// Hands `message` to the client after those parked before it, or parks it.
    fn offer(
        &mut self,
        session: &SessionHandle,
        window: &ReadAhead,
        message: WsMessage,
        size: usize,
    ) {
        self.0.push_back((message, size));
        self.flush(session, window);
    }

    /// Hands parked messages to the client in order while its connection has credit.
    fn flush(&mut self, session: &SessionHandle, window: &ReadAhead) {
        while let Some((message, size)) = self.0.pop_front() {
            if let Some(message) = push(session, message) {
                self.0.push_front((message, size));
                return;
            }
            window.release(size);
        }
    }
}

/// Queues `message` for the client at the pace its connection drains; gives it back when
/// there is no credit for it now.
fn push(session: &SessionHandle, message: WsMessage) -> Option<WsMessage> {
    // The clone is a reference count, kept in case there is no credit.
    match session.outbound.push_paced(message.clone()) {
        Paced::NoCredit => Some(message),
        Paced::Queued { .. } | Paced::Closed => None,
    }
}

/// A broker `MESSAGE` as the client sees it (its own subscription id and destination),
/// encoded; `None` for a subscription the client no longer has (or a frame an outbound
/// interceptor dropped).
fn for_client(
    session: &SessionHandle,
    subscriptions: &Mutex<Subscriptions>,
    frame: Frame,
) -> Option<WsMessage> {
    let broker_id = frame.get(names::SUBSCRIPTION)?;
    let route = {
        let mut subs = subscriptions.lock().unwrap_or_else(PoisonError::into_inner);
        let route = subs.routes.get(broker_id).cloned()?;
        if session.version != Version::V1_2 {
            if let (Some(message_id), Some(ack)) =
                (frame.get(names::MESSAGE_ID), frame.get(names::ACK))
            {
                subs.remember_ack_id(message_id, ack);
            }
        }
        route
    };
    let destination = match &route.reported {
        Some(reported) => reported.to_string(),
        None => from_broker(frame.destination().unwrap_or("")),
    };
    let mut out = Frame::new(Command::Message)
        .header(names::DESTINATION, &destination)
        .header(names::SUBSCRIPTION, &route.client_id);
    for (name, value) in frame.headers.iter() {
        let ours = matches!(
            name,
            names::DESTINATION | names::SUBSCRIPTION | names::CONTENT_LENGTH
        );
        if !ours && !super::wire::is_relay_header(name) {
            out.headers.append(name, value);
        }
    }
    out.body = frame.body;
    // Outbound interceptors see it here, once, before it is encoded.
    session.outbound.intercept(out, session.version)
}

#[cfg(test)]
mod tests;

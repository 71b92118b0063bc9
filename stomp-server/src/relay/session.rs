//! One broker connection per client session: the client's subscriptions, acknowledgements
//! and the `MESSAGE` frames coming back, with subscription ids and destinations translated.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use stomp_core::{names, Command, Frame, Version};
use tokio::sync::{mpsc, oneshot};

use super::connection::{connect, frame_size, Backlog, ConnectOptions};
use super::destination::from_broker;
use crate::broker::BrokerError;
use crate::session::{error_frame, CloseStatus, SessionHandle};

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
        tokio::spawn(run(
            options,
            backlog.clone(),
            Arc::clone(session),
            Arc::clone(&subscriptions),
            rx,
            connected,
        ));
        (
            SessionRelay {
                requests,
                subscriptions,
                backlog,
                backlog_limit,
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
            BrokerError::Unavailable("the broker connection closed".to_owned())
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
    tracing::info!(session = %session.id, reason = %crate::log::Escaped(&message), "closing session: broker relay failed");
    session
        .outbound
        .push_frame(&error_frame(message, None), session.version);
    session.outbound.close_after_flush(CloseStatus::Internal);
}

async fn run(
    options: ConnectOptions,
    backlog: Backlog,
    session: Arc<SessionHandle>,
    subscriptions: Arc<Mutex<Subscriptions>>,
    mut requests: mpsc::UnboundedReceiver<Request>,
    connected: oneshot::Sender<Result<(), BrokerError>>,
) {
    let mut connection = match connect(&options, backlog.clone()).await {
        Ok(connection) => {
            let _ = connected.send(Ok(()));
            connection
        }
        Err(error) => {
            // The session answers its CONNECT with this (an ERROR instead of CONNECTED).
            let _ = connected.send(Err(BrokerError::Unavailable(error.to_string())));
            return;
        }
    };
    let mut waiting: HashMap<String, oneshot::Sender<Result<(), BrokerError>>> = HashMap::new();
    loop {
        tokio::select! {
            request = requests.recv() => match request {
                // The session ended: dropping the connection closes it.
                None => return,
                Some(Request::Subscribe { frames, receipt, confirm }) => {
                    waiting.insert(receipt, confirm);
                    for frame in frames {
                        let _ = connection.sender.forward(frame, 0);
                    }
                }
                Some(Request::Send(frame, size)) => {
                    // A closed connection is reported by its reader below.
                    let _ = connection.sender.forward(frame, size);
                }
            },
            frame = connection.frames.recv() => match frame {
                Some(Ok(frame)) => match frame.command {
                    Command::Message => deliver(&session, &subscriptions, frame),
                    Command::Receipt => {
                        if let Some(confirm) = frame.get(names::RECEIPT_ID).and_then(|id| waiting.remove(id)) {
                            let _ = confirm.send(Ok(()));
                        }
                    }
                    Command::Error => {
                        let message = frame.get(names::MESSAGE).unwrap_or("(no message)").to_owned();
                        for (_, confirm) in waiting.drain() {
                            let _ = confirm.send(Err(BrokerError::Unavailable(message.clone())));
                        }
                        fail_session(&session, &format!("broker error: {message}"));
                        return;
                    }
                    _ => {}
                },
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

/// Hands a broker `MESSAGE` to the client with its own subscription id and destination.
fn deliver(session: &SessionHandle, subscriptions: &Mutex<Subscriptions>, frame: Frame) {
    let Some(broker_id) = frame.get(names::SUBSCRIPTION) else {
        return;
    };
    let route = {
        let mut subs = subscriptions.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(route) = subs.routes.get(broker_id).cloned() else {
            return;
        };
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
        if !matches!(
            name,
            names::DESTINATION | names::SUBSCRIPTION | names::CONTENT_LENGTH
        ) {
            out.headers.append(name, value);
        }
    }
    out.body = frame.body;
    session.outbound.push_frame(&out, session.version);
}

//! One broker connection per client session: the client's subscriptions, acknowledgements
//! and the `MESSAGE` frames coming back, with subscription ids and destinations translated.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use stomp_core::{names, Command, Frame, Version};
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::connection::{connect, frame_size, Backlog, ConnectOptions};
use super::destination::from_broker;
use crate::broker::BrokerError;
use crate::session::{encode_frame, error_frame, to_ws_message, CloseStatus, Paced, SessionHandle};

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
        // The session's writer says when its connection drained after running out of
        // credit; a stored permit, so a drain before the relay waits is not missed.
        let drained = Arc::new(Notify::new());
        session.outbound.on_drained(|| {
            let drained = Arc::clone(&drained);
            Box::new(move || drained.notify_one())
        });
        tokio::spawn(run(
            drained,
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
    drained: Arc<Notify>,
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
    // A `MESSAGE` the client's connection had no credit for: no further frame is taken
    // until it is queued, so the broker connection's reader stops reading.
    let mut held: Option<WsMessage> = None;
    loop {
        tokio::select! {
            () = drained.notified(), if held.is_some() => {
                held = held.and_then(|message| push(&session, message));
            }
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
            frame = connection.frames.recv(), if held.is_none() => match frame {
                Some(Ok(frame)) => match frame.command {
                    Command::Message => {
                        held = for_client(&session, &subscriptions, frame).and_then(|m| push(&session, m));
                    }
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
/// encoded; `None` for a subscription the client no longer has.
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
        if !matches!(
            name,
            names::DESTINATION | names::SUBSCRIPTION | names::CONTENT_LENGTH
        ) {
            out.headers.append(name, value);
        }
    }
    out.body = frame.body;
    Some(to_ws_message(encode_frame(&out, session.version)))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use stomp_core::HeartBeat;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;
    use crate::session::{CloseCause, OutboundItem};

    /// Messages the fake broker sends, of this many bytes of body each.
    const MESSAGES: usize = 64;
    const BODY: usize = 1_000;
    /// The test session's send-buffer limit: a paced relay leaves at most half waiting.
    const LIMIT: usize = 16 * 1024;

    /// Reads until `count` whole frames came, returning their text.
    async fn read_frames(stream: &mut TcpStream, count: usize) -> Vec<String> {
        let mut seen = Vec::new();
        let mut chunk = [0u8; 4096];
        while seen.iter().filter(|b| **b == 0).count() < count {
            let n = stream.read(&mut chunk).await.expect("read");
            assert!(n > 0, "closed early");
            seen.extend_from_slice(&chunk[..n]);
        }
        String::from_utf8_lossy(&seen)
            .split('\0')
            .map(|f| f.trim_start_matches('\n').to_owned())
            .filter(|f| !f.is_empty())
            .collect()
    }

    /// A broker that answers `CONNECT` and `SUBSCRIBE`, then sends every message of the
    /// subscription at once, as RabbitMQ does for a backlog with `ack:auto`.
    async fn flooding_broker() -> (String, tokio::task::JoinHandle<TcpStream>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address").to_string();
        let broker = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("accept");
            read_frames(&mut stream, 1).await;
            let connected = b"CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\0";
            stream.write_all(connected).await.expect("CONNECTED");
            let subscribe = read_frames(&mut stream, 1).await.concat();
            let header = |name: &str| {
                subscribe
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .expect("header")
                    .to_owned()
            };
            let (id, receipt) = (header("id:"), header("receipt:"));
            let mut out = format!("RECEIPT\nreceipt-id:{receipt}\n\n\0");
            for i in 0..MESSAGES {
                out.push_str(&format!(
                    "MESSAGE\nsubscription:{id}\ndestination:/queue/paced\nmessage-id:{i}\n\n{i:0>BODY$}\0"
                ));
            }
            stream.write_all(out.as_bytes()).await.expect("MESSAGEs");
            stream
        });
        (address, broker)
    }

    fn options(address: String) -> ConnectOptions {
        ConnectOptions {
            address,
            virtual_host: "/".to_owned(),
            login: "guest".to_owned(),
            passcode: "guest".to_owned(),
            heartbeat: HeartBeat::default(),
            connect_timeout: Duration::from_secs(5),
            send_buffer_size: 256 * 1024,
            send_time: Duration::from_secs(10),
        }
    }

    #[tokio::test]
    async fn broker_messages_reach_the_client_at_the_pace_its_connection_drains() {
        let (address, _broker) = flooding_broker().await;
        let (session, mut rx) = SessionHandle::with_queue("s", LIMIT);
        let (relay, connected) = SessionRelay::start(options(address), &session);
        connected.await.expect("answered").expect("connected");
        let route = Route {
            client_id: Arc::from("sub-0"),
            reported: Some(Arc::from("/queue/paced")),
        };
        relay.lock().routes.insert("r1".to_owned(), route);
        let subscribe = Frame::new(Command::Subscribe)
            .header(names::ID, "r1")
            .header(names::DESTINATION, "/queue/paced")
            .header(names::RECEIPT, "rc");
        let (confirm, confirmed) = oneshot::channel();
        let request = Request::Subscribe {
            frames: vec![subscribe],
            receipt: "rc".to_owned(),
            confirm,
        };
        assert!(relay.requests.send(request).is_ok());
        confirmed.await.expect("answered").expect("subscribed");
        // Nothing is written yet: the relay fills the credit (half the limit), then waits.
        // Without pacing it would pass the limit and cut the session off.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while session.outbound.queued_bytes() < LIMIT / 2 - 2 * BODY {
            assert_eq!(session.outbound.close_cause(), CloseCause::None, "cut off");
            assert!(
                tokio::time::Instant::now() < deadline,
                "the credit never filled"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(session.outbound.queued_bytes() <= LIMIT / 2 + 2 * BODY);
        // Written, the rest follows in order.
        let mut received = Vec::new();
        while received.len() < MESSAGES {
            let mut items = VecDeque::new();
            let waited = tokio::time::timeout(Duration::from_secs(30), rx.wait(&mut items)).await;
            assert!(waited.is_ok(), "only {} of {MESSAGES} came", received.len());
            for item in items {
                if let OutboundItem::Frame(message, len) = item {
                    let text = message.to_text().expect("text").to_owned();
                    let body = text.split_once("\n\n").expect("a frame").1;
                    received.push(
                        body.trim_end_matches('\0')
                            .parse::<usize>()
                            .expect("a number"),
                    );
                    session.outbound.written(len);
                }
            }
        }
        assert_eq!(received, (0..MESSAGES).collect::<Vec<_>>());
        assert_eq!(session.outbound.close_cause(), CloseCause::None);
    }
}

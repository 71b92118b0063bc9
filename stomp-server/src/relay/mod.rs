//! The STOMP broker relay (Spring's `enableStompBrokerRelay`): RabbitMQ's STOMP plugin
//! replaces the simple broker, so several server instances share topics, queues and users.
//!
//! - Each client session gets its own broker connection (client login) carrying its
//!   `SUBSCRIBE`, `UNSUBSCRIBE`, `ACK` and `NACK`; the broker's `MESSAGE` frames come back on
//!   it and are handed to the client with its own subscription ids and destinations, at the
//!   pace the client's connection drains: while it has no credit the relay parks them,
//!   bounded in bytes; at the bound the connection's reader stops reading (`inbound`), and
//!   RabbitMQ keeps the messages (TCP back-pressure and its flow control), whatever the
//!   `ack` mode. `RECEIPT` and `ERROR` frames read meanwhile are handled at once.
//! - Clients' `SEND`s and transactions (`BEGIN`/`COMMIT`/`ABORT`) travel on the session's
//!   own connection too, so RabbitMQ applies the client login and runs the transactions.
//! - Messages the application sends (`Template`, handler replies) go through one shared
//!   system connection, which reconnects with back-off.
//! - Destinations keep their embedded-broker names for clients; `destination.rs` maps them.
//! - User destinations work across instances without a user registry broadcast: a session
//!   subscribed to `/user/queue/x` listens on two routes of RabbitMQ's `amq.direct`
//!   exchange, one for its user and one for itself, and a message for a user or a session is
//!   published to the matching route. Clients cannot name these routes.

mod config;
mod connection;
mod destination;
mod inbound;
mod session;
mod system;
mod wire;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use stomp_core::{names, Command, Frame};
use tokio::sync::oneshot;

pub use config::RelayConfig;
use connection::frame_size;
use destination::to_broker;
use session::{Request, Route, SessionRelay};
use system::{run_system, Shared};

use crate::broker::{
    has_prefix, AckMode, AckRequest, AckTarget, Broker, BrokerError, Confirmation,
    PublishedMessage, SubscribeRequest,
};
use crate::event::Events;
use crate::peer::SessionHandle;
use crate::principal::SessionId;
use crate::stats::Stats;

/// The relay to an external STOMP broker.
pub(crate) struct BrokerRelay {
    shared: Arc<Shared>,
    // A std Mutex: held to insert, remove or clone a session's handle, never across an await.
    sessions: Mutex<HashMap<SessionId, SessionRelay>>,
    started: AtomicBool,
}

impl BrokerRelay {
    /// A relay that reports the broker's availability to `events` and `stats`.
    pub(crate) fn new(config: RelayConfig, events: Arc<Events>, stats: Arc<Stats>) -> BrokerRelay {
        let relay = BrokerRelay {
            shared: Arc::new(Shared::new(config, events, stats)),
            sessions: Mutex::new(HashMap::new()),
            started: AtomicBool::new(false),
        };
        relay.ensure_started();
        relay
    }

    /// Starts the system connection once a tokio runtime is there (the server may be built
    /// before the runtime runs).
    fn ensure_started(&self) {
        if self.started.load(Ordering::Acquire) {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            if !self.started.swap(true, Ordering::AcqRel) {
                runtime.spawn(run_system(Arc::downgrade(&self.shared)));
            }
        }
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, SessionRelay>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn send(&self, destination: String, message: &PublishedMessage) -> Result<usize, BrokerError> {
        self.ensure_started();
        let mut frame = Frame::new(Command::Send).header(names::DESTINATION, &destination);
        for (name, value) in &message.headers {
            frame.headers.append(name, value);
        }
        frame.body = message.body.clone();
        self.shared.send(frame)?;
        // The broker does the fan-out; from here one message went out.
        Ok(1)
    }

    fn with_session<T>(
        &self,
        session: &SessionId,
        f: impl FnOnce(&SessionRelay) -> Result<T, BrokerError>,
    ) -> Result<T, BrokerError> {
        let sessions = self.sessions();
        let relay = sessions.get(session).ok_or_else(|| {
            BrokerError::Unavailable("this session has no broker connection".to_owned())
        })?;
        f(relay)
    }
}

/// The prefetch window of an acknowledging subscription that asks for none.
const DEFAULT_PREFETCH: usize = 1_000;

/// `/queue/x` → `queue.x`: a destination as routing-key words.
fn words(destination: &str) -> String {
    destination.trim_start_matches('/').replace('/', ".")
}

/// Makes a user name or session id one routing-key word.
fn word(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Where user and session routes live: RabbitMQ's direct exchange. Clients reach RabbitMQ
/// only through the relay's prefixes (`/topic`, `/queue`), so they can neither subscribe to
/// another user's route nor publish into it, and a `/topic/**` subscription does not see it.
const ROUTES: &str = "/exchange/amq.direct/stomp-";

/// The broker route of `destination` for every session of `user`.
fn user_topic(user: &str, destination: &str) -> String {
    format!("{ROUTES}user.{}.{}", word(user), words(destination))
}

/// The broker route of `destination` for one session.
fn session_topic(session: &str, destination: &str) -> String {
    format!("{ROUTES}session.{}.{}", word(session), words(destination))
}

impl Broker for BrokerRelay {
    fn handles(&self, destination: &str) -> bool {
        // The user and session routes are the relay's own, even for an application that
        // relays `/exchange` destinations.
        !destination.starts_with(ROUTES)
            && self
                .shared
                .config
                .prefixes
                .iter()
                .any(|p| has_prefix(destination, p))
    }

    fn subscribe(
        &self,
        session: &Arc<SessionHandle>,
        request: SubscribeRequest,
    ) -> Result<Option<Confirmation>, BrokerError> {
        let (confirm, confirmation) = oneshot::channel();
        self.with_session(&session.id, |relay| {
            let targets = match &request.user {
                Some(user) => vec![
                    user_topic(&user.user, &user.destination),
                    session_topic(session.id.as_str(), &user.destination),
                ],
                None => vec![to_broker(&request.destination)],
            };
            let reported = request.reported_destination.clone().or_else(|| {
                (!request.destination.contains('*'))
                    .then(|| Arc::from(request.destination.as_str()))
            });
            let mut subs = relay.lock();
            if subs.by_client.contains_key(&request.id) {
                return Err(BrokerError::DuplicateSubscription(request.id.to_string()));
            }
            let mut frames = Vec::with_capacity(targets.len());
            let mut ids = Vec::with_capacity(targets.len());
            for target in targets {
                let id = subs.next_id();
                let mut frame = Frame::new(Command::Subscribe)
                    .header(names::ID, &id)
                    .header(names::DESTINATION, &target)
                    .header(
                        names::ACK,
                        match request.ack {
                            AckMode::Auto => "auto",
                            AckMode::Client => "client",
                            AckMode::ClientIndividual => "client-individual",
                        },
                    );
                // An acknowledging subscription without its own window gets one, so that
                // RabbitMQ never has more unacknowledged messages out than it can take back.
                let prefetch = request.prefetch.or(match request.ack {
                    AckMode::Auto => None,
                    AckMode::Client | AckMode::ClientIndividual => Some(DEFAULT_PREFETCH),
                });
                if let Some(prefetch) = prefetch {
                    frame
                        .headers
                        .append("prefetch-count", &prefetch.to_string());
                }
                subs.routes.insert(
                    id.clone(),
                    Route {
                        client_id: Arc::clone(&request.id),
                        reported: reported.clone(),
                    },
                );
                frames.push(frame);
                ids.push(id);
            }
            let receipt = format!("subscribe-{}", ids.last().map_or("", String::as_str));
            if let Some(last) = frames.last_mut() {
                last.headers.append(names::RECEIPT, &receipt);
            }
            subs.by_client.insert(Arc::clone(&request.id), ids);
            drop(subs);
            relay
                .requests
                .send(Request::Subscribe {
                    frames,
                    receipt,
                    confirm,
                })
                .map_err(|_| BrokerError::Unavailable("the broker connection closed".to_owned()))
        })?;
        Ok(Some(confirmation))
    }

    fn unsubscribe(&self, session: &SessionId, id: &str) -> Result<(), BrokerError> {
        self.with_session(session, |relay| {
            let ids = {
                let mut subs = relay.lock();
                let ids = subs
                    .by_client
                    .remove(id)
                    .ok_or_else(|| BrokerError::UnknownSubscription(id.to_owned()))?;
                for broker_id in &ids {
                    subs.routes.remove(broker_id);
                }
                ids
            };
            for broker_id in ids {
                let frame = Frame::new(Command::Unsubscribe).header(names::ID, &broker_id);
                let _ = relay.send_control(frame);
            }
            Ok(())
        })
    }

    fn publish(&self, message: Arc<PublishedMessage>) -> Result<usize, BrokerError> {
        self.send(to_broker(&message.destination), &message)
    }

    fn publish_for_session(
        &self,
        session: &SessionId,
        user_destination: &str,
        message: Arc<PublishedMessage>,
    ) -> Result<usize, BrokerError> {
        self.send(session_topic(session.as_str(), user_destination), &message)
    }

    fn publish_to_user(
        &self,
        user: &str,
        destination: &str,
        message: Arc<PublishedMessage>,
    ) -> Option<Result<usize, BrokerError>> {
        Some(self.send(user_topic(user, destination), &message))
    }

    fn acknowledge(&self, session: &SessionId, request: &AckRequest) -> Result<(), BrokerError> {
        self.with_session(session, |relay| {
            let ack_id = match &request.target {
                AckTarget::AckId(id) => id.clone(),
                AckTarget::MessageId {
                    message_id,
                    subscription,
                } => relay.lock().take_ack_id(message_id).ok_or_else(|| {
                    BrokerError::UnknownMessageId {
                        message_id: message_id.clone(),
                        subscription: subscription.clone(),
                    }
                })?,
            };
            let command = if request.nack {
                Command::Nack
            } else {
                Command::Ack
            };
            let frame = Frame::new(command).header(names::ID, &ack_id);
            relay.send_control(frame)
        })
    }

    fn forwards_transactions(&self) -> bool {
        true
    }

    fn transaction(
        &self,
        session: &SessionId,
        command: Command,
        transaction: &str,
    ) -> Result<(), BrokerError> {
        self.with_session(session, |relay| {
            let frame = Frame::new(command).header(names::TRANSACTION, transaction);
            relay.send_control(frame)
        })
    }

    fn publish_from_session(
        &self,
        session: &SessionId,
        message: &PublishedMessage,
        transaction: Option<&str>,
    ) -> Option<Result<usize, BrokerError>> {
        Some(self.with_session(session, |relay| {
            let mut frame = Frame::new(Command::Send)
                .header(names::DESTINATION, &to_broker(&message.destination));
            for (name, value) in &message.headers {
                frame.headers.append(name, value);
            }
            if let Some(transaction) = transaction {
                frame.headers.append(names::TRANSACTION, transaction);
            }
            frame.body = message.body.clone();
            // Counted from here until written: the client's SENDs are bounded on their way
            // to a broker that does not read.
            if relay.requests.is_closed() {
                return Err(BrokerError::Unavailable(
                    "the broker connection closed".to_owned(),
                ));
            }
            let size = frame_size(&frame);
            relay.backlog.reserve(size, relay.backlog_limit)?;
            relay
                .requests
                .send(Request::Send(frame, size))
                .map(|()| 1)
                .map_err(|_| {
                    relay.backlog.release(size);
                    BrokerError::Unavailable("the broker connection closed".to_owned())
                })
        }))
    }

    fn session_closed(&self, session: &SessionId) {
        // Dropping the handle ends the connection task, which closes the broker connection.
        self.sessions().remove(session);
    }

    fn session_connected(&self, session: &Arc<SessionHandle>) -> Option<Confirmation> {
        self.ensure_started();
        let (relay, connected) = SessionRelay::start(self.shared.options(false), session);
        self.sessions().insert(session.id.clone(), relay);
        Some(connected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_and_session_routes_are_single_words_per_part() {
        assert_eq!(
            user_topic("bob", "/queue/reply"),
            "/exchange/amq.direct/stomp-user.bob.queue.reply"
        );
        assert_eq!(
            user_topic("a.b c", "/queue/x"),
            "/exchange/amq.direct/stomp-user.a%2Eb%20c.queue.x"
        );
        assert_eq!(
            session_topic("s1-ab", "/queue/x/y"),
            "/exchange/amq.direct/stomp-session.s1-ab.queue.x.y"
        );
    }
}

//! The STOMP broker relay (Spring's `enableStompBrokerRelay`): RabbitMQ's STOMP plugin
//! replaces the simple broker, so several server instances share topics, queues and users.
//!
//! - Broadcast subscriptions (`ack:auto` under the shared prefixes, `/topic` by default) are
//!   served by the instance's local fan-out, a [`SimpleBroker`] whose [`Upstream`] is
//!   RabbitMQ (`upstream`, `listener`): one RabbitMQ subscription per destination or pattern
//!   per instance, however many sessions listen, on one shared connection. Unlike Spring's
//!   relay, a thousand subscribers do not cost a thousand RabbitMQ connections.
//! - Everything that needs RabbitMQ's own semantics travels on a broker connection of the
//!   session's own, opened the first time the session needs it (as Spring opens one per
//!   session): `/queue` subscriptions (competing consumers), `ack:client` subscriptions and
//!   their `ACK`/`NACK`, transactions and the `SEND`s inside them. Its
//!   `MESSAGE` frames are handed to the client with its own subscription ids and destinations,
//!   at the pace the client's connection drains: while it has no credit the relay parks them,
//!   bounded in bytes; at the bound the connection's reader stops reading (`inbound`), and
//!   RabbitMQ keeps the messages. `RECEIPT` and `ERROR` frames are handled at once.
//! - Messages the application sends (`Template`, handler replies) and clients' `SEND`s outside
//!   a transaction go through one shared system connection, which reconnects with back-off.
//!   While it is down, `CONNECT`s are answered with an `ERROR` and messages are refused.
//! - Destinations keep their embedded-broker names for clients; `destination.rs` maps them.
//! - User destinations work across instances without a user registry broadcast: a session
//!   subscribed to `/user/queue/x` listens on two routes of RabbitMQ's `amq.direct`
//!   exchange, one for its user and one for itself, and a message for a user or a session is
//!   published to the matching route. Clients cannot name these routes. The instance
//!   subscribes each route once on the shared connection (`users`) and delivers through
//!   the local broker.

mod backlog;
mod batch;
mod config;
mod connection;
mod destination;
mod inbound;
mod listener;
mod own;
mod session;
mod system;
mod upstream;
mod users;
mod wire;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use stomp_core::{names, Command, Frame};
use tokio::sync::{mpsc, oneshot};

#[cfg(feature = "tls")]
pub use crate::tls::RelayTls;
pub use config::RelayConfig;
use destination::to_broker;
use listener::{run_listener, Listen, Listener};
use session::SessionRelay;
use system::{run_system, Shared};
use upstream::{shared_destination, RelayUpstream};
use users::UserRoutes;

use crate::broker::{
    has_prefix, AckMode, AckRequest, Broker, BrokerError, Confirmation, LocalBroker, Pace,
    PublishedMessage, SimpleBroker, SubscribeRequest, Upstream,
};
use crate::config::BrokerConfig;
use crate::event::Events;
use crate::peer::SessionHandle;
use crate::principal::SessionId;
use crate::stats::Stats;

/// The relay to an external STOMP broker.
pub(crate) struct BrokerRelay {
    shared: Arc<Shared>,
    /// The local part: broadcast subscriptions served from this instance's fan-out.
    local: Arc<SimpleBroker>,
    // A std Mutex: held to insert, remove or start a session's relay, never across an await.
    sessions: Mutex<HashMap<SessionId, OwnConnection>>,
    started: AtomicBool,
    /// The shared listener, until a runtime runs it.
    listener: Mutex<Option<(Listener, mpsc::UnboundedReceiver<Listen>)>>,
    /// To the shared listener (user and session routes; topics go through `local`).
    listen: mpsc::UnboundedSender<Listen>,
    /// User destinations served through the shared listener.
    users: Arc<UserRoutes>,
}

/// A session, and its own broker connection once it needed one.
struct OwnConnection {
    session: Arc<SessionHandle>,
    relay: Option<SessionRelay>,
}

/// This relay's origin tag: random, so that two servers in one process differ too.
fn new_origin() -> Arc<str> {
    let random = getrandom::u64().unwrap_or_else(|_| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        // Unique is enough here (a client never sees the tag): time and process id.
        (nanos as u64) ^ u64::from(std::process::id()).rotate_left(40)
    });
    Arc::from(format!("{random:016x}"))
}

impl BrokerRelay {
    /// A relay that reports the broker's availability to `events` and `stats`; its local
    /// part fans out with `separator` and the slow-consumer bounds of `broker` (its queues
    /// are RabbitMQ's).
    pub(crate) fn new(
        config: RelayConfig,
        (separator, broker): (char, BrokerConfig),
        events: Arc<Events>,
        stats: &Arc<Stats>,
    ) -> BrokerRelay {
        let shared = Arc::new(Shared::new(config, events, Arc::clone(stats)));
        let origin = new_origin();
        let (listen, requests) = mpsc::unbounded_channel();
        let given = Arc::new(Mutex::new(None));
        let upstream = RelayUpstream {
            shared: Arc::clone(&shared),
            origin: Arc::clone(&origin),
            listener: listen.clone(),
        };
        let users = Arc::new(UserRoutes::default());
        let keep = Arc::clone(&given);
        let local = SimpleBroker::with_upstream(
            shared.config.prefixes.clone(),
            separator,
            broker.with_point_to_point_prefixes(Vec::new()),
            Box::new(move |local: LocalBroker| {
                *keep.lock().unwrap_or_else(PoisonError::into_inner) = Some(local);
                Arc::new(upstream) as Arc<dyn Upstream>
            }),
        );
        stats.watch_broker(local.load());
        let local_handle = given.lock().unwrap_or_else(PoisonError::into_inner).take();
        let listener = local_handle.map(|local| {
            let listener = Listener {
                shared: Arc::downgrade(&shared),
                local,
                origin,
                users: Arc::clone(&users),
            };
            (listener, requests)
        });
        let relay = BrokerRelay {
            shared,
            local,
            sessions: Mutex::new(HashMap::new()),
            started: AtomicBool::new(false),
            listener: Mutex::new(listener),
            listen,
            users,
        };
        relay.ensure_started();
        relay
    }

    /// Starts the system connection and the shared listener once a tokio runtime is there
    /// (the server may be built before the runtime runs).
    fn ensure_started(&self) {
        if self.started.load(Ordering::Acquire) {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            if !self.started.swap(true, Ordering::AcqRel) {
                runtime.spawn(run_system(Arc::downgrade(&self.shared)));
                let listener = self
                    .listener
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take();
                if let Some((listener, requests)) = listener {
                    runtime.spawn(run_listener(listener, requests));
                }
            }
        }
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, OwnConnection>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// True when a destination is served by the shared subscriptions and the local fan-out.
    fn is_shared(&self, destination: &str) -> bool {
        matches!(
            shared_destination(destination, &self.shared.config.shared_prefixes),
            Ok(true)
        )
    }

    fn send(&self, destination: String, message: &PublishedMessage) -> Result<usize, BrokerError> {
        self.ensure_started();
        let mut frame = Frame::new(Command::Send).header(names::DESTINATION, &destination);
        for (name, value) in &message.headers {
            if !wire::is_relay_header(name) {
                frame.headers.append(name, value);
            }
        }
        frame.body = message.body.clone();
        self.shared.send(frame)?;
        // The broker does the fan-out; from here one message went out.
        Ok(1)
    }

    /// Runs `f` with the session's own broker connection, opening it the first time.
    fn with_session<T>(
        &self,
        session: &SessionId,
        f: impl FnOnce(&SessionRelay) -> Result<T, BrokerError>,
    ) -> Result<T, BrokerError> {
        let mut sessions = self.sessions();
        let own = sessions.get_mut(session).ok_or_else(|| {
            BrokerError::Unavailable("this session is not connected to the relay".to_owned())
        })?;
        let relay = match &mut own.relay {
            Some(relay) => relay,
            None => {
                // Its CONNECT already waited for the broker: nothing waits for this one.
                let (relay, _opened) =
                    SessionRelay::start(self.shared.options(false), &own.session);
                own.relay.insert(relay)
            }
        };
        f(relay)
    }

    /// True when `session` opened a broker connection of its own.
    fn has_own_connection(&self, session: &SessionId) -> bool {
        self.sessions()
            .get(session)
            .is_some_and(|own| own.relay.is_some())
    }

    /// True when subscriptions are shared through the listener at all (Spring's behaviour
    /// when the shared prefixes are empty).
    fn sharing(&self) -> bool {
        !self.shared.config.shared_prefixes.is_empty()
    }

    /// A user destination (`/user/queue/x`): in the local broker under its session's name,
    /// and on its user's and its session's routes through the shared listener; live once
    /// RabbitMQ confirmed both routes.
    fn subscribe_user(
        &self,
        session: &Arc<SessionHandle>,
        request: SubscribeRequest,
    ) -> Result<Option<Confirmation>, BrokerError> {
        let Some(user) = request.user.clone() else {
            return self.local.subscribe(session, request);
        };
        let (id, local) = (Arc::clone(&request.id), request.destination.clone());
        self.local.subscribe(session, request)?;
        let routes = [
            user_topic(&user.user, &user.destination),
            session_topic(session.id.as_str(), &user.destination),
        ];
        let mut waiting = Vec::new();
        for route in routes {
            let added = match self.users.add(&route, &session.id, &id, &local) {
                Ok(added) => added,
                Err(error) => {
                    let _ = self.unsubscribe(&session.id, &id);
                    return Err(error);
                }
            };
            if added.first {
                self.ensure_started();
                let _ = self.listen.send(Listen::Route(route));
            }
            waiting.extend(added.confirmation);
        }
        Ok(all_of(waiting))
    }

    /// Tells the listener to drop routes nobody here listens on any more.
    fn unroute(&self, routes: Vec<String>) {
        for route in routes {
            let _ = self.listen.send(Listen::Stop(route));
        }
    }

    /// A session's subscription on its own connection.
    fn subscribe_own(
        &self,
        session: &Arc<SessionHandle>,
        request: &SubscribeRequest,
    ) -> Result<Option<Confirmation>, BrokerError> {
        self.with_session(&session.id, |relay| relay.subscribe(&session.id, request))
            .map(Some)
    }
}

/// One confirmation for several: resolved when all are (with the first error, if any).
fn all_of(waiting: Vec<Confirmation>) -> Option<Confirmation> {
    if waiting.is_empty() {
        return None;
    }
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let mut result = Ok(());
        for confirmation in waiting {
            let outcome = confirmation.await.unwrap_or_else(|_| {
                Err(BrokerError::Unavailable(
                    "the relay's listener stopped".to_owned(),
                ))
            });
            if result.is_ok() {
                result = outcome;
            }
        }
        let _ = tx.send(result);
    });
    Some(rx)
}

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
pub(super) fn user_topic(user: &str, destination: &str) -> String {
    format!("{ROUTES}user.{}.{}", word(user), words(destination))
}

/// The broker route of `destination` for one session.
pub(super) fn session_topic(session: &str, destination: &str) -> String {
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
        // Batches reach only the local part: with them on, it tracks client acks too.
        let batching = self.shared.config.publish_batch > 1;
        let acks_locally = request.ack == AckMode::Auto || batching;
        if request.user.is_some() && acks_locally && self.sharing() {
            return self.subscribe_user(session, request);
        }
        let broadcast = request.user.is_none() && acks_locally;
        if broadcast
            && shared_destination(&request.destination, &self.shared.config.shared_prefixes)?
        {
            return self.local.subscribe(session, request);
        }
        self.subscribe_own(session, &request)
    }

    fn unsubscribe(&self, session: &SessionId, id: &str) -> Result<(), BrokerError> {
        match self.local.unsubscribe(session, id) {
            Err(BrokerError::UnknownSubscription(_)) => {
                self.with_session(session, |relay| relay.unsubscribe(id))
            }
            done => {
                self.unroute(self.users.remove(session, id));
                done
            }
        }
    }

    fn publish(&self, message: Arc<PublishedMessage>) -> Result<usize, BrokerError> {
        if self.is_shared(&message.destination) {
            self.ensure_started();
            return self.local.publish(message);
        }
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
        // The local broker's subscriptions first (topics with client acks, when batching);
        // then RabbitMQ's, when the session has a connection of its own.
        let local = self.local.acknowledge(session, request);
        let unknown = matches!(
            local,
            Err(BrokerError::UnknownAckId(_) | BrokerError::UnknownMessageId { .. })
        );
        if unknown && self.has_own_connection(session) {
            return self.with_session(session, |relay| relay.acknowledge(request));
        }
        local
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
        if transaction.is_none() && self.is_shared(&message.destination) {
            // Published like any message: out on the system connection, and to this
            // instance's subscribers through the local fan-out.
            return None;
        }
        Some(self.with_session(session, |relay| relay.publish(message, transaction)))
    }

    fn publish_pace(&self) -> Option<Pace> {
        self.shared.pace()
    }

    fn session_closed(&self, session: &SessionId) {
        self.local.session_closed(session);
        self.unroute(self.users.remove_session(session));
        // Dropping its relay ends the connection task, which closes the broker connection.
        self.sessions().remove(session);
    }

    fn session_connected(&self, session: &Arc<SessionHandle>) -> Option<Confirmation> {
        self.ensure_started();
        let own = OwnConnection {
            session: Arc::clone(session),
            relay: None,
        };
        self.sessions().insert(session.id.clone(), own);
        if !self.shared.unknown() {
            let available = self.shared.available();
            return available.err().map(|error| {
                let (tx, rx) = oneshot::channel();
                let _ = tx.send(Err(error));
                rx
            });
        }
        // Just started: wait for the system connection's first answer.
        let (tx, rx) = oneshot::channel();
        let shared = Arc::clone(&self.shared);
        tokio::spawn(async move {
            let limit = shared.config.connect_timeout;
            let _ = tx.send(shared.wait_known(limit).await);
        });
        Some(rx)
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

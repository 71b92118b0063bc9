//! The Redis backplane (`StompServerBuilder::redis_backplane`): several instances of a server
//! on one Redis serve one set of broadcast destinations through Redis pub/sub.
//!
//! Each instance keeps its simple broker (its subscriptions, its fan-out, its queues) and
//! joins it to the others through an [`Upstream`]:
//!
//! - A message published here to a broadcast destination (`/topic/..`) is `PUBLISH`ed to the
//!   channel `<prefix><destination>` on one shared publishing connection, in publish order,
//!   as a compact binary envelope (this instance's id, the destination, the headers, the
//!   body), and fanned out here at once.
//! - This instance `SUBSCRIBE`s to each destination (`PSUBSCRIBE` for a pattern) its
//!   sessions subscribe to, once, on one shared subscriber connection, and fans out what the
//!   other instances publish there (its own messages it drops: it delivered them already).
//! - User destinations cross too: a message for every session of a user
//!   (`convert_and_send_to_user`, `#[send_to_user]`, a `/user/{name}/..` send) is
//!   `PUBLISH`ed to the user's channel `<prefix>user:<user>:<destination>` (see `channel`),
//!   and delivered here to the user's sessions of this instance. An instance `SUBSCRIBE`s to
//!   a user's channel once while a session of that user here subscribes to that user
//!   destination (`/user/queue/x`), and its `RECEIPT` waits for Redis' confirmation. A
//!   reply to one session (`broadcast = false`) stays here: that session is here.
//! - While Redis is down a `CONNECT` is answered with an `ERROR` ("broker unavailable: .."),
//!   publishing fails, and both connections retry with back-off; once Redis is back every
//!   destination still subscribed is subscribed again.
//!
//! Point-to-point destinations (`/queue/..`), acknowledgements and transactions stay with
//! each instance's simple broker, as in the embedded broker. Redis pub/sub delivers at most
//! once: a message published while an instance is disconnected does not reach it.
//!
//! - The user registry answers for the cluster: each instance writes its users to Redis
//!   every `registry_refresh` and reads the others' (see `registry`).
//!
//! Layout: `config` (the settings), `link` (opening connections, back-off), `health`
//! (availability, events, stats), `envelope` (the wire format), `channel` (channel names and
//! globs), `publisher` and `listener` (the two connections' tasks), `registry` (the user
//! registry's task), `streams` (Redis Streams for handlers: [`RedisStreams`],
//! [`StreamConsumer`]).

mod channel;
mod config;
mod envelope;
mod health;
mod link;
mod listener;
mod publisher;
mod registry;
mod streams;

use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc;

pub use config::RedisConfig;
pub use streams::{
    ConsumerConfig, RedisStreams, StreamConsumer, StreamEntry, StreamError, DEFAULT_MAX_LEN,
    MAX_COUNT,
};

use self::envelope::{encode, Origin};
use self::health::Health;
use self::link::Connector;
use self::listener::{Change, Listener};
use self::publisher::{run_publisher, Outbox};
use self::registry::Registry;
use crate::broker::{BrokerError, LocalBroker, PublishedMessage, Upstream, UpstreamSubscription};
use crate::event::Events;
use crate::stats::Stats;

/// The broker upstream that carries broadcast messages between instances over Redis.
pub(crate) struct RedisBackplane {
    origin: Origin,
    prefix: String,
    health: Arc<Health>,
    outbox: Arc<Outbox>,
    /// To the listening task. Unbounded: it carries one entry per first or last local
    /// subscription to a destination, so it holds at most as many as there are
    /// subscriptions, which the session limits bound.
    changes: mpsc::UnboundedSender<Change>,
    // A std Mutex: taken once to spawn the tasks.
    tasks: Mutex<Option<Tasks>>,
}

/// The two connection tasks, until a tokio runtime runs them (the server may be built
/// before its runtime starts).
struct Tasks {
    connector: Connector,
    listener: Listener,
    changes: mpsc::UnboundedReceiver<Change>,
    registry: Registry,
}

impl RedisBackplane {
    /// A backplane for `local`, reporting availability to `events` and `stats`; its
    /// connections start now if a runtime runs, else at the first use.
    pub(crate) fn new(
        config: &RedisConfig,
        local: LocalBroker,
        events: Arc<Events>,
        stats: Arc<Stats>,
    ) -> RedisBackplane {
        let connector = Connector::new(config);
        let health = Arc::new(Health::new(
            Arc::clone(&events),
            stats,
            connector.server().to_owned(),
        ));
        let origin = new_origin();
        let prefix = config.channel_prefix.clone();
        let listener = Listener::new(
            connector.clone(),
            prefix.clone(),
            origin,
            local,
            Arc::clone(&health),
        );
        let registry = Registry {
            connector: connector.clone(),
            key_prefix: format!("{prefix}registry:"),
            instance: origin.iter().map(|b| format!("{b:02x}")).collect(),
            refresh: config.registry_refresh,
            events,
            alive: Arc::downgrade(&health),
        };
        let (changes, receiver) = mpsc::unbounded_channel();
        let backplane = RedisBackplane {
            origin,
            prefix,
            health,
            outbox: Arc::new(Outbox::new(config.publish_backlog)),
            changes,
            tasks: Mutex::new(Some(Tasks {
                connector,
                listener,
                changes: receiver,
                registry,
            })),
        };
        backplane.ensure_started();
        backplane
    }

    fn ensure_started(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let tasks = self
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(tasks) = tasks {
            let (outbox, health) = (Arc::clone(&self.outbox), Arc::clone(&self.health));
            runtime.spawn(run_publisher(tasks.connector, outbox, health));
            runtime.spawn(tasks.listener.run(tasks.changes));
            runtime.spawn(tasks.registry.run());
        }
    }
}

impl Upstream for RedisBackplane {
    fn publish(&self, message: &Arc<PublishedMessage>) -> Result<(), BrokerError> {
        self.ensure_started();
        // Refused unless both links are up: an instance that cannot hear the others is cut
        // off from the cluster, and says so rather than publish into half of it.
        self.health.available()?;
        let envelope = encode(&self.origin, message).map_err(|error| {
            BrokerError::Unavailable(format!("the message cannot cross Redis: {error}"))
        })?;
        let channel = channel::channel(&self.prefix, message.destination());
        self.outbox.push(channel, envelope)
    }

    fn subscribe(&self, subscription: UpstreamSubscription) {
        self.ensure_started();
        if let Err(mpsc::error::SendError(Change::Subscribe(subscription))) =
            self.changes.send(Change::Subscribe(subscription))
        {
            subscription.failed(BrokerError::Unavailable(
                "the Redis backplane stopped".to_owned(),
            ));
        }
    }

    fn unsubscribe(&self, destination: &str) {
        let _ = self
            .changes
            .send(Change::Unsubscribe(destination.to_owned()));
    }

    fn available(&self) -> Result<(), BrokerError> {
        self.ensure_started();
        self.health.available()
    }

    fn carries_users(&self) -> bool {
        true
    }

    fn publish_to_user(
        &self,
        user: &str,
        message: &Arc<PublishedMessage>,
    ) -> Result<(), BrokerError> {
        self.ensure_started();
        self.health.available()?;
        let envelope = encode(&self.origin, message).map_err(|error| {
            BrokerError::Unavailable(format!("the message cannot cross Redis: {error}"))
        })?;
        let channel = channel::user_channel(&self.prefix, user, message.destination());
        self.outbox.push(channel, envelope)
    }

    fn unsubscribe_user(&self, user: &str, destination: &str) {
        let _ = self.changes.send(Change::UnsubscribeUser(
            user.to_owned(),
            destination.to_owned(),
        ));
    }
}

impl Drop for RedisBackplane {
    fn drop(&mut self) {
        // The listening task ends when `changes` closes (dropped with this); the publishing
        // task when told.
        self.outbox.close();
    }
}

/// A random id for this backplane (this instance), 128 bits.
fn new_origin() -> Origin {
    let mut origin = Origin::default();
    if let Err(error) = getrandom::fill(&mut origin) {
        // Unique, if not secret: the id only tells an instance's own messages apart.
        tracing::warn!(%error, "the system random generator failed; the Redis backplane id uses the clock");
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let pid = u128::from(std::process::id());
        origin = (nanos ^ (pid << 96)).to_be_bytes();
    }
    origin
}

/// Builds the backplane's factory for a server's broker.
pub(crate) fn upstream_factory(
    config: RedisConfig,
    events: Arc<Events>,
    stats: Arc<Stats>,
) -> crate::broker::UpstreamFactory {
    Box::new(move |local: LocalBroker| -> Arc<dyn Upstream> {
        Arc::new(RedisBackplane::new(&config, local, events, stats))
    })
}

//! The subscribing side: ONE subscriber connection per instance, which `SUBSCRIBE`s to each
//! destination and `PSUBSCRIBE`s to each pattern this instance's sessions subscribe to (once,
//! however many sessions), and hands what other instances publish to the local fan-out.
//!
//! One task owns the connection and the set of destinations, and applies the broker's
//! changes in order: a subscription is confirmed (`live`) only once Redis confirmed the
//! `(P)SUBSCRIBE`, so a message published after its `RECEIPT` reaches it. After a lost
//! connection it reconnects with back-off and subscribes again to everything still wanted.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::StreamExt;
use redis::aio::{PubSubSink, PubSubStream};
use redis::Msg;
use tokio::sync::mpsc;

use super::channel::{user_channel, Listen};
use super::envelope::{decode, Origin};
use super::health::{Health, Link};
use super::link::{Backoff, Connector, RESPONSE_TIMEOUT};
use crate::broker::{BrokerError, LocalBroker, PublishedMessage, UpstreamSubscription};

/// A change of what this instance listens to, from the broker, in its order.
#[derive(Debug)]
pub(crate) enum Change {
    /// The first local subscription to a destination or pattern.
    Subscribe(UpstreamSubscription),
    /// The last local subscription to it ended.
    Unsubscribe(String),
    /// The last local subscription of a user (the first) to a user destination (the
    /// second) ended.
    UnsubscribeUser(String, String),
}

/// What the listening task works with.
pub(crate) struct Listener {
    pub(crate) connector: Connector,
    pub(crate) prefix: String,
    /// This instance's id: its own messages come back from Redis and are dropped.
    pub(crate) origin: Origin,
    pub(crate) local: LocalBroker,
    pub(crate) health: Arc<Health>,
    /// What is subscribed in Redis (or is to be after a reconnection) → the destinations or
    /// patterns the local subscriptions named (several patterns share one glob: `/a/*` and
    /// `/a/**` are both `/a/*` in Redis, which sends a message once per glob).
    listening: HashMap<Listen, Vec<String>>,
    /// The user channels among them → their user (their one wanted destination is the
    /// user destination, `/queue/x`).
    users: HashMap<String, String>,
}

/// Why serving a connection ended.
enum Ended {
    /// The connection failed; reconnect.
    Lost(String),
    /// The backplane (the server) is gone.
    Stopped,
}

impl Listener {
    /// A listener that listens to nothing yet.
    pub(crate) fn new(
        connector: Connector,
        prefix: String,
        origin: Origin,
        local: LocalBroker,
        health: Arc<Health>,
    ) -> Listener {
        Listener {
            connector,
            prefix,
            origin,
            local,
            health,
            listening: HashMap::new(),
            users: HashMap::new(),
        }
    }

    /// Connects, serves, reconnects; ends when the broker's side of `changes` is dropped.
    pub(crate) async fn run(mut self, mut changes: mpsc::UnboundedReceiver<Change>) {
        let mut backoff = Backoff::new(self.connector.max_reconnect_delay());
        self.health.server_built().await;
        loop {
            let connector = self.connector.clone();
            let attempt = connector.pubsub();
            let Some(connected) = self.meanwhile(attempt, &mut changes).await else {
                return;
            };
            let reason = match connected {
                Ok(pubsub) => {
                    let (mut sink, mut stream) = pubsub.split();
                    match self
                        .serve(&mut sink, &mut stream, &mut changes, &mut backoff)
                        .await
                    {
                        Ended::Lost(reason) => reason,
                        Ended::Stopped => return,
                    }
                }
                Err(reason) => reason,
            };
            self.health.set(Link::Subscriber, Err(reason));
            let pause = tokio::time::sleep(backoff.next_delay());
            if self.meanwhile(pause, &mut changes).await.is_none() {
                return;
            }
        }
    }

    /// Awaits `future` while the connection is down, answering changes meanwhile; `None`
    /// when the broker is gone.
    async fn meanwhile<T>(
        &mut self,
        future: impl std::future::Future<Output = T>,
        changes: &mut mpsc::UnboundedReceiver<Change>,
    ) -> Option<T> {
        tokio::pin!(future);
        loop {
            tokio::select! {
                done = &mut future => return Some(done),
                change = changes.recv() => self.while_down(change?),
            }
        }
    }

    /// A change while there is no connection: a new subscription cannot be live now.
    fn while_down(&mut self, change: Change) {
        match change {
            Change::Subscribe(subscription) => {
                let reason = match self.health.available() {
                    Err(BrokerError::Unavailable(reason)) => reason,
                    _ => "the connection to Redis is down".to_owned(),
                };
                subscription.failed(BrokerError::Unavailable(reason));
            }
            Change::Unsubscribe(destination) => {
                self.forget(&destination);
            }
            Change::UnsubscribeUser(user, destination) => {
                self.forget_user(&user, &destination);
            }
        }
    }

    /// What to listen to for a destination or pattern, or a user's user destination.
    fn listen_for(&self, user: Option<&str>, destination: &str) -> Listen {
        match user {
            Some(user) => Listen::Channel(user_channel(&self.prefix, user, destination)),
            None => Listen::of(&self.prefix, destination),
        }
    }

    /// Stops wanting `user`'s `destination`; returns what to unsubscribe from in Redis.
    fn forget_user(&mut self, user: &str, destination: &str) -> Option<Listen> {
        let listen = self.listen_for(Some(user), destination);
        if let Listen::Channel(name) = &listen {
            self.users.remove(name);
        }
        self.listening.remove(&listen).map(|_| listen)
    }

    /// Stops wanting `destination`; returns what to unsubscribe from in Redis, if that was
    /// the last destination wanting it.
    fn forget(&mut self, destination: &str) -> Option<Listen> {
        let listen = Listen::of(&self.prefix, destination);
        let wanting = self.listening.get_mut(&listen)?;
        wanting.retain(|d| d != destination);
        if !wanting.is_empty() {
            return None;
        }
        self.listening.remove(&listen);
        Some(listen)
    }

    /// Subscribes again to everything wanted, then delivers and applies changes until the
    /// connection is lost or the broker is gone.
    async fn serve(
        &mut self,
        sink: &mut PubSubSink,
        stream: &mut PubSubStream,
        changes: &mut mpsc::UnboundedReceiver<Change>,
        backoff: &mut Backoff,
    ) -> Ended {
        if let Err(reason) = self.resubscribe(sink).await {
            return Ended::Lost(reason);
        }
        backoff.reset();
        self.health.set(Link::Subscriber, Ok(()));
        loop {
            tokio::select! {
                message = stream.next() => match message {
                    Some(message) => {
                        if self.deliver(&message).is_err() {
                            return Ended::Stopped;
                        }
                    }
                    None => return Ended::Lost("the subscriber connection to Redis closed".to_owned()),
                },
                change = changes.recv() => {
                    let Some(change) = change else { return Ended::Stopped };
                    if let Err(reason) = self.apply(sink, change).await {
                        return Ended::Lost(reason);
                    }
                }
            }
        }
    }

    /// `(P)SUBSCRIBE`s to every destination still wanted (after a reconnection).
    async fn resubscribe(&mut self, sink: &mut PubSubSink) -> Result<(), String> {
        let (mut channels, mut patterns) = (Vec::new(), Vec::new());
        for listen in self.listening.keys() {
            match listen {
                Listen::Channel(name) => channels.push(name.clone()),
                Listen::Pattern(glob) => patterns.push(glob.clone()),
            }
        }
        if !channels.is_empty() {
            confirmed(sink.subscribe(channels)).await?;
        }
        if !patterns.is_empty() {
            confirmed(sink.psubscribe(patterns)).await?;
        }
        if !self.listening.is_empty() {
            tracing::info!(count = self.listening.len(), "subscribed again in Redis");
        }
        Ok(())
    }

    /// Applies one change on the connection; an error means the connection is lost.
    async fn apply(&mut self, sink: &mut PubSubSink, change: Change) -> Result<(), String> {
        match change {
            Change::Subscribe(subscription) => {
                let user = subscription.user().map(str::to_owned);
                let listen = self.listen_for(user.as_deref(), subscription.destination());
                let destination = subscription.destination().to_owned();
                if let Some(wanting) = self.listening.get_mut(&listen) {
                    // Another pattern with the same glob: Redis listens already.
                    wanting.push(destination);
                    subscription.live();
                    return Ok(());
                }
                let result = match &listen {
                    Listen::Channel(name) => confirmed(sink.subscribe(name)).await,
                    Listen::Pattern(glob) => confirmed(sink.psubscribe(glob)).await,
                };
                if let Err(reason) = result {
                    subscription.failed(BrokerError::Unavailable(reason.clone()));
                    return Err(reason);
                }
                if let (Some(user), Listen::Channel(name)) = (user, &listen) {
                    self.users.insert(name.clone(), user);
                }
                self.listening.insert(listen, vec![destination]);
                subscription.live();
            }
            Change::Unsubscribe(destination) => {
                let forgotten = self.forget(&destination);
                unlisten(sink, forgotten).await?;
            }
            Change::UnsubscribeUser(user, destination) => {
                let forgotten = self.forget_user(&user, &destination);
                unlisten(sink, forgotten).await?;
            }
        }
        Ok(())
    }

    /// Hands a message from Redis to the local subscriptions it was subscribed for; `Err`
    /// once the local broker is gone.
    fn deliver(&self, message: &Msg) -> Result<(), ()> {
        let listen = match message.get_pattern::<Option<String>>() {
            Ok(Some(glob)) => Listen::Pattern(glob),
            _ => Listen::Channel(message.get_channel_name().to_owned()),
        };
        // A message for a destination given up a moment ago, still on its way.
        let Some(wanting) = self.listening.get(&listen) else {
            return Ok(());
        };
        let (origin, published) = match decode(message.get_payload_bytes()) {
            Ok(decoded) => decoded,
            Err(error) => {
                tracing::warn!(channel = %crate::log::Escaped(message.get_channel_name()), %error,
                    "a message on a Redis channel of this backplane is not one of its envelopes; dropped");
                return Ok(());
            }
        };
        if origin == self.origin {
            // Published here: the local fan-out already had it.
            return Ok(());
        }
        if matches!(listen, Listen::Channel(_))
            && wanting.iter().all(|d| d != published.destination())
        {
            tracing::warn!(destination = %crate::log::Escaped(published.destination()),
                channel = %crate::log::Escaped(message.get_channel_name()),
                "a message names another destination than its Redis channel; dropped");
            return Ok(());
        }
        if let Some(user) = self.users.get(message.get_channel_name()) {
            return match self.local.deliver_to_user(user, published) {
                Ok(_) => Ok(()),
                Err(BrokerError::Unavailable(_)) => Err(()),
                Err(error) => {
                    tracing::warn!(user = %crate::log::Escaped(user), error = %crate::log::Escaped(&error),
                        "a message for a user from Redis was not delivered");
                    Ok(())
                }
            };
        }
        let (last, others) = wanting.split_last().ok_or(())?;
        for subscribed in others {
            self.deliver_to(subscribed, published.clone())?;
        }
        self.deliver_to(last, published)
    }

    fn deliver_to(&self, subscribed: &str, message: PublishedMessage) -> Result<(), ()> {
        match self.local.deliver_to(subscribed, message) {
            Ok(_) => Ok(()),
            Err(BrokerError::Unavailable(_)) => Err(()),
            Err(error) => {
                tracing::warn!(%error, "a message from Redis was not delivered");
                Ok(())
            }
        }
    }
}

/// Unsubscribes in Redis from what nothing here wants any more.
async fn unlisten(sink: &mut PubSubSink, forgotten: Option<Listen>) -> Result<(), String> {
    match forgotten {
        Some(Listen::Channel(name)) => confirmed(sink.unsubscribe(name)).await,
        Some(Listen::Pattern(glob)) => confirmed(sink.punsubscribe(glob)).await,
        None => Ok(()),
    }
}

/// Awaits Redis' confirmation of a (un)subscription, at most [`RESPONSE_TIMEOUT`].
async fn confirmed(
    request: impl std::future::Future<Output = redis::RedisResult<()>>,
) -> Result<(), String> {
    match tokio::time::timeout(RESPONSE_TIMEOUT, request).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(format!("Redis refused a subscription change: {error}")),
        Err(_) => Err(format!(
            "Redis did not confirm a subscription change within {:?}",
            RESPONSE_TIMEOUT
        )),
    }
}

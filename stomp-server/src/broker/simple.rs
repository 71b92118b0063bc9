//! [`SimpleBroker`]: the in-memory broker (Spring's `enableSimpleBroker`), with
//! acknowledgements and opt-in point-to-point queues that Spring's lacks.

use std::sync::{Arc, Mutex, PoisonError, RwLock};

use super::ack::{parse_ack_id, Backlog, ByteBounds, Delivery, Load, Tracker};
use super::fanout::FanOut;
use super::queue::Queues;
use super::recipient::Recipient;
use super::registry::{Subscriber, SubscriptionRegistry};
use super::upstream::{LocalBroker, UpstreamFactory, UpstreamLink};
use super::user_listens::UserListens;
use super::{
    next_message_seq, AckMode, AckRequest, AckTarget, Broker, BrokerError, Confirmation,
    PublishedMessage, SubscribeRequest, UserSubscription,
};
use crate::config::BrokerConfig;
use crate::peer::{SessionHandle, Withdrawal};
use crate::principal::SessionId;
use crate::stats::BrokerLoad;

/// The header a dead letter carries: the destination it was first published to.
const ORIGINAL_DESTINATION: &str = "original-destination";
/// The header a dead letter carries: how many times it was delivered.
const DELIVERY_ATTEMPTS: &str = "delivery-attempts";

/// The in-memory broker: topic fan-out to every matching subscription, patterns allowed in
/// subscriptions (`/topic/chat/*`, `/topic/**`). Like Spring's, `/queue` destinations
/// broadcast to every subscriber by default; prefixes listed in
/// [`BrokerConfig::point_to_point_prefixes`] are competing-consumer queues instead.
/// `ack:client` and `ack:client-individual` subscriptions are tracked, with a prefetch
/// window, redelivery on `NACK` and a dead-letter destination (see [`BrokerConfig`]).
#[derive(Debug)]
pub struct SimpleBroker {
    prefixes: Vec<String>,
    separator: char,
    // Shared with the drain listeners of consuming sessions.
    config: Arc<BrokerConfig>,
    // A std RwLock: publishing only reads, holds it while queueing (no await, no I/O), and
    // subscription changes are short writes. Never held while `queues` is locked.
    registry: RwLock<SubscriptionRegistry>,
    // One std Mutex for every point-to-point queue: each operation is a few pushes onto
    // session queues, never an await or a write. Taken before a subscriber's tracker lock,
    // never after it. Shared (weakly) with the drain listeners of consuming sessions, whose
    // writers call them with no lock held.
    queues: Arc<Mutex<Queues>>,
    /// What the queues and trackers hold, for the stats.
    load: Arc<BrokerLoad>,
    /// The other instances, when a backplane joins them.
    upstream: Option<UpstreamLink>,
    // A std Mutex: held to change or read who listens, and to record the change for the
    // upstream in order; never across a call into the upstream. Used only when the
    // upstream carries user destinations.
    user_listens: Mutex<UserListens>,
}

impl SimpleBroker {
    /// A broker for destinations starting with one of `prefixes`, with the default
    /// [`BrokerConfig`] (broadcast everywhere, as Spring).
    pub fn new(prefixes: Vec<String>, separator: char) -> SimpleBroker {
        SimpleBroker::with_config(prefixes, separator, BrokerConfig::default())
    }

    /// A broker with acknowledgement and point-to-point settings. The point-to-point
    /// prefixes are handled by this broker too.
    pub fn with_config(
        prefixes: Vec<String>,
        separator: char,
        config: BrokerConfig,
    ) -> SimpleBroker {
        let load = Arc::new(BrokerLoad::default());
        SimpleBroker {
            prefixes,
            separator,
            config: Arc::new(config),
            registry: RwLock::default(),
            queues: Arc::new(Mutex::new(Queues::new(Arc::clone(&load)))),
            load,
            upstream: None,
            user_listens: Mutex::default(),
        }
    }

    /// A broker whose broadcast destinations are shared with other instances through the
    /// upstream `factory` builds, given this broker's [`LocalBroker`] handle.
    pub(crate) fn with_upstream(
        prefixes: Vec<String>,
        separator: char,
        config: BrokerConfig,
        factory: UpstreamFactory,
    ) -> Arc<SimpleBroker> {
        Arc::new_cyclic(|weak| {
            let upstream = factory(LocalBroker {
                broker: weak.clone(),
            });
            let mut broker = SimpleBroker::with_config(prefixes, separator, config);
            broker.registry = RwLock::new(SubscriptionRegistry::tracking_interest());
            broker.upstream = Some(UpstreamLink::new(upstream));
            broker
        })
    }

    /// A message from another instance: fanned out here only, to every match or to the
    /// subscriptions made to exactly `subscribed`.
    pub(super) fn deliver_local(
        &self,
        message: PublishedMessage,
        subscribed: Option<&str>,
    ) -> Result<usize, BrokerError> {
        if !self.handles(&message.destination) {
            return Err(BrokerError::InvalidDestination {
                destination: message.destination,
                reason: "no broker prefix covers it".to_owned(),
            });
        }
        let message = Arc::new(message);
        match subscribed {
            None => self.publish_owned(message, None),
            Some(subscribed) => Ok(self.fan_out(&message, None, |registry, offer| {
                registry.for_each_subscriber_of(subscribed, &message.destination, |s| {
                    offer.to(s);
                });
            })),
        }
    }

    /// A message for every session of `user` here (its destination is the one under the
    /// user prefix, `/queue/x`), from an upstream that carries user destinations: each
    /// session listening on it gets it on its own broker destination. The first refusal (a
    /// full point-to-point queue) is the error, after every session was tried.
    pub(super) fn deliver_to_user(
        &self,
        user: &str,
        message: PublishedMessage,
    ) -> Result<usize, BrokerError> {
        let sessions = self.user_listens().sessions(user, &message.destination);
        let (mut delivered, mut refused) = (0, None);
        for (session, local) in sessions {
            let mut copy = message.clone();
            copy.destination = local;
            match self.publish_owned(Arc::new(copy), Some(&session)) {
                Ok(n) => delivered += n,
                Err(error) => refused = refused.or(Some(error)),
            }
        }
        refused.map_or(Ok(delivered), Err)
    }

    fn user_listens(&self) -> std::sync::MutexGuard<'_, UserListens> {
        self.user_listens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The upstream, when it carries user destinations.
    fn user_link(&self) -> Option<&UpstreamLink> {
        self.upstream.as_ref().filter(|link| link.carries_users())
    }

    /// A user subscription of `session` joined (`Some`, with its local destination) or left
    /// (`None`: subscription `id`, or every one of the session's without `id`): the upstream
    /// is told what gained its first or lost its last listener here.
    fn change_user_listens(
        &self,
        session: &SessionId,
        id: Option<&str>,
        joined: Option<(&UserSubscription, &str)>,
    ) {
        let Some(link) = self.user_link() else {
            return;
        };
        let mut listens = self.user_listens();
        match (joined, id) {
            (Some((user, local)), Some(id)) => {
                let listen = (user.user.as_str(), user.destination.as_str());
                if listens.add(listen, session, &Arc::from(id), local) {
                    link.record_user(true, &user.user, &user.destination);
                }
            }
            (None, Some(id)) => {
                if let Some((user, destination)) = listens.remove(session, id) {
                    link.record_user(false, &user, &destination);
                }
            }
            _ => {
                for (user, destination) in listens.remove_session(session) {
                    link.record_user(false, &user, &destination);
                }
            }
        }
        drop(listens);
        link.tell();
    }

    /// When a user subscription of `subscriber` is live: once the upstream listens to its
    /// user destination. One the upstream failed is removed again and refused.
    fn user_confirmation(
        &self,
        subscriber: &Subscriber,
        (user, local): (&UserSubscription, &str),
    ) -> Result<Option<Confirmation>, BrokerError> {
        let Some(link) = self.user_link() else {
            return Ok(None);
        };
        let session = &subscriber.session.id;
        self.change_user_listens(session, Some(&subscriber.id), Some((user, local)));
        link.user_confirmation(&user.user, &user.destination)
            .inspect_err(|_| {
                let _ = self.unsubscribe(session, &subscriber.id);
            })
    }

    /// Changes the registry, then tells the upstream (if any) which destinations gained
    /// their first or lost their last subscription, in order, with the registry unlocked.
    fn change_registry<R>(&self, change: impl FnOnce(&mut SubscriptionRegistry) -> R) -> R {
        let mut registry = self.write();
        let result = change(&mut registry);
        let Some(link) = &self.upstream else {
            return result;
        };
        let interest = registry.take_interest();
        if interest.is_empty() {
            return result;
        }
        link.record(interest);
        drop(registry);
        link.tell();
        result
    }

    /// When a new broadcast subscription is live: at once without an upstream (or for a
    /// user destination, which stays local), else when the upstream listens to its
    /// destination. One the upstream failed is removed again and refused.
    fn upstream_confirmation(
        &self,
        subscriber: &Subscriber,
        destination: &str,
    ) -> Result<Option<Confirmation>, BrokerError> {
        let Some(link) = &self.upstream else {
            return Ok(None);
        };
        if subscriber.reported_destination.is_some() {
            return Ok(None);
        }
        link.confirmation(destination).inspect_err(|_| {
            let _ = self.change_registry(|registry| {
                registry.remove(&subscriber.session.id, &subscriber.id)
            });
        })
    }

    /// What its queues and trackers hold, for the stats.
    pub(crate) fn load(&self) -> Arc<BrokerLoad> {
        Arc::clone(&self.load)
    }

    /// The number of active subscriptions.
    pub fn subscription_count(&self) -> usize {
        self.read().len()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, SubscriptionRegistry> {
        self.registry.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, SubscriptionRegistry> {
        self.registry
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn queues(&self) -> std::sync::MutexGuard<'_, Queues> {
        self.queues.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes `session`'s writer dispatch the queues it consumes from whenever its connection
    /// drained after running out of credit.
    fn pace(&self, session: &SessionHandle) {
        session.outbound.on_drained(|| {
            let queues = Arc::downgrade(&self.queues);
            let config = Arc::clone(&self.config);
            let id = session.id.clone();
            Box::new(move || {
                if let Some(queues) = queues.upgrade() {
                    queues
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .drained(&id, &config);
                }
            })
        });
    }

    fn is_point_to_point(&self, destination: &str) -> bool {
        self.config
            .point_to_point_prefixes
            .iter()
            .any(|p| has_prefix(destination, p))
    }

    fn publish_owned(
        &self,
        message: Arc<PublishedMessage>,
        owner: Option<&SessionId>,
    ) -> Result<usize, BrokerError> {
        if self.is_point_to_point(&message.destination) {
            return self
                .queues()
                .publish(message, next_message_seq(), owner, &self.config);
        }
        Ok(self.fan_out(&message, owner, |registry, offer| {
            registry.for_each_match(&message.destination, |s| offer.to(s));
        }))
    }

    /// Delivers a broadcast message to the subscribers `select` offers it to; returns how
    /// many received it.
    fn fan_out(
        &self,
        message: &Arc<PublishedMessage>,
        owner: Option<&SessionId>,
        select: impl FnOnce(&SubscriptionRegistry, &mut Offer<'_>),
    ) -> usize {
        let backlog = Backlog {
            max_pending: self.config.max_pending_per_subscription,
            bytes: ByteBounds::of(&self.config),
        };
        let mut offer = Offer {
            fanout: FanOut::new(message, next_message_seq(), backlog),
            owner,
        };
        select(&self.read(), &mut offer);
        offer.fanout.delivered()
    }

    /// The subscriptions and message ids an `ACK`/`NACK` names.
    fn resolve(&self, session: &SessionId, target: &AckTarget) -> Vec<(Arc<Subscriber>, u64)> {
        let registry = self.read();
        match target {
            AckTarget::AckId(ack) => parse_ack_id(ack)
                .and_then(|(id, sub)| Some((registry.get(session, sub)?, id)))
                .into_iter()
                .collect(),
            AckTarget::MessageId {
                message_id,
                subscription: Some(sub),
            } => message_id
                .parse()
                .ok()
                .and_then(|id| Some((registry.get(session, sub)?, id)))
                .into_iter()
                .collect(),
            // STOMP 1.0 names no subscription: every one holding the message.
            AckTarget::MessageId {
                message_id,
                subscription: None,
            } => match message_id.parse::<u64>() {
                Ok(id) => registry
                    .acknowledging(session)
                    .into_iter()
                    .filter(|s| {
                        s.tracker.as_ref().is_some_and(|t| {
                            t.lock().unwrap_or_else(PoisonError::into_inner).holds(id)
                        })
                    })
                    .map(|s| (s, id))
                    .collect(),
                Err(_) => Vec::new(),
            },
        }
    }

    /// Settles one message of a broadcast subscription; false when it is not awaited.
    fn settle_broadcast(
        &self,
        subscriber: &Subscriber,
        message_id: u64,
        nack: bool,
        dead: &mut Vec<Delivery>,
    ) -> bool {
        let Some(tracker) = &subscriber.tracker else {
            return false;
        };
        let mut tracker = tracker.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(settled) = tracker.settle(message_id) else {
            return false;
        };
        if nack {
            let (given_up, again): (Vec<_>, Vec<_>) = settled
                .into_iter()
                .partition(|d| d.attempts >= self.config.max_delivery_attempts);
            dead.extend(given_up);
            tracker.requeue_front(again);
        }
        tracker.pump(subscriber);
        true
    }

    /// Publishes messages delivered too often to the dead-letter destination, or drops them
    /// with a log line. Called with no lock held.
    fn dead_letter(&self, dead: Vec<Delivery>) {
        for delivery in dead {
            let original = &delivery.message.destination;
            let Some(target) = &self.config.dead_letter_destination else {
                tracing::warn!(destination = %crate::log::Escaped(&original), message_id = delivery.message_id, attempts = delivery.attempts,
                    "message given up after its delivery attempts; no dead-letter destination is configured, dropped");
                continue;
            };
            let mut headers: Vec<(String, String)> = delivery
                .message
                .headers
                .iter()
                .filter(|(n, _)| n != ORIGINAL_DESTINATION && n != DELIVERY_ATTEMPTS)
                .cloned()
                .collect();
            headers.push((ORIGINAL_DESTINATION.to_owned(), original.clone()));
            headers.push((DELIVERY_ATTEMPTS.to_owned(), delivery.attempts.to_string()));
            let letter = PublishedMessage {
                destination: target.clone(),
                headers,
                body: delivery.message.body.clone(),
            };
            let result = if self.handles(target) {
                self.publish(Arc::new(letter))
            } else {
                Err(BrokerError::InvalidDestination {
                    destination: target.clone(),
                    reason: "no broker prefix covers the dead-letter destination".to_owned(),
                })
            };
            match result {
                Ok(_) => {
                    tracing::debug!(destination = %crate::log::Escaped(&original), dead_letter = %crate::log::Escaped(&target), message_id = delivery.message_id, attempts = delivery.attempts, "message given up; published to the dead-letter destination");
                }
                Err(error) => {
                    tracing::warn!(destination = %crate::log::Escaped(&original), message_id = delivery.message_id, error = %crate::log::Escaped(&error), "message given up and the dead-letter destination refused it; dropped");
                }
            }
        }
    }
}

/// One message's fan-out, offered to the subscribers a walk of the registry finds (called
/// for each of them directly, not through a function pointer: this is the per-subscriber
/// path).
struct Offer<'m> {
    fanout: FanOut<'m>,
    /// The session a user destination's message is for, if it is one.
    owner: Option<&'m SessionId>,
}

impl Offer<'_> {
    /// Queues the message for `subscriber` when it may have it: a session's user
    /// destination reaches that session's subscriptions only, whatever else matches its name
    /// (a `/queue/**` subscription of another session, say); and a user subscription
    /// (`/user/queue/x`) receives only what was sent to its session, never an ordinary
    /// publish that happens to name its broker destination.
    fn to(&mut self, subscriber: &Subscriber) {
        let allowed = match self.owner {
            Some(owner) => subscriber.session.id == *owner,
            None => subscriber.reported_destination.is_none(),
        };
        if allowed {
            self.fanout.deliver(subscriber);
        }
    }
}

/// True when `destination` is `prefix` or starts with `prefix` followed by a separator.
pub(crate) fn has_prefix(destination: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches(['/', '.']);
    match destination.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with(['/', '.']),
        None => false,
    }
}

impl Broker for SimpleBroker {
    fn handles(&self, destination: &str) -> bool {
        self.prefixes.iter().any(|p| has_prefix(destination, p))
            || self.is_point_to_point(destination)
    }

    fn subscribe(
        &self,
        session: &Arc<SessionHandle>,
        request: SubscribeRequest,
    ) -> Result<Option<Confirmation>, BrokerError> {
        let queue = self
            .is_point_to_point(&request.destination)
            .then(|| request.destination.clone());
        let window = match request.prefetch {
            Some(n) if n > 0 => n.min(self.config.max_unacked_per_subscription),
            _ => self.config.max_unacked_per_subscription,
        };
        let load = Load {
            session: Arc::clone(session),
            broker: Arc::clone(&self.load),
            point_to_point: queue.is_some(),
        };
        let tracker = match request.ack {
            AckMode::Auto => None,
            AckMode::Client => Some(Mutex::new(Tracker::new(true, window, load))),
            AckMode::ClientIndividual => Some(Mutex::new(Tracker::new(false, window, load))),
        };
        let in_flight = (queue.is_some() && tracker.is_none()).then(Mutex::default);
        let withdrawal = queue.as_ref().map(|_| Withdrawal::default());
        let subscriber = Arc::new(Subscriber {
            recipient: Recipient {
                session: Arc::clone(session),
                id: request.id,
                reported_destination: request.reported_destination,
                withdrawal,
            },
            queue,
            tracker,
            in_flight,
        });
        self.change_registry(|registry| {
            registry.add(
                Arc::clone(&subscriber),
                request.destination.clone(),
                self.separator,
            )
        })?;
        if subscriber.queue.is_some() {
            self.pace(session);
            self.queues()
                .add_consumer(Arc::clone(&subscriber), &request.destination, &self.config);
        }
        if let Some(user) = &request.user {
            return self.user_confirmation(&subscriber, (user, &request.destination));
        }
        if subscriber.queue.is_some() {
            return Ok(None);
        }
        self.upstream_confirmation(&subscriber, &request.destination)
    }

    fn unsubscribe(&self, session: &SessionId, id: &str) -> Result<(), BrokerError> {
        let subscriber = self.change_registry(|registry| registry.remove(session, id))?;
        if subscriber.reported_destination.is_some() {
            self.change_user_listens(session, Some(id), None);
        }
        if subscriber.queue.is_some() {
            let mut dead = Vec::new();
            self.queues()
                .remove_consumer(&subscriber, &self.config, &mut dead);
            self.dead_letter(dead);
        }
        Ok(())
    }

    fn publish(&self, message: Arc<PublishedMessage>) -> Result<usize, BrokerError> {
        if let Some(link) = &self.upstream {
            // Out to the other instances first: a message the upstream refuses reaches
            // nobody, here either.
            if !self.is_point_to_point(&message.destination) {
                link.upstream.publish(&message)?;
            }
        }
        self.publish_owned(message, None)
    }

    fn publish_for_session(
        &self,
        session: &SessionId,
        _user_destination: &str,
        message: Arc<PublishedMessage>,
    ) -> Result<usize, BrokerError> {
        self.publish_owned(message, Some(session))
    }

    fn publish_to_user(
        &self,
        user: &str,
        destination: &str,
        message: Arc<PublishedMessage>,
    ) -> Option<Result<usize, BrokerError>> {
        // Out to the other instances; the routing then delivers to the user's sessions here
        // (`None`), as without an upstream.
        let link = self.user_link()?;
        let mut message = Arc::unwrap_or_clone(message);
        message.destination = destination.to_owned();
        link.upstream
            .publish_to_user(user, &Arc::new(message))
            .err()
            .map(Err)
    }

    fn acknowledge(&self, session: &SessionId, request: &AckRequest) -> Result<(), BrokerError> {
        let found = self.resolve(session, &request.target);
        let mut dead = Vec::new();
        let mut settled = false;
        for (subscriber, message_id) in found {
            settled |= if subscriber.queue.is_some() {
                self.queues().settle(
                    &subscriber,
                    message_id,
                    request.nack,
                    &self.config,
                    &mut dead,
                )
            } else {
                self.settle_broadcast(&subscriber, message_id, request.nack, &mut dead)
            };
        }
        self.dead_letter(dead);
        if settled {
            return Ok(());
        }
        Err(match &request.target {
            AckTarget::AckId(id) => BrokerError::UnknownAckId(id.clone()),
            AckTarget::MessageId {
                message_id,
                subscription,
            } => BrokerError::UnknownMessageId {
                message_id: message_id.clone(),
                subscription: subscription.clone(),
            },
        })
    }

    fn session_connected(&self, _session: &Arc<SessionHandle>) -> Option<Confirmation> {
        let refused = self.upstream.as_ref()?.upstream.available().err()?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let _ = tx.send(Err(refused));
        Some(rx)
    }

    fn session_closed(&self, session: &SessionId) {
        let subscribers = self.change_registry(|registry| registry.remove_session(session));
        self.change_user_listens(session, None, None);
        if self.config.point_to_point_prefixes.is_empty() {
            return;
        }
        let consumers: Vec<_> = subscribers
            .into_iter()
            .filter(|s| s.queue.is_some())
            .collect();
        let mut dead = Vec::new();
        self.queues()
            .session_closed(session, &consumers, &self.config, &mut dead);
        self.dead_letter(dead);
    }
}

#[cfg(test)]
mod tests {
    use super::has_prefix;

    #[test]
    fn prefixes_match_whole_segments() {
        assert!(has_prefix("/topic/a", "/topic"));
        assert!(has_prefix("/topic/a", "/topic/"));
        assert!(has_prefix("/topic", "/topic"));
        assert!(has_prefix("/topic.a", "/topic"));
        assert!(!has_prefix("/topics/a", "/topic"));
        assert!(!has_prefix("/app/x", "/topic"));
    }
}

//! Point-to-point destinations: competing consumers.
//!
//! Each message goes to exactly one consumer, round-robin among those with room. A consumer
//! has room when its prefetch window (acknowledging consumers) and its session's byte bound
//! for unacknowledged messages allow one more, and its connection has credit: a queue hands
//! messages over at the pace the connection drains (`Outbound::push_paced`), whatever the
//! `ack` mode, and the session's writer calls [`Queues::drained`] when it wrote enough to
//! take more. An `ack:auto` message leaves the queue for good only once the writer handed it
//! to the transport; if the session dies before that, it comes back (see `in_flight`).
//!
//! A message nobody can take is held, in order, until a consumer subscribes, acknowledges
//! or drains; what is held is bounded in messages and in bytes, per destination and in all,
//! and a `SEND` past a bound is refused, never dropped. Messages a consumer leaves
//! unacknowledged (`UNSUBSCRIBE`, disconnect) or refuses (`NACK`) go back to the front of
//! their queue for the next consumer, until they have been delivered
//! `max_delivery_attempts` times; then they are dead letters.
//!
//! Invariant: after every change, a queue holds messages only when none of its consumers
//! has room, so a publish onto a non-empty queue need not look at the consumers. Whatever
//! gives a consumer room again (an `ACK`, a drain, a consumer leaving) dispatches.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};

use super::ack::{ByteBounds, Delivery};
use super::recipient::encode;
use super::registry::Subscriber;
use super::{BrokerError, PublishedMessage};
use crate::config::BrokerConfig;
use crate::peer::Paced;
use crate::principal::SessionId;
use crate::stats::BrokerLoad;

/// Messages waiting in one queue, with their bytes.
#[derive(Debug, Default)]
struct Held {
    deliveries: VecDeque<Delivery>,
    bytes: usize,
}

/// How much a queue holds: messages and bytes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tally {
    messages: usize,
    bytes: usize,
}

impl Held {
    fn push_back(&mut self, delivery: Delivery) {
        self.bytes += delivery.size();
        self.deliveries.push_back(delivery);
    }

    fn push_front(&mut self, delivery: Delivery) {
        self.bytes += delivery.size();
        self.deliveries.push_front(delivery);
    }

    fn pop_front(&mut self) -> Option<Delivery> {
        let delivery = self.deliveries.pop_front()?;
        self.bytes -= delivery.size();
        Some(delivery)
    }

    fn is_empty(&self) -> bool {
        self.deliveries.is_empty()
    }

    fn clear(&mut self) {
        self.deliveries.clear();
        self.bytes = 0;
    }

    fn tally(&self) -> Tally {
        Tally {
            messages: self.deliveries.len(),
            bytes: self.bytes,
        }
    }
}

/// One point-to-point destination.
#[derive(Debug, Default)]
struct Queue {
    consumers: Vec<Arc<Subscriber>>,
    /// The consumer to try first for the next message (round-robin).
    next: usize,
    held: Held,
    /// The session a user destination belongs to: what it holds goes when the session ends.
    owner: Option<SessionId>,
}

impl Queue {
    fn is_unused(&self) -> bool {
        self.consumers.is_empty() && self.held.is_empty()
    }
}

/// Every point-to-point destination with consumers or held messages.
#[derive(Debug, Default)]
pub(crate) struct Queues {
    queues: HashMap<String, Queue>,
    /// Sessions whose user destinations hold messages.
    owned: HashMap<SessionId, HashSet<String>>,
    /// The destinations each session consumes from: dispatched again when it drains or
    /// acknowledges.
    consuming: HashMap<SessionId, HashSet<String>>,
    /// What every queue holds together.
    total: Tally,
    /// Where the totals are published for the stats.
    load: Arc<BrokerLoad>,
}

impl Queues {
    /// No queues yet; their totals are kept in `load` too.
    pub(crate) fn new(load: Arc<BrokerLoad>) -> Queues {
        Queues {
            queues: HashMap::new(),
            owned: HashMap::new(),
            consuming: HashMap::new(),
            total: Tally::default(),
            load,
        }
    }

    /// A queue went from holding `before` to holding `after`: adjusts the totals.
    fn count(&mut self, before: Tally, after: Tally) {
        self.total.messages = self.total.messages - before.messages + after.messages;
        self.total.bytes = self.total.bytes - before.bytes + after.bytes;
        let load = &self.load;
        load.queued_messages
            .store(self.total.messages, Ordering::Relaxed);
        load.queued_bytes.store(self.total.bytes, Ordering::Relaxed);
    }

    /// Gives `message` to one consumer of its destination, or holds it. Returns how many
    /// consumers got it (0 or 1).
    pub(crate) fn publish(
        &mut self,
        message: Arc<PublishedMessage>,
        message_seq: u64,
        owner: Option<&SessionId>,
        config: &BrokerConfig,
    ) -> Result<usize, BrokerError> {
        let destination = message.destination.clone();
        let queue = self.queues.entry(destination.clone()).or_default();
        let belongs_to_a_session = queue.owner.is_some()
            || queue
                .consumers
                .iter()
                .any(|c| c.reported_destination.is_some());
        if owner.is_none() && belongs_to_a_session {
            // Only what is sent to that session (`/user/..`) may enter its queue.
            return Err(BrokerError::InvalidDestination {
                destination,
                reason: "it is a session's user destination; send to `/user/{name}/..`".to_owned(),
            });
        }
        let mut delivery = Delivery::new(message, message_seq);
        if queue.held.is_empty() {
            match offer(queue, delivery, None, config) {
                Ok(()) => return Ok(1),
                Err(refused) => delivery = refused,
            }
        }
        let before = queue.held.tally();
        if let Err(error) = room(before, self.total, delivery.size(), &destination, config) {
            self.remove_if_unused(&destination);
            return Err(error);
        }
        queue.held.push_back(delivery);
        let after = queue.held.tally();
        let unowned = queue.owner.is_none();
        if let (Some(owner), true) = (owner, unowned) {
            queue.owner = Some(owner.clone());
            self.owned
                .entry(owner.clone())
                .or_default()
                .insert(destination);
        }
        self.count(before, after);
        Ok(0)
    }

    /// Adds a consumer of `destination` and gives it what the queue holds (as far as its
    /// connection's credit goes).
    pub(crate) fn add_consumer(
        &mut self,
        subscriber: Arc<Subscriber>,
        destination: &str,
        config: &BrokerConfig,
    ) {
        self.consuming
            .entry(subscriber.session.id.clone())
            .or_default()
            .insert(destination.to_owned());
        let queue = self.queues.entry(destination.to_owned()).or_default();
        queue.consumers.push(subscriber);
        let before = queue.held.tally();
        dispatch(queue, None, config);
        let after = queue.held.tally();
        self.count(before, after);
    }

    /// Removes a consumer; its unacknowledged messages go back to the front of the queue
    /// (or to `dead` after too many attempts) and on to the other consumers, and so do the
    /// `ack:auto` messages its writer has not written. Those are withdrawn first (after an
    /// `UNSUBSCRIBE` the writer skips them), so that the next consumer gets them instead of
    /// a subscription that no longer exists. A message the writer was handing over at that
    /// very moment can reach both (at least once, with `redelivered:true` the second time).
    pub(crate) fn remove_consumer(
        &mut self,
        subscriber: &Arc<Subscriber>,
        config: &BrokerConfig,
        dead: &mut Vec<Delivery>,
    ) {
        let Some(destination) = &subscriber.queue else {
            return;
        };
        let Some(queue) = self.queues.get_mut(destination) else {
            return;
        };
        let before = queue.held.tally();
        queue.consumers.retain(|c| !Arc::ptr_eq(c, subscriber));
        if queue.next >= queue.consumers.len() {
            queue.next = 0;
        }
        let mut returned = Vec::new();
        if let Some(tracker) = &subscriber.tracker {
            returned = lock(tracker).take_unacked();
        }
        if let Some(withdrawal) = &subscriber.withdrawal {
            // Before reading how far the writer got: what it reaches from now on is skipped.
            withdrawal.withdraw();
        }
        if let Some(in_flight) = &subscriber.in_flight {
            let written = subscriber.session.outbound.written_total();
            returned = lock(in_flight).take_unwritten(written);
        }
        return_to_queue(queue, returned, config, dead);
        dispatch(queue, None, config);
        let session = &subscriber.session.id;
        let still_consuming = queue.consumers.iter().any(|c| c.session.id == *session);
        let after = queue.held.tally();
        self.count(before, after);
        if !still_consuming {
            if let Some(set) = self.consuming.get_mut(session) {
                set.remove(destination);
                if set.is_empty() {
                    self.consuming.remove(session);
                }
            }
        }
        self.remove_if_unused(destination);
    }

    /// Applies an `ACK` (or `NACK`) of `message_id` by `subscriber`; false when the message
    /// does not await its acknowledgement. A `NACK`ed message goes back to the front of the
    /// queue, to another consumer first when one has room. The bytes settled give the
    /// session room: every queue it consumes from is dispatched again.
    pub(crate) fn settle(
        &mut self,
        subscriber: &Arc<Subscriber>,
        message_id: u64,
        nack: bool,
        config: &BrokerConfig,
        dead: &mut Vec<Delivery>,
    ) -> bool {
        let (Some(destination), Some(tracker)) = (&subscriber.queue, &subscriber.tracker) else {
            return false;
        };
        let Some(settled) = lock(tracker).settle(message_id) else {
            return false;
        };
        if nack {
            if let Some(queue) = self.queues.get_mut(destination) {
                let before = queue.held.tally();
                return_to_queue(queue, settled, config, dead);
                dispatch(queue, Some(subscriber), config);
                let after = queue.held.tally();
                self.count(before, after);
            }
        }
        self.drained(&subscriber.session.id, config);
        true
    }

    /// A session has room again (its connection drained, or it acknowledged): dispatches
    /// every queue it consumes from.
    pub(crate) fn drained(&mut self, session: &SessionId, config: &BrokerConfig) {
        let Some(destinations) = self.consuming.get(session) else {
            return;
        };
        let destinations: Vec<String> = destinations.iter().cloned().collect();
        for destination in destinations {
            let Some(queue) = self.queues.get_mut(&destination) else {
                continue;
            };
            if queue.held.is_empty() {
                continue;
            }
            let before = queue.held.tally();
            dispatch(queue, None, config);
            let after = queue.held.tally();
            self.count(before, after);
        }
    }

    /// Removes the consumers of a session that ended, then drops what its user destinations
    /// hold (nobody else can receive it).
    pub(crate) fn session_closed(
        &mut self,
        session: &SessionId,
        subscribers: &[Arc<Subscriber>],
        config: &BrokerConfig,
        dead: &mut Vec<Delivery>,
    ) {
        for subscriber in subscribers {
            self.remove_consumer(subscriber, config, dead);
        }
        self.consuming.remove(session);
        let Some(destinations) = self.owned.remove(session) else {
            return;
        };
        for destination in destinations {
            let Some(queue) = self.queues.get_mut(&destination) else {
                continue;
            };
            if queue.owner.as_ref() != Some(session) {
                continue;
            }
            queue.owner = None;
            let before = queue.held.tally();
            queue.held.clear();
            let after = queue.held.tally();
            self.count(before, after);
            if before.messages > 0 {
                tracing::debug!(session = %session, destination = %crate::log::Escaped(&destination), dropped = before.messages, "session ended; dropping the messages its user destination held");
            }
            self.remove_if_unused(&destination);
        }
    }

    fn remove_if_unused(&mut self, destination: &str) {
        if self.queues.get(destination).is_some_and(Queue::is_unused) {
            if let Some(queue) = self.queues.remove(destination) {
                if let Some(owner) = queue.owner {
                    if let Some(set) = self.owned.get_mut(&owner) {
                        set.remove(destination);
                        if set.is_empty() {
                            self.owned.remove(&owner);
                        }
                    }
                }
            }
        }
    }
}

/// Whether a queue holding `queue` (and all of them `total`) may hold `bytes` more.
fn room(
    queue: Tally,
    total: Tally,
    bytes: usize,
    destination: &str,
    config: &BrokerConfig,
) -> Result<(), BrokerError> {
    let destination = destination.to_owned();
    if queue.messages >= config.max_held_per_queue {
        let limit = config.max_held_per_queue;
        return Err(BrokerError::QueueFull { destination, limit });
    }
    if queue.bytes + bytes > config.max_held_bytes_per_queue {
        let (held, limit) = (queue.bytes, config.max_held_bytes_per_queue);
        return Err(BrokerError::QueueBytesFull {
            destination,
            held,
            limit,
        });
    }
    if total.messages >= config.max_held_total {
        let limit = config.max_held_total;
        return Err(BrokerError::QueuesFull { destination, limit });
    }
    if total.bytes + bytes > config.max_held_bytes_total {
        let (held, limit) = (total.bytes, config.max_held_bytes_total);
        return Err(BrokerError::QueuesBytesFull {
            destination,
            held,
            limit,
        });
    }
    Ok(())
}

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Puts `returned` (in delivery order) back at the front of `queue`, except those delivered
/// too often, which go to `dead`.
fn return_to_queue(
    queue: &mut Queue,
    returned: Vec<Delivery>,
    config: &BrokerConfig,
    dead: &mut Vec<Delivery>,
) {
    let mut given_up = Vec::new();
    for delivery in returned.into_iter().rev() {
        if delivery.attempts >= config.max_delivery_attempts {
            given_up.push(delivery);
        } else {
            queue.held.push_front(delivery);
        }
    }
    dead.extend(given_up.into_iter().rev());
}

/// Gives held messages to consumers with room, in order.
fn dispatch(queue: &mut Queue, avoid: Option<&Arc<Subscriber>>, config: &BrokerConfig) {
    while let Some(delivery) = queue.held.pop_front() {
        if let Err(delivery) = offer(queue, delivery, avoid, config) {
            queue.held.push_front(delivery);
            break;
        }
    }
}

/// Gives `delivery` to the next consumer with room (round-robin); `avoid` (a consumer that
/// just refused it) only when no other one can take it.
fn offer(
    queue: &mut Queue,
    mut delivery: Delivery,
    avoid: Option<&Arc<Subscriber>>,
    config: &BrokerConfig,
) -> Result<(), Delivery> {
    let count = queue.consumers.len();
    let mut avoided = None;
    for step in 0..count {
        let index = (queue.next + step) % count;
        let consumer = &queue.consumers[index];
        if avoid.is_some_and(|a| Arc::ptr_eq(a, consumer)) {
            avoided = Some(index);
            continue;
        }
        match try_deliver(consumer, delivery, config) {
            Ok(()) => {
                queue.next = (index + 1) % count;
                return Ok(());
            }
            Err(refused) => delivery = refused,
        }
    }
    if let Some(index) = avoided {
        try_deliver(&queue.consumers[index], delivery, config)?;
        queue.next = (index + 1) % count;
        return Ok(());
    }
    Err(delivery)
}

/// Delivers to one consumer if it has room (window, session bytes, connection credit);
/// gives the message back otherwise.
fn try_deliver(
    consumer: &Subscriber,
    mut delivery: Delivery,
    config: &BrokerConfig,
) -> Result<(), Delivery> {
    if let Some(tracker) = &consumer.tracker {
        let mut tracker = lock(tracker);
        if !tracker.has_room_for(delivery.size(), ByteBounds::of(config)) {
            return Err(delivery);
        }
        return tracker.deliver(consumer, delivery);
    }
    let message_id = delivery.message_id.to_string();
    let ws = encode(
        &delivery.message,
        &message_id,
        consumer,
        None,
        delivery.attempts > 0,
    );
    let outbound = &consumer.session.outbound;
    // A frame an outbound interceptor dropped counts as written at once.
    let paced = match (ws, &consumer.withdrawal) {
        (None, _) => Paced::Queued { end: 0 },
        (Some(ws), Some(withdrawal)) => outbound.push_delivery(ws, withdrawal),
        (Some(ws), None) => outbound.push_paced(ws),
    };
    match paced {
        Paced::Queued { end } => {
            if let Some(in_flight) = &consumer.in_flight {
                delivery.attempts += 1;
                let written = outbound.written_total();
                lock(in_flight).record(end, delivery, written);
            }
            Ok(())
        }
        Paced::NoCredit | Paced::Closed => Err(delivery),
    }
}

//! Point-to-point destinations: competing consumers.
//!
//! Each message goes to exactly one consumer, round-robin among those with room in their
//! prefetch window (an `ack:auto` consumer always has room). A message nobody can take is
//! held, in order, until a consumer subscribes or acknowledges; the number held is bounded
//! per destination and in all, and a `SEND` past the bound is refused, never dropped.
//! Messages a consumer leaves unacknowledged (`UNSUBSCRIBE`, disconnect) or refuses (`NACK`)
//! go back to the front of their queue for the next consumer, until they have been delivered
//! `max_delivery_attempts` times; then they are dead letters.
//!
//! Invariant: after every change, a queue holds messages only when none of its consumers
//! has room, so a publish onto a non-empty queue need not look at the consumers.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, PoisonError};

use super::ack::Delivery;
use super::fanout::encode;
use super::registry::Subscriber;
use super::{BrokerError, PublishedMessage};
use crate::config::BrokerConfig;
use crate::principal::SessionId;

/// One point-to-point destination.
#[derive(Debug, Default)]
struct Queue {
    consumers: Vec<Arc<Subscriber>>,
    /// The consumer to try first for the next message (round-robin).
    next: usize,
    held: VecDeque<Delivery>,
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
    held_total: usize,
}

impl Queues {
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
            match offer(queue, delivery, None) {
                Ok(()) => return Ok(1),
                Err(refused) => delivery = refused,
            }
        }
        if queue.held.len() >= config.max_held_per_queue {
            let limit = config.max_held_per_queue;
            self.remove_if_unused(&destination);
            return Err(BrokerError::QueueFull { destination, limit });
        }
        if self.held_total >= config.max_held_total {
            let limit = config.max_held_total;
            self.remove_if_unused(&destination);
            return Err(BrokerError::QueuesFull { destination, limit });
        }
        queue.held.push_back(delivery);
        self.held_total += 1;
        if let Some(owner) = owner {
            if queue.owner.is_none() {
                queue.owner = Some(owner.clone());
                self.owned
                    .entry(owner.clone())
                    .or_default()
                    .insert(destination);
            }
        }
        Ok(0)
    }

    /// Adds a consumer of `destination` and gives it what the queue holds.
    pub(crate) fn add_consumer(&mut self, subscriber: Arc<Subscriber>, destination: &str) {
        let queue = self.queues.entry(destination.to_owned()).or_default();
        queue.consumers.push(subscriber);
        self.held_total -= dispatch(queue, None);
    }

    /// Removes a consumer; its unacknowledged messages go back to the front of the queue
    /// (or to `dead` after too many attempts) and on to the other consumers.
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
        queue.consumers.retain(|c| !Arc::ptr_eq(c, subscriber));
        if queue.next >= queue.consumers.len() {
            queue.next = 0;
        }
        if let Some(tracker) = &subscriber.tracker {
            let returned = tracker
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take_unacked();
            self.held_total += return_to_queue(queue, returned, config, dead);
        }
        self.held_total -= dispatch(queue, None);
        self.remove_if_unused(destination);
    }

    /// Applies an `ACK` (or `NACK`) of `message_id` by `subscriber`; false when the message
    /// does not await its acknowledgement. A `NACK`ed message goes back to the front of the
    /// queue, to another consumer first when one has room.
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
        let settled = tracker
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .settle(message_id);
        let Some(settled) = settled else {
            return false;
        };
        let Some(queue) = self.queues.get_mut(destination) else {
            return true;
        };
        if nack {
            self.held_total += return_to_queue(queue, settled, config, dead);
            self.held_total -= dispatch(queue, Some(subscriber));
        } else {
            self.held_total -= dispatch(queue, None);
        }
        true
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
            let dropped = queue.held.len();
            queue.held.clear();
            self.held_total -= dropped;
            if dropped > 0 {
                tracing::info!(session = %session, destination = %crate::log::Escaped(&destination), dropped, "session ended; dropping the messages its user destination held");
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

/// Puts `returned` (in delivery order) back at the front of `queue`, except those delivered
/// too often, which go to `dead`. Returns how many were put back.
fn return_to_queue(
    queue: &mut Queue,
    returned: Vec<Delivery>,
    config: &BrokerConfig,
    dead: &mut Vec<Delivery>,
) -> usize {
    let mut back = 0;
    let mut given_up = Vec::new();
    for delivery in returned.into_iter().rev() {
        if delivery.attempts >= config.max_delivery_attempts {
            given_up.push(delivery);
        } else {
            queue.held.push_front(delivery);
            back += 1;
        }
    }
    dead.extend(given_up.into_iter().rev());
    back
}

/// Gives held messages to consumers with room, in order; returns how many left the queue.
fn dispatch(queue: &mut Queue, avoid: Option<&Arc<Subscriber>>) -> usize {
    let mut given = 0;
    while let Some(delivery) = queue.held.pop_front() {
        if let Err(delivery) = offer(queue, delivery, avoid) {
            queue.held.push_front(delivery);
            break;
        }
        given += 1;
    }
    given
}

/// Gives `delivery` to the next consumer with room (round-robin); `avoid` (a consumer that
/// just refused it) only when no other one can take it.
fn offer(
    queue: &mut Queue,
    mut delivery: Delivery,
    avoid: Option<&Arc<Subscriber>>,
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
        match try_deliver(consumer, delivery) {
            Ok(()) => {
                queue.next = (index + 1) % count;
                return Ok(());
            }
            Err(refused) => delivery = refused,
        }
    }
    if let Some(index) = avoided {
        try_deliver(&queue.consumers[index], delivery)?;
        queue.next = (index + 1) % count;
        return Ok(());
    }
    Err(delivery)
}

/// Delivers to one consumer if it has room; gives the message back otherwise.
fn try_deliver(consumer: &Subscriber, delivery: Delivery) -> Result<(), Delivery> {
    match &consumer.tracker {
        Some(tracker) => {
            let mut tracker = tracker.lock().unwrap_or_else(PoisonError::into_inner);
            if !tracker.has_room() {
                return Err(delivery);
            }
            tracker.deliver(consumer, delivery)
        }
        None => {
            let message_id = delivery.message_id.to_string();
            let ws = encode(
                &delivery.message,
                &message_id,
                consumer,
                None,
                delivery.attempts > 0,
            );
            if consumer.session.outbound.push(ws) {
                Ok(())
            } else {
                Err(delivery)
            }
        }
    }
}

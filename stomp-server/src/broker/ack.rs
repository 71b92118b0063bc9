//! What one acknowledging subscription (`ack:client` or `ack:client-individual`) owes: its
//! unacknowledged messages, its prefetch window and, for broadcast destinations, the
//! messages waiting behind a full window.
//!
//! An `ack:auto` subscription has no [`Tracker`] at all, so acknowledgements cost nothing
//! where nobody asked for them.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use super::fanout::encode;
use super::registry::Subscriber;
use super::PublishedMessage;
use crate::session::{error_frame, CloseCause};

/// A message on its way to (or held for) one subscriber.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    /// The published message, shared with every other subscriber.
    pub(crate) message: Arc<PublishedMessage>,
    /// Its `message-id`.
    pub(crate) message_id: u64,
    /// How many times it was delivered so far.
    pub(crate) attempts: u32,
}

impl Delivery {
    /// A message not delivered yet.
    pub(crate) fn new(message: Arc<PublishedMessage>, message_id: u64) -> Delivery {
        Delivery {
            message,
            message_id,
            attempts: 0,
        }
    }
}

/// What [`Tracker::offer`] did with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offered {
    /// Queued for the session's socket.
    Delivered,
    /// Waiting behind the full prefetch window.
    Pending,
    /// Neither: the session is closing (or was just closed as a slow consumer).
    Refused,
}

/// The unacknowledged messages of one subscription, in delivery order.
#[derive(Debug)]
pub(crate) struct Tracker {
    /// `ack:client`: an `ACK` covers every earlier unacknowledged message too.
    cumulative: bool,
    /// Most unacknowledged messages at once (the prefetch window).
    window: usize,
    next_seq: u64,
    /// By delivery sequence number, so that a cumulative `ACK` is one split.
    unacked: BTreeMap<u64, Delivery>,
    /// `message-id` → delivery sequence number.
    by_message: HashMap<u64, u64>,
    /// Broadcast only: messages waiting for room in the window.
    pending: VecDeque<Delivery>,
}

impl Tracker {
    /// A tracker with a prefetch window of `window` messages (at least one).
    pub(crate) fn new(cumulative: bool, window: usize) -> Tracker {
        Tracker {
            cumulative,
            window: window.max(1),
            next_seq: 0,
            unacked: BTreeMap::new(),
            by_message: HashMap::new(),
            pending: VecDeque::new(),
        }
    }

    /// True when the window has room for one more message.
    pub(crate) fn has_room(&self) -> bool {
        self.unacked.len() < self.window
    }

    /// True when message `message_id` awaits acknowledgement here.
    pub(crate) fn holds(&self, message_id: u64) -> bool {
        self.by_message.contains_key(&message_id)
    }

    /// Encodes `delivery` with its `ack` header and queues it for `subscriber`, then records
    /// it as unacknowledged. Gives it back when the session is closing.
    pub(crate) fn deliver(
        &mut self,
        subscriber: &Subscriber,
        mut delivery: Delivery,
    ) -> Result<(), Delivery> {
        let attempts = delivery.attempts + 1;
        let message_id = delivery.message_id.to_string();
        let ack = ack_id(&message_id, &subscriber.id);
        let ws = encode(
            &delivery.message,
            &message_id,
            subscriber,
            Some(&ack),
            attempts > 1,
        );
        if !subscriber.session.outbound.push(ws) {
            return Err(delivery);
        }
        delivery.attempts = attempts;
        self.record(delivery);
        Ok(())
    }

    /// Records `delivery` as unacknowledged, after every earlier delivery.
    fn record(&mut self, delivery: Delivery) {
        let seq = self.next_seq;
        self.next_seq += 1;
        // A message delivered again to the same subscription replaces its earlier entry.
        if let Some(old) = self.by_message.insert(delivery.message_id, seq) {
            self.unacked.remove(&old);
        }
        self.unacked.insert(seq, delivery);
    }

    /// Broadcast: delivers `delivery` now if the window has room and nothing waits, queues it
    /// behind the window otherwise. Past `max_pending` waiting messages the subscriber is a
    /// slow consumer: its session gets an `ERROR` and is closed.
    pub(crate) fn offer(
        &mut self,
        subscriber: &Subscriber,
        delivery: Delivery,
        max_pending: usize,
    ) -> Offered {
        if self.pending.is_empty() && self.has_room() {
            return match self.deliver(subscriber, delivery) {
                Ok(()) => Offered::Delivered,
                Err(_) => Offered::Refused,
            };
        }
        if subscriber.session.outbound.close_cause() != CloseCause::None {
            // Closing (perhaps cut off by an earlier message): nothing more to keep.
            return Offered::Refused;
        }
        if self.pending.len() >= max_pending {
            close_slow_consumer(subscriber, self.unacked.len(), self.pending.len());
            self.pending.clear();
            return Offered::Refused;
        }
        self.pending.push_back(delivery);
        Offered::Pending
    }

    /// Broadcast: delivers waiting messages while the window has room; returns how many.
    pub(crate) fn pump(&mut self, subscriber: &Subscriber) -> usize {
        let mut delivered = 0;
        while self.has_room() {
            let Some(delivery) = self.pending.pop_front() else {
                break;
            };
            if let Err(delivery) = self.deliver(subscriber, delivery) {
                self.pending.push_front(delivery);
                break;
            }
            delivered += 1;
        }
        delivered
    }

    /// Broadcast: puts `deliveries` (in delivery order) before every waiting message.
    pub(crate) fn requeue_front(&mut self, deliveries: Vec<Delivery>) {
        for delivery in deliveries.into_iter().rev() {
            self.pending.push_front(delivery);
        }
    }

    /// Removes what an `ACK`/`NACK` of `message_id` covers (with `ack:client`, every earlier
    /// unacknowledged message too), in delivery order; `None` when it is not awaited here.
    pub(crate) fn settle(&mut self, message_id: u64) -> Option<Vec<Delivery>> {
        let seq = self.by_message.remove(&message_id)?;
        if !self.cumulative {
            return Some(self.unacked.remove(&seq).into_iter().collect());
        }
        let later = self.unacked.split_off(&(seq + 1));
        let settled = std::mem::replace(&mut self.unacked, later);
        for delivery in settled.values() {
            self.by_message.remove(&delivery.message_id);
        }
        Some(settled.into_values().collect())
    }

    /// Removes every unacknowledged message, in delivery order (a departing consumer).
    pub(crate) fn take_unacked(&mut self) -> Vec<Delivery> {
        self.by_message.clear();
        std::mem::take(&mut self.unacked).into_values().collect()
    }
}

/// The `ack` header of a `MESSAGE`: `{message-id}-{subscription id}`. The message id is all
/// digits, so the first `-` separates the two, and the pair is unique within a session.
pub(crate) fn ack_id(message_id: &str, subscription: &str) -> String {
    let mut out = String::with_capacity(message_id.len() + 1 + subscription.len());
    out.push_str(message_id);
    out.push('-');
    out.push_str(subscription);
    out
}

/// Splits an `ack` id into its message id and subscription id.
pub(crate) fn parse_ack_id(ack: &str) -> Option<(u64, &str)> {
    let (message_id, subscription) = ack.split_once('-')?;
    Some((message_id.parse().ok()?, subscription))
}

fn close_slow_consumer(subscriber: &Subscriber, unacked: usize, pending: usize) {
    let message = format!(
        "slow consumer: subscription `{}` has {unacked} unacknowledged messages and {pending} more waiting; closing",
        subscriber.id
    );
    tracing::warn!(session = %subscriber.session.id, subscription = %crate::log::Escaped(&subscriber.id), unacked, pending, "closing slow consumer: too many messages waiting for acknowledgement");
    let session = &subscriber.session;
    session
        .outbound
        .push_frame(&error_frame(&message, None), session.version);
    session.outbound.close(CloseCause::AckBacklog);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivered(tracker: &mut Tracker, ids: &[u64]) {
        let message = Arc::new(PublishedMessage {
            destination: "/topic/t".to_owned(),
            headers: Vec::new(),
            body: bytes::Bytes::new(),
        });
        for id in ids {
            let mut delivery = Delivery::new(Arc::clone(&message), *id);
            delivery.attempts = 1;
            tracker.record(delivery);
        }
    }

    fn ids(deliveries: &[Delivery]) -> Vec<u64> {
        deliveries.iter().map(|d| d.message_id).collect()
    }

    #[test]
    fn client_mode_settles_everything_delivered_before() {
        let mut tracker = Tracker::new(true, 3);
        delivered(&mut tracker, &[7, 3, 9]);
        assert!(!tracker.has_room());
        assert_eq!(tracker.settle(3).as_deref().map(ids), Some(vec![7, 3]));
        assert!(!tracker.holds(7) && tracker.holds(9));
        assert!(tracker.settle(7).is_none(), "already settled");
        assert!(tracker.has_room());
    }

    #[test]
    fn client_individual_mode_settles_one() {
        let mut tracker = Tracker::new(false, 10);
        delivered(&mut tracker, &[1, 2, 3]);
        assert_eq!(tracker.settle(2).as_deref().map(ids), Some(vec![2]));
        assert!(tracker.settle(2).is_none());
        assert_eq!(ids(&tracker.take_unacked()), vec![1, 3]);
        assert!(!tracker.holds(1));
    }

    #[test]
    fn a_redelivery_replaces_the_earlier_entry() {
        let mut tracker = Tracker::new(true, 10);
        delivered(&mut tracker, &[1, 2, 1]);
        // Delivery order is now 2, 1: a cumulative ACK of 1 covers 2.
        assert_eq!(tracker.settle(1).as_deref().map(ids), Some(vec![2, 1]));
        assert!(tracker.take_unacked().is_empty());
    }

    #[test]
    fn the_window_is_at_least_one() {
        assert!(Tracker::new(false, 0).has_room());
    }

    #[test]
    fn ack_ids_round_trip_with_dashes_in_the_subscription() {
        let id = ack_id("42", "sub-0");
        assert_eq!(id, "42-sub-0");
        assert_eq!(parse_ack_id(&id), Some((42, "sub-0")));
        assert_eq!(parse_ack_id("x-sub"), None);
        assert_eq!(parse_ack_id("42"), None);
    }
}

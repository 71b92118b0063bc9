//! What one acknowledging subscription (`ack:client` or `ack:client-individual`) owes: its
//! unacknowledged messages, its prefetch window and, for broadcast destinations, the
//! messages waiting behind a full window.
//!
//! An `ack:auto` subscription has no [`Tracker`] at all, so acknowledgements cost nothing
//! where nobody asked for them.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::recipient::{encode, Recipient};
use super::PublishedMessage;
use crate::peer::{error_frame, CloseCause, Paced, SessionHandle};
use crate::stats::BrokerLoad;

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

    /// The bytes its message holds.
    pub(crate) fn size(&self) -> usize {
        self.message.size()
    }
}

/// Where a tracker's bytes are counted besides itself: its session's total (bounded by
/// `BrokerConfig::max_unacked_bytes_per_session`) and the broker's (for the stats).
///
/// The session's bound is shared so that neither kind of subscription can starve the
/// other: point-to-point consumers (which a queue backlog fills up on purpose) stop at half
/// of it, counting their own bytes only, and broadcast subscriptions may use the rest, never
/// less than half. Without the split, a queue kept full by its backlog made the next
/// broadcast message of the same session look like a slow consumer.
#[derive(Debug, Clone)]
pub(crate) struct Load {
    /// The session, whose `unacked_bytes` every tracker of it shares.
    pub(crate) session: Arc<SessionHandle>,
    /// The broker's.
    pub(crate) broker: Arc<BrokerLoad>,
    /// A point-to-point consumer's: counted in the session's `queue_unacked_bytes` too.
    pub(crate) point_to_point: bool,
}

impl Load {
    fn add(&self, bytes: usize) {
        self.session
            .unacked_bytes
            .fetch_add(bytes, Ordering::Relaxed);
        if self.point_to_point {
            self.session
                .queue_unacked_bytes
                .fetch_add(bytes, Ordering::Relaxed);
        }
        self.broker
            .unacked_bytes
            .fetch_add(bytes, Ordering::Relaxed);
    }

    fn sub(&self, bytes: usize) {
        self.session
            .unacked_bytes
            .fetch_sub(bytes, Ordering::Relaxed);
        if self.point_to_point {
            self.session
                .queue_unacked_bytes
                .fetch_sub(bytes, Ordering::Relaxed);
        }
        self.broker
            .unacked_bytes
            .fetch_sub(bytes, Ordering::Relaxed);
    }

    /// What the session's point-to-point consumers hold, and what its broadcast
    /// subscriptions hold.
    fn split(&self) -> (usize, usize) {
        let queue = self.session.queue_unacked_bytes.load(Ordering::Relaxed);
        let total = self.session.unacked_bytes.load(Ordering::Relaxed);
        // Two loads, not one snapshot: another tracker may count in between.
        (queue, total.saturating_sub(queue))
    }

    /// True when the session may hold `bytes` more: point-to-point consumers within half of
    /// `bounds.session`, broadcast subscriptions within what point-to-point leaves (at least
    /// the other half), and every session together within `bounds.broker`. Always when
    /// that kind of the session holds nothing, so that one message larger than its share
    /// still goes, and so that a consumer held back by other sessions still gets one message
    /// whose acknowledgement brings it the next (nothing else would wake a queue consumer
    /// that holds nothing). The broker's bound can so be passed by one message per session
    /// and kind at most.
    pub(crate) fn fits(&self, bytes: usize, bounds: ByteBounds) -> bool {
        let (queue, broadcast) = self.split();
        let held = if self.point_to_point {
            queue
        } else {
            broadcast
        };
        if held == 0 {
            return true;
        }
        let broker = self.broker.unacked_bytes.load(Ordering::Relaxed);
        if broker.saturating_add(bytes) > bounds.broker {
            return false;
        }
        let share = bounds.session / 2;
        if self.point_to_point {
            return queue.saturating_add(bytes) <= share;
        }
        broadcast.saturating_add(bytes) <= bounds.session - queue.min(share)
    }

    /// What the session holds.
    fn held(&self) -> usize {
        self.session.unacked_bytes.load(Ordering::Relaxed)
    }
}

/// The byte bounds of unacknowledged (and waiting) messages: per session
/// (`BrokerConfig::max_unacked_bytes_per_session`) and for the whole broker
/// (`BrokerConfig::max_unacked_bytes_total`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ByteBounds {
    /// Most bytes one session's acknowledging subscriptions hold together.
    pub(crate) session: usize,
    /// Most bytes every acknowledging subscription of the broker holds together.
    pub(crate) broker: usize,
}

impl ByteBounds {
    /// The bounds `config` sets.
    pub(crate) fn of(config: &crate::config::BrokerConfig) -> ByteBounds {
        ByteBounds {
            session: config.max_unacked_bytes_per_session,
            broker: config.max_unacked_bytes_total,
        }
    }
}

/// The bounds a broadcast subscriber's messages wait within.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backlog {
    /// Most messages waiting behind the prefetch window of one subscription.
    pub(crate) max_pending: usize,
    /// Most bytes held unacknowledged or waiting, per session and in all.
    pub(crate) bytes: ByteBounds,
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
    /// The bytes of `unacked` and `pending`.
    bytes: usize,
    /// Where they are counted too.
    load: Load,
}

impl Tracker {
    /// A tracker with a prefetch window of `window` messages (at least one), counting its
    /// bytes in `load`.
    pub(crate) fn new(cumulative: bool, window: usize, load: Load) -> Tracker {
        Tracker {
            cumulative,
            window: window.max(1),
            next_seq: 0,
            unacked: BTreeMap::new(),
            by_message: HashMap::new(),
            pending: VecDeque::new(),
            bytes: 0,
            load,
        }
    }

    fn hold(&mut self, bytes: usize) {
        self.bytes += bytes;
        self.load.add(bytes);
    }

    fn release(&mut self, bytes: usize) {
        self.bytes -= bytes;
        self.load.sub(bytes);
    }

    /// Point-to-point: true when one more message of `bytes` may be delivered now, within
    /// the window, the point-to-point half of the session's byte bound and the broker's
    /// (see [`Load`]).
    pub(crate) fn has_room_for(&self, bytes: usize, bounds: ByteBounds) -> bool {
        self.has_room() && self.load.fits(bytes, bounds)
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
    /// it as unacknowledged. Gives it back when the session is closing, and for a
    /// point-to-point consumer also when its connection has no credit (see
    /// `Outbound::push_paced`): the message waits in its queue.
    pub(crate) fn deliver(
        &mut self,
        subscriber: &Recipient,
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
        let outbound = &subscriber.session.outbound;
        // A frame an outbound interceptor dropped counts as queued, as it always did.
        let queued = match (ws, &subscriber.withdrawal) {
            (None, _) => true,
            (Some(ws), Some(withdrawal)) => {
                matches!(outbound.push_delivery(ws, withdrawal), Paced::Queued { .. })
            }
            (Some(ws), None) => outbound.push(ws),
        };
        if !queued {
            return Err(delivery);
        }
        delivery.attempts = attempts;
        self.hold(delivery.size());
        self.record(delivery);
        Ok(())
    }

    /// Records `delivery` (already counted in the bytes) as unacknowledged, after every
    /// earlier delivery.
    fn record(&mut self, delivery: Delivery) {
        let seq = self.next_seq;
        self.next_seq += 1;
        // A message delivered again to the same subscription replaces its earlier entry.
        if let Some(old) = self.by_message.insert(delivery.message_id, seq) {
            if let Some(old) = self.unacked.remove(&old) {
                self.release(old.size());
            }
        }
        self.unacked.insert(seq, delivery);
    }

    /// Broadcast: delivers `delivery` now if the window has room and nothing waits, queues it
    /// behind the window otherwise. Past `max_pending` waiting messages, or when the session's
    /// broadcast subscriptions would hold more than their share of `max_session_bytes`
    /// unacknowledged or waiting (see [`Load`]), the subscriber is a slow consumer: its
    /// session gets an `ERROR` and is closed.
    pub(crate) fn offer(
        &mut self,
        subscriber: &Recipient,
        delivery: Delivery,
        backlog: Backlog,
    ) -> Offered {
        let fits = self.load.fits(delivery.size(), backlog.bytes);
        if fits && self.pending.is_empty() && self.has_room() {
            return match self.deliver(subscriber, delivery) {
                Ok(()) => Offered::Delivered,
                Err(_) => Offered::Refused,
            };
        }
        if subscriber.session.outbound.close_cause() != CloseCause::None {
            // Closing (perhaps cut off by an earlier message): nothing more to keep.
            return Offered::Refused;
        }
        if !fits || self.pending.len() >= backlog.max_pending {
            close_slow_consumer(subscriber, self, backlog.bytes);
            let dropped: usize = self.pending.drain(..).map(|d| d.size()).sum();
            self.release(dropped);
            return Offered::Refused;
        }
        self.hold(delivery.size());
        self.pending.push_back(delivery);
        Offered::Pending
    }

    /// Broadcast: delivers waiting messages while the window has room; returns how many.
    pub(crate) fn pump(&mut self, subscriber: &Recipient) -> usize {
        let mut delivered = 0;
        while self.has_room() {
            let Some(delivery) = self.pending.pop_front() else {
                break;
            };
            // Counted while waiting; `deliver` counts it again as unacknowledged.
            self.release(delivery.size());
            if let Err(delivery) = self.deliver(subscriber, delivery) {
                self.hold(delivery.size());
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
            self.hold(delivery.size());
            self.pending.push_front(delivery);
        }
    }

    /// Removes what an `ACK`/`NACK` of `message_id` covers (with `ack:client`, every earlier
    /// unacknowledged message too), in delivery order; `None` when it is not awaited here.
    pub(crate) fn settle(&mut self, message_id: u64) -> Option<Vec<Delivery>> {
        let seq = self.by_message.remove(&message_id)?;
        let settled: Vec<Delivery> = if self.cumulative {
            let later = self.unacked.split_off(&(seq + 1));
            let settled = std::mem::replace(&mut self.unacked, later);
            for delivery in settled.values() {
                self.by_message.remove(&delivery.message_id);
            }
            settled.into_values().collect()
        } else {
            self.unacked.remove(&seq).into_iter().collect()
        };
        self.release(settled.iter().map(Delivery::size).sum());
        Some(settled)
    }

    /// Removes every unacknowledged message, in delivery order (a departing consumer).
    pub(crate) fn take_unacked(&mut self) -> Vec<Delivery> {
        self.by_message.clear();
        let taken: Vec<Delivery> = std::mem::take(&mut self.unacked).into_values().collect();
        self.release(taken.iter().map(Delivery::size).sum());
        taken
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        // A subscription that ends holds nothing any more.
        self.load.sub(self.bytes);
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

fn close_slow_consumer(subscriber: &Recipient, tracker: &Tracker, bounds: ByteBounds) {
    let unacked = tracker.unacked.len();
    let pending = tracker.pending.len();
    let held = tracker.load.held();
    let all = tracker.load.broker.unacked_bytes.load(Ordering::Relaxed);
    let message = format!(
        "slow consumer: subscription `{}` has {unacked} unacknowledged messages and {pending} more waiting; the session holds {held} bytes unacknowledged or waiting (limit {}), the server {all} (limit {}); closing",
        subscriber.id, bounds.session, bounds.broker
    );
    tracing::warn!(session = %subscriber.session.id, subscription = %crate::log::Escaped(&subscriber.id), unacked, pending, held, "closing slow consumer: too many messages waiting for acknowledgement");
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
            tracker.hold(delivery.size());
            tracker.record(delivery);
        }
    }

    fn detached_load() -> Load {
        Load {
            session: SessionHandle::detached("t"),
            broker: Arc::default(),
            point_to_point: false,
        }
    }

    fn ids(deliveries: &[Delivery]) -> Vec<u64> {
        deliveries.iter().map(|d| d.message_id).collect()
    }

    #[test]
    fn client_mode_settles_everything_delivered_before() {
        let mut tracker = Tracker::new(true, 3, detached_load());
        delivered(&mut tracker, &[7, 3, 9]);
        assert!(!tracker.has_room());
        assert_eq!(tracker.settle(3).as_deref().map(ids), Some(vec![7, 3]));
        assert!(!tracker.holds(7) && tracker.holds(9));
        assert!(tracker.settle(7).is_none(), "already settled");
        assert!(tracker.has_room());
    }

    #[test]
    fn client_individual_mode_settles_one() {
        let mut tracker = Tracker::new(false, 10, detached_load());
        delivered(&mut tracker, &[1, 2, 3]);
        assert_eq!(tracker.settle(2).as_deref().map(ids), Some(vec![2]));
        assert!(tracker.settle(2).is_none());
        assert_eq!(ids(&tracker.take_unacked()), vec![1, 3]);
        assert!(!tracker.holds(1));
    }

    #[test]
    fn a_redelivery_replaces_the_earlier_entry() {
        let mut tracker = Tracker::new(true, 10, detached_load());
        delivered(&mut tracker, &[1, 2, 1]);
        // Delivery order is now 2, 1: a cumulative ACK of 1 covers 2.
        assert_eq!(tracker.settle(1).as_deref().map(ids), Some(vec![2, 1]));
        assert!(tracker.take_unacked().is_empty());
    }

    #[test]
    fn the_window_is_at_least_one() {
        assert!(Tracker::new(false, 0, detached_load()).has_room());
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

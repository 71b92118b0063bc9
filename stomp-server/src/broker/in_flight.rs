//! What a point-to-point `ack:auto` consumer was given and its connection has not written
//! yet.
//!
//! An `ack:auto` message counts as delivered (gone from its queue for good) only once the
//! session's writer handed it to the transport. Until then it is kept here with the offset
//! where it ends in the session's outbound stream; if the session dies first, what its
//! writer never reached goes back to the queue. Queues hand messages over at the pace the
//! connection drains, so this holds at most about one send buffer's worth.

use std::collections::VecDeque;

/// The unwritten deliveries (`Delivery`) of one consumer, in delivery order.
#[derive(Debug)]
pub(crate) struct InFlight<D> {
    /// `(end offset in the session's stream, delivery)`.
    deliveries: VecDeque<(u64, D)>,
}

impl<D> Default for InFlight<D> {
    fn default() -> Self {
        InFlight {
            deliveries: VecDeque::new(),
        }
    }
}

impl<D> InFlight<D> {
    /// Records `delivery`, queued to end at stream offset `end`, after forgetting what the
    /// writer got past (`written`: how far it got).
    pub(crate) fn record(&mut self, end: u64, delivery: D, written: u64) {
        self.forget_written(written);
        self.deliveries.push_back((end, delivery));
    }

    /// Forgets the deliveries the writer got past.
    fn forget_written(&mut self, written: u64) {
        while self
            .deliveries
            .front()
            .is_some_and(|(end, _)| *end <= written)
        {
            self.deliveries.pop_front();
        }
    }

    /// The deliveries the writer never got past, in delivery order (the session ended).
    pub(crate) fn take_unwritten(&mut self, written: u64) -> Vec<D> {
        self.forget_written(written);
        std::mem::take(&mut self.deliveries)
            .into_iter()
            .map(|(_, delivery)| delivery)
            .collect()
    }

    /// How many deliveries are recorded.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.deliveries.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::broker::ack::Delivery;
    use crate::broker::PublishedMessage;

    fn delivery(id: u64) -> Delivery {
        let message = Arc::new(PublishedMessage {
            destination: "/queue/q".to_owned(),
            headers: Vec::new(),
            body: bytes::Bytes::new(),
        });
        Delivery::new(message, id)
    }

    #[test]
    fn only_what_the_writer_never_reached_comes_back_in_order() {
        let mut in_flight: InFlight<Delivery> = InFlight::default();
        in_flight.record(10, delivery(1), 0);
        in_flight.record(20, delivery(2), 0);
        in_flight.record(30, delivery(3), 10);
        assert_eq!(in_flight.len(), 2, "the first was written");
        let back: Vec<_> = in_flight
            .take_unwritten(20)
            .iter()
            .map(|d| d.message_id)
            .collect();
        assert_eq!(back, [3]);
        assert!(in_flight.take_unwritten(30).is_empty());
    }
}

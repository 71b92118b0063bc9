//! The open broker boundary (SPI): an [`Upstream`] connects this instance's
//! [`SimpleBroker`](super::SimpleBroker) — its subscription registry and its fan-out to this
//! instance's sessions, the "local part" — to other instances (a backplane: Redis pub/sub, a
//! message bus, or a channel in a test).
//!
//! The local part stays the same for every backplane: it matches subscriptions, encodes a
//! `MESSAGE` once per distinct subscription id, paces slow consumers and tracks
//! acknowledgements. An upstream only carries messages between instances:
//!
//! - [`Upstream::publish`]: a message published on this instance (a client's `SEND`, a
//!   handler's reply, the template) after the local fan-out; send it to the other instances.
//! - [`LocalBroker::deliver`]: what came back from another instance; the local part fans it
//!   out to this instance's subscribers, and does not hand it to the upstream again.
//! - [`Upstream::subscribe`] / [`Upstream::unsubscribe`]: this instance's first subscription
//!   to a destination (or pattern) appeared, or its last one ended; a backplane that routes by
//!   destination listens to it, once per instance, however many sessions subscribe.
//!
//! Point-to-point queues and user destinations stay local (use the relay to share them).

use std::sync::{Arc, Weak};

use super::{BrokerError, PublishedMessage, SimpleBroker};

/// The upstream part of a broker: what connects this instance to the others.
///
/// Its methods run on the publishing or subscribing task, with no lock of the broker held
/// (they may publish, or deliver through their [`LocalBroker`]): keep them short (hand the
/// work to a channel or a task), and do not block. `subscribe` and `unsubscribe` calls come
/// one at a time, in the order the subscriptions changed.
pub trait Upstream: Send + Sync + 'static {
    /// Sends a message published on this instance to the other instances. It was already
    /// delivered to this instance's own subscribers.
    fn publish(&self, message: &Arc<PublishedMessage>);

    /// This instance's first subscription to `destination` (a destination or a pattern such
    /// as `/topic/chat/**`) appeared. Called again only after [`unsubscribe`](Self::unsubscribe).
    fn subscribe(&self, destination: &str) {
        let _ = destination;
    }

    /// This instance's last subscription to `destination` ended.
    fn unsubscribe(&self, destination: &str) {
        let _ = destination;
    }
}

/// A handle to this instance's local part, given to an [`Upstream`] when it is built, for
/// delivering what comes from other instances. Cloning is a reference count; it does not
/// keep the broker alive: delivering before the broker is built (from inside the factory)
/// or after the server is gone is refused with [`BrokerError::Unavailable`].
#[derive(Clone, Debug)]
pub struct LocalBroker {
    pub(super) broker: Weak<SimpleBroker>,
}

impl LocalBroker {
    /// Fans `message` out to this instance's matching subscriptions (not to the upstream);
    /// returns how many received it. A destination no broker prefix covers is refused, and
    /// so is any message while the broker is not running.
    pub fn deliver(&self, message: PublishedMessage) -> Result<usize, BrokerError> {
        match self.broker.upgrade() {
            Some(broker) => broker.deliver_local(message),
            None => Err(BrokerError::Unavailable(
                "the local broker is not running (not built yet, or stopped)".to_owned(),
            )),
        }
    }
}

/// Builds an [`Upstream`] for the broker whose local part it is given.
pub type UpstreamFactory = Box<dyn FnOnce(LocalBroker) -> Arc<dyn Upstream> + Send>;

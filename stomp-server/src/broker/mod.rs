//! Message brokers: where subscriptions live and published messages fan out.
//!
//! [`SimpleBroker`] keeps everything in memory (Spring's `enableSimpleBroker`). Routing,
//! handlers and sessions only see the [`Broker`] trait, so a relay to an external broker can
//! take its place.

mod fanout;
mod registry;
mod simple;

use std::sync::Arc;

use bytes::Bytes;

use crate::principal::SessionId;
use crate::session::SessionHandle;

pub use simple::SimpleBroker;

/// A `message-id` unique within this process, shared by every path that creates `MESSAGE`
/// frames (broker fan-out and `#[subscribe_mapping]` replies).
pub(crate) fn next_message_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        .to_string()
}

/// How a subscription acknowledges messages (`ack` header of `SUBSCRIBE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AckMode {
    /// `auto`: delivered means acknowledged.
    #[default]
    Auto,
    /// `client`: cumulative `ACK`.
    Client,
    /// `client-individual`: one `ACK` per message.
    ClientIndividual,
}

impl AckMode {
    /// Parses the `ack` header (absent means `auto`).
    pub fn parse(value: Option<&str>) -> Option<AckMode> {
        match value {
            None | Some("auto") => Some(AckMode::Auto),
            Some("client") => Some(AckMode::Client),
            Some("client-individual") => Some(AckMode::ClientIndividual),
            Some(_) => None,
        }
    }
}

/// A subscription request, already resolved (user destinations translated).
#[derive(Debug, Clone)]
pub(crate) struct SubscribeRequest {
    /// The client's subscription id.
    pub(crate) id: Arc<str>,
    /// The destination the broker matches (`/queue/reply-user42` for `/user/queue/reply`).
    pub(crate) destination: String,
    /// The destination the client subscribed to, reported in `MESSAGE` frames when it
    /// differs from `destination` (user destinations).
    pub(crate) reported_destination: Option<Arc<str>>,
    /// The acknowledgement mode.
    pub(crate) ack: AckMode,
}

/// A message on its way to subscribers. Shared, never copied per subscriber.
#[derive(Debug, Clone)]
pub(crate) struct PublishedMessage {
    /// The destination subscribers matched against.
    pub(crate) destination: String,
    /// Headers to copy into `MESSAGE` frames (no `destination`, `subscription`, `message-id`,
    /// `content-length`, `receipt` or `transaction`).
    pub(crate) headers: Vec<(String, String)>,
    /// The body.
    pub(crate) body: Bytes,
}

/// Why the broker refused a request. The text is sent in an `ERROR` frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrokerError {
    /// The subscription id is already used by this session.
    #[error("subscription id `{0}` is already in use by this session")]
    DuplicateSubscription(String),
    /// No subscription with this id.
    #[error("no subscription with id `{0}`")]
    UnknownSubscription(String),
    /// The subscription pattern is invalid.
    #[error("invalid subscription destination `{destination}`: {reason}")]
    InvalidDestination {
        /// The destination.
        destination: String,
        /// Why.
        reason: String,
    },
}

/// What every broker does.
pub(crate) trait Broker: Send + Sync + 'static {
    /// True when `destination` belongs to one of this broker's prefixes.
    fn handles(&self, destination: &str) -> bool;

    /// Registers a subscription; it is active when this returns.
    fn subscribe(
        &self,
        session: &Arc<SessionHandle>,
        request: SubscribeRequest,
    ) -> Result<(), BrokerError>;

    /// Removes a subscription.
    fn unsubscribe(&self, session: &SessionId, id: &str) -> Result<(), BrokerError>;

    /// Delivers `message` to every matching subscription; returns how many received it.
    fn publish(&self, message: &PublishedMessage) -> usize;

    /// Forgets every subscription of a session that ended.
    fn session_closed(&self, session: &SessionId);
}

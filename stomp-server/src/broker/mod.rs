//! Message brokers: where subscriptions live and published messages fan out.
//!
//! [`SimpleBroker`] keeps everything in memory (Spring's `enableSimpleBroker`): the local
//! part every instance has. An [`Upstream`] (the SPI, see `upstream`) joins the local parts
//! of several instances into one broker, reusing their fan-out
//! ([`StompServerBuilder::broker_upstream`](crate::StompServerBuilder::broker_upstream)).
//! Routing and sessions see the crate's `Broker` trait, which the simple broker and the relay
//! to an external broker (which keeps a broker connection per session, as Spring's) implement.
//!
//! Layout: `registry` (subscriptions by destination and by session), `fanout` (encoding a
//! message for its subscribers), `ack` (unacknowledged messages and the prefetch window of
//! one subscription), `in_flight` (what a point-to-point `ack:auto` consumer's connection
//! has not written yet), `queue` (point-to-point destinations), `simple` (the broker), `upstream` (the SPI),
//! `user_listens` (user destinations an upstream carries).

mod ack;
mod fanout;
mod in_flight;
mod queue;
mod recipient;
mod registry;
mod simple;
#[cfg(test)]
mod tests;
mod upstream;
mod user_listens;

use std::sync::Arc;

use bytes::Bytes;

use crate::peer::SessionHandle;
use crate::principal::SessionId;

pub(crate) use simple::has_prefix;
pub use simple::SimpleBroker;
pub use upstream::{LocalBroker, Upstream, UpstreamFactory, UpstreamSubscription};

/// The next broker `message-id`, unique within this process. Always digits, which the
/// `ack` ids rely on (`#[subscribe_mapping]` replies use `{session}-{subscription}`).
pub(crate) fn next_message_seq() -> u64 {
    use std::cell::Cell;
    use std::sync::atomic::{AtomicU64, Ordering};
    /// Ids a thread takes from the shared counter at once.
    const BLOCK: u64 = 1024;
    static NEXT_BLOCK: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        /// This thread's next id and the end of its block.
        static RANGE: Cell<(u64, u64)> = const { Cell::new((0, 0)) };
    }
    // Each thread hands out ids from a block of its own, so publishing on several worker
    // threads does not bounce one counter's cache line between the cores on every message.
    // Ids stay unique; they increase per thread, not across threads.
    RANGE.with(|range| {
        let (mut next, mut end) = range.get();
        if next == end {
            next = NEXT_BLOCK.fetch_add(BLOCK, Ordering::Relaxed);
            end = next + BLOCK;
        }
        range.set((next + 1, end));
        next
    })
}

/// How a subscription acknowledges messages (`ack` header of `SUBSCRIBE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AckMode {
    /// `auto`: delivered means acknowledged.
    #[default]
    Auto,
    /// `client`: cumulative `ACK` (and `NACK`): one covers every earlier message too.
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
    /// The `prefetch-count` header: a smaller prefetch window than the configured one.
    pub(crate) prefetch: Option<usize>,
    /// For `/user/queue/x`: the user's name (or the anonymous session's id) and `/queue/x`,
    /// for brokers that resolve users themselves (the relay).
    pub(crate) user: Option<UserSubscription>,
}

/// The user part of a subscription to a user destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserSubscription {
    /// The principal's name, or the session id of an anonymous session.
    pub(crate) user: String,
    /// The destination under the user prefix (`/queue/x` for `/user/queue/x`).
    pub(crate) destination: String,
}

/// Resolves when a subscription a broker accepted is active (the relay waits for the
/// external broker's `RECEIPT`).
pub(crate) type Confirmation = tokio::sync::oneshot::Receiver<Result<(), BrokerError>>;

/// A message on its way to subscribers. Shared (`Arc`), never copied per subscriber.
#[derive(Debug, Clone)]
pub struct PublishedMessage {
    /// The destination subscribers matched against.
    pub(crate) destination: String,
    /// Headers to copy into `MESSAGE` frames (no `destination`, `subscription`, `message-id`,
    /// `content-length`, `receipt` or `transaction`).
    pub(crate) headers: Vec<(String, String)>,
    /// The body.
    pub(crate) body: Bytes,
}

impl PublishedMessage {
    /// A message for `destination` with the headers its `MESSAGE` frames carry (no
    /// `destination`, `subscription`, `message-id`, `content-length`, `receipt` or
    /// `transaction`) and its body.
    pub fn new(destination: String, headers: Vec<(String, String)>, body: Bytes) -> Self {
        PublishedMessage {
            destination,
            headers,
            body,
        }
    }

    /// The destination subscribers match against.
    pub fn destination(&self) -> &str {
        &self.destination
    }

    /// The headers its `MESSAGE` frames carry.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The body (a reference count, never a copy).
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The bytes it holds (destination, headers and body): what byte limits count.
    pub(crate) fn size(&self) -> usize {
        let headers: usize = self.headers.iter().map(|(n, v)| n.len() + v.len()).sum();
        self.destination.len() + headers + self.body.len()
    }
}

/// Which message an `ACK` or `NACK` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AckTarget {
    /// STOMP 1.2: the `id` header, the `ack` header of the `MESSAGE`.
    AckId(String),
    /// STOMP 1.0 and 1.1: `message-id`, with `subscription` (required from 1.1 on).
    MessageId {
        /// The `message-id` header.
        message_id: String,
        /// The `subscription` header.
        subscription: Option<String>,
    },
}

/// An `ACK` or `NACK` from a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AckRequest {
    /// True for `NACK`.
    pub(crate) nack: bool,
    /// The message it names.
    pub(crate) target: AckTarget,
    /// Its `transaction` header, for brokers that run transactions themselves.
    pub(crate) transaction: Option<String>,
}

/// Why the broker refused a request. The text is sent in an `ERROR` frame. New reasons may
/// be added: match with a `_` arm.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
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
    /// An `ACK`/`NACK` names no message awaiting acknowledgement in this session.
    #[error("unknown ack id `{0}`: no message awaiting acknowledgement has this id")]
    UnknownAckId(String),
    /// A STOMP 1.0/1.1 `ACK`/`NACK` names no message awaiting acknowledgement.
    #[error("unknown message-id `{message_id}`{}: no message awaiting acknowledgement has this id",
        .subscription.as_deref().map(|s| format!(" on subscription `{s}`")).unwrap_or_default())]
    UnknownMessageId {
        /// The `message-id` header.
        message_id: String,
        /// The `subscription` header, if any.
        subscription: Option<String>,
    },
    /// A point-to-point destination holds as many messages as it may.
    #[error(
        "queue `{destination}` is full ({limit} messages wait for a consumer); message refused"
    )]
    QueueFull {
        /// The destination.
        destination: String,
        /// The configured limit.
        limit: usize,
    },
    /// All point-to-point destinations together hold as many messages as they may.
    #[error("the broker's queues are full ({limit} messages wait for consumers); message to `{destination}` refused")]
    QueuesFull {
        /// The destination.
        destination: String,
        /// The configured limit.
        limit: usize,
    },
    /// A point-to-point destination holds as many bytes as it may.
    #[error("queue `{destination}` is full ({held} bytes wait for a consumer, limit {limit}); message refused")]
    QueueBytesFull {
        /// The destination.
        destination: String,
        /// The bytes it holds.
        held: usize,
        /// The configured limit.
        limit: usize,
    },
    /// All point-to-point destinations together hold as many bytes as they may.
    #[error("the broker's queues are full ({held} bytes wait for consumers, limit {limit}); message to `{destination}` refused")]
    QueuesBytesFull {
        /// The destination.
        destination: String,
        /// The bytes they hold.
        held: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The external broker cannot be reached (relay).
    #[error("broker unavailable: {0}")]
    Unavailable(String),
    /// The external broker is not reading what the relay writes to it fast enough (relay).
    #[error(
        "the broker is not keeping up: {queued} bytes wait to be written to it (limit {limit})"
    )]
    Backlog {
        /// Bytes waiting.
        queued: usize,
        /// The configured limit.
        limit: usize,
    },
}

/// A wait a publishing session goes through before it reads on (see
/// [`Broker::publish_pace`]); an error refuses the session's last message.
pub(crate) type Pace =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), BrokerError>> + Send>>;

/// What every broker does.
pub(crate) trait Broker: Send + Sync + 'static {
    /// True when `destination` belongs to one of this broker's prefixes.
    fn handles(&self, destination: &str) -> bool;

    /// Registers a subscription. It is active when this returns `Ok(None)`, or once the
    /// returned confirmation resolves.
    fn subscribe(
        &self,
        session: &Arc<SessionHandle>,
        request: SubscribeRequest,
    ) -> Result<Option<Confirmation>, BrokerError>;

    /// Removes a subscription. Its unacknowledged messages are dropped (broadcast) or go back
    /// to their queue (point-to-point).
    fn unsubscribe(&self, session: &SessionId, id: &str) -> Result<(), BrokerError>;

    /// Delivers `message` to every matching subscription (broadcast) or to one consumer
    /// (point-to-point); returns how many received it. A point-to-point message nobody can
    /// take now is held, or refused when its queue is full.
    fn publish(&self, message: Arc<PublishedMessage>) -> Result<usize, BrokerError>;

    /// Like [`publish`](Broker::publish), for a destination that belongs to one session (a
    /// user destination): only that session's subscriptions receive it, and what it holds
    /// is dropped when the session ends. `user_destination` is the destination under the user
    /// prefix (`/queue/x`); `message.destination` is its broker name for this session.
    fn publish_for_session(
        &self,
        session: &SessionId,
        user_destination: &str,
        message: Arc<PublishedMessage>,
    ) -> Result<usize, BrokerError>;

    /// Applies an `ACK` or `NACK` of `session`.
    fn acknowledge(&self, session: &SessionId, request: &AckRequest) -> Result<(), BrokerError>;

    /// Forgets every subscription of a session that ended.
    fn session_closed(&self, session: &SessionId);

    /// A wait for a session that just published, before it reads its next frame, when the
    /// broker is behind (the relay's system connection holds much unwritten): back-pressure
    /// on the publisher instead of a refusal, within a bound. `None`: go on.
    fn publish_pace(&self) -> Option<Pace> {
        None
    }

    /// A session passed its `CONNECT` checks. A broker that needs a resource of its own per
    /// session (the relay's broker connection) returns a confirmation, and `CONNECTED` waits
    /// for it; a failure answers the `CONNECT` with an `ERROR` instead.
    fn session_connected(&self, _session: &Arc<SessionHandle>) -> Option<Confirmation> {
        None
    }

    /// Sends to `destination` (`/queue/x`) of every session of `user`, when the broker
    /// resolves users itself (across server instances); `None` lets the local user registry
    /// resolve them.
    fn publish_to_user(
        &self,
        _user: &str,
        _destination: &str,
        _message: Arc<PublishedMessage>,
    ) -> Option<Result<usize, BrokerError>> {
        None
    }

    /// True when the broker runs client transactions itself (the relay: RabbitMQ's). The
    /// session then forwards `BEGIN`/`COMMIT`/`ABORT` and transactional `SEND`/`ACK`/`NACK`
    /// instead of holding them.
    fn forwards_transactions(&self) -> bool {
        false
    }

    /// Forwards a `BEGIN`, `COMMIT` or `ABORT` (only when
    /// [`forwards_transactions`](Broker::forwards_transactions)).
    fn transaction(
        &self,
        _session: &SessionId,
        _command: stomp_core::Command,
        _transaction: &str,
    ) -> Result<(), BrokerError> {
        Ok(())
    }

    /// A client's `SEND` to a broker destination, for brokers that carry it on the session's
    /// own connection (the relay, as Spring's: client login, client transactions); `None`
    /// publishes it like any message.
    fn publish_from_session(
        &self,
        _session: &SessionId,
        _message: &PublishedMessage,
        _transaction: Option<&str>,
    ) -> Option<Result<usize, BrokerError>> {
        None
    }
}

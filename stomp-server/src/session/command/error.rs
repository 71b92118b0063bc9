//! [`CommandError`]: why a client command was refused. Its text is the `message` header of
//! the `ERROR` frame that ends the session; [`SessionState::reject`] sends it.
//!
//! [`SessionState::reject`]: super::super::state::SessionState::reject

use stomp_core::Command;

use crate::authorization::AccessDenied;
use crate::broker::BrokerError;
use crate::handler::dispatch::DispatchError;
use crate::routing::RouteError;

/// Why a client frame was refused. Every variant ends the session with an `ERROR` frame
/// whose `message` header is the variant's text (clients and tests match on it).
#[derive(Debug, thiserror::Error)]
pub(crate) enum CommandError {
    /// `SEND` or `SUBSCRIBE` without a `destination` header.
    #[error("{0} requires a destination header")]
    MissingDestination(Command),
    /// `SUBSCRIBE` or `UNSUBSCRIBE` without an `id` header (STOMP 1.1 and 1.2).
    #[error("{0} requires an id header")]
    MissingId(Command),
    /// A `SUBSCRIBE` whose `ack` header names no ack mode.
    #[error("unknown ack mode `{0}`; use auto, client or client-individual")]
    UnknownAckMode(String),
    /// A `SUBSCRIBE` whose `prefetch-count` header is not a whole number.
    #[error("invalid prefetch-count `{0}`; expected a whole number")]
    InvalidPrefetch(String),
    /// A `SUBSCRIBE` past `max_subscriptions_per_session`.
    #[error("subscription limit reached: a session may hold at most {0} subscriptions (max_subscriptions_per_session)")]
    SubscriptionLimit(usize),
    /// An `ACK`/`NACK` naming no message.
    #[error("{0} requires an id (1.2) or message-id (1.0, 1.1) header")]
    MissingAckTarget(Command),
    /// A STOMP 1.1 `ACK`/`NACK` with `message-id` but no `subscription`.
    #[error("{0} requires a subscription header beside message-id (STOMP 1.1)")]
    MissingAckSubscription(Command),
    /// `BEGIN`, `COMMIT` or `ABORT` without a `transaction` header.
    #[error("{0} requires a transaction header")]
    MissingTransaction(Command),
    /// A frame naming a transaction that is not open.
    #[error("unknown transaction `{0}`")]
    UnknownTransaction(String),
    /// `BEGIN` of a transaction that is already open.
    #[error("transaction `{0}` is already open")]
    DuplicateTransaction(String),
    /// Open transactions would hold more than `max_transaction_bytes`.
    #[error("open transactions would hold more than {0} bytes (max_transaction_bytes)")]
    TransactionBytes(usize),
    /// An `ACK`/`NACK` held by a transaction failed when it was committed.
    #[error("COMMIT of transaction `{transaction}` failed: {cause}")]
    CommitFailed {
        /// The transaction committed.
        transaction: String,
        /// Why the held frame failed.
        cause: Box<CommandError>,
    },
    /// A `SEND` held by a transaction failed when it was committed: said as the `SEND`
    /// itself would have, and without a `receipt-id` (the held frame's receipt was answered
    /// when it was held).
    #[error(transparent)]
    HeldSend(Box<CommandError>),
    /// A second `CONNECT` (or `STOMP`).
    #[error("already connected: a session accepts one CONNECT")]
    AlreadyConnected,
    /// A command only a server sends.
    #[error("{0} is a server command; a client may not send it")]
    ServerCommand(Command),
    /// A channel interceptor refused the frame, with this text.
    #[error("{0}")]
    Rejected(String),
    /// The authorization rules refused the frame.
    #[error(transparent)]
    AccessDenied(#[from] AccessDenied),
    /// The routing refused the destination, with this text.
    #[error("{0}")]
    Refused(String),
    /// The broker refused the command.
    #[error(transparent)]
    Broker(#[from] BrokerError),
    /// The message could not be published.
    #[error(transparent)]
    Route(#[from] RouteError),
    /// No handler could take a frame for an application destination.
    #[error(transparent)]
    Dispatch(#[from] DispatchError),
    /// An external broker's connection closed before it confirmed.
    #[error("broker unavailable: the broker connection closed")]
    BrokerClosed,
    /// An external broker did not confirm a subscription in time.
    #[error("broker unavailable: the broker did not confirm the subscription")]
    SubscriptionNotConfirmed,
}

impl CommandError {
    /// True when the `ERROR` carries the refused frame's `receipt` as its `receipt-id`.
    pub(crate) fn carries_receipt(&self) -> bool {
        !matches!(self, CommandError::HeldSend(_))
    }
}

#[cfg(test)]
mod tests {
    use super::CommandError;
    use stomp_core::Command;

    #[test]
    fn a_held_send_keeps_its_text_and_drops_the_receipt() {
        let error =
            CommandError::HeldSend(Box::new(CommandError::MissingDestination(Command::Send)));
        assert_eq!(error.to_string(), "SEND requires a destination header");
        assert!(!error.carries_receipt());
        assert!(CommandError::AlreadyConnected.carries_receipt());
    }

    #[test]
    fn a_failed_commit_names_the_transaction_and_the_cause() {
        let error = CommandError::CommitFailed {
            transaction: "tx1".to_owned(),
            cause: Box::new(CommandError::MissingAckTarget(Command::Ack)),
        };
        assert_eq!(
            error.to_string(),
            "COMMIT of transaction `tx1` failed: ACK requires an id (1.2) or message-id (1.0, 1.1) header"
        );
    }
}

//! What the relay's link to the broker shares between its writing and reading sides: what
//! a frame counts for on the wire, how the link fails, and the headers only the relay sets.

use stomp_core::Frame;

/// The header that carries the instance a relayed message comes from. Never shown to
/// clients: the relay strips it from what it delivers, and replaces any a client sent.
pub(crate) const ORIGIN: &str = "x-stomp-relay-origin";

/// The header that marks a batch of messages (see `batch`), with how many it holds.
pub(crate) const BATCH: &str = "x-stomp-relay-batch";

/// True for the headers only the relay itself may set on what it sends RabbitMQ (its origin
/// and batch marks): a client's copies are dropped, so that it can neither hide a message
/// from an instance nor pass a forged batch.
pub(crate) fn is_relay_header(name: &str) -> bool {
    name == ORIGIN || name == BATCH
}

/// Roughly what `frame` takes on the wire: its body, headers and command.
pub(crate) fn frame_size(frame: &Frame) -> usize {
    frame.body.len()
        + frame
            .headers
            .iter()
            .map(|(name, value)| name.len() + value.len() + 2)
            .sum::<usize>()
        + 16
}

/// Why a broker connection failed or ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RelayError {
    /// TCP connect or I/O failed.
    #[error("broker unreachable at {address}: {reason}")]
    Unreachable { address: String, reason: String },
    /// The broker answered `CONNECT` with `ERROR`.
    #[error("broker refused the connection: {0}")]
    Refused(String),
    /// The broker closed the connection or went silent.
    #[error("broker connection lost: {0}")]
    Lost(String),
}

//! What the relay's link to the broker shares between its writing and reading sides: what
//! a frame counts for on the wire, and how the link fails.

use stomp_core::Frame;

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

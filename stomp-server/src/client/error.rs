//! [`ClientError`] and [`CloseReason`]: what went wrong, in words a test failure can show.

use std::time::Duration;

use stomp_core::{DecodeError, Frame};
use tokio_tungstenite::tungstenite;

/// Why a STOMP client connection ended.
///
/// [`StompSession::closed`](super::StompSession::closed) returns it once the connection is
/// gone, and [`ClientError::Closed`] carries it when an operation finds the connection closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CloseReason {
    /// The client ended the session ([`disconnect`](super::StompSession::disconnect), or
    /// every handle was dropped).
    #[error("the client disconnected")]
    Disconnected,
    /// The server closed the WebSocket (close frame or end of the TCP stream).
    #[error("the server closed the connection{}", close_details(*.code, .reason))]
    ServerClosed {
        /// The WebSocket close code, when the server sent a close frame.
        code: Option<u16>,
        /// The close reason text (may be empty).
        reason: String,
    },
    /// The server sent an `ERROR` frame and then closed the connection.
    #[error("the server sent ERROR: {message}")]
    Error {
        /// The `message` header of the `ERROR` frame (empty when absent).
        message: String,
    },
    /// The server sent nothing for longer than twice the negotiated heart-beat interval.
    #[error("no heart-beat from the server for {silent_for:?}")]
    HeartBeatTimeout {
        /// How long the server had been silent when the connection was declared dead.
        silent_for: Duration,
    },
    /// The server sent bytes that are not a STOMP frame within the configured limits.
    #[error("the server sent an undecodable frame: {0}")]
    Decode(DecodeError),
    /// An I/O or WebSocket protocol error broke the connection.
    #[error("connection error: {0}")]
    Io(String),
}

/// Formats the optional part of [`CloseReason::ServerClosed`]'s message.
fn close_details(code: Option<u16>, reason: &str) -> String {
    match (code, reason.is_empty()) {
        (None, true) => String::new(),
        (None, false) => format!(" ({reason})"),
        (Some(code), true) => format!(" (code {code})"),
        (Some(code), false) => format!(" (code {code}: {reason})"),
    }
}

/// Everything a [`StompClient`](super::StompClient), a
/// [`StompSession`](super::StompSession) or a [`Subscription`](super::Subscription) can
/// fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The client configuration or URL cannot be used (bad URL, TLS without the `tls`
    /// feature, bad header).
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// The TCP connection could not be opened or broke.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The WebSocket handshake or transport failed.
    #[error("WebSocket error: {0}")]
    WebSocket(String),
    /// The server answered `CONNECT` with an `ERROR` frame instead of `CONNECTED`.
    #[error("the server refused the connection: {message}")]
    Refused {
        /// The `message` header of the `ERROR` frame.
        message: String,
        /// The body of the `ERROR` frame, as text (lossy).
        body: String,
    },
    /// The server sent an `ERROR` frame during the session.
    #[error("the server sent ERROR: {message}")]
    Error {
        /// The `message` header of the `ERROR` frame (empty when absent).
        message: String,
        /// The whole `ERROR` frame.
        frame: Box<Frame>,
    },
    /// The server sent bytes that are not a STOMP frame within the configured limits.
    #[error("cannot decode a frame from the server: {0}")]
    Decode(#[from] DecodeError),
    /// The server broke the protocol (for example answered `CONNECT` with a `MESSAGE`).
    #[error("STOMP protocol error: {0}")]
    Protocol(String),
    /// Nothing arrived in time; the text names what was awaited (`"RECEIPT"`, `"CONNECTED"`,
    /// `"MESSAGE"`).
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    /// The connection is closed.
    #[error("the connection is closed: {0}")]
    Closed(CloseReason),
    /// The frame given to the session cannot be sent as asked (no `ack` header to
    /// acknowledge, a subscription id already in use, `NACK` on STOMP 1.0...).
    #[error("invalid frame: {0}")]
    InvalidFrame(String),
    /// A payload could not be serialised to JSON.
    #[error("cannot serialize the payload to JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl From<tungstenite::Error> for ClientError {
    fn from(error: tungstenite::Error) -> ClientError {
        match error {
            tungstenite::Error::Io(io) => ClientError::Io(io),
            tungstenite::Error::Http(response) => ClientError::WebSocket(format!(
                "the server rejected the WebSocket handshake with HTTP {}",
                response.status()
            )),
            other => ClientError::WebSocket(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_reasons_read_well() {
        let closed = CloseReason::ServerClosed {
            code: Some(1000),
            reason: "bye".into(),
        };
        assert_eq!(
            closed.to_string(),
            "the server closed the connection (code 1000: bye)"
        );
        let eof = CloseReason::ServerClosed {
            code: None,
            reason: String::new(),
        };
        assert_eq!(eof.to_string(), "the server closed the connection");
        let error = ClientError::Closed(CloseReason::Error {
            message: "bad destination".into(),
        });
        assert_eq!(
            error.to_string(),
            "the connection is closed: the server sent ERROR: bad destination"
        );
    }
}

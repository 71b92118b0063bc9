//! Limits and heart-beat settings, with Spring's defaults.

use std::time::Duration;

use stomp_core::{FrameLimits, HeartBeat};

/// Per-session limits (Spring's `WebSocketTransportRegistration` and friends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest inbound STOMP frame (Spring's `setMessageSizeLimit`, default 64 KiB). Frames
    /// split over several WebSocket messages are reassembled up to this size.
    pub message_size: usize,
    /// Most headers in one inbound frame.
    pub max_headers: usize,
    /// Longest inbound header line.
    pub max_header_line: usize,
    /// Bytes allowed to wait for a client that does not read (Spring's
    /// `setSendBufferSizeLimit`, default 512 KiB); past it the session is closed.
    pub send_buffer_size: usize,
    /// Longest time one write may take (Spring's `setSendTimeLimit`, default 10 s); past it
    /// the session is closed.
    pub send_time: Duration,
    /// Time allowed between the WebSocket handshake and `CONNECT` (Spring: 60 s).
    pub time_to_first_frame: Duration,
    /// Most sessions at once; further handshakes get HTTP 503.
    pub max_sessions: usize,
    /// Most subscriptions per session.
    pub max_subscriptions_per_session: usize,
    /// WebSocket read buffer per connection. The default 4 KiB keeps an idle session small
    /// (tungstenite's own default is 128 KiB); larger messages still arrive whole.
    pub read_buffer_size: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            message_size: 64 * 1024,
            max_headers: 64,
            max_header_line: 8 * 1024,
            send_buffer_size: 512 * 1024,
            send_time: Duration::from_secs(10),
            time_to_first_frame: Duration::from_secs(60),
            max_sessions: 200_000,
            max_subscriptions_per_session: 1_000,
            read_buffer_size: 4 * 1024,
        }
    }
}

impl Limits {
    /// The decoder limits these imply.
    pub fn frame_limits(&self) -> FrameLimits {
        FrameLimits {
            max_frame_size: self.message_size,
            max_headers: self.max_headers,
            max_header_line: self.max_header_line,
            max_content_length: self.message_size,
        }
    }
}

/// The server's heart-beat offer (`heart-beat` header of `CONNECTED`). Default `10000,10000`:
/// unlike Spring's simple broker, which answers `0,0` unless a scheduler is configured, dead
/// connections are detected out of the box.
pub fn default_heartbeat() -> HeartBeat {
    HeartBeat {
        outgoing_ms: 10_000,
        incoming_ms: 10_000,
    }
}

/// What happens to a handler error no exception handler took.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum UnhandledErrors {
    /// Log it and send an `ERROR` frame, which closes the session (default). Spring stays
    /// silent, which leaves clients waiting for an answer that never comes.
    #[default]
    ErrorFrame,
    /// Log it and send `{"error": "..."}` to this user destination of the sending session
    /// (for example `/queue/errors`, which the client subscribes to as `/user/queue/errors`).
    UserDestination(String),
    /// Only log it (Spring's behaviour).
    LogOnly,
}

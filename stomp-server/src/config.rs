//! Limits and heart-beat settings, with Spring's defaults.

use std::time::Duration;

use stomp_core::{FrameLimits, HeartBeat};

/// Per-session limits (Spring's `WebSocketTransportRegistration` and friends).
///
/// Start from the defaults and change what you need with the `with_*` setters:
///
/// ```
/// use std::time::Duration;
/// use stomp_server::{config::Limits, StompServer};
///
/// let limits = Limits::default()
///     .with_message_size(128 * 1024) // Spring: setMessageSizeLimit
///     .with_send_buffer_size(1024 * 1024) // Spring: setSendBufferSizeLimit
///     .with_send_time(Duration::from_secs(5)) // Spring: setSendTimeLimit
///     .with_max_sessions(50_000);
/// let builder = StompServer::builder().limits(limits);
/// # let _ = builder;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest inbound STOMP frame (Spring's `setMessageSizeLimit`, default 64 KiB). Frames
    /// split over several WebSocket messages are reassembled up to this size.
    pub message_size: usize,
    /// Most headers in one inbound frame.
    pub max_headers: usize,
    /// Longest inbound header line.
    pub max_header_line: usize,
    /// Bytes allowed to wait for a client that does not read (Spring's
    /// `setSendBufferSizeLimit`, default 512 KiB); past it the session is closed. It holds
    /// the STOMP frames queued for the session, and the pongs answering the client's pings:
    /// everything the WebSocket was handed and its socket has not taken (frames,
    /// heart-beats, close frames, pongs) may exceed what one frame in flight takes by at
    /// most this much, so a client that floods pings without reading the pongs is closed,
    /// even before `CONNECT`.
    pub send_buffer_size: usize,
    /// Longest time one write may take (Spring's `setSendTimeLimit`, default 10 s); past it
    /// the session is closed.
    pub send_time: Duration,
    /// Time allowed between the WebSocket handshake and `CONNECT` (Spring: 60 s).
    pub time_to_first_frame: Duration,
    /// Most sessions at once, counted from the accepted handshake (a connection still waiting
    /// to send `CONNECT` holds a place); further handshakes get HTTP 503.
    pub max_sessions: usize,
    /// Most subscriptions per session.
    pub max_subscriptions_per_session: usize,
    /// Most frames one session may send per second, with bursts of up to one second's worth
    /// (a token bucket). A session past it gets an `ERROR` and is closed, so a flood of small
    /// valid frames cannot monopolise the server. Every WebSocket message counts, from the
    /// handshake on (before `CONNECT` too), whatever it holds: a heart-beat EOL, a ping, a
    /// part of a frame; a message holding several frames counts once per frame. Default
    /// 100,000; 0 turns the check off.
    pub max_frames_per_second: u32,
    /// Most bytes a session's open transactions may hold (`SEND`, `ACK` and `NACK` frames
    /// waiting for `COMMIT`, and the transactions themselves); past it the session gets an
    /// `ERROR` and is closed. Default 1 MiB.
    pub max_transaction_bytes: usize,
    /// Time allowed to an HTTP request for its headers (counted from the connection's start,
    /// or the end of the request before it), and again for its body: `http_handler` routes,
    /// SockJS `xhr_send`, and the WebSocket handshake itself. A request past it gets 408
    /// and its connection is closed, so that a client trickling a request cannot hold a
    /// connection. Request headers also get no more than `time_to_first_frame`.
    /// Default 30 s.
    pub http_request_time: Duration,
    /// Most connections that are still plain HTTP at once: accepted, and neither upgraded to
    /// a WebSocket nor serving a SockJS `xhr`/`xhr_streaming` session (which
    /// `max_sessions` counts instead). Past it a new connection gets 503 and is closed at
    /// once, so that slow requests cannot use up the process's file descriptors. Keep it
    /// well under the descriptor limit (`ulimit -n`) less the sessions expected. Default
    /// 512.
    pub max_pending_connections: usize,
    /// Most of those `max_pending_connections` that one client address may hold (an IPv4
    /// address, or an IPv6 /64); past it a new connection from that address gets 503 and is
    /// closed at once, so that one host cannot lock every other client out. Default 64; 0
    /// turns the check off.
    pub max_pending_connections_per_address: usize,
    /// WebSocket read buffer per connection. The default 4 KiB keeps an idle session small
    /// (tungstenite's own default is 128 KiB); larger messages still arrive whole.
    pub read_buffer_size: usize,
    /// The shortest heart-beat interval the server agrees to, each way. The server offers a
    /// client the intervals it asks for in its `CONNECT` (`heart-beat:cx,cy`), down to this
    /// floor and up to the configured heart-beats (`StompServerBuilder::heartbeat`), so a
    /// client that wants fast failure detection gets it (RabbitMQ does the same; Spring
    /// always offers its configured value). Set it to the configured heart-beats for
    /// Spring's behaviour. Default 1 s.
    pub heartbeat_floor: Duration,
    /// Time allowed to each handshake interceptor (past it the handshake gets 503) and to
    /// each call of an async channel interceptor (past it the session gets an `ERROR`,
    /// "interceptor timed out", and is closed). Default 5 s.
    pub interceptor_time: Duration,
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
            max_frames_per_second: 100_000,
            max_transaction_bytes: 1024 * 1024,
            read_buffer_size: 4 * 1024,
            http_request_time: Duration::from_secs(30),
            max_pending_connections: 512,
            max_pending_connections_per_address: 64,
            heartbeat_floor: Duration::from_secs(1),
            interceptor_time: Duration::from_secs(5),
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

/// A delay far enough away to mean "never" for a timer that is disabled (no heart-beats
/// negotiated), so that one timer per session can still be kept and moved.
pub(crate) const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365);

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
#[non_exhaustive]
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

/// Whether clients may `SEND` to user destinations (`/user/{name}/..`) themselves
/// ([`StompServerBuilder::client_user_sends`](crate::StompServerBuilder::client_user_sends)).
///
/// Spring lets any client send to any user's destinations unless Spring Security forbids it,
/// which secured Spring apps do; here refusing is the default. Messages for users normally
/// come from the server: `#[send_to_user]`, `Template::convert_and_send_to_user`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ClientUserSends {
    /// A client `SEND` to `/user/..` is answered with an `ERROR` (default).
    #[default]
    Deny,
    /// Clients may send to any user's destinations. What reaches the user carries the
    /// client's body and `content-type` only, plus a `sender` header the server sets to the
    /// sending principal's name (absent for an anonymous sender): no other header a client
    /// sets reaches another user, so none can pass for one the server wrote.
    Allow,
}

/// Acknowledgement, prefetch and point-to-point settings of the simple broker
/// ([`StompServerBuilder::broker_config`](crate::StompServerBuilder::broker_config)).
///
/// Spring's simple broker has none of this: it ignores `ACK`/`NACK` and broadcasts `/queue`
/// destinations like topics. The defaults keep that broadcast behaviour; acknowledgements
/// only cost anything for subscriptions that ask for `ack:client` or
/// `ack:client-individual`.
///
/// ```
/// use stomp_server::{config::BrokerConfig, StompServer};
///
/// // `/queue/jobs.*`: each message to exactly one consumer; poison messages go to a
/// // dead-letter destination after three deliveries.
/// let broker = BrokerConfig::default()
///     .with_point_to_point_prefixes(vec!["/queue/jobs.".to_owned()])
///     .with_max_delivery_attempts(3)
///     .with_dead_letter_destination(Some("/queue/jobs.dead".to_owned()));
/// let builder = StompServer::builder().broker_config(broker);
/// # let _ = builder;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BrokerConfig {
    /// Destination prefixes served as point-to-point queues (competing consumers: each
    /// message goes to exactly one subscriber). Default: none, every destination broadcasts
    /// as in Spring. These prefixes are broker prefixes too.
    pub point_to_point_prefixes: Vec<String>,
    /// Most unacknowledged messages per `ack:client`/`client-individual` subscription: the
    /// prefetch window (default 1000). A `prefetch-count` header on `SUBSCRIBE` may lower it.
    pub max_unacked_per_subscription: usize,
    /// Most messages that may wait behind a full prefetch window of a broadcast subscription
    /// (default 10 000). Past it the subscriber is a slow consumer and its session is closed.
    pub max_pending_per_subscription: usize,
    /// Most messages a point-to-point destination holds while no consumer can take them
    /// (default 10 000). Past it a `SEND` is refused with an `ERROR` saying the queue is full.
    pub max_held_per_queue: usize,
    /// Most messages all point-to-point destinations hold together (default 1 000 000), so
    /// that many small queues cannot grow memory without bound either.
    pub max_held_total: usize,
    /// Most bytes (destination, headers and body) one point-to-point destination holds
    /// while no consumer can take them (default 16 MiB). Past it a `SEND` is refused with an
    /// `ERROR` saying the queue is full.
    pub max_held_bytes_per_queue: usize,
    /// Most bytes all point-to-point destinations hold together (default 256 MiB).
    pub max_held_bytes_total: usize,
    /// Most bytes the acknowledging subscriptions of one session may hold: delivered and
    /// not acknowledged, or waiting behind a full prefetch window (default 4 MiB). The
    /// session's point-to-point consumers share half of it and get nothing more at that
    /// half until they acknowledge (the messages wait in their queue); its broadcast
    /// subscriptions may hold the rest (at least the other half), and one past it is a slow
    /// consumer: its session gets an `ERROR` and is closed.
    pub max_unacked_bytes_per_session: usize,
    /// Most bytes the acknowledging subscriptions of every session hold together (default
    /// 256 MiB), so that many sessions that never acknowledge cannot add up past the
    /// machine's memory. At the bound a point-to-point consumer gets nothing more until
    /// something is acknowledged (the messages wait in their queue), and a broadcast
    /// subscription that would pass it is a slow consumer: its session gets an `ERROR`
    /// naming both bounds and is closed.
    pub max_unacked_bytes_total: usize,
    /// Deliveries of one message before it is given up (default 5): a message `NACK`ed (or
    /// left unacknowledged by a departing point-to-point consumer) this many times goes to
    /// the dead-letter destination instead of being delivered again.
    pub max_delivery_attempts: u32,
    /// Where given-up messages are published (for example `/queue/dead-letter`), with
    /// `original-destination` and `delivery-attempts` headers added. Default: none, they are
    /// dropped with a log line.
    pub dead_letter_destination: Option<String>,
}

impl Default for BrokerConfig {
    fn default() -> BrokerConfig {
        BrokerConfig {
            point_to_point_prefixes: Vec::new(),
            max_unacked_per_subscription: 1_000,
            max_pending_per_subscription: 10_000,
            max_held_per_queue: 10_000,
            max_held_total: 1_000_000,
            max_held_bytes_per_queue: 16 * 1024 * 1024,
            max_held_bytes_total: 256 * 1024 * 1024,
            max_unacked_bytes_per_session: 4 * 1024 * 1024,
            max_unacked_bytes_total: 256 * 1024 * 1024,
            max_delivery_attempts: 5,
            dead_letter_destination: None,
        }
    }
}

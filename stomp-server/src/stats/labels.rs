//! The labels of the counters kept by kind: why a session closed, which SockJS transport
//! carries a session, which backplane reports its connection.

/// Why a STOMP session ended, as counted by [`StatsSnapshot::sessions_closed`](super::StatsSnapshot::sessions_closed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SessionCloseCause {
    /// The client sent `DISCONNECT`.
    Disconnect,
    /// The client closed the WebSocket (or TCP connection) without `DISCONNECT`.
    ClientClosed,
    /// The connection failed (a read or write error, the peer vanished).
    ConnectionLost,
    /// The server sent an `ERROR` frame (a protocol error, a refused frame, a handler error
    /// answered with `ERROR`, flooding) and closed.
    Error,
    /// Slow consumer: more than `Limits::send_buffer_size` bytes waited to be written.
    SendBufferLimit,
    /// Slow consumer: one write took longer than `Limits::send_time`.
    SendTimeLimit,
    /// Slow consumer: too many messages waited for acknowledgement.
    AckBacklog,
    /// The client went silent past the heart-beat window.
    HeartBeat,
    /// The server shut down.
    Shutdown,
    /// The application ended the session (`SessionControl`, expired credentials).
    Ended,
}

impl SessionCloseCause {
    /// Every cause, in the order snapshots list them.
    pub const ALL: [SessionCloseCause; 10] = [
        SessionCloseCause::Disconnect,
        SessionCloseCause::ClientClosed,
        SessionCloseCause::ConnectionLost,
        SessionCloseCause::Error,
        SessionCloseCause::SendBufferLimit,
        SessionCloseCause::SendTimeLimit,
        SessionCloseCause::AckBacklog,
        SessionCloseCause::HeartBeat,
        SessionCloseCause::Shutdown,
        SessionCloseCause::Ended,
    ];

    /// Its label value (`disconnect`, `send_buffer_limit`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            SessionCloseCause::Disconnect => "disconnect",
            SessionCloseCause::ClientClosed => "client_closed",
            SessionCloseCause::ConnectionLost => "connection_lost",
            SessionCloseCause::Error => "error",
            SessionCloseCause::SendBufferLimit => "send_buffer_limit",
            SessionCloseCause::SendTimeLimit => "send_time_limit",
            SessionCloseCause::AckBacklog => "ack_backlog",
            SessionCloseCause::HeartBeat => "heartbeat",
            SessionCloseCause::Shutdown => "shutdown",
            SessionCloseCause::Ended => "ended",
        }
    }

    /// True for the three slow-consumer causes.
    pub fn is_slow_consumer(self) -> bool {
        matches!(
            self,
            SessionCloseCause::SendBufferLimit
                | SessionCloseCause::SendTimeLimit
                | SessionCloseCause::AckBacklog
        )
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// The SockJS transport a SockJS session was opened with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SockJsTransport {
    /// `websocket` (SockJS framing over a WebSocket).
    WebSocket,
    /// `xhr_streaming`.
    XhrStreaming,
    /// `xhr` (polling).
    XhrPolling,
    /// `eventsource`.
    EventSource,
    /// `htmlfile`.
    HtmlFile,
}

impl SockJsTransport {
    /// Every transport, in the order snapshots list them.
    pub const ALL: [SockJsTransport; 5] = [
        SockJsTransport::WebSocket,
        SockJsTransport::XhrStreaming,
        SockJsTransport::XhrPolling,
        SockJsTransport::EventSource,
        SockJsTransport::HtmlFile,
    ];

    /// Its label value: SockJS's own transport name (`xhr` for polling).
    pub fn as_str(self) -> &'static str {
        match self {
            SockJsTransport::WebSocket => "websocket",
            SockJsTransport::XhrStreaming => "xhr_streaming",
            SockJsTransport::XhrPolling => "xhr",
            SockJsTransport::EventSource => "eventsource",
            SockJsTransport::HtmlFile => "htmlfile",
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }

    /// The transport a receiving request's URL names; `None` for one that opens no session.
    pub(crate) fn from_url(name: &str) -> Option<SockJsTransport> {
        SockJsTransport::ALL
            .into_iter()
            .find(|transport| transport.as_str() == name)
    }
}

/// What carries messages between this server and others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Backplane {
    /// The broker relay's system connection to RabbitMQ (or another STOMP broker).
    Relay,
    /// The Redis backplane's connections.
    Redis,
}

impl Backplane {
    /// Every backplane, in the order snapshots list them.
    pub const ALL: [Backplane; 2] = [Backplane::Relay, Backplane::Redis];

    /// Its label value (`relay`, `redis`).
    pub fn as_str(self) -> &'static str {
        match self {
            Backplane::Relay => "relay",
            Backplane::Redis => "redis",
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

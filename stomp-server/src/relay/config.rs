//! [`RelayConfig`]: where the broker relay connects (Spring's `enableStompBrokerRelay`).

use std::time::Duration;

/// The STOMP broker relay's settings, with Spring's defaults. Used with
/// `StompServer::builder().broker_relay(..)`, it replaces the simple broker:
/// destinations under `prefixes` live in RabbitMQ (its STOMP plugin), and several server
/// instances that relay to one RabbitMQ serve one set of topics, queues and users.
///
/// The struct is `#[non_exhaustive]`: start from the defaults and use the `with_*` setters
/// (Spring's `registry.enableStompBrokerRelay("/topic", "/queue").setRelayHost(..)`):
///
/// ```
/// use stomp_server::{relay::RelayConfig, StompServer};
///
/// let relay = RelayConfig::default()
///     .with_host("rabbitmq.internal".to_owned())
///     .with_virtual_host("chat".to_owned())
///     .with_client_login("app".to_owned())
///     .with_client_passcode("app-secret".to_owned());
/// let builder = StompServer::builder().broker_relay(relay);
/// # let _ = builder;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelayConfig {
    /// Destination prefixes the broker owns (default `/topic`, `/queue`).
    pub prefixes: Vec<String>,
    /// Prefixes of RabbitMQ `/topic` destinations whose broadcast subscriptions (`ack:auto`,
    /// not a user destination) this instance serves from its own fan-out, with one RabbitMQ
    /// subscription per destination or pattern however many sessions listen (default
    /// `/topic`). Each segment is a whole RabbitMQ word (`*` and `**` only as segments).
    /// Empty: every subscription gets its own RabbitMQ subscription on its session's own
    /// broker connection, as in Spring's relay.
    pub shared_prefixes: Vec<String>,
    /// The broker's host (default `127.0.0.1`).
    pub host: String,
    /// The broker's STOMP port (default 61613).
    pub port: u16,
    /// The virtual host, sent as the `host` header of `CONNECT` (default `/`).
    pub virtual_host: String,
    /// Login of the connections opened for client sessions (default `guest`).
    pub client_login: String,
    /// Passcode of the connections opened for client sessions (default `guest`).
    pub client_passcode: String,
    /// Login of the shared system connection (default `guest`).
    pub system_login: String,
    /// Passcode of the shared system connection (default `guest`).
    pub system_passcode: String,
    /// Heart-beat the system connection sends (default 10 s, as Spring).
    pub system_heartbeat_send_interval: Duration,
    /// Heart-beat the system connection expects (default 10 s, as Spring).
    pub system_heartbeat_receive_interval: Duration,
    /// Time allowed for TCP connect plus `CONNECTED` (default 5 s).
    pub connect_timeout: Duration,
    /// Longest pause between reconnection attempts of the system connection (default 5 s;
    /// attempts start at 100 ms and double).
    pub max_reconnect_delay: Duration,
    /// Most bytes a client session's broker connection may have waiting to be written to
    /// the broker (default 1 MiB). Past it, the client's `SEND` is answered with an `ERROR`
    /// saying the broker is not keeping up. Spring's relay has no such bound: a broker that
    /// stops reading makes its queue grow without limit.
    pub client_send_buffer_size: usize,
    /// The same bound for the shared system connection, which carries every application
    /// message (`Template`, handler replies) of this instance (default 16 MiB). Past it,
    /// publishing fails with [`BrokerError::Backlog`](crate::broker::BrokerError::Backlog).
    pub system_send_buffer_size: usize,
    /// Longest a write to the broker may take (default 10 s, like the WebSocket side's
    /// send-time limit). A broker connection whose write takes longer is closed as lost:
    /// the client session gets an `ERROR`, the system connection reconnects.
    pub send_time_limit: Duration,
    /// Most messages this instance writes to RabbitMQ as one when they wait together to be
    /// published to one shared topic (default 1: each alone, readable by any RabbitMQ
    /// client). Under load RabbitMQ's per-message cost limits the relay; batching divides
    /// it (nothing waits for a batch to fill). A batch is readable only by instances of this
    /// server: set it above 1 only when no other RabbitMQ client (a Spring instance, a
    /// client of RabbitMQ's own STOMP port) subscribes to the shared topics. With it, every
    /// subscription to a shared topic, `ack:client` ones too, is served by the instance's
    /// local broker, which tracks their acknowledgements.
    pub publish_batch: usize,
    /// How long a client that publishes may be held back, once the system connection holds
    /// three quarters of `system_send_buffer_size` unwritten, for it to drain below half
    /// (default 5 s). The client's session reads nothing meanwhile (TCP back-pressure on the
    /// publisher, as a slow broker would give it); past it, its message is refused with an
    /// `ERROR` saying the broker is not keeping up. Spring's relay neither waits nor bounds.
    pub publish_wait: Duration,
    /// Connect to the broker over TLS (RabbitMQ's `stomp.listeners.ssl`, port 61614; in
    /// Spring, a `TcpClient` with SSL given to `setTcpClient`). Default `None`: plain TCP.
    /// Set [`port`](Self::port) to the broker's TLS port too.
    #[cfg(feature = "tls")]
    pub tls: Option<crate::tls::RelayTls>,
}

impl Default for RelayConfig {
    fn default() -> RelayConfig {
        RelayConfig {
            prefixes: vec!["/topic".to_owned(), "/queue".to_owned()],
            shared_prefixes: vec!["/topic".to_owned()],
            host: "127.0.0.1".to_owned(),
            port: 61613,
            virtual_host: "/".to_owned(),
            client_login: "guest".to_owned(),
            client_passcode: "guest".to_owned(),
            system_login: "guest".to_owned(),
            system_passcode: "guest".to_owned(),
            system_heartbeat_send_interval: Duration::from_secs(10),
            system_heartbeat_receive_interval: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_reconnect_delay: Duration::from_secs(5),
            client_send_buffer_size: 1024 * 1024,
            system_send_buffer_size: 16 * 1024 * 1024,
            send_time_limit: Duration::from_secs(10),
            publish_batch: 1,
            publish_wait: Duration::from_secs(5),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

impl RelayConfig {
    /// `host:port`.
    pub(crate) fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

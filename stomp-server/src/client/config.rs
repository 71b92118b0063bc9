//! [`StompClient`]: the connection settings, built Spring-style and reused for many
//! connections.

use std::net::IpAddr;
use std::time::Duration;

use stomp_core::{FrameLimits, HeartBeat, Version};

/// A STOMP over WebSocket client: settings shared by every connection it opens, like
/// Spring's `WebSocketStompClient`.
///
/// Building one is cheap and [`connect`](StompClient::connect) takes `&self`, so one client
/// can open any number of connections. Defaults: `accept-version:1.0,1.1,1.2`,
/// `heart-beat:10000,10000`, incoming frames limited to 64 KiB, sub-protocols
/// `v10.stomp, v11.stomp, v12.stomp` offered, a 4 KiB WebSocket read buffer, 15 s to wait
/// for a `RECEIPT` and for `CONNECTED`, 1024 buffered messages per subscription.
#[derive(Debug, Clone)]
pub struct StompClient {
    pub(super) accept_versions: Vec<Version>,
    pub(super) heartbeat: HeartBeat,
    pub(super) login: Option<(String, String)>,
    pub(super) host: Option<String>,
    pub(super) connect_headers: Vec<(String, String)>,
    pub(super) use_stomp_command: bool,
    pub(super) subprotocols: Vec<String>,
    pub(super) origin: Option<String>,
    pub(super) handshake_headers: Vec<(String, String)>,
    pub(super) limits: FrameLimits,
    pub(super) read_buffer_size: usize,
    pub(super) receipt_timeout: Duration,
    pub(super) connect_timeout: Duration,
    pub(super) bind_addr: Option<IpAddr>,
    pub(super) subscription_capacity: usize,
    pub(super) send_queue_capacity: usize,
    pub(super) unrouted_capacity: usize,
    /// What `wss://` and `stomp+ssl://` connections trust (default: the webpki roots).
    pub(super) tls: Option<crate::tls::TlsClientConfig>,
}

impl Default for StompClient {
    fn default() -> StompClient {
        StompClient::new()
    }
}

impl StompClient {
    /// A client with the defaults listed on [`StompClient`].
    pub fn new() -> StompClient {
        StompClient {
            accept_versions: Version::ALL.to_vec(),
            heartbeat: HeartBeat {
                outgoing_ms: 10_000,
                incoming_ms: 10_000,
            },
            login: None,
            host: None,
            connect_headers: Vec::new(),
            use_stomp_command: false,
            subprotocols: Version::ALL
                .iter()
                .map(|v| v.subprotocol().to_owned())
                .collect(),
            origin: None,
            handshake_headers: Vec::new(),
            limits: FrameLimits::default(),
            read_buffer_size: 4 * 1024,
            receipt_timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(15),
            bind_addr: None,
            subscription_capacity: 1024,
            send_queue_capacity: 256,
            unrouted_capacity: 64,
            tls: None,
        }
    }

    /// The `heart-beat` this client asks for in `CONNECT`: it can send every `outgoing_ms`
    /// and wants to hear from the server every `incoming_ms` (0: none). The intervals in use
    /// are negotiated with the server's `CONNECTED` header.
    #[must_use]
    pub fn heartbeat(mut self, outgoing_ms: u32, incoming_ms: u32) -> StompClient {
        self.heartbeat = HeartBeat {
            outgoing_ms,
            incoming_ms,
        };
        self
    }

    /// Adds a header to the `CONNECT` frame (`Authorization`, custom headers...).
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> StompClient {
        self.connect_headers.push((name.into(), value.into()));
        self
    }

    /// Sets the `login` and `passcode` headers of the `CONNECT` frame.
    #[must_use]
    pub fn login(mut self, login: impl Into<String>, passcode: impl Into<String>) -> StompClient {
        self.login = Some((login.into(), passcode.into()));
        self
    }

    /// Sets the `host` header of the `CONNECT` frame (the virtual host; default: the host of
    /// the URL).
    #[must_use]
    pub fn host(mut self, host: impl Into<String>) -> StompClient {
        self.host = Some(host.into());
        self
    }

    /// Opens the session with the 1.1+ `STOMP` command instead of `CONNECT`.
    #[must_use]
    pub fn use_stomp_command(mut self, yes: bool) -> StompClient {
        self.use_stomp_command = yes;
        self
    }

    /// The versions listed in `accept-version` (default 1.0, 1.1, 1.2).
    #[must_use]
    pub fn accept_versions(mut self, versions: &[Version]) -> StompClient {
        self.accept_versions = versions.to_vec();
        self
    }

    /// The WebSocket sub-protocols offered in the handshake (empty: offer none).
    ///
    /// When some are offered, the server must select one, or the handshake fails.
    #[must_use]
    pub fn subprotocols(mut self, subprotocols: Vec<String>) -> StompClient {
        self.subprotocols = subprotocols;
        self
    }

    /// The `Origin` header of the WebSocket handshake (none by default).
    #[must_use]
    pub fn origin(mut self, origin: impl Into<String>) -> StompClient {
        self.origin = Some(origin.into());
        self
    }

    /// Adds an HTTP header to the WebSocket handshake request (`Cookie`, `Authorization`...).
    #[must_use]
    pub fn handshake_header(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> StompClient {
        self.handshake_headers.push((name.into(), value.into()));
        self
    }

    /// Limits on frames received from the server (default [`FrameLimits::default`]: 64 KiB).
    ///
    /// A WebSocket message may carry several frames, so the WebSocket message limit is set
    /// to eight times `max_frame_size`, and at least 1 MiB.
    #[must_use]
    pub fn frame_limits(mut self, limits: FrameLimits) -> StompClient {
        self.limits = limits;
        self
    }

    /// The WebSocket read buffer, allocated up front for every connection (default 4 KiB:
    /// small, for many connections; 64 KiB or more reads large messages faster).
    #[must_use]
    pub fn read_buffer_size(mut self, bytes: usize) -> StompClient {
        self.read_buffer_size = bytes;
        self
    }

    /// How long to wait for a `RECEIPT` (default 15 s, as Spring).
    #[must_use]
    pub fn receipt_timeout(mut self, timeout: Duration) -> StompClient {
        self.receipt_timeout = timeout;
        self
    }

    /// How long [`connect`](StompClient::connect) may take in all: TCP, WebSocket handshake
    /// and `CONNECTED` (default 15 s).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> StompClient {
        self.connect_timeout = timeout;
        self
    }

    /// The local address to connect from, so a load generator can spread connections over
    /// `127.0.0.x` source addresses and not run out of ephemeral ports.
    #[must_use]
    pub fn bind_addr(mut self, addr: IpAddr) -> StompClient {
        self.bind_addr = Some(addr);
        self
    }

    /// What `wss://` and `stomp+ssl://` connections trust, for example
    /// [`TlsClientConfig::from_ca_pem_file`](crate::tls::TlsClientConfig::from_ca_pem_file)
    /// for a private CA (default: the Mozilla roots compiled in,
    /// [`TlsClientConfig::webpki_roots`](crate::tls::TlsClientConfig::webpki_roots)). Needs
    /// the `tls` cargo feature.
    #[cfg(feature = "tls")]
    #[must_use]
    pub fn tls(mut self, config: crate::tls::TlsClientConfig) -> StompClient {
        self.tls = Some(config);
        self
    }

    /// How many `MESSAGE` frames each [`Subscription`](super::Subscription) buffers
    /// (default 1024, at least 1).
    ///
    /// When a subscription's buffer is full, the connection's reader waits for room: frames
    /// stay in the socket and the server sees a slow consumer, exactly as with a slow
    /// application. Keep reading every live subscription, or drop it.
    #[must_use]
    pub fn subscription_capacity(mut self, messages: usize) -> StompClient {
        self.subscription_capacity = messages.max(1);
        self
    }

    /// How many outgoing frames may wait for the writer (default 256, at least 1); senders
    /// wait when it is full.
    #[must_use]
    pub fn send_queue_capacity(mut self, frames: usize) -> StompClient {
        self.send_queue_capacity = frames.max(1);
        self
    }

    /// How many frames nobody waits for (`MESSAGE` for an unknown subscription, `RECEIPT`
    /// nobody awaits) are kept for
    /// [`StompSession::next_unrouted`](super::StompSession::next_unrouted) (default 64; 0
    /// discards them). Beyond that the oldest is dropped.
    #[must_use]
    pub fn unrouted_capacity(mut self, frames: usize) -> StompClient {
        self.unrouted_capacity = frames;
        self
    }
}

//! Testing an application's handlers without a port: Spring's test support
//! (`@SpringBootTest` with a `WebSocketStompClient`), for this framework.
//!
//! A [`TestServer`] holds the application's built [`Server`]. Each session it connects is
//! an in-memory pipe (`tokio::io::duplex`): the server end is served by
//! [`Server::serve_connection`], the other end is the real [`StompClient`] making its
//! WebSocket handshake and sending `CONNECT`, so every frame takes the path a network
//! client's frames take: decoding, limits, handshake and channel interceptors,
//! authorization rules, handlers, broker, user destinations. Only the TCP socket is missing.
//!
//! ```
//! use std::time::Duration;
//! use stomp_server::test::TestServer;
//! use stomp_server::{message_mapping, send_to, Payload, Principal, StompServer};
//!
//! #[derive(serde::Deserialize)]
//! struct Hello { name: String }
//!
//! #[message_mapping("/hello")]
//! #[send_to("/topic/greetings")]
//! fn greet(user: Principal, Payload(hello): Payload<Hello>) -> String {
//!     format!("Hello, {}! (from {})", hello.name, user.name())
//! }
//!
//! #[tokio::main]
//! async fn main() {
//!     let server = TestServer::build(StompServer::builder()).expect("the app builds");
//!     let mut alice = server.connect_with_mock_user("alice").await;
//!     alice.subscribe("/topic/greetings").await;
//!     alice.send_json("/app/hello", &serde_json::json!({ "name": "Rust" })).await;
//!     let greeting = alice.expect_message("/topic/greetings").await;
//!     assert_eq!(greeting.text(), "Hello, Rust! (from alice)");
//!     alice.expect_no_message("/topic/greetings", Duration::from_millis(50)).await;
//! }
//! ```
//!
//! - Who the session is: [`TestServer::connect`] (anonymous),
//!   [`TestServer::client`] for the application's own authentication (`CONNECT`'s
//!   `login`/`passcode` or other headers, handshake headers, a query on the endpoint's path),
//!   and [`TestServer::connect_with_mock_user`] / [`TestClient::with_mock_principal`] for
//!   Spring's `@WithMockUser`: the session starts as that user *without* the application's
//!   authentication (its handshake interceptors and the channel interceptors of the
//!   `CONNECT` frame do not run); every later frame passes the interceptors and
//!   authorization rules as usual.
//! - What it does: [`TestSession`] sends (`send`, `send_json`, `send_with_headers`,
//!   `send_with_receipt`, any frame), subscribes, and asserts: `expect_message` (with
//!   [`TestMessage::json`], Spring's `Payload` decoding), `expect_no_message`,
//!   `expect_error`, `expect_closed`.
//! - The harness's clients ask for no heart-beats (Spring's client sends none without a
//!   scheduler); [`TestClient::configure`] sets them, or anything else of the client.
//! - Every wait has a timeout, [`DEFAULT_TIMEOUT`] unless [`TestServer::with_timeout`] says
//!   otherwise; a wait that runs out panics with a message naming the destination and what
//!   the session did receive meanwhile. Nothing sleeps a fixed time except
//!   [`expect_no_message`](TestSession::expect_no_message), for the window it is given.
//!
//! The module is always compiled, not behind a cargo feature (as tokio's `test-util` is):
//! it needs no dependency the crate does not already have (`duplex` is tokio's `io-util`,
//! which the server uses anyway), changes nothing at run time unless it is called (code
//! nobody calls is not linked into a binary), and a mock user can only be given by code in
//! the same process that holds the [`Server`], never by a client, exactly as a handshake
//! interceptor of the application could. A feature would also hide the examples here from
//! the documentation and the doctests of a default build.

mod client;
mod message;
mod session;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

pub use client::TestClient;
pub use message::{TestError, TestMessage};
pub use session::TestSession;

use crate::client::StompClient;
use crate::server::{Server, StartError, StompServerBuilder};
use crate::stats::Stats;
use crate::template::Template;

/// How long every wait of the harness lasts unless [`TestServer::with_timeout`] says
/// otherwise: 5 seconds, enough for a loaded CI machine, short enough for a failure to show.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The bytes each direction of an in-memory connection holds before the writer waits:
/// what a socket buffer would hold, so that a slow reader is a slow consumer here too.
const PIPE_BYTES: usize = 64 * 1024;

/// An application's server under test: connects in-memory sessions to it.
pub struct TestServer {
    server: Server,
    timeout: Duration,
    /// The port of the next session's made-up remote address (`127.0.0.1:N`), so that
    /// every session comes from an address of its own, as over TCP.
    next_port: AtomicU16,
}

impl TestServer {
    /// Tests `server`, the application's server as it builds it for production.
    pub fn new(server: Server) -> TestServer {
        TestServer {
            server,
            timeout: DEFAULT_TIMEOUT,
            next_port: AtomicU16::new(1),
        }
    }

    /// Builds `builder` and tests the server (no port is bound, no accept loop runs).
    pub fn build(builder: StompServerBuilder) -> Result<TestServer, StartError> {
        Ok(TestServer::new(builder.build()?))
    }

    /// How long every wait lasts from now on (connect, receipts, `expect_*`), instead of
    /// [`DEFAULT_TIMEOUT`].
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> TestServer {
        self.timeout = timeout;
        self
    }

    /// How long every wait lasts.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The server under test.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// The server's messaging template (Spring's `SimpMessagingTemplate`), to send as the
    /// application's own code would.
    pub fn template(&self) -> Template {
        self.server.template()
    }

    /// The server's live counters.
    pub fn stats(&self) -> std::sync::Arc<Stats> {
        self.server.stats()
    }

    /// A client to configure before it connects: credentials, headers, path, mock user.
    pub fn client(&self) -> TestClient<'_> {
        let endpoint = self.server.endpoints.endpoints.first().cloned();
        TestClient::new(self, endpoint.unwrap_or_else(|| "/ws".to_owned()))
    }

    /// An anonymous session (no credentials), through the application's authentication.
    /// Panics, saying why, when the server refuses it.
    pub async fn connect(&self) -> TestSession {
        self.client().connect().await
    }

    /// A session started as user `name` without the application's authentication (Spring's
    /// `@WithMockUser`): see [`TestClient::with_mock_user`].
    pub async fn connect_with_mock_user(&self, name: &str) -> TestSession {
        self.client().with_mock_user(name).connect().await
    }

    /// The settings every client of the harness starts from: the client's defaults, with
    /// no heart-beats (Spring's client has none without a scheduler) and the harness's
    /// timeout for `CONNECTED` and receipts.
    fn stomp_client(&self) -> StompClient {
        StompClient::new()
            .heartbeat(0, 0)
            .connect_timeout(self.timeout)
            .receipt_timeout(self.timeout)
    }

    /// A made-up remote address for the next session.
    fn next_remote(&self) -> SocketAddr {
        let port = self.next_port.fetch_add(1, Ordering::Relaxed).max(1);
        SocketAddr::from((Ipv4Addr::LOCALHOST, port))
    }
}

impl From<Server> for TestServer {
    fn from(server: Server) -> TestServer {
        TestServer::new(server)
    }
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

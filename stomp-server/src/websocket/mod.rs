//! Raw WebSocket endpoints: plain WebSocket messages, no STOMP (Spring's `WebSocketHandler`
//! registered with `WebSocketConfigurer.addHandler`).
//!
//! An application serves one beside its STOMP endpoint with
//! [`StompServerBuilder::raw_endpoint`](crate::StompServerBuilder::raw_endpoint) and a
//! [`WebSocketHandler`]. Each connection is a [`WebSocketSession`]: the handler answers on
//! it, reaches every other raw session through [`RawSessions`], and publishes into STOMP
//! destinations through the session's [`Template`](crate::Template). STOMP handlers reach the
//! raw sessions too, with a `State<RawSessions>` argument.
//!
//! ```no_run
//! use stomp_server::websocket::{TextMessage, WebSocketHandler, WebSocketSession};
//!
//! /// Every text message goes to every raw client, and to STOMP subscribers of /topic/raw.
//! struct Echo;
//!
//! impl WebSocketHandler for Echo {
//!     async fn handle_text_message(&self, session: &WebSocketSession, message: TextMessage) {
//!         session.sessions().broadcast_text(message.as_str());
//!         let _ = session.template().convert_and_send("/topic/raw", message.as_str());
//!     }
//! }
//!
//! # async fn run() -> Result<(), stomp_server::StartError> {
//! stomp_server::StompServer::builder()
//!     .endpoint("/ws")
//!     .raw_endpoint("/ws-raw", Echo)
//!     .serve("127.0.0.1:8080")
//!     .await
//! # }
//! ```
//!
//! A raw session is held to the same [`Limits`](crate::config::Limits) as a STOMP session:
//! a message over `message_size` closes it with 1009, more than `max_frames_per_second`
//! messages a second with 1008, more than `send_buffer_size` bytes waiting for a client that
//! does not read (or a write slower than `send_time`) closes it as a slow consumer; it takes
//! a place under `max_sessions`, its handshake passes the same origin check, and shutdown
//! closes it with 1001 after what was queued for it. A client that sends nothing for the
//! server's incoming heart-beat interval (`StompServerBuilder::heartbeat`, 10 s by default)
//! is sent a WebSocket ping, and is closed with 1008 when it has not answered (or sent
//! anything) within a second interval.

mod endpoint;
mod handler;
mod message;
mod run;
mod session;

pub(crate) use endpoint::{RawContext, RawEndpoint};
pub(crate) use handler::DynHandler;
pub use handler::WebSocketHandler;
pub use message::{BinaryMessage, CloseStatus, TextMessage, TransportError};
pub(crate) use run::run_raw_session;
pub use session::{RawSessions, SessionClosed, WebSocketSession};

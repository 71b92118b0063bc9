//! A STOMP over WebSocket (or plain TCP) client, the counterpart of Spring's `WebSocketStompClient` and
//! `StompSession`: for integration tests, load generators and Rust services that talk to a
//! STOMP server.
//!
//! ```no_run
//! use std::time::Duration;
//! use stomp_server::client::StompClient;
//!
//! # async fn demo() -> Result<(), stomp_server::client::ClientError> {
//! let client = StompClient::new().login("alice", "secret").heartbeat(10_000, 10_000);
//! let session = client.connect("ws://127.0.0.1:8080/ws").await?;
//!
//! // Returns once the server's RECEIPT says the subscription is live.
//! let mut room = session.subscribe("/topic/chat/rust").await?;
//! session.send_json("/app/chat/rust", &serde_json::json!({ "text": "hi" })).await?;
//!
//! let message = room.next_timeout(Duration::from_secs(5)).await?;
//! println!("{}", message.body_str().unwrap_or("<binary>"));
//!
//! session.disconnect().await?; // DISCONNECT, RECEIPT, WebSocket close
//! # Ok(())
//! # }
//! ```
//!
//! How it works:
//! - [`StompClient`] holds settings; [`connect`](StompClient::connect) opens TCP (optionally
//!   from a chosen source address), does the WebSocket handshake offering the
//!   `v1x.stomp` sub-protocols, sends `CONNECT` and waits for `CONNECTED` (an `ERROR` gives
//!   [`ClientError::Refused`]).
//! - A [`StompSession`] is a cheap handle over two tasks. The reader decodes frames (a frame
//!   may span WebSocket messages, a message may hold several frames) and routes them:
//!   `MESSAGE` by `subscription` id to its [`Subscription`], `RECEIPT` to whoever awaits it,
//!   `ERROR` to every subscription and [`StompSession::next_error`], anything else to
//!   [`StompSession::next_unrouted`]. The writer encodes nothing itself: senders encode,
//!   the writer `feed`s every queued WebSocket message and flushes once, and sends a `\n`
//!   heart-beat when idle. Frames go as text messages when UTF-8, binary otherwise.
//! - Every buffer is bounded. A full [`Subscription`] makes the reader wait, which leaves
//!   frames in the socket: the server sees a slow consumer, as it would with a slow app.
//! - Heart-beats are negotiated from the `CONNECT` and `CONNECTED` headers; silence from
//!   the server for twice its interval ends the connection with
//!   [`CloseReason::HeartBeatTimeout`].
//! - [`StompSession::closed`] says why the connection ended ([`CloseReason`]).
//!
//! Memory per idle connection is about the WebSocket read buffer
//! ([`StompClient::read_buffer_size`], 4 KiB by default) plus a few small queues, so one
//! process can hold very many connections.
//!
//! Layout: `config` (the builder), `connect` (handshake and `CONNECTED`), `session`,
//! `subscription`, `state` (routing shared with the reader), `reader`, `writer`, `error`.

mod config;
mod connect;
mod error;
mod reader;
mod session;
mod state;
mod stream;
mod subscription;
mod transport;
mod writer;

pub use config::StompClient;
pub use error::{ClientError, CloseReason};
pub use session::StompSession;
pub use subscription::Subscription;

//! # stomp-server
//!
//! STOMP over WebSocket the way Spring developers write it, in Rust: annotated handler
//! functions checked at compile time, an in-memory broker, user destinations, a messaging
//! template, interceptors, session events, limits and a STOMP client.
//!
//! ```no_run
//! use serde::{Deserialize, Serialize};
//! use stomp_server::{message_mapping, send_to, Payload, Principal, StompServer};
//!
//! #[derive(Deserialize)]
//! struct Post { content: String }
//!
//! #[derive(Serialize)]
//! struct ChatMessage { room: String, sender: String, content: String }
//!
//! #[message_mapping("/chat/<room>")]
//! #[send_to("/topic/chat/<room>")]
//! async fn post(room: String, user: Principal, Payload(post): Payload<Post>) -> ChatMessage {
//!     ChatMessage { room, sender: user.name().to_owned(), content: post.content }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), stomp_server::StartError> {
//!     StompServer::builder()
//!         .endpoint("/ws")
//!         .application_prefix("/app")
//!         .simple_broker(["/topic", "/queue"])
//!         .serve("127.0.0.1:8080")
//!         .await
//! }
//! ```
//!
//! Layout:
//! - [`handler`](crate::Handlers): descriptors, registry, extractors ([`Payload`], [`State`],
//!   [`Principal`], ...), return values and exception handling.
//! - `session`: one task per connection, a lifecycle (handshake, `CONNECT`, serve,
//!   teardown) with one unit per client command (`session/command/`); `peer`: a session's
//!   outbound half as brokers and handlers see it (its handle and bounded queue).
//! - `converter`: message conversion (the serde probe, content types) for replies and the
//!   template.
//! - [`broker`]: the [`SimpleBroker`] and the broker SPI ([`broker::Upstream`]) that joins
//!   instances through a backplane; `user`: the [`UserRegistry`].
//! - `routing`: the application, broker and user prefixes in both directions, user
//!   destinations, reply routing.
//! - [`Template`]: sending from anywhere. [`client`]: a STOMP client.
//! - `connection`: how every connection (session, client, relay link) reads whole frames
//!   within its heart-beat window and writes batches with one flush and idle heart-beats.
//! - `server`, `endpoint`: the builder, the accept loop, routing a request; `web`: what
//!   endpoints and SockJS share (the WebSocket upgrade, bodies, the Origin check).
//! - `accept`: the cap on connections still in HTTP and the accept loop's back-off.
//! - `sockjs`: SockJS ([`StompServerBuilder::with_sockjs`]): `info`, the `websocket`,
//!   `xhr_streaming` and `xhr` transports, each session driven through an adapter.
#![warn(missing_docs)]
#![warn(clippy::too_many_lines)]

mod accept;
mod attributes;
pub mod broker;
pub mod client;
mod config;
mod connection;
mod converter;
mod endpoint;
mod event;
mod handler;
mod interceptor;
pub mod log;
mod peer;
mod principal;
mod relay;
mod routing;
mod server;
mod service;
mod session;
mod sockjs;
mod stats;
mod template;
mod user;
mod web;

pub use broker::{AckMode, BrokerError, SimpleBroker};
pub use config::{default_heartbeat, BrokerConfig, ClientUserSends, Limits, UnhandledErrors};
pub use endpoint::{HttpHandler, ResponseBody, StaticResource};
pub use event::{EventListener, SessionEvent};
pub use handler::{
    decode_payload, to_body, BoxFuture, Destination, ExceptionHandlerDescriptor, ExceptionThunk,
    ExceptionType, FromHeader, FromInvocation, HandlerDescriptor, HandlerError, HandlerThunk,
    Handlers, HeaderError, Invocation, MappingKind, Message, MessageHeaders, MissingPrincipal,
    MissingState, Outcome, PathVariable, PathVariableError, Payload, PayloadError, RegistryError,
    ReplyMessage, ReplyRouting, SerializeError, SourceLocation, State, UserTarget,
    APPLICATION_JSON, OCTET_STREAM, TEXT_PLAIN,
};
pub use handler::{IntoReply, Json};
pub use interceptor::{
    ChannelInterceptor, InterceptorContext, OutboundContext, OutboundInterceptor, Rejection,
};
pub use principal::{Principal, SessionId};
pub use relay::RelayConfig;
pub use server::{shutdown_signal, Server, StartError, StompServer, StompServerBuilder};
pub use service::StompService;
pub use session::SessionAttributes;
pub use sockjs::SockJsOptions;
pub use stats::{Stats, StatsSnapshot};
pub use stomp_core::{self as core, Command, Frame, Headers};
pub use stomp_macros::{
    message_exception_handler, message_mapping, send_to, send_to_user, subscribe_mapping,
};
pub use template::{SendError, Template};

pub use user::{SimpUser, UserRegistry};
/// The HTTP types of [`StompServerBuilder::http_handler`], re-exported so applications need
/// no extra dependencies.
pub use {::http, bytes::Bytes, http_body_util::Full};

/// Used by the code the macros generate. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::__stomp_outcome as outcome;
    pub use crate::handler::extract::{extract, header, path_variable};
    pub use crate::handler::return_kinds as kinds;
    pub use crate::handler::{
        BoxFuture, ExceptionHandlerDescriptor, ExceptionType, HandlerDescriptor, HandlerError,
        Invocation, MappingKind, Outcome, ReplyRouting, SourceLocation, UserTarget,
    };
    pub use inventory;
}

#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![warn(clippy::too_many_lines)]

// The crate's front page (README.md) shows the public modules; the layout inside:
// - `handler`: descriptors, registry, extractors (`Payload`, `State`, `Principal`, ...),
//   return values and exception handling.
// - `session`: one task per connection, a lifecycle (handshake, `CONNECT`, serve,
//   teardown) with one unit per client command (`session/command/`); `peer`: a session's
//   outbound half as brokers and handlers see it (its handle and bounded queue);
//   `attributes`: the session's attributes.
// - `converter`: message conversion (the serde probe, content types) for replies and the
//   template.
// - `broker`: the `SimpleBroker` and the broker SPI (`broker::Upstream`) that joins
//   instances through a backplane; `user`: the `UserRegistry`.
// - `routing`: the application, broker and user prefixes in both directions, user
//   destinations, reply routing.
// - `Template`: sending from anywhere. `client`: a STOMP client.
// - `connection`: how every connection (session, client, relay link) reads whole frames
//   within its heart-beat window and writes batches with one flush and idle heart-beats.
// - `server`, `endpoint`: the builder, the accept loop, routing a request; `web`: what
//   endpoints and SockJS share (the WebSocket upgrade, bodies, the Origin check).
// - `accept`: the cap on connections still in HTTP and the accept loop's back-off.
// - `tcp`: STOMP over plain TCP (`StompServerBuilder::stomp_tcp`): its accept loop and the
//   adapter that runs a session over a byte stream.
// - `sockjs`: SockJS (`StompServerBuilder::with_sockjs`): `info`, `iframe.html`, the
//   `websocket`, `xhr` and streaming (`xhr_streaming`, `eventsource`, `htmlfile`)
//   transports, each session driven through an adapter; the `JSESSIONID` cookie.
// - `redis` (cargo feature `redis`): the Redis backplane, an `Upstream` over Redis pub/sub,
//   and Redis Streams for handlers (`redis::RedisStreams`).
// - `websocket`: raw WebSocket endpoints (`StompServerBuilder::raw_endpoint`): the
//   `WebSocketHandler` trait, the sessions and their registry, over the same upgrade,
//   writer and outbound queue as STOMP sessions.
// - `tls` (cargo feature `tls`): rustls configurations for the server (reloadable), the
//   client and the relay; without the feature, stand-ins no value can exist of.
// - `config_setters`: the `with_*` setters of the `#[non_exhaustive]` settings.
// - `handshake`: handshake interceptors (run by `web::intercept_handshake` before every
//   upgrade or SockJS session creation); `control`: `SessionControl`, ending sessions from
//   application code.
// - `stats`: the exact counters (`Stats`), with `stats/` for the histograms, the labels
//   (close causes, SockJS transports, backplanes) and the per-mapping slots; `metrics`
//   (cargo feature `metrics`): their OpenMetrics exposition through prometheus-client.
// - `authorization`: the rules every inbound frame is checked against (`MessageSecurity`),
//   after the interceptors; `session/authorize.rs` is where the session asks them.
// - `trace`: the `tracing` spans of sessions (`stomp_session`, `websocket_session`) and
//   handler calls (`stomp_handler`); `log`: escaping client-controlled text in log lines.
// - `test`: the test harness for applications (in-memory sessions through the real client
//   and `Server::serve_connection`, assertions that name what arrived).

mod accept;
mod attributes;
pub mod authorization;
pub mod broker;
pub mod client;
pub mod config;
mod config_setters;
mod connection;
mod control;
mod converter;
mod endpoint;
pub mod event;
pub mod handler;
pub mod handshake;
pub mod interceptor;
pub mod log;
#[cfg(feature = "metrics")]
pub mod metrics;
mod peer;
mod principal;
#[cfg(feature = "redis")]
pub mod redis;
pub mod relay;
mod routing;
mod server;
mod service;
mod session;
pub mod sockjs;
pub mod stats;
mod tcp;
mod template;
pub mod test;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(not(feature = "tls"))]
#[path = "tls/disabled.rs"]
mod tls;
mod trace;
pub mod user;
mod web;
pub mod websocket;

// The root holds what an application writes: the macros, the builder and server, the
// extractors and return values a handler names, the template and the errors it matches on.
// Everything else is in the named modules above and below.
pub use control::{SessionControl, SessionInfo};
pub use handler::extract::{Destination, MessageHeaders, State};
pub use handler::payload::{Payload, PayloadError};
pub use handler::{HandlerError, IntoReply, Json, Message};
pub use principal::{Principal, SessionId};
pub use server::{shutdown_signal, Server, StartError, StompServer, StompServerBuilder};
pub use session::SessionAttributes;
pub use stomp_core::{self as core, Command, Frame, Headers};
pub use stomp_macros::{
    message_exception_handler, message_mapping, send_to, send_to_user, subscribe_mapping,
};
pub use template::{SendError, Template};

pub use bytes::Bytes;

/// The workspace README's examples, compiled as doctests of this crate.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct WorkspaceReadme;

/// Handler arguments (Spring's method arguments): the [`FromInvocation`](extract::FromInvocation)
/// extractors, the header and path-variable conversions, the [`Invocation`](extract::Invocation)
/// they read and the errors each extraction fails with.
pub mod extract {
    pub use crate::handler::extract::{
        Destination, FromHeader, FromInvocation, HeaderError, MessageHeaders, MissingPrincipal,
        MissingState, PathVariable, PathVariableError, State,
    };
    pub use crate::handler::invocation::{Invocation, MappingKind};
    pub use crate::handler::payload::{decode_payload, Payload, PayloadError};
    pub use crate::principal::{Principal, SessionId};
    pub use crate::session::SessionAttributes;
}

/// Plain HTTP beside the STOMP endpoints ([`StompServerBuilder::http_handler`],
/// [`StaticResource`](http::StaticResource)), the [`StompService`](http::StompService) for
/// serving STOMP from a hyper server of one's own, and the `http` crate (its items
/// re-exported here), [`Full`](http::Full) and [`Bytes`], so
/// applications need no extra dependencies.
pub mod http {
    pub use crate::endpoint::{HttpHandler, ResponseBody, StaticResource};
    pub use crate::service::StompService;
    pub use ::http::*;
    pub use bytes::Bytes;
    pub use http_body_util::Full;
}

/// Used by the code the macros generate. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::__stomp_outcome as outcome;
    pub use crate::handler::descriptor::{
        BoxFuture, ExceptionHandlerDescriptor, ExceptionThunk, HandlerDescriptor, HandlerThunk,
        ReplyRouting, SourceLocation, UserTarget,
    };
    pub use crate::handler::extract::{extract, header, path_variable};
    pub use crate::handler::invocation::{Invocation, MappingKind};
    pub use crate::handler::{ExceptionType, HandlerError, Outcome};
    pub use inventory;

    /// The compile-time choice of how a return value becomes an outcome.
    pub mod kinds {
        pub use crate::handler::return_kinds::*;
    }
}

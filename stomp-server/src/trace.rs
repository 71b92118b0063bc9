//! The `tracing` spans a session and a handler call run in, so that every log line written
//! while they run (the server's own, and an application's inside a handler) says which
//! session, user, client address, transport, mapping and destination it is about.
//!
//! - `stomp_session` (one per STOMP session, from its first byte to its teardown; its writer
//!   task logs in it without running in it): `session`, `user` (empty until `CONNECT` makes
//!   the user known), `remote`, `transport`.
//! - `websocket_session` (one per raw WebSocket session): the same four fields.
//! - `stomp_handler` (one per handler call, inside its session's span, the exception
//!   handlers it reaches and the messages it sends included): `mapping` (the pattern as
//!   written, `/chat/{room}`), `destination` (the one the frame named).
//!
//! The session spans are at INFO, so an `info` filter keeps them; the handler span is at
//! DEBUG (`stomp_server::trace=debug` adds it), as tower-http's per-request span is: at
//! INFO, the fmt subscriber formatted its two fields into a new string for every message,
//! which cost a fifth of the server's CPU per delivery in the chat benchmark
//! (BENCHMARKS.md). Spans print nothing by themselves.
//! Fields are recorded as values (`%`), never formatted here: a subscriber that does not
//! record them pays nothing for them. Client-controlled text (user names, destinations) is
//! recorded through [`Escaped`], like every log line.

use std::net::SocketAddr;

use tracing::Span;

use crate::log::Escaped;
use crate::principal::{Principal, SessionId};
use crate::stats::SockJsTransport;

/// The transport a session runs over, as its span's `transport` field names it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Transport {
    /// STOMP over a WebSocket (the endpoint, or the raw WebSocket under a SockJS path).
    #[default]
    WebSocket,
    /// SockJS, by its transport's name in the URL (`websocket`, `xhr_streaming`, ...).
    SockJs(SockJsTransport),
    /// STOMP over plain TCP.
    Tcp,
    /// STOMP over TLS.
    TcpTls,
}

impl Transport {
    /// The `transport` field's value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Transport::WebSocket => "websocket",
            Transport::SockJs(SockJsTransport::WebSocket) => "sockjs/websocket",
            Transport::SockJs(SockJsTransport::XhrStreaming) => "sockjs/xhr_streaming",
            Transport::SockJs(SockJsTransport::XhrPolling) => "sockjs/xhr",
            Transport::SockJs(SockJsTransport::EventSource) => "sockjs/eventsource",
            Transport::SockJs(SockJsTransport::HtmlFile) => "sockjs/htmlfile",
            Transport::Tcp => "tcp",
            Transport::TcpTls => "tcp+tls",
        }
    }
}

/// The span of a STOMP session; its `user` is recorded by [`record_user`] once known.
pub(crate) fn session_span(id: &SessionId, remote: SocketAddr, transport: Transport) -> Span {
    tracing::info_span!(
        "stomp_session",
        session = %id,
        user = tracing::field::Empty,
        remote = %remote,
        transport = transport.as_str(),
    )
}

/// The span of a raw WebSocket session, whose user (if any) the handshake gave it.
pub(crate) fn raw_session_span(
    id: &SessionId,
    user: Option<&Principal>,
    remote: SocketAddr,
) -> Span {
    let span = tracing::info_span!(
        "websocket_session",
        session = %id,
        user = tracing::field::Empty,
        remote = %remote,
        transport = Transport::WebSocket.as_str(),
    );
    record_user(&span, user);
    span
}

/// Records `user` (when there is one) as the span's `user`.
pub(crate) fn record_user(span: &Span, user: Option<&Principal>) {
    if let Some(user) = user {
        span.record("user", tracing::field::display(Escaped(user.name())));
    }
}

/// The span of one handler call: `mapping` as written, `destination` as the client sent it.
pub(crate) fn handler_span(mapping: &'static str, destination: &str) -> Span {
    // DEBUG, not INFO: see the module doc for what it cost at INFO.
    tracing::debug_span!(
        "stomp_handler",
        mapping = mapping,
        destination = %Escaped(destination),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sockjs_transport_that_opens_a_session_has_a_name() {
        for name in [
            "websocket",
            "xhr_streaming",
            "xhr",
            "eventsource",
            "htmlfile",
        ] {
            let transport = SockJsTransport::from_url(name).expect(name);
            assert_eq!(
                Transport::SockJs(transport).as_str(),
                format!("sockjs/{name}")
            );
        }
        assert_eq!(SockJsTransport::from_url("xhr_send"), None);
        assert_eq!(Transport::default().as_str(), "websocket");
    }
}

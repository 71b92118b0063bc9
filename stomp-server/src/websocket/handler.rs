//! [`WebSocketHandler`]: what an application implements to serve a raw WebSocket endpoint,
//! and its object-safe form the server keeps.

use std::future::Future;

use futures_util::future::BoxFuture;

use super::message::{BinaryMessage, CloseStatus, TextMessage, TransportError};
use super::session::WebSocketSession;

/// Handles the sessions of a raw WebSocket endpoint (Spring's `WebSocketHandler`, with
/// `TextWebSocketHandler`'s default for binary messages). Methods may be written as
/// `async fn`; the futures they return must be `Send`.
///
/// One session's calls never overlap: each message waits for the call before it, as in
/// Spring. A handler that panics closes its session with 1011; the server carries on.
pub trait WebSocketHandler: Send + Sync + 'static {
    /// The session is open (Spring's `afterConnectionEstablished`). Nothing by default.
    fn after_connection_established(
        &self,
        session: &WebSocketSession,
    ) -> impl Future<Output = ()> + Send {
        let _ = session;
        async {}
    }

    /// A text message arrived (Spring's `handleTextMessage`).
    fn handle_text_message(
        &self,
        session: &WebSocketSession,
        message: TextMessage,
    ) -> impl Future<Output = ()> + Send;

    /// A binary message arrived (Spring's `handleBinaryMessage`). By default, as Spring's
    /// `TextWebSocketHandler`, the session is closed with 1003 (not acceptable).
    fn handle_binary_message(
        &self,
        session: &WebSocketSession,
        message: BinaryMessage,
    ) -> impl Future<Output = ()> + Send {
        let _ = message;
        session.close(CloseStatus::NOT_ACCEPTABLE.with_reason("binary messages not supported"));
        async {}
    }

    /// Reading the session failed on the client's input (Spring's `handleTransportError`);
    /// the session is closed after this. Nothing by default.
    fn handle_transport_error(
        &self,
        session: &WebSocketSession,
        error: &TransportError,
    ) -> impl Future<Output = ()> + Send {
        let _ = (session, error);
        async {}
    }

    /// The session is closed and gone from [`RawSessions`](super::RawSessions) (Spring's
    /// `afterConnectionClosed`): `status` is the client's close status when it closed, the
    /// server's when the server did. Nothing by default.
    fn after_connection_closed(
        &self,
        session: &WebSocketSession,
        status: CloseStatus,
    ) -> impl Future<Output = ()> + Send {
        let _ = (session, status);
        async {}
    }
}

/// A [`WebSocketHandler`] behind a pointer: the same calls, their futures boxed.
pub(crate) trait DynHandler: Send + Sync {
    fn established<'a>(&'a self, session: &'a WebSocketSession) -> BoxFuture<'a, ()>;
    fn text<'a>(&'a self, session: &'a WebSocketSession, m: TextMessage) -> BoxFuture<'a, ()>;
    fn binary<'a>(&'a self, session: &'a WebSocketSession, m: BinaryMessage) -> BoxFuture<'a, ()>;
    fn transport_error<'a>(
        &'a self,
        session: &'a WebSocketSession,
        error: &'a TransportError,
    ) -> BoxFuture<'a, ()>;
    fn closed<'a>(
        &'a self,
        session: &'a WebSocketSession,
        status: CloseStatus,
    ) -> BoxFuture<'a, ()>;
}

impl<H: WebSocketHandler> DynHandler for H {
    fn established<'a>(&'a self, session: &'a WebSocketSession) -> BoxFuture<'a, ()> {
        Box::pin(self.after_connection_established(session))
    }

    fn text<'a>(&'a self, session: &'a WebSocketSession, m: TextMessage) -> BoxFuture<'a, ()> {
        Box::pin(self.handle_text_message(session, m))
    }

    fn binary<'a>(&'a self, session: &'a WebSocketSession, m: BinaryMessage) -> BoxFuture<'a, ()> {
        Box::pin(self.handle_binary_message(session, m))
    }

    fn transport_error<'a>(
        &'a self,
        session: &'a WebSocketSession,
        error: &'a TransportError,
    ) -> BoxFuture<'a, ()> {
        Box::pin(self.handle_transport_error(session, error))
    }

    fn closed<'a>(
        &'a self,
        session: &'a WebSocketSession,
        status: CloseStatus,
    ) -> BoxFuture<'a, ()> {
        Box::pin(self.after_connection_closed(session, status))
    }
}

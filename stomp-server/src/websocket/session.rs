//! [`WebSocketSession`]: one raw WebSocket connection as its handler (and anyone holding
//! [`RawSessions`]) sees it, and [`RawSessions`], the open sessions by id (one file: each
//! holds the other).

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use bytes::Bytes;
use tokio_tungstenite::tungstenite::{Message as WsMessage, Utf8Bytes};

use super::message::CloseStatus;
use crate::attributes::SessionAttributes;
use crate::peer::{CloseCause, Outbound};
use crate::principal::{Principal, SessionId};
use crate::template::Template;

/// A message was not queued: the session is closed or closing (possibly just now, as a
/// slow consumer whose send buffer this message would have passed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the WebSocket session is closed or closing")]
pub struct SessionClosed;

/// One raw WebSocket connection (Spring's `WebSocketSession`). Cloning is a reference count;
/// a clone kept after the session ended sends nothing.
///
/// Sending never waits: a message is queued (bounded in bytes by
/// `Limits::send_buffer_size`) and written by the session's writer; a client that lets the
/// queue pass its bound is closed as a slow consumer.
#[derive(Clone)]
pub struct WebSocketSession {
    inner: Arc<Inner>,
}

struct Inner {
    id: SessionId,
    remote: SocketAddr,
    uri: http::Uri,
    principal: Option<Principal>,
    attributes: SessionAttributes,
    outbound: Outbound,
    template: Template,
    sessions: RawSessions,
    /// The first close status given (by the application or the session task).
    closed_with: OnceLock<CloseStatus>,
}

/// What a new session is made of.
pub(crate) struct SessionParts {
    pub(crate) id: SessionId,
    pub(crate) remote: SocketAddr,
    pub(crate) uri: http::Uri,
    /// The user the handshake interceptors named, if any.
    pub(crate) principal: Option<Principal>,
    /// The attributes the handshake interceptors filled.
    pub(crate) attributes: SessionAttributes,
    pub(crate) outbound: Outbound,
    pub(crate) template: Template,
    pub(crate) sessions: RawSessions,
}

impl WebSocketSession {
    pub(crate) fn new(parts: SessionParts) -> WebSocketSession {
        WebSocketSession {
            inner: Arc::new(Inner {
                id: parts.id,
                remote: parts.remote,
                uri: parts.uri,
                principal: parts.principal,
                attributes: parts.attributes,
                outbound: parts.outbound,
                template: parts.template,
                sessions: parts.sessions,
                closed_with: OnceLock::new(),
            }),
        }
    }

    /// The server-assigned id, unique among raw and STOMP sessions.
    pub fn id(&self) -> &SessionId {
        &self.inner.id
    }

    /// The client's address (Spring's `getRemoteAddress`).
    pub fn remote_address(&self) -> SocketAddr {
        self.inner.remote
    }

    /// The handshake's request URI, with its query (Spring's `getUri`): `/ws-raw?name=bob`.
    pub fn uri(&self) -> &http::Uri {
        &self.inner.uri
    }

    /// The user a handshake interceptor named (Spring's `getPrincipal`), if any; the
    /// session's [`attributes`](Self::attributes) start with what the interceptors put
    /// there.
    pub fn principal(&self) -> Option<&Principal> {
        self.inner.principal.as_ref()
    }

    /// Values kept for the life of the session (Spring's `getAttributes`).
    pub fn attributes(&self) -> &SessionAttributes {
        &self.inner.attributes
    }

    /// True until the session is closed or closing.
    pub fn is_open(&self) -> bool {
        !self.inner.outbound.is_closing()
    }

    /// Queues a text message for the client.
    pub fn send_text(&self, text: impl Into<String>) -> Result<(), SessionClosed> {
        self.send(WsMessage::Text(Utf8Bytes::from(text.into())))
    }

    /// Queues a binary message for the client.
    pub fn send_binary(&self, data: impl Into<Bytes>) -> Result<(), SessionClosed> {
        self.send(WsMessage::Binary(data.into()))
    }

    /// Queues a message (a shared encoding: a broadcast clones a reference count).
    pub(crate) fn send(&self, message: WsMessage) -> Result<(), SessionClosed> {
        if self.inner.outbound.push(message) {
            Ok(())
        } else {
            Err(SessionClosed)
        }
    }

    /// Closes the session with `status` after what is queued for it (Spring's `close`);
    /// the first status given is the one the client sees. The handler's
    /// `after_connection_closed` follows.
    pub fn close(&self, status: CloseStatus) {
        self.close_after_flush(status);
        self.inner.outbound.close(CloseCause::Requested);
    }

    /// Queues the close frame for `status` (the first status given wins), without waking
    /// the session task (which is the caller).
    pub(crate) fn close_after_flush(&self, status: CloseStatus) {
        let frame = status.frame();
        let _ = self.inner.closed_with.set(status);
        self.inner.outbound.close_after_flush_with(frame);
    }

    /// The first close status given, if any.
    pub(crate) fn closed_with(&self) -> Option<&CloseStatus> {
        self.inner.closed_with.get()
    }

    /// The messaging template, to publish into STOMP destinations.
    pub fn template(&self) -> &Template {
        &self.inner.template
    }

    /// Every open raw session of this server, to send to others or broadcast.
    pub fn sessions(&self) -> &RawSessions {
        &self.inner.sessions
    }

    /// The outbound queue (for the session task).
    pub(crate) fn outbound(&self) -> &Outbound {
        &self.inner.outbound
    }
}

impl fmt::Debug for WebSocketSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocketSession")
            .field("id", &self.inner.id)
            .field("remote", &self.inner.remote)
            .field("open", &self.is_open())
            .finish_non_exhaustive()
    }
}

/// Every open raw WebSocket session of one server, by id: what a raw handler (through
/// [`WebSocketSession::sessions`]), a STOMP handler (a `State<RawSessions>` argument) or any
/// task (`Server::raw_sessions`) sends to raw clients through. Cloning is a reference count.
#[derive(Clone, Default)]
pub struct RawSessions {
    // A std Mutex: held only to insert, remove or clone handles out, never across an await
    // and never while a message is queued (sending happens after the lock is let go).
    map: Arc<Mutex<HashMap<SessionId, WebSocketSession>>>,
}

impl RawSessions {
    fn lock(&self) -> MutexGuard<'_, HashMap<SessionId, WebSocketSession>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn add(&self, session: &WebSocketSession) {
        self.lock().insert(session.id().clone(), session.clone());
    }

    pub(crate) fn remove(&self, id: &SessionId) {
        self.lock().remove(id);
    }

    /// The open session `id` (its `session.id()`), if there is one.
    pub fn get(&self, id: &str) -> Option<WebSocketSession> {
        self.lock().get(&SessionId::new(id)).cloned()
    }

    /// The ids of every open session.
    pub fn ids(&self) -> Vec<SessionId> {
        self.lock().keys().cloned().collect()
    }

    /// How many sessions are open.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when none is.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Queues `text` for session `id`.
    pub fn send_text(&self, id: &str, text: impl Into<String>) -> Result<(), SessionClosed> {
        self.get(id).ok_or(SessionClosed)?.send_text(text)
    }

    /// Queues `text` for every open session; returns how many took it. The text is copied
    /// once, whatever the number of sessions.
    pub fn broadcast_text(&self, text: impl Into<String>) -> usize {
        let message = WsMessage::Text(Utf8Bytes::from(text.into()));
        self.broadcast(&message, None)
    }

    /// Like [`broadcast_text`](Self::broadcast_text), to every session but `except`.
    pub fn broadcast_text_except(&self, except: &str, text: impl Into<String>) -> usize {
        let message = WsMessage::Text(Utf8Bytes::from(text.into()));
        self.broadcast(&message, Some(except))
    }

    fn broadcast(&self, message: &WsMessage, except: Option<&str>) -> usize {
        // Handles cloned out first: pushing runs outside the lock.
        let sessions: Vec<WebSocketSession> = self.lock().values().cloned().collect();
        sessions
            .iter()
            .filter(|s| except != Some(s.id().as_str()))
            .filter(|s| s.send(message.clone()).is_ok())
            .count()
    }
}

impl fmt::Debug for RawSessions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawSessions")
            .field("open", &self.len())
            .finish()
    }
}

//! [`RawSessions`]: the open raw WebSocket sessions of a server, by id.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio_tungstenite::tungstenite::{Message as WsMessage, Utf8Bytes};

use super::session::{SessionClosed, WebSocketSession};
use crate::principal::SessionId;

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

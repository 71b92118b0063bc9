//! [`EndpointContext`]: what the STOMP endpoints (WebSocket and SockJS) are given when the
//! server is built: their paths, the allowed origins, the session admission and what the
//! sessions they start are given.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::config::Limits;
use crate::handshake::HandshakeInterceptor;
use crate::session::SessionContext;
use crate::stats::Stats;

/// The endpoints' part of the server.
pub(crate) struct EndpointContext {
    /// The STOMP endpoint paths (`/ws`).
    pub(crate) endpoints: Vec<String>,
    /// Origins allowed to open a session; empty: same origin only.
    pub(crate) allowed_origins: Vec<String>,
    /// What every session started here is given.
    pub(crate) sessions: Arc<SessionContext>,
    /// Run on every request that opens a session, before the upgrade.
    pub(crate) handshake_interceptors: Vec<Arc<dyn HandshakeInterceptor>>,
    /// Session tasks running, counted from the accepted handshake (not from `CONNECT`), so
    /// that connections which never send `CONNECT` count against `Limits::max_sessions`.
    running: Arc<AtomicUsize>,
}

/// One place under `Limits::max_sessions`, held by a session task until it ends.
#[derive(Debug)]
pub(crate) struct SessionSlot(Arc<AtomicUsize>);

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl EndpointContext {
    /// Endpoints at `endpoints` whose sessions are given `sessions`.
    pub(crate) fn new(
        endpoints: Vec<String>,
        allowed_origins: Vec<String>,
        sessions: Arc<SessionContext>,
    ) -> EndpointContext {
        EndpointContext {
            endpoints,
            allowed_origins,
            sessions,
            handshake_interceptors: Vec::new(),
            running: Arc::default(),
        }
    }

    /// The same endpoints, with handshake interceptors.
    pub(crate) fn with_handshake_interceptors(
        mut self,
        interceptors: Vec<Arc<dyn HandshakeInterceptor>>,
    ) -> EndpointContext {
        self.handshake_interceptors = interceptors;
        self
    }

    /// A place for a new session, or `None` when `Limits::max_sessions` are running.
    pub(crate) fn admit(&self) -> Option<SessionSlot> {
        let running = self.running.fetch_add(1, Ordering::AcqRel);
        let slot = SessionSlot(Arc::clone(&self.running));
        (running < self.sessions.limits.max_sessions).then_some(slot)
    }

    /// The limits every connection is held to.
    pub(crate) fn limits(&self) -> &Limits {
        &self.sessions.limits
    }

    /// The live counters.
    pub(crate) fn stats(&self) -> &Stats {
        &self.sessions.stats
    }
}

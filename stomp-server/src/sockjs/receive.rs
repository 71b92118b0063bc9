//! What every receiving request (`xhr`, `xhr_streaming`, `eventsource`, `htmlfile`)
//! starts with: who sent it, and its session, made on the first request.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{Response, StatusCode};
use tokio::sync::watch;

use super::flushed::Flushes;
use super::response::plain;
use super::service::SockJs;
use super::session::SockSession;
use crate::accept::PendingPlace;
use crate::session::{run_session_from, SessionStart};
use crate::stats::SockJsTransport;
use crate::web::{EndpointContext, ResponseBody};

/// Who sent a receiving request, and the place its connection holds among plain ones.
pub(crate) struct Client {
    /// The application.
    pub(crate) app: Arc<EndpointContext>,
    /// The client's address.
    pub(crate) remote: SocketAddr,
    /// The server's shutdown signal.
    pub(crate) shutdown: watch::Receiver<bool>,
    /// The connection's place, when the accept loop counts it.
    pub(crate) place: Option<PendingPlace>,
    /// What tells when the connection flushed a response.
    pub(crate) flushes: Option<Flushes>,
    /// What the handshake interceptors gave a session this request creates.
    pub(crate) start: SessionStart,
    /// The transport of this request, counted for a session it creates.
    pub(crate) transport: SockJsTransport,
}

impl Client {
    /// The session `id`, created (and its STOMP session task started) when unknown, with
    /// what the handshake interceptors gave it; the 503 to answer when the session limit is
    /// reached.
    pub(crate) fn session(
        &mut self,
        sockjs: &Arc<SockJs>,
        id: &str,
    ) -> Result<Arc<SockSession>, Response<ResponseBody>> {
        let start = std::mem::take(&mut self.start);
        let opener = (Arc::clone(&self.app), self.remote, self.shutdown.clone());
        session_for(sockjs, id, opener, (start, self.transport))
            .ok_or_else(|| plain(StatusCode::SERVICE_UNAVAILABLE, "too many sessions"))
    }
}

/// The session `id`, created (and its STOMP session task started) when unknown; `None`
/// when the session limit is reached.
fn session_for(
    sockjs: &Arc<SockJs>,
    id: &str,
    (app, remote, shutdown): (Arc<EndpointContext>, SocketAddr, watch::Receiver<bool>),
    (start, kind): (SessionStart, SockJsTransport),
) -> Option<Arc<SockSession>> {
    if let Some(session) = sockjs.session(id) {
        return Some(session);
    }
    let Some(slot) = app.admit() else {
        app.stats().rejected_handshake();
        tracing::warn!(%remote, "SockJS session refused: session limit reached");
        return None;
    };
    let (session, transport) = SockSession::new(app.limits().send_buffer_size);
    if let Some(existing) = sockjs.register(id, &session) {
        return Some(existing);
    }
    let counted = app.sessions.stats.sockjs_opened(kind);
    tokio::spawn(async move {
        // Held until the session ends, whether or not it ever sends CONNECT.
        let (_slot, _counted) = (slot, counted);
        let context = Arc::clone(&app.sessions);
        run_session_from(transport, context, remote, shutdown, start).await;
    });
    // The disconnect delay: without a receiving request for that long, the session ends.
    let (sockjs, id, watched) = (Arc::clone(sockjs), id.to_owned(), Arc::clone(&session));
    tokio::spawn(async move {
        let delay = sockjs.options.disconnect_delay;
        let tick = (delay / 4).max(std::time::Duration::from_millis(10));
        loop {
            tokio::time::sleep(tick).await;
            if watched.abandoned(delay) {
                break;
            }
        }
        sockjs.remove(&id);
        watched.disconnect();
        tracing::debug!(session = %id, "SockJS session closed after the disconnect delay");
    });
    Some(session)
}

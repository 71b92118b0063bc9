//! [`SessionStart`]: what a session starts with from its handshake (the handshake
//! interceptors' user, attributes and credential expiry), and the expiry timer.

use std::sync::{Arc, Weak};
use std::time::SystemTime;

use tracing::Instrument;

use crate::attributes::SessionAttributes;
use crate::peer::SessionHandle;
use crate::principal::Principal;
use crate::stats::Stats;
use crate::trace::Transport;

/// What the handshake gave a session, before its `CONNECT`.
#[derive(Debug, Default)]
pub(crate) struct SessionStart {
    /// The user the handshake determined; the `CONNECT` interceptors see it and may change it.
    pub(crate) principal: Option<Principal>,
    /// The session's attributes, as the handshake interceptors filled them.
    pub(crate) attributes: SessionAttributes,
    /// When the credentials expire; the `CONNECT` interceptors may change it.
    pub(crate) expires_at: Option<SystemTime>,
    /// The transport it runs over, as its span names it.
    pub(crate) transport: Transport,
    /// The principal was given by the test harness (`stomp_server::test`'s
    /// `with_mock_user`): the application's authentication is skipped, the handshake
    /// interceptors and the `CONNECT` frame's channel interceptors do not run.
    pub(crate) mock_user: bool,
}

impl SessionStart {
    /// What a session over `transport` starts with when no handshake gave it anything.
    pub(crate) fn over(transport: Transport) -> SessionStart {
        SessionStart {
            transport,
            ..SessionStart::default()
        }
    }
}

/// The user the test harness starts a session as, without the application's authentication
/// (Spring's `@WithMockUser`). Only code in this process that holds the `Server` can give it,
/// as an extension of the requests of an in-memory connection
/// (`Server::serve_connection_with`); nothing a client sends can.
#[derive(Debug, Clone)]
pub(crate) struct MockUser(pub(crate) Principal);

impl MockUser {
    /// What a session started as this user begins with.
    pub(crate) fn start(&self) -> SessionStart {
        SessionStart {
            principal: Some(self.0.clone()),
            mock_user: true,
            ..SessionStart::default()
        }
    }
}

/// The task that ends a session when its credentials expire, aborted when dropped (the
/// session ended first). Sessions without an expiry have none: nothing is spent on them.
pub(super) struct ExpiryTimer(Option<tokio::task::JoinHandle<()>>);

impl ExpiryTimer {
    /// Ends `session` with an `ERROR` ("credentials expired") at `at`, if there is an `at`.
    pub(super) fn start(
        session: &Arc<SessionHandle>,
        at: Option<SystemTime>,
        stats: &Arc<Stats>,
    ) -> ExpiryTimer {
        let Some(at) = at else {
            return ExpiryTimer(None);
        };
        let weak: Weak<SessionHandle> = Arc::downgrade(session);
        let stats = Arc::clone(stats);
        let ending = async move {
            // The wall clock says how far away `at` is; tokio's clock then counts it down.
            // A time already past ends the session at once.
            let left = at.duration_since(SystemTime::now()).unwrap_or_default();
            tokio::time::sleep(left).await;
            if weak.upgrade().is_some_and(|s| s.end("credentials expired")) {
                stats.error_sent();
            }
        };
        // In the session's span, like everything the session does.
        ExpiryTimer(Some(tokio::spawn(ending.in_current_span())))
    }
}

impl Drop for ExpiryTimer {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

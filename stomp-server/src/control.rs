//! [`SessionControl`]: ending sessions from application code (a token was revoked, a user
//! was banned), each with an `ERROR` saying why, then the close.

use std::sync::Arc;

use crate::attributes::SessionAttributes;
use crate::peer::SessionHandle;
use crate::principal::{Principal, SessionId};
use crate::stats::Stats;
use crate::user::UserRegistry;

/// Ends sessions connected to this server instance. Get one from `Server::sessions()`, or
/// as `State<SessionControl>` in a handler. Each session ended gets an `ERROR` frame whose
/// `message` is the reason (after what was queued for it already), then its connection
/// closes; its disconnect event follows as for any end. With a backplane (Redis, the relay)
/// only this instance's sessions are reached: call it on every instance to reach them all.
/// Cloning shares it.
///
/// A handler that bans a user: every session of theirs gets an `ERROR` and closes.
///
/// ```no_run
/// use stomp_server::{message_mapping, Payload, SessionControl, State};
///
/// #[message_mapping("/admin/ban")]
/// fn ban(user: Payload<String>, sessions: State<SessionControl>) -> String {
///     let ended = sessions.close_user(&user, "banned by an administrator");
///     format!("{ended} session(s) of {} ended", user.as_str())
/// }
/// ```
///
/// Outside handlers, take it from the built server: `server.sessions()`.
#[derive(Clone)]
pub struct SessionControl {
    users: Arc<UserRegistry>,
    stats: Arc<Stats>,
}

/// What [`SessionControl::close_matching`] shows of a connected session.
#[derive(Debug)]
#[non_exhaustive]
pub struct SessionInfo<'a> {
    /// The session's id.
    pub id: &'a SessionId,
    /// Its user, if any.
    pub principal: Option<&'a Principal>,
    /// Its attributes (what interceptors stored, e.g. the id of the token it came with).
    pub attributes: &'a SessionAttributes,
}

impl SessionControl {
    pub(crate) fn new(users: Arc<UserRegistry>, stats: Arc<Stats>) -> SessionControl {
        SessionControl { users, stats }
    }

    /// Ends the session `id` with an `ERROR` carrying `reason`; false when no such session
    /// is connected here (or it is ending already).
    pub fn close_session(&self, id: &SessionId, reason: &str) -> bool {
        self.users
            .local_session(id)
            .is_some_and(|session| self.end(&session, reason))
    }

    /// Ends every session of `user` connected here; returns how many were ended.
    pub fn close_user(&self, user: &str, reason: &str) -> usize {
        let sessions = self.users.local_sessions_of(user);
        self.end_all(&sessions, reason)
    }

    /// Ends every session connected here for which `matches` is true (e.g. those whose
    /// attributes hold a revoked token's id); returns how many were ended.
    pub fn close_matching(
        &self,
        reason: &str,
        matches: impl Fn(&SessionInfo<'_>) -> bool,
    ) -> usize {
        let chosen: Vec<Arc<SessionHandle>> = self
            .users
            .local_sessions()
            .into_iter()
            .filter(|session| {
                matches(&SessionInfo {
                    id: &session.id,
                    principal: session.principal.as_ref(),
                    attributes: &session.attributes,
                })
            })
            .collect();
        self.end_all(&chosen, reason)
    }

    fn end_all(&self, sessions: &[Arc<SessionHandle>], reason: &str) -> usize {
        sessions
            .iter()
            .filter(|session| self.end(session, reason))
            .count()
    }

    fn end(&self, session: &SessionHandle, reason: &str) -> bool {
        let ended = session.end(reason);
        if ended {
            self.stats.error_sent();
        }
        ended
    }
}

impl std::fmt::Debug for SessionControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionControl")
            .field("sessions", &self.users.session_count())
            .finish()
    }
}

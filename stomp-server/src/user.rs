//! User destinations (Spring's `UserDestinationMessageHandler`) and the user registry
//! (Spring's `SimpUserRegistry`).
//!
//! - A session that subscribes to `/user/queue/reply` is subscribed in the broker to
//!   `/queue/reply-user{session id}`; its `MESSAGE` frames still say
//!   `destination:/user/queue/reply`.
//! - A message sent to `/user/{name}/queue/reply` goes to `/queue/reply-user{id}` for every
//!   session of user `name` (an anonymous session is addressed by its session id).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError, RwLock};

use crate::principal::SessionId;
use crate::session::SessionHandle;

/// A connected user and their sessions, as reported by [`UserRegistry`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpUser {
    /// The user's name.
    pub name: String,
    /// The ids of the user's sessions.
    pub sessions: Vec<SessionId>,
}

/// The users connected to this server and their sessions.
#[derive(Debug, Default)]
pub struct UserRegistry {
    // A std RwLock: lookups are short, nothing is awaited while it is held.
    users: RwLock<BTreeMap<String, Vec<Arc<SessionHandle>>>>,
    sessions: RwLock<HashMap<SessionId, Arc<SessionHandle>>>,
}

impl UserRegistry {
    pub(crate) fn add(&self, session: &Arc<SessionHandle>) {
        self.sessions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(session.id.clone(), Arc::clone(session));
        if let Some(principal) = &session.principal {
            self.users
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(principal.name().to_owned())
                .or_default()
                .push(Arc::clone(session));
        }
    }

    pub(crate) fn remove(&self, session: &SessionHandle) {
        self.sessions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&session.id);
        if let Some(principal) = &session.principal {
            let mut users = self.users.write().unwrap_or_else(PoisonError::into_inner);
            if let Some(list) = users.get_mut(principal.name()) {
                list.retain(|s| s.id != session.id);
                if list.is_empty() {
                    users.remove(principal.name());
                }
            }
        }
    }

    /// The session ids user destinations reach for `user`: its sessions, or the session
    /// with that id when `user` is an anonymous session's id.
    pub fn session_ids(&self, user: &str) -> Vec<SessionId> {
        if let Some(list) = self
            .users
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(user)
        {
            return list.iter().map(|s| s.id.clone()).collect();
        }
        let sessions = self.sessions.read().unwrap_or_else(PoisonError::into_inner);
        match sessions.get(&SessionId::new(user)) {
            Some(s) if s.principal.is_none() => vec![s.id.clone()],
            _ => Vec::new(),
        }
    }

    /// Every connected user with a name, sorted by name.
    pub fn users(&self) -> Vec<SimpUser> {
        self.users
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(name, list)| SimpUser {
                name: name.clone(),
                sessions: list.iter().map(|s| s.id.clone()).collect(),
            })
            .collect()
    }

    /// The user with this name, if connected.
    pub fn user(&self, name: &str) -> Option<SimpUser> {
        self.users
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .map(|list| SimpUser {
                name: name.to_owned(),
                sessions: list.iter().map(|s| s.id.clone()).collect(),
            })
    }

    /// The number of connected sessions, anonymous ones included.
    pub fn session_count(&self) -> usize {
        self.sessions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// The broker destination of a user destination for one session:
/// `/queue/reply` + `-user` + session id.
pub(crate) fn session_destination(destination: &str, session: &SessionId) -> String {
    let mut out = String::with_capacity(destination.len() + 5 + session.as_str().len());
    out.push_str(destination);
    out.push_str("-user");
    out.push_str(session.as_str());
    out
}

/// True for the broker name of a session's user destination (`/queue/x-user{session id}`,
/// session ids being `s{random hex}-{instance hex}`), which clients may not name themselves:
/// only the server translates `/user/..` destinations into them.
pub(crate) fn is_session_destination(destination: &str) -> bool {
    let Some(at) = destination.rfind("-user") else {
        return false;
    };
    let id = &destination[at + "-user".len()..];
    let Some(rest) = id.strip_prefix('s') else {
        return false;
    };
    let Some((random, instance)) = rest.split_once('-') else {
        return false;
    };
    !random.is_empty()
        && random.bytes().all(|b| b.is_ascii_hexdigit())
        && !instance.is_empty()
        && instance.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The `ERROR` text for a client that names a session destination itself.
pub(crate) fn reserved_destination(destination: &str) -> String {
    format!(
        "destination `{destination}` belongs to another session's user destination; subscribe to `/user/..` instead"
    )
}

/// A destination under the user prefix, parsed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum UserDestination<'a> {
    /// `/user/queue/x`: the current session's own (subscriptions).
    Own(&'a str),
    /// `/user/{name}/queue/x`: for a named user (sends).
    ForUser {
        /// The user's name.
        user: &'a str,
        /// The destination after it (`/queue/x`).
        destination: &'a str,
    },
}

/// Parses `destination` when it starts with `user_prefix` (`/user`).
pub(crate) fn parse_user_destination<'a>(
    destination: &'a str,
    user_prefix: &str,
    for_send: bool,
) -> Option<UserDestination<'a>> {
    let prefix = user_prefix.trim_end_matches('/');
    let rest = destination.strip_prefix(prefix)?;
    if !rest.starts_with('/') || rest.len() < 2 {
        return None;
    }
    if !for_send {
        return Some(UserDestination::Own(rest));
    }
    let after = &rest[1..];
    let slash = after.find('/')?;
    let (user, tail) = after.split_at(slash);
    if user.is_empty() || tail.len() < 2 {
        return None;
    }
    Some(UserDestination::ForUser {
        user,
        destination: tail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_destinations_parse_as_spring_does() {
        assert_eq!(
            parse_user_destination("/user/queue/x", "/user", false),
            Some(UserDestination::Own("/queue/x"))
        );
        assert_eq!(
            parse_user_destination("/user/bob/queue/x", "/user/", true),
            Some(UserDestination::ForUser {
                user: "bob",
                destination: "/queue/x"
            })
        );
        assert_eq!(parse_user_destination("/user/bob", "/user", true), None);
        assert_eq!(parse_user_destination("/users/x", "/user", false), None);
        assert_eq!(parse_user_destination("/topic/x", "/user", true), None);
        assert_eq!(
            session_destination("/queue/x", &SessionId::new("s1")),
            "/queue/x-users1"
        );
    }
}

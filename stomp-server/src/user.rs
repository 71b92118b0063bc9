//! The user registry (Spring's `SimpUserRegistry`): the users connected to this server and
//! their sessions. How user destinations are named lives in `routing`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError, RwLock};

use crate::peer::SessionHandle;
use crate::principal::SessionId;

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

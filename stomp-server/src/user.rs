//! The user registry (Spring's `SimpUserRegistry`): the users connected to this server and
//! their sessions, and with a backplane that shares it (the Redis backplane) those of the
//! other instances too (Spring's `MultiServerUserRegistry`). How user destinations are named
//! lives in `routing`.

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

/// The users connected to this server and their sessions; with the Redis backplane,
/// [`users`](Self::users) and [`user`](Self::user) answer for every instance (as last
/// heard from the others, see `RedisConfig::registry_refresh`), the rest for this one.
#[derive(Debug, Default)]
pub struct UserRegistry {
    // A std RwLock: lookups are short, nothing is awaited while it is held.
    users: RwLock<BTreeMap<String, Vec<Arc<SessionHandle>>>>,
    sessions: RwLock<HashMap<SessionId, Arc<SessionHandle>>>,
    /// The users of the other instances, by name, as a backplane last heard them.
    others: RwLock<BTreeMap<String, Vec<SessionId>>>,
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

    /// Every connected user with a name, sorted by name: of every instance with the Redis
    /// backplane (their sessions here first), else of this one.
    pub fn users(&self) -> Vec<SimpUser> {
        let mut all = self.local_users();
        let others = self.others.read().unwrap_or_else(PoisonError::into_inner);
        if others.is_empty() {
            return all;
        }
        for (name, sessions) in others.iter() {
            match all.binary_search_by(|user| user.name.as_str().cmp(name)) {
                Ok(at) => all[at].sessions.extend(sessions.iter().cloned()),
                Err(at) => all.insert(
                    at,
                    SimpUser {
                        name: name.clone(),
                        sessions: sessions.clone(),
                    },
                ),
            }
        }
        all
    }

    /// Every user with a name connected to this instance, sorted by name.
    pub fn local_users(&self) -> Vec<SimpUser> {
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

    /// The user with this name, if connected (to any instance with the Redis backplane).
    pub fn user(&self, name: &str) -> Option<SimpUser> {
        let mut sessions: Vec<SessionId> = self
            .users
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .map(|list| list.iter().map(|s| s.id.clone()).collect())
            .unwrap_or_default();
        if let Some(others) = self
            .others
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
        {
            sessions.extend(others.iter().cloned());
        }
        (!sessions.is_empty()).then(|| SimpUser {
            name: name.to_owned(),
            sessions,
        })
    }

    /// Replaces what is known of the other instances' users (a backplane's latest view).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn set_others(&self, others: BTreeMap<String, Vec<SessionId>>) {
        *self.others.write().unwrap_or_else(PoisonError::into_inner) = others;
    }

    /// The session with this id, if connected here.
    pub(crate) fn local_session(&self, id: &SessionId) -> Option<Arc<SessionHandle>> {
        self.sessions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    /// The sessions of `user` connected here.
    pub(crate) fn local_sessions_of(&self, user: &str) -> Vec<Arc<SessionHandle>> {
        self.users
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(user)
            .cloned()
            .unwrap_or_default()
    }

    /// Every session connected here.
    pub(crate) fn local_sessions(&self) -> Vec<Arc<SessionHandle>> {
        self.sessions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect()
    }

    /// The number of connected sessions, anonymous ones included.
    pub fn session_count(&self) -> usize {
        self.sessions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

//! Which sessions of this instance listen on each user destination of each user, for an
//! upstream that carries user destinations between instances: it listens once per user and
//! destination (a user with three tabs open here is one listen), and what arrives for the
//! user is handed to these sessions.

use std::collections::HashMap;
use std::sync::Arc;

use crate::principal::SessionId;

/// A user and a destination under the user prefix (`/queue/x`).
type Listen = (String, String);

/// The user subscriptions of this instance's sessions, by user destination and by session.
#[derive(Debug, Default)]
pub(super) struct UserListens {
    /// (user, destination) → each subscription listening (session, subscription id, its
    /// destination in the local broker, `/queue/x-user{session}`).
    listens: HashMap<Listen, Vec<(SessionId, Arc<str>, String)>>,
    /// Session → its user subscriptions (subscription id → what it listens on).
    sessions: HashMap<SessionId, HashMap<Arc<str>, Listen>>,
}

impl UserListens {
    /// Adds subscription `id` of `session` (local destination `local`) to `user`'s
    /// `destination`; true when it is the first here.
    pub(super) fn add(
        &mut self,
        (user, destination): (&str, &str),
        session: &SessionId,
        id: &Arc<str>,
        local: &str,
    ) -> bool {
        let listen = (user.to_owned(), destination.to_owned());
        self.sessions
            .entry(session.clone())
            .or_default()
            .insert(Arc::clone(id), listen.clone());
        let listeners = self.listens.entry(listen).or_default();
        listeners.push((session.clone(), Arc::clone(id), local.to_owned()));
        listeners.len() == 1
    }

    /// Removes subscription `id` of `session`; returns what lost its last listener.
    pub(super) fn remove(&mut self, session: &SessionId, id: &str) -> Option<Listen> {
        let subscriptions = self.sessions.get_mut(session)?;
        let listen = subscriptions.remove(id)?;
        if subscriptions.is_empty() {
            self.sessions.remove(session);
        }
        self.unlisten(listen, session, Some(id))
    }

    /// Removes every user subscription of `session`; returns what lost its last listener.
    pub(super) fn remove_session(&mut self, session: &SessionId) -> Vec<Listen> {
        let Some(subscriptions) = self.sessions.remove(session) else {
            return Vec::new();
        };
        subscriptions
            .into_values()
            .filter_map(|listen| self.unlisten(listen, session, None))
            .collect()
    }

    /// The sessions listening on `user`'s `destination`, each once, with the local
    /// destination their subscriptions have.
    pub(super) fn sessions(&self, user: &str, destination: &str) -> Vec<(SessionId, String)> {
        let key = (user.to_owned(), destination.to_owned());
        let mut sessions: Vec<(SessionId, String)> = Vec::new();
        for (session, _, local) in self.listens.get(&key).into_iter().flatten() {
            if sessions.iter().all(|(s, _)| s != session) {
                sessions.push((session.clone(), local.clone()));
            }
        }
        sessions
    }

    fn unlisten(
        &mut self,
        listen: Listen,
        session: &SessionId,
        id: Option<&str>,
    ) -> Option<Listen> {
        let listeners = self.listens.get_mut(&listen)?;
        listeners.retain(|(s, i, _)| !(s == session && id.is_none_or(|id| **i == *id)));
        if !listeners.is_empty() {
            return None;
        }
        self.listens.remove(&listen);
        Some(listen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_destination_is_listened_to_once_until_its_last_subscription_leaves() {
        let mut listens = UserListens::default();
        let (one, two) = (SessionId::new("s1"), SessionId::new("s2"));
        let (a, b): (Arc<str>, Arc<str>) = (Arc::from("a"), Arc::from("b"));
        let x = ("bob", "/queue/x");
        assert!(listens.add(x, &one, &a, "/queue/x-users1"));
        assert!(
            !listens.add(x, &one, &b, "/queue/x-users1"),
            "the same session again"
        );
        assert!(!listens.add(x, &two, &a, "/queue/x-users2"));
        assert!(listens.add(("bob", "/queue/y"), &two, &b, "/queue/y-users2"));
        assert_eq!(
            listens.sessions("bob", "/queue/x"),
            [
                (one.clone(), "/queue/x-users1".to_owned()),
                (two.clone(), "/queue/x-users2".to_owned())
            ]
        );
        assert_eq!(listens.remove(&one, "a"), None, "b of s1 still listens");
        assert_eq!(listens.remove(&one, "b"), None, "s2 still listens");
        let gone = listens.remove_session(&two);
        assert_eq!(gone.len(), 2, "{gone:?}");
        assert!(listens.sessions("bob", "/queue/x").is_empty());
        assert_eq!(listens.remove(&one, "a"), None, "already gone");
    }
}

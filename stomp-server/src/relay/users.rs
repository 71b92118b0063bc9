//! User destinations through the shared listener: a session subscribed to `/user/queue/x`
//! is reached on two routes of RabbitMQ's `amq.direct` exchange (one for its user, one for
//! itself, see `user_topic` and `session_topic`). The instance subscribes each route once,
//! however many of its sessions listen on it (a user with three tabs open here), and hands
//! what arrives to those sessions' subscriptions in the local broker.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

use crate::broker::{BrokerError, Confirmation};
use crate::principal::SessionId;

/// Who listens on each route, and whether RabbitMQ confirmed it.
#[derive(Debug, Default)]
pub(super) struct UserRoutes {
    // A std Mutex: held to look up or change a route, never across an await or a send to
    // the listener.
    inner: Mutex<Routes>,
}

#[derive(Debug, Default)]
struct Routes {
    /// Route → its listeners and state.
    routes: HashMap<String, Route>,
    /// Session → its user subscriptions (client id → routes).
    sessions: HashMap<SessionId, HashMap<Arc<str>, Vec<String>>>,
}

#[derive(Debug)]
struct Route {
    /// Each listening session with the broker destination its subscription has in the
    /// local broker (`/queue/x-user{session}`).
    listeners: Vec<(SessionId, Arc<str>, String)>,
    ready: Ready,
}

#[derive(Debug)]
enum Ready {
    Pending(Vec<oneshot::Sender<Result<(), BrokerError>>>),
    Live,
    Failed(BrokerError),
}

/// What adding a listener to a route needs done.
pub(super) struct Added {
    /// The route had no listener: the listener must subscribe it.
    pub(super) first: bool,
    /// Resolves once RabbitMQ confirmed the route (`None`: it already had).
    pub(super) confirmation: Option<Confirmation>,
}

impl UserRoutes {
    fn lock(&self) -> MutexGuard<'_, Routes> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds subscription `id` of `session` (local destination `local`) to `route`.
    pub(super) fn add(
        &self,
        route: &str,
        session: &SessionId,
        id: &Arc<str>,
        local: &str,
    ) -> Result<Added, BrokerError> {
        let mut inner = self.lock();
        let first = !inner.routes.contains_key(route);
        let entry = inner
            .routes
            .entry(route.to_owned())
            .or_insert_with(|| Route {
                listeners: Vec::new(),
                ready: Ready::Pending(Vec::new()),
            });
        let confirmation = match &mut entry.ready {
            Ready::Live => None,
            Ready::Failed(error) => return Err(error.clone()),
            Ready::Pending(waiting) => {
                let (tx, rx) = oneshot::channel();
                waiting.push(tx);
                Some(rx)
            }
        };
        entry
            .listeners
            .push((session.clone(), Arc::clone(id), local.to_owned()));
        inner
            .sessions
            .entry(session.clone())
            .or_default()
            .entry(Arc::clone(id))
            .or_default()
            .push(route.to_owned());
        Ok(Added {
            first,
            confirmation,
        })
    }

    /// Removes subscription `id` of `session` from its routes; returns the routes nobody
    /// listens on any more.
    pub(super) fn remove(&self, session: &SessionId, id: &str) -> Vec<String> {
        let mut inner = self.lock();
        let routes = inner
            .sessions
            .get_mut(session)
            .and_then(|subs| subs.remove(id))
            .unwrap_or_default();
        inner.unlisten(session, Some(id), routes)
    }

    /// Removes every subscription of `session`; returns the routes nobody listens on.
    pub(super) fn remove_session(&self, session: &SessionId) -> Vec<String> {
        let mut inner = self.lock();
        let routes: Vec<String> = inner
            .sessions
            .remove(session)
            .map(|subs| subs.into_values().flatten().collect())
            .unwrap_or_default();
        inner.unlisten(session, None, routes)
    }

    /// RabbitMQ confirmed `route` (or refused it): the subscriptions waiting learn it.
    pub(super) fn settle(&self, route: &str, result: &Result<(), BrokerError>) {
        let mut inner = self.lock();
        let Some(entry) = inner.routes.get_mut(route) else {
            return;
        };
        let ready = match result {
            Ok(()) => Ready::Live,
            Err(error) => Ready::Failed(error.clone()),
        };
        if let Ready::Pending(waiting) = std::mem::replace(&mut entry.ready, ready) {
            for waiter in waiting {
                let _ = waiter.send(result.clone());
            }
        }
    }

    /// The connection carrying the routes was lost: confirmed routes stay (they are
    /// subscribed again), waiting ones fail.
    pub(super) fn disconnected(&self, reason: &str) {
        let mut inner = self.lock();
        for entry in inner.routes.values_mut() {
            if let Ready::Pending(waiting) = &mut entry.ready {
                for waiter in waiting.drain(..) {
                    let _ = waiter.send(Err(BrokerError::Unavailable(reason.to_owned())));
                }
            }
        }
    }

    /// Each session listening on `route`, with its subscription's local destination.
    pub(super) fn listeners(&self, route: &str) -> Vec<(SessionId, String)> {
        let inner = self.lock();
        inner.routes.get(route).map_or_else(Vec::new, |entry| {
            entry
                .listeners
                .iter()
                .map(|(session, _, local)| (session.clone(), local.clone()))
                .collect()
        })
    }
}

impl Routes {
    /// Takes `session`'s subscription `id` (or all of them) off `routes`; returns the ones
    /// left without listeners, which are forgotten.
    fn unlisten(
        &mut self,
        session: &SessionId,
        id: Option<&str>,
        routes: Vec<String>,
    ) -> Vec<String> {
        let mut empty = Vec::new();
        for route in routes {
            let Some(entry) = self.routes.get_mut(&route) else {
                continue;
            };
            entry
                .listeners
                .retain(|(s, i, _)| !(s == session && id.is_none_or(|id| **i == *id)));
            if entry.listeners.is_empty() {
                self.routes.remove(&route);
                empty.push(route);
            }
        }
        empty
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(id: &str) -> SessionId {
        SessionId::new(id.to_owned())
    }

    #[test]
    fn a_route_is_subscribed_once_and_dropped_with_its_last_listener() {
        let routes = UserRoutes::default();
        let (one, two) = (session("s1"), session("s2"));
        let id: Arc<str> = Arc::from("sub-0");
        let first = routes
            .add("r", &one, &id, "/queue/x-users1")
            .expect("added");
        assert!(first.first && first.confirmation.is_some());
        let second = routes
            .add("r", &two, &id, "/queue/x-users2")
            .expect("added");
        assert!(
            !second.first && second.confirmation.is_some(),
            "still pending"
        );
        routes.settle("r", &Ok(()));
        let third = routes.add("r2", &two, &Arc::from("sub-1"), "/queue/y-users2");
        assert!(third.is_ok_and(|a| a.first));
        assert_eq!(routes.listeners("r").len(), 2);
        assert!(routes.remove(&one, "sub-0").is_empty(), "two still listens");
        let gone = routes.remove_session(&two);
        assert_eq!(gone.len(), 2, "{gone:?}");
        assert!(routes.listeners("r").is_empty());
    }

    #[test]
    fn a_refused_route_refuses_its_waiting_and_new_listeners() {
        let routes = UserRoutes::default();
        let one = session("s1");
        let added = routes
            .add("r", &one, &Arc::from("a"), "/queue/x")
            .expect("added");
        let mut waiting = added.confirmation.expect("pending");
        routes.settle("r", &Err(BrokerError::Unavailable("no".to_owned())));
        assert!(matches!(waiting.try_recv(), Ok(Err(_))));
        assert!(routes.add("r", &one, &Arc::from("b"), "/queue/x").is_err());
    }
}

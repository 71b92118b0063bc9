//! The simple broker's subscription registry.

use std::collections::HashMap;
use std::sync::Arc;

use stomp_core::DestinationPattern;

use super::{AckMode, BrokerError, SubscribeRequest};
use crate::principal::SessionId;
use crate::session::SessionHandle;

/// One active subscription.
#[derive(Debug)]
pub(crate) struct Subscriber {
    pub(crate) session: Arc<SessionHandle>,
    pub(crate) id: Arc<str>,
    pub(crate) reported_destination: Option<Arc<str>>,
    #[allow(dead_code)] // read once acknowledgement tracking lands
    pub(crate) ack: AckMode,
}

/// Where a session's subscription is filed, to remove it later.
#[derive(Debug)]
enum Filed {
    Exact(String),
    Pattern,
}

/// Subscriptions by destination, plus pattern subscriptions (`/topic/**`).
#[derive(Debug, Default)]
pub(crate) struct SubscriptionRegistry {
    exact: HashMap<String, Vec<Arc<Subscriber>>>,
    patterns: Vec<(DestinationPattern, Arc<Subscriber>)>,
    sessions: HashMap<SessionId, HashMap<Arc<str>, Filed>>,
}

impl SubscriptionRegistry {
    pub(crate) fn add(
        &mut self,
        session: &Arc<SessionHandle>,
        request: SubscribeRequest,
        separator: char,
    ) -> Result<(), BrokerError> {
        let filed = self.sessions.entry(session.id.clone()).or_default();
        if filed.contains_key(&request.id) {
            return Err(BrokerError::DuplicateSubscription(request.id.to_string()));
        }
        let subscriber = Arc::new(Subscriber {
            session: Arc::clone(session),
            id: Arc::clone(&request.id),
            reported_destination: request.reported_destination,
            ack: request.ack,
        });
        if request.destination.contains('*') {
            let pattern = DestinationPattern::parse_with_separator(&request.destination, separator)
                .map_err(|e| BrokerError::InvalidDestination {
                    destination: request.destination.clone(),
                    reason: e.to_string(),
                })?;
            self.patterns.push((pattern, subscriber));
            filed.insert(request.id, Filed::Pattern);
        } else {
            self.exact
                .entry(request.destination.clone())
                .or_default()
                .push(subscriber);
            filed.insert(request.id, Filed::Exact(request.destination));
        }
        Ok(())
    }

    pub(crate) fn remove(&mut self, session: &SessionId, id: &str) -> Result<(), BrokerError> {
        let filed = self
            .sessions
            .get_mut(session)
            .and_then(|subs| subs.remove(id))
            .ok_or_else(|| BrokerError::UnknownSubscription(id.to_owned()))?;
        self.unfile(session, id, filed);
        Ok(())
    }

    pub(crate) fn remove_session(&mut self, session: &SessionId) {
        if let Some(subs) = self.sessions.remove(session) {
            for (id, filed) in subs {
                self.unfile(session, &id, filed);
            }
        }
    }

    fn unfile(&mut self, session: &SessionId, id: &str, filed: Filed) {
        let is_it = |s: &Arc<Subscriber>| s.session.id == *session && &*s.id == id;
        match filed {
            Filed::Exact(destination) => {
                if let Some(list) = self.exact.get_mut(&destination) {
                    list.retain(|s| !is_it(s));
                    if list.is_empty() {
                        self.exact.remove(&destination);
                    }
                }
            }
            Filed::Pattern => self.patterns.retain(|(_, s)| !is_it(s)),
        }
    }

    /// Calls `each` for every subscription matching `destination`.
    pub(crate) fn for_each_match(&self, destination: &str, mut each: impl FnMut(&Subscriber)) {
        if let Some(list) = self.exact.get(destination) {
            list.iter().for_each(|s| each(s));
        }
        for (pattern, subscriber) in &self.patterns {
            if pattern.matches(destination).is_some() {
                each(subscriber);
            }
        }
    }

    /// The number of subscriptions.
    pub(crate) fn len(&self) -> usize {
        self.sessions.values().map(HashMap::len).sum()
    }
}

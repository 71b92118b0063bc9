//! The simple broker's subscription registry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use stomp_core::DestinationPattern;

use super::ack::Tracker;
use super::BrokerError;
use crate::principal::SessionId;
use crate::session::SessionHandle;

/// One active subscription.
#[derive(Debug)]
pub(crate) struct Subscriber {
    pub(crate) session: Arc<SessionHandle>,
    pub(crate) id: Arc<str>,
    pub(crate) reported_destination: Option<Arc<str>>,
    /// The point-to-point destination this subscriber consumes from, if it is one.
    pub(crate) queue: Option<String>,
    /// Unacknowledged messages (`ack:client` and `ack:client-individual`). `None` for
    /// `ack:auto`, whose deliveries share one encoded frame and cost nothing extra.
    // A std Mutex per subscription: held only to record or settle a delivery and push an
    // encoded frame to the session's unbounded queue, never across an await or a write.
    pub(crate) tracker: Option<Mutex<Tracker>>,
}

/// Where a session's subscription is filed, to remove it later.
#[derive(Debug)]
enum Filed {
    Exact(String),
    Pattern,
    /// A point-to-point consumer, filed with its queue (see `queue.rs`).
    Queue,
}

/// One session's subscriptions by id, with where each is filed.
type SessionSubscriptions = HashMap<Arc<str>, (Filed, Arc<Subscriber>)>;

/// Broadcast subscriptions by destination, pattern subscriptions (`/topic/**`), and every
/// subscription by session.
#[derive(Debug, Default)]
pub(crate) struct SubscriptionRegistry {
    exact: HashMap<String, Vec<Arc<Subscriber>>>,
    patterns: Vec<(DestinationPattern, Arc<Subscriber>)>,
    sessions: HashMap<SessionId, SessionSubscriptions>,
}

impl SubscriptionRegistry {
    /// Files `subscriber` for `destination`: as a broadcast subscription, or only by session
    /// when it is a point-to-point consumer (which may not use a pattern).
    pub(crate) fn add(
        &mut self,
        subscriber: Arc<Subscriber>,
        destination: String,
        separator: char,
    ) -> Result<(), BrokerError> {
        let filed = self
            .sessions
            .entry(subscriber.session.id.clone())
            .or_default();
        if filed.contains_key(&subscriber.id) {
            return Err(BrokerError::DuplicateSubscription(
                subscriber.id.to_string(),
            ));
        }
        let id = Arc::clone(&subscriber.id);
        if destination.contains('*') {
            if subscriber.queue.is_some() {
                return Err(BrokerError::InvalidDestination {
                    destination,
                    reason: "point-to-point destinations take no patterns; subscribe to one queue"
                        .to_owned(),
                });
            }
            let pattern = DestinationPattern::parse_with_separator(&destination, separator)
                .map_err(|e| BrokerError::InvalidDestination {
                    destination: destination.clone(),
                    reason: e.to_string(),
                })?;
            self.patterns.push((pattern, Arc::clone(&subscriber)));
            filed.insert(id, (Filed::Pattern, subscriber));
        } else if subscriber.queue.is_some() {
            filed.insert(id, (Filed::Queue, subscriber));
        } else {
            self.exact
                .entry(destination.clone())
                .or_default()
                .push(Arc::clone(&subscriber));
            filed.insert(id, (Filed::Exact(destination), subscriber));
        }
        Ok(())
    }

    /// Removes one subscription and returns it.
    pub(crate) fn remove(
        &mut self,
        session: &SessionId,
        id: &str,
    ) -> Result<Arc<Subscriber>, BrokerError> {
        let (filed, subscriber) = self
            .sessions
            .get_mut(session)
            .and_then(|subs| subs.remove(id))
            .ok_or_else(|| BrokerError::UnknownSubscription(id.to_owned()))?;
        self.unfile(&subscriber, filed);
        Ok(subscriber)
    }

    /// Removes every subscription of `session` and returns them.
    pub(crate) fn remove_session(&mut self, session: &SessionId) -> Vec<Arc<Subscriber>> {
        let Some(subs) = self.sessions.remove(session) else {
            return Vec::new();
        };
        subs.into_values()
            .map(|(filed, subscriber)| {
                self.unfile(&subscriber, filed);
                subscriber
            })
            .collect()
    }

    fn unfile(&mut self, subscriber: &Arc<Subscriber>, filed: Filed) {
        match filed {
            Filed::Exact(destination) => {
                if let Some(list) = self.exact.get_mut(&destination) {
                    list.retain(|s| !Arc::ptr_eq(s, subscriber));
                    if list.is_empty() {
                        self.exact.remove(&destination);
                    }
                }
            }
            Filed::Pattern => self.patterns.retain(|(_, s)| !Arc::ptr_eq(s, subscriber)),
            Filed::Queue => {}
        }
    }

    /// The subscription `id` of `session`.
    pub(crate) fn get(&self, session: &SessionId, id: &str) -> Option<Arc<Subscriber>> {
        let (_, subscriber) = self.sessions.get(session)?.get(id)?;
        Some(Arc::clone(subscriber))
    }

    /// Every subscription of `session` that tracks acknowledgements.
    pub(crate) fn acknowledging(&self, session: &SessionId) -> Vec<Arc<Subscriber>> {
        self.sessions
            .get(session)
            .map(|subs| {
                subs.values()
                    .filter(|(_, s)| s.tracker.is_some())
                    .map(|(_, s)| Arc::clone(s))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Calls `each` for every broadcast subscription matching `destination`.
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

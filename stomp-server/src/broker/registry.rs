//! The simple broker's subscription registry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use stomp_core::DestinationPattern;

use super::ack::{Delivery, Tracker};
use super::in_flight::InFlight;
use super::recipient::Recipient;
use super::BrokerError;
#[cfg(test)]
use crate::peer::SessionHandle;
use crate::principal::SessionId;

/// One active subscription: its [`Recipient`] (which it dereferences to) and what the
/// broker keeps for it.
#[derive(Debug)]
pub(crate) struct Subscriber {
    /// The session, the subscription id and the names it reports.
    pub(crate) recipient: Recipient,
    /// The point-to-point destination this subscriber consumes from, if it is one.
    pub(crate) queue: Option<String>,
    /// Unacknowledged messages (`ack:client` and `ack:client-individual`). `None` for
    /// `ack:auto`, whose deliveries share one encoded frame and cost nothing extra.
    // A std Mutex per subscription: held only to record or settle a delivery and push an
    // encoded frame to the session's unbounded queue, never across an await or a write.
    pub(crate) tracker: Option<Mutex<Tracker>>,
    /// A point-to-point `ack:auto` consumer: what it was given and its connection has not
    /// written yet (returned to the queue if the session dies first). Taken after the
    /// queues' lock, like a tracker.
    pub(crate) in_flight: Option<Mutex<InFlight<Delivery>>>,
}

impl std::ops::Deref for Subscriber {
    type Target = Recipient;

    fn deref(&self) -> &Recipient {
        &self.recipient
    }
}

/// Where a session's subscription is filed, to remove it later.
#[derive(Debug)]
enum Filed {
    Exact(String),
    /// Under its pattern's text.
    Pattern(String),
    /// A point-to-point consumer, filed with its queue (see `queue.rs`).
    Queue,
}

/// One session's subscriptions by id, with where each is filed.
type SessionSubscriptions = HashMap<Arc<str>, (Filed, Arc<Subscriber>)>;

/// The subscribers of one destination or one pattern: a list that every publish walks, and
/// each subscriber's place in it, so that one leaving costs a swap with the last, not a scan
/// of the list (a topic with 100,000 subscribers must not make each `UNSUBSCRIBE` walk them
/// all, under the registry's write lock).
#[derive(Debug, Default)]
struct Slots {
    list: Vec<Arc<Subscriber>>,
    /// By the subscriber's address (stable while the list holds it): its index in `list`.
    place: HashMap<usize, usize>,
}

/// The key of `subscriber` in [`Slots::place`].
fn key(subscriber: &Arc<Subscriber>) -> usize {
    // The address, as a number: never turned back into a pointer.
    Arc::as_ptr(subscriber) as usize
}

impl Slots {
    fn push(&mut self, subscriber: Arc<Subscriber>) {
        self.place.insert(key(&subscriber), self.list.len());
        self.list.push(subscriber);
    }

    fn remove(&mut self, subscriber: &Arc<Subscriber>) {
        let Some(at) = self.place.remove(&key(subscriber)) else {
            return;
        };
        self.list.swap_remove(at);
        if let Some(moved) = self.list.get(at) {
            self.place.insert(key(moved), at);
        }
    }

    fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// Broadcast subscriptions by destination, pattern subscriptions (`/topic/**`) by pattern,
/// and every subscription by session. A publish looks its destination up once and tries each
/// distinct pattern once, however many subscribers share it.
#[derive(Debug, Default)]
pub(crate) struct SubscriptionRegistry {
    exact: HashMap<String, Slots>,
    patterns: HashMap<String, (DestinationPattern, Slots)>,
    sessions: HashMap<SessionId, SessionSubscriptions>,
    /// When an upstream listens: the destinations and patterns that gained their first or
    /// lost their last broadcast subscriber since it was last taken.
    interest: Option<Vec<Interest>>,
}

/// A change in what this instance's broadcast subscriptions cover, for an upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Interest {
    /// The first subscription to this destination or pattern.
    Gained(String),
    /// The last subscription to it ended.
    Lost(String),
}

impl SubscriptionRegistry {
    /// A registry that records [`Interest`] changes (for a broker with an upstream).
    pub(crate) fn tracking_interest() -> SubscriptionRegistry {
        SubscriptionRegistry {
            interest: Some(Vec::new()),
            ..SubscriptionRegistry::default()
        }
    }

    /// The interest changes recorded since the last call, in order.
    pub(crate) fn take_interest(&mut self) -> Vec<Interest> {
        self.interest
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Records `change` when tracking, for subscriptions of clients (not user destinations,
    /// which belong to one session of this instance).
    fn record(
        interest: &mut Option<Vec<Interest>>,
        subscriber: &Subscriber,
        change: impl FnOnce() -> Interest,
    ) {
        if let (Some(interest), None) = (interest, &subscriber.reported_destination) {
            interest.push(change());
        }
    }

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
            let (slots, first) = match self.patterns.entry(destination.clone()) {
                std::collections::hash_map::Entry::Occupied(entry) => {
                    (&mut entry.into_mut().1, false)
                }
                std::collections::hash_map::Entry::Vacant(entry) => {
                    let pattern = DestinationPattern::parse_with_separator(&destination, separator)
                        .map_err(|e| BrokerError::InvalidDestination {
                            destination: destination.clone(),
                            reason: e.to_string(),
                        })?;
                    (&mut entry.insert((pattern, Slots::default())).1, true)
                }
            };
            slots.push(Arc::clone(&subscriber));
            if first {
                Self::record(&mut self.interest, &subscriber, || {
                    Interest::Gained(destination.clone())
                });
            }
            filed.insert(id, (Filed::Pattern(destination), subscriber));
        } else if subscriber.queue.is_some() {
            filed.insert(id, (Filed::Queue, subscriber));
        } else {
            let slots = self.exact.entry(destination.clone()).or_default();
            let first = slots.is_empty();
            slots.push(Arc::clone(&subscriber));
            if first {
                Self::record(&mut self.interest, &subscriber, || {
                    Interest::Gained(destination.clone())
                });
            }
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
                if let Some(slots) = self.exact.get_mut(&destination) {
                    slots.remove(subscriber);
                    if slots.is_empty() {
                        self.exact.remove(&destination);
                        Self::record(&mut self.interest, subscriber, || {
                            Interest::Lost(destination)
                        });
                    }
                }
            }
            Filed::Pattern(text) => {
                if let Some((_, slots)) = self.patterns.get_mut(&text) {
                    slots.remove(subscriber);
                    if slots.is_empty() {
                        self.patterns.remove(&text);
                        Self::record(&mut self.interest, subscriber, || Interest::Lost(text));
                    }
                }
            }
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
        if let Some(slots) = self.exact.get(destination) {
            slots.list.iter().for_each(|s| each(s));
        }
        for (pattern, slots) in self.patterns.values() {
            if pattern.matches(destination).is_some() {
                slots.list.iter().for_each(|s| each(s));
            }
        }
    }

    /// Calls `each` for every broadcast subscription made to exactly `subscribed` (a
    /// destination, or a pattern's text) when `destination` matches it: what an upstream
    /// that listens once per destination or pattern delivers to, so that a message matching
    /// two of them reaches each subscriber once (and one its own pattern syntax matched
    /// more widely reaches nobody).
    pub(crate) fn for_each_subscriber_of(
        &self,
        subscribed: &str,
        destination: &str,
        mut each: impl FnMut(&Subscriber),
    ) {
        let slots = if subscribed.contains('*') {
            self.patterns
                .get(subscribed)
                .filter(|(pattern, _)| pattern.matches(destination).is_some())
                .map(|(_, slots)| slots)
        } else {
            self.exact
                .get(subscribed)
                .filter(|_| subscribed == destination)
        };
        if let Some(slots) = slots {
            slots.list.iter().for_each(|s| each(s));
        }
    }

    /// The number of subscriptions.
    pub(crate) fn len(&self) -> usize {
        self.sessions.values().map(HashMap::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscriber(session: &Arc<SessionHandle>, id: &str) -> Arc<Subscriber> {
        Arc::new(Subscriber {
            recipient: Recipient {
                session: Arc::clone(session),
                id: Arc::from(id),
                reported_destination: None,
                withdrawal: None,
            },
            queue: None,
            tracker: None,
            in_flight: None,
        })
    }

    /// `(session, subscription id)` of every subscriber `destination` reaches, sorted.
    fn reached(registry: &SubscriptionRegistry, destination: &str) -> Vec<(String, String)> {
        let mut seen = Vec::new();
        registry.for_each_match(destination, |s| {
            seen.push((s.session.id.to_string(), s.id.to_string()));
        });
        seen.sort();
        seen
    }

    #[test]
    fn subscribers_leave_in_any_order_and_the_rest_still_get_everything() {
        let mut registry = SubscriptionRegistry::default();
        let sessions: Vec<_> = (0..50)
            .map(|i| SessionHandle::detached(&format!("s{i:02}")))
            .collect();
        for session in &sessions {
            for (id, destination) in [("exact", "/topic/a"), ("pattern", "/topic/*")] {
                registry
                    .add(subscriber(session, id), destination.to_owned(), '/')
                    .expect("add");
            }
        }
        assert_eq!(registry.patterns.len(), 1, "one pattern, shared");
        // Remove every third session's exact subscription and every fourth one's pattern,
        // from the middle outwards, so that removals swap entries around.
        let mut expected = Vec::new();
        for (i, session) in sessions.iter().enumerate().rev() {
            let name = session.id.to_string();
            if i % 3 == 0 {
                registry.remove(&session.id, "exact").expect("remove exact");
            } else {
                expected.push((name.clone(), "exact".to_owned()));
            }
            if i % 4 == 0 {
                registry
                    .remove(&session.id, "pattern")
                    .expect("remove pattern");
            } else {
                expected.push((name, "pattern".to_owned()));
            }
        }
        expected.sort();
        assert_eq!(reached(&registry, "/topic/a"), expected);
        // The pattern alone reaches other destinations.
        let only_patterns: Vec<_> = expected
            .iter()
            .filter(|(_, id)| id == "pattern")
            .cloned()
            .collect();
        assert_eq!(reached(&registry, "/topic/b"), only_patterns);
        for session in &sessions {
            registry.remove_session(&session.id);
        }
        assert!(reached(&registry, "/topic/a").is_empty());
        assert!(registry.exact.is_empty() && registry.patterns.is_empty());
        assert_eq!(registry.len(), 0);
    }

    #[test]
    fn the_same_subscription_id_twice_is_refused_and_leaves_nothing_behind() {
        let mut registry = SubscriptionRegistry::default();
        let session = SessionHandle::detached("s");
        registry
            .add(subscriber(&session, "0"), "/topic/a".to_owned(), '/')
            .expect("add");
        let again = registry.add(subscriber(&session, "0"), "/topic/*".to_owned(), '/');
        assert!(matches!(again, Err(BrokerError::DuplicateSubscription(_))));
        assert!(registry.patterns.is_empty());
        assert_eq!(reached(&registry, "/topic/a").len(), 1);
    }

    #[test]
    fn interest_is_reported_once_per_destination_and_only_when_tracking() {
        let (a, b) = (SessionHandle::detached("sa"), SessionHandle::detached("sb"));
        let mut registry = SubscriptionRegistry::tracking_interest();
        for (session, id, destination) in [
            (&a, "1", "/topic/x"),
            (&b, "1", "/topic/x"),
            (&a, "2", "/topic/**"),
        ] {
            registry
                .add(subscriber(session, id), destination.to_owned(), '/')
                .unwrap();
        }
        let user = Arc::new(Subscriber {
            recipient: Recipient {
                session: Arc::clone(&b),
                id: Arc::from("2"),
                reported_destination: Some(Arc::from("/user/queue/q")),
                withdrawal: None,
            },
            queue: None,
            tracker: None,
            in_flight: None,
        });
        registry
            .add(user, "/queue/q-usersb".to_owned(), '/')
            .unwrap();
        let gained = |d: &str| Interest::Gained(d.to_owned());
        let lost = |d: &str| Interest::Lost(d.to_owned());
        assert_eq!(
            registry.take_interest(),
            [gained("/topic/x"), gained("/topic/**")],
            "user destinations stay local"
        );
        registry.remove(&a.id, "1").unwrap();
        assert_eq!(registry.take_interest(), [], "b still listens to /topic/x");
        registry.remove_session(&b.id);
        registry.remove(&a.id, "2").unwrap();
        assert_eq!(
            registry.take_interest(),
            [lost("/topic/x"), lost("/topic/**")]
        );

        let mut plain = SubscriptionRegistry::default();
        plain
            .add(subscriber(&a, "1"), "/topic/x".to_owned(), '/')
            .unwrap();
        assert_eq!(
            plain.take_interest(),
            [],
            "nothing is recorded without an upstream"
        );
    }
}

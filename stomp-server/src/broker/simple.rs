//! [`SimpleBroker`]: the in-memory broker (Spring's `enableSimpleBroker`).

use std::sync::{Arc, PoisonError, RwLock};

use super::fanout::FanOut;
use super::registry::SubscriptionRegistry;
use super::{Broker, BrokerError, PublishedMessage, SubscribeRequest};
use crate::principal::SessionId;
use crate::session::SessionHandle;

/// The in-memory broker: topic fan-out to every matching subscription, patterns allowed in
/// subscriptions (`/topic/chat/*`, `/topic/**`). Like Spring's, `/queue` destinations
/// broadcast to every subscriber by default.
#[derive(Debug)]
pub struct SimpleBroker {
    prefixes: Vec<String>,
    separator: char,
    // A std RwLock: publishing only reads, holds it while queueing (no await, no I/O), and
    // subscription changes are short writes.
    registry: RwLock<SubscriptionRegistry>,
}

impl SimpleBroker {
    /// A broker for destinations starting with one of `prefixes`.
    pub fn new(prefixes: Vec<String>, separator: char) -> SimpleBroker {
        SimpleBroker {
            prefixes,
            separator,
            registry: RwLock::default(),
        }
    }

    /// The number of active subscriptions.
    pub fn subscription_count(&self) -> usize {
        self.registry
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// True when `destination` is `prefix` or starts with `prefix` followed by a separator.
pub(crate) fn has_prefix(destination: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches(['/', '.']);
    match destination.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with(['/', '.']),
        None => false,
    }
}

impl Broker for SimpleBroker {
    fn handles(&self, destination: &str) -> bool {
        self.prefixes.iter().any(|p| has_prefix(destination, p))
    }

    fn subscribe(
        &self,
        session: &Arc<SessionHandle>,
        request: SubscribeRequest,
    ) -> Result<(), BrokerError> {
        self.registry
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .add(session, request, self.separator)
    }

    fn unsubscribe(&self, session: &SessionId, id: &str) -> Result<(), BrokerError> {
        self.registry
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(session, id)
    }

    fn publish(&self, message: &PublishedMessage) -> usize {
        let id = super::next_message_id();
        let mut fanout = FanOut::new(message, &id);
        self.registry
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .for_each_match(&message.destination, |s| fanout.deliver(s));
        fanout.delivered()
    }

    fn session_closed(&self, session: &SessionId) {
        self.registry
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove_session(session);
    }
}

#[cfg(test)]
mod tests {
    use super::has_prefix;

    #[test]
    fn prefixes_match_whole_segments() {
        assert!(has_prefix("/topic/a", "/topic"));
        assert!(has_prefix("/topic/a", "/topic/"));
        assert!(has_prefix("/topic", "/topic"));
        assert!(has_prefix("/topic.a", "/topic"));
        assert!(!has_prefix("/topics/a", "/topic"));
        assert!(!has_prefix("/app/x", "/topic"));
    }
}

//! Session events (Spring's `SessionConnectEvent`, `SessionDisconnectEvent`, ...).

use std::sync::{Arc, Weak};

use crate::principal::{Principal, SessionId};
use crate::routing::Routing;
use crate::template::Template;

/// Something that happened to a session. Each session yields exactly one `Connected` (when
/// `CONNECTED` was sent) and, after it, exactly one `Disconnected`, whatever ended it.
/// New kinds of events may be added: match with a `_` arm.
///
/// A listener that announces who comes and goes (Spring's
/// `@EventListener SessionDisconnectEvent`):
///
/// ```
/// use stomp_server::{event::SessionEvent, StompServer};
///
/// let builder = StompServer::builder().on_event(|event, template| match event {
///     SessionEvent::Connected { principal: Some(user), .. } => {
///         let _ = template.convert_and_send("/topic/presence", &format!("{user} joined"));
///     }
///     SessionEvent::Disconnected { principal: Some(user), reason, .. } => {
///         tracing::debug!(%user, %reason, "left");
///         let _ = template.convert_and_send("/topic/presence", &format!("{user} left"));
///     }
///     _ => {}
/// });
/// # let _ = builder;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// `CONNECT` was accepted by the interceptors (Spring's `SessionConnectEvent`).
    Connect {
        /// The session.
        session: SessionId,
        /// Its user, if any.
        principal: Option<Principal>,
    },
    /// `CONNECTED` was sent (Spring's `SessionConnectedEvent`).
    Connected {
        /// The session.
        session: SessionId,
        /// Its user, if any.
        principal: Option<Principal>,
    },
    /// A subscription became active (Spring's `SessionSubscribeEvent`, but sent only once
    /// the subscription is live).
    Subscribe {
        /// The session.
        session: SessionId,
        /// Its user, if any.
        principal: Option<Principal>,
        /// The subscription id.
        subscription: String,
        /// The destination as the client wrote it.
        destination: String,
    },
    /// A subscription was removed by `UNSUBSCRIBE` (Spring's `SessionUnsubscribeEvent`).
    /// Subscriptions that end with their session are not reported one by one: the
    /// `Disconnected` event covers them.
    Unsubscribe {
        /// The session.
        session: SessionId,
        /// Its user, if any.
        principal: Option<Principal>,
        /// The subscription id.
        subscription: String,
        /// The destination of the subscription as the client wrote it in `SUBSCRIBE`
        /// (Spring's event carries only the id; `UNSUBSCRIBE` has no destination).
        destination: String,
    },
    /// The broker relay's system connection is up (Spring's `BrokerAvailabilityEvent`).
    BrokerAvailable,
    /// The broker relay's system connection was lost or could not be opened; sessions that
    /// relied on it were told and closed, and it is being re-established.
    BrokerUnavailable {
        /// Why.
        reason: String,
    },
    /// The session ended (Spring's `SessionDisconnectEvent`), exactly once.
    Disconnected {
        /// The session.
        session: SessionId,
        /// Its user, if any.
        principal: Option<Principal>,
        /// Why it ended.
        reason: String,
    },
}

/// A session event listener registered with `StompServer::builder().on_event(..)`.
///
/// It runs on the session's task: keep it short, spawn anything slow.
pub type EventListener = dyn Fn(&SessionEvent, &Template) + Send + Sync + 'static;

/// Where session and broker events go: the registered listeners, each handed a [`Template`].
///
/// Built before the broker and given to it (the relay reports its availability here). It
/// holds the routing weakly: routing owns the broker, which owns this, and a strong
/// handle would be a reference cycle that keeps a dropped server's broker alive.
pub(crate) struct Events {
    listeners: Vec<Arc<EventListener>>,
    routing: Weak<Routing>,
}

impl Events {
    /// Events for `listeners`, whose template publishes through `routing`.
    pub(crate) fn new(listeners: Vec<Arc<EventListener>>, routing: Weak<Routing>) -> Events {
        Events { listeners, routing }
    }

    /// Whether events reach the listeners yet: false while the server is still being built
    /// (and once it is gone). A broker that reports from a task of its own waits for it.
    #[cfg(feature = "redis")]
    pub(crate) fn ready(&self) -> bool {
        self.routing.strong_count() > 0
    }

    /// The server's user registry, while the server runs (for a backplane that shares it).
    #[cfg(feature = "redis")]
    pub(crate) fn user_registry(&self) -> Option<Arc<crate::user::UserRegistry>> {
        self.routing
            .upgrade()
            .map(|routing| Arc::clone(&routing.users))
    }

    /// Tells every listener (nothing when none is registered or the server is gone).
    pub(crate) fn publish(&self, event: &SessionEvent) {
        if self.listeners.is_empty() {
            return;
        }
        let Some(routing) = self.routing.upgrade() else {
            return;
        };
        let template = Template { routing };
        for listener in &self.listeners {
            listener(event, &template);
        }
    }
}

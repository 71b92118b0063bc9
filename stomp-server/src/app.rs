//! [`App`]: the immutable application a server runs (configuration, handlers, broker, state).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use stomp_core::HeartBeat;

use crate::config::{ClientUserSends, Limits, UnhandledErrors};
use crate::event::{Events, SessionEvent};
use crate::handler::registry::Registry;
use crate::interceptor::{ChannelInterceptor, OutboundInterceptor};
use crate::stats::Stats;
use crate::template::{Messaging, Template};

/// Resolved configuration.
pub(crate) struct Config {
    pub(crate) endpoints: Vec<String>,
    pub(crate) application_prefixes: Vec<String>,
    pub(crate) user_prefix: String,
    pub(crate) client_user_sends: ClientUserSends,
    pub(crate) allowed_origins: Vec<String>,
    pub(crate) heartbeat: HeartBeat,
    pub(crate) limits: Limits,
    pub(crate) unhandled_errors: UnhandledErrors,
    pub(crate) server_name: String,
}

/// Everything sessions share. Built once by the server builder.
pub(crate) struct App {
    pub(crate) config: Config,
    pub(crate) registry: Registry,
    pub(crate) state: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    pub(crate) template: Template,
    pub(crate) messaging: Arc<Messaging>,
    pub(crate) interceptors: Vec<Arc<dyn ChannelInterceptor>>,
    pub(crate) outbound_interceptors: Vec<Arc<dyn OutboundInterceptor>>,
    pub(crate) events: Arc<Events>,
    pub(crate) stats: Arc<Stats>,
    /// Session tasks running, counted from the accepted handshake (not from `CONNECT`), so
    /// that connections which never send `CONNECT` count against `Limits::max_sessions`.
    pub(crate) sessions_running: Arc<AtomicUsize>,
}

/// One place under `Limits::max_sessions`, held by a session task until it ends.
#[derive(Debug)]
pub(crate) struct SessionSlot(Arc<AtomicUsize>);

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl App {
    /// A place for a new session, or `None` when `Limits::max_sessions` are running.
    pub(crate) fn admit(&self) -> Option<SessionSlot> {
        let running = self.sessions_running.fetch_add(1, Ordering::AcqRel);
        let slot = SessionSlot(Arc::clone(&self.sessions_running));
        (running < self.config.limits.max_sessions).then_some(slot)
    }

    /// The registered state of type `T`.
    pub(crate) fn state<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        self.state
            .get(&TypeId::of::<T>())?
            .clone()
            .downcast::<T>()
            .ok()
    }

    /// The broker.
    pub(crate) fn broker(&self) -> &dyn crate::broker::Broker {
        &*self.messaging.broker
    }

    /// Tells every listener.
    pub(crate) fn publish_event(&self, event: &SessionEvent) {
        self.events.publish(event);
    }

    /// The application prefix `destination` starts with, as the number of bytes to strip so
    /// that the lookup destination keeps its leading separator (`/app/x` → `/x`).
    pub(crate) fn application_lookup_offset(&self, destination: &str) -> Option<usize> {
        self.config.application_prefixes.iter().find_map(|prefix| {
            let trimmed = prefix.trim_end_matches(['/', '.']);
            let rest = destination.strip_prefix(trimmed)?;
            if rest.starts_with(['/', '.']) {
                Some(trimmed.len())
            } else {
                None
            }
        })
    }
}

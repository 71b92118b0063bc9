//! [`App`]: the immutable application a server runs (configuration, handlers, broker, state).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use stomp_core::HeartBeat;

use crate::config::Limits;
use crate::event::{Events, SessionEvent};
use crate::handler::context::HandlerContext;
use crate::interceptor::{ChannelInterceptor, OutboundInterceptor};
use crate::routing::Routing;
use crate::stats::Stats;
use crate::template::Template;

/// Resolved configuration.
pub(crate) struct Config {
    pub(crate) endpoints: Vec<String>,
    pub(crate) allowed_origins: Vec<String>,
    pub(crate) heartbeat: HeartBeat,
    pub(crate) limits: Limits,
    pub(crate) server_name: String,
}

/// Everything sessions share. Built once by the server builder.
pub(crate) struct App {
    pub(crate) config: Config,
    /// The handlers, with what their calls need.
    pub(crate) handlers: Arc<HandlerContext>,
    pub(crate) template: Template,
    pub(crate) routing: Arc<Routing>,
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

    /// The broker.
    pub(crate) fn broker(&self) -> &dyn crate::broker::Broker {
        &*self.routing.broker
    }

    /// Tells every listener.
    pub(crate) fn publish_event(&self, event: &SessionEvent) {
        self.events.publish(event);
    }
}

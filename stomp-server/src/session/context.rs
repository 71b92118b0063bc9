//! [`SessionContext`]: what every session is given when the server is built, instead of
//! reaching into the whole application.

use std::sync::Arc;

use stomp_core::HeartBeat;

use crate::authorization::MessageSecurity;
use crate::broker::Broker;
use crate::config::Limits;
use crate::event::{Events, SessionEvent};
use crate::handler::context::HandlerContext;
use crate::interceptor::{AsyncChannelInterceptor, ChannelInterceptor, OutboundInterceptor};
use crate::routing::Routing;
use crate::stats::Stats;

/// The parts of the server a session uses: its limits and heart-beats, the routing (and
/// through it the broker), the handlers, the interceptors, the listeners and the counters.
pub(crate) struct SessionContext {
    /// The limits every session is held to.
    pub(crate) limits: Limits,
    /// The heart-beats the server offers in `CONNECTED`.
    pub(crate) heartbeat: HeartBeat,
    /// The `server` header of `CONNECTED`.
    pub(crate) server_name: String,
    /// The handlers, with what their calls need.
    pub(crate) handlers: Arc<HandlerContext>,
    /// Destinations, the broker and the users' sessions.
    pub(crate) routing: Arc<Routing>,
    /// Channel interceptors for what clients send.
    pub(crate) interceptors: Vec<Arc<dyn ChannelInterceptor>>,
    /// Async channel interceptors, run after `interceptors`.
    pub(crate) async_interceptors: Vec<Arc<dyn AsyncChannelInterceptor>>,
    /// Interceptors for what sessions are sent.
    pub(crate) outbound_interceptors: Vec<Arc<dyn OutboundInterceptor>>,
    /// The authorization rules every inbound frame is checked against, if any.
    pub(crate) security: Option<MessageSecurity>,
    /// The session event listeners.
    pub(crate) events: Arc<Events>,
    /// The live counters.
    pub(crate) stats: Arc<Stats>,
}

impl SessionContext {
    /// The broker.
    pub(crate) fn broker(&self) -> &dyn Broker {
        &*self.routing.broker
    }

    /// Tells every listener.
    pub(crate) fn publish_event(&self, event: &SessionEvent) {
        self.events.publish(event);
    }
}

//! [`RawEndpoint`]: a raw WebSocket path's handler, and what every raw session is given.

use std::sync::Arc;
use std::time::Duration;

use super::handler::DynHandler;
use super::session::RawSessions;
use crate::config::Limits;
use crate::stats::Stats;
use crate::template::Template;

/// What every raw session of a server is given when the server is built.
pub(crate) struct RawContext {
    /// The limits every connection is held to.
    pub(crate) limits: Limits,
    /// Silence after which the client is pinged, and after twice which it is closed; `None`
    /// turns the check off (the server's incoming heart-beat interval).
    pub(crate) idle: Option<Duration>,
    /// The live counters.
    pub(crate) stats: Arc<Stats>,
    /// For handlers publishing into STOMP destinations.
    pub(crate) template: Template,
    /// The open raw sessions.
    pub(crate) sessions: RawSessions,
}

/// One raw WebSocket path: its handler and the shared context.
pub(crate) struct RawEndpoint {
    pub(crate) handler: Arc<dyn DynHandler>,
    pub(crate) context: Arc<RawContext>,
}

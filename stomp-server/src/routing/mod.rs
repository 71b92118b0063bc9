//! Routing: the one place that knows the application, broker and user prefixes.
//!
//! Inbound (`inbound`): where a client's `SEND` or `SUBSCRIBE` goes — a handler (with the
//! lookup destination it matches), the broker, or a user destination translated for this
//! session. Outbound (`outbound`, `reply`): where a message from the template, a handler's
//! reply or a client's `SEND` is published — the broker, or every session of a user — with
//! `#[send_to]` templates compiled once at start-up and Spring's default reply
//! destinations. `prefixes` holds the prefixes, `user` the user-destination names (Spring's
//! `UserDestinationResolver`).

mod inbound;
mod outbound;
mod prefixes;
mod reply;
mod user;

use std::sync::Arc;

use crate::broker::Broker;
use crate::stats::Stats;
use crate::user::UserRegistry;

pub(crate) use inbound::{SendRoute, SubscribeRoute};
pub(crate) use outbound::RouteError;
pub(crate) use prefixes::Prefixes;
pub(crate) use reply::{with_content_type, Reply, ReplyRoute, ReplySource};
#[cfg(test)]
pub(crate) use user::is_session_destination;

/// Routes messages between sessions, handlers and the broker. Built once at start-up,
/// after the broker; shared by sessions, handlers and the [`Template`](crate::Template).
pub(crate) struct Routing {
    /// The broker: the simple broker or the relay.
    pub(crate) broker: Arc<dyn Broker>,
    /// The connected users, for user destinations.
    pub(crate) users: Arc<UserRegistry>,
    /// The application and user prefixes, and the policy for client sends to users.
    pub(crate) prefixes: Prefixes,
    /// Counts deliveries of replies.
    pub(crate) stats: Arc<Stats>,
}

//! Where a client's `SEND` or `SUBSCRIBE` goes.

use std::sync::Arc;

use super::user::{
    is_session_destination, named_user, others_user_destination, parse_user_destination,
    reserved_destination, session_destination, UserDestination,
};
use super::Routing;
use crate::broker::UserSubscription;
use crate::peer::SessionHandle;

/// Where a client's `SEND` goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendRoute {
    /// To the `#[message_mapping]` that matches the destination from `lookup_offset` on.
    Application {
        /// Bytes of the application prefix (`/app` in `/app/chat`).
        lookup_offset: usize,
    },
    /// To a user destination (`/user/{name}/..`), which the client may send to.
    User,
    /// To the broker (or refused there when no broker prefix owns it).
    Broker,
}

/// Where a client's `SUBSCRIBE` goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SubscribeRoute {
    /// To the `#[subscribe_mapping]` that matches the destination from `lookup_offset` on.
    Application {
        /// Bytes of the application prefix.
        lookup_offset: usize,
    },
    /// To the broker, under the name it matches there.
    Broker {
        /// The broker's name for it (`/queue/x-user{session}` for `/user/queue/x`).
        destination: String,
        /// What `MESSAGE` frames report, when it differs from `destination`.
        reported_destination: Option<Arc<str>>,
        /// The user part, for `/user/..` subscriptions.
        user: Option<UserSubscription>,
    },
}

impl Routing {
    /// Routes a client's `SEND` to `destination`; the error is the `ERROR` frame's text.
    pub(crate) fn send_route(&self, destination: &str) -> Result<SendRoute, String> {
        if let Some(lookup_offset) = self.prefixes.application_lookup_offset(destination) {
            return Ok(SendRoute::Application { lookup_offset });
        }
        if is_session_destination(destination) {
            return Err(reserved_destination(destination));
        }
        if !self.prefixes.is_user_destination(destination) {
            return Ok(SendRoute::Broker);
        }
        match self.prefixes.refuse_client_send(destination) {
            Some(text) => Err(text),
            None => Ok(SendRoute::User),
        }
    }

    /// Routes a `SUBSCRIBE` of `session` to `destination`, translating user destinations;
    /// the error is the `ERROR` frame's text.
    pub(crate) fn subscribe_route(
        &self,
        destination: &str,
        session: &SessionHandle,
    ) -> Result<SubscribeRoute, String> {
        if let Some(lookup_offset) = self.prefixes.application_lookup_offset(destination) {
            return Ok(SubscribeRoute::Application { lookup_offset });
        }
        match parse_user_destination(destination, &self.prefixes.user, false) {
            Some(UserDestination::Own(own)) => {
                let own = self.owned(destination, own, session)?;
                Ok(SubscribeRoute::Broker {
                destination: session_destination(own, &session.id),
                reported_destination: Some(Arc::from(destination)),
                user: Some(UserSubscription {
                    user: session
                        .principal
                        .as_ref()
                        .map_or_else(|| session.id.to_string(), |p| p.name().to_owned()),
                    destination: own.to_owned(),
                }),
                })
            }
            _ if is_session_destination(destination) => Err(reserved_destination(destination)),
            _ if self.broker.handles(destination) => Ok(SubscribeRoute::Broker {
                destination: destination.to_owned(),
                reported_destination: None,
                user: None,
            }),
            _ => Err(format!(
                "no broker or handler for destination `{destination}`; check the broker and application prefixes"
            )),
        }
    }

    /// The broker destination a `SUBSCRIBE` to `/user{own}` stands for, for this session
    /// alone: `own` itself (`/user/queue/x`), or when it names a user before a broker
    /// destination (`/user/bob/queue/x`), that destination if the user is the session's own
    /// (its principal's name, or its id when anonymous), else an error: a session never
    /// subscribes to another user's destinations.
    fn owned<'d>(
        &self,
        destination: &str,
        own: &'d str,
        session: &SessionHandle,
    ) -> Result<&'d str, String> {
        let Some((user, tail)) = named_user(own) else {
            return Ok(own);
        };
        if self.broker.handles(own) || !self.broker.handles(tail) {
            return Ok(own);
        }
        let me = session
            .principal
            .as_ref()
            .map_or(session.id.as_str(), |p| p.name());
        if user == me {
            Ok(tail)
        } else {
            Err(others_user_destination(
                destination,
                &self.prefixes.user,
                tail,
            ))
        }
    }
}

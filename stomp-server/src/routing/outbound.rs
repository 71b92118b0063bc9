//! Publishing: to a broker destination, to every session of a user, to one session.

use std::sync::Arc;

use super::user::{parse_user_destination, session_destination, UserDestination};
use super::Routing;
use crate::broker::{BrokerError, PublishedMessage};
use crate::log::Escaped;
use crate::principal::SessionId;

/// Why a message could not be published.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum RouteError {
    /// No broker prefix (nor the user prefix) owns the destination.
    #[error("no broker handles destination `{0}`")]
    NoBroker(String),
    /// The broker refused the message (a full point-to-point queue).
    #[error(transparent)]
    Broker(#[from] BrokerError),
}

impl Routing {
    /// Publishes to a broker destination or a `/user/{name}/..` destination; returns the
    /// number of subscriptions reached.
    pub(crate) fn publish(&self, message: PublishedMessage) -> Result<usize, RouteError> {
        if let Some(UserDestination::ForUser { user, destination }) =
            parse_user_destination(&message.destination, &self.prefixes.user, true)
        {
            let destination = destination.to_owned();
            let user = user.to_owned();
            return Ok(self.try_publish_to_user(&user, &destination, message)?);
        }
        if !self.broker.handles(&message.destination) {
            return Err(RouteError::NoBroker(message.destination));
        }
        Ok(self.broker.publish(Arc::new(message))?)
    }

    /// A client's `SEND` that is not for a handler: on the session's own broker connection
    /// when the broker carries it there (the relay), else published like any message.
    pub(crate) fn publish_from_client(
        &self,
        session: &SessionId,
        message: PublishedMessage,
        transaction: Option<&str>,
    ) -> Result<usize, RouteError> {
        if self.broker.handles(&message.destination) {
            if let Some(result) = self
                .broker
                .publish_from_session(session, &message, transaction)
            {
                return Ok(result?);
            }
        }
        self.publish(message)
    }

    /// Publishes to `destination` (`/queue/reply`) of every session of `user`; the first
    /// refusal (a full point-to-point queue) is the error, after every session was tried.
    pub(crate) fn try_publish_to_user(
        &self,
        user: &str,
        destination: &str,
        message: PublishedMessage,
    ) -> Result<usize, BrokerError> {
        if let Some(result) =
            self.broker
                .publish_to_user(user, destination, Arc::new(message.clone()))
        {
            return result;
        }
        let mut delivered = 0;
        let mut refused = None;
        for id in self.users.session_ids(user) {
            match self.try_publish_to_session(&id, destination, message.clone()) {
                Ok(n) => delivered += n,
                Err(error) => refused = refused.or(Some(error)),
            }
        }
        match refused {
            Some(error) => Err(error),
            None => Ok(delivered),
        }
    }

    /// Publishes to `destination` (`/queue/reply`) of every session of `user`; a refusal is
    /// logged.
    pub(crate) fn publish_to_user(
        &self,
        user: &str,
        destination: &str,
        message: PublishedMessage,
    ) -> usize {
        self.try_publish_to_user(user, destination, message)
            .unwrap_or_else(|error| {
                tracing::warn!(user = %Escaped(user), destination = %Escaped(destination), error = %Escaped(&error), "message to user refused");
                0
            })
    }

    fn try_publish_to_session(
        &self,
        session: &SessionId,
        destination: &str,
        mut message: PublishedMessage,
    ) -> Result<usize, BrokerError> {
        message.destination = session_destination(destination, session);
        self.broker
            .publish_for_session(session, destination, Arc::new(message))
    }

    /// Publishes to `destination` (`/queue/reply`) of one session; a refusal is logged.
    pub(crate) fn publish_to_session(
        &self,
        session: &SessionId,
        destination: &str,
        message: PublishedMessage,
    ) -> usize {
        self.try_publish_to_session(session, destination, message)
            .unwrap_or_else(|error| {
                tracing::warn!(%session, destination = %Escaped(destination), error = %Escaped(&error), "message to session refused");
                0
            })
    }
}

//! [`Template`]: send messages from anywhere (Spring's `SimpMessagingTemplate`).

use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;
use stomp_core::names;

use crate::broker::{Broker, BrokerError, PublishedMessage};
use crate::handler::to_body;
use crate::principal::SessionId;
use crate::user::{parse_user_destination, session_destination, UserDestination, UserRegistry};

/// Why a message could not be sent.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    /// No broker prefix (nor the user prefix) owns the destination.
    #[error("no broker handles destination `{0}`")]
    NoBroker(String),
    /// The payload could not be serialized.
    #[error(transparent)]
    Serialize(#[from] crate::handler::SerializeError),
    /// The broker refused the message (a full point-to-point queue).
    #[error(transparent)]
    Broker(#[from] BrokerError),
}

/// The shared publishing path of sessions, handlers and the template.
pub(crate) struct Messaging {
    pub(crate) broker: Arc<dyn Broker>,
    pub(crate) users: Arc<UserRegistry>,
    pub(crate) user_prefix: String,
}

impl Messaging {
    /// Publishes to a broker destination or a `/user/{name}/..` destination; returns the
    /// number of subscriptions reached.
    pub(crate) fn publish(&self, message: PublishedMessage) -> Result<usize, SendError> {
        if let Some(UserDestination::ForUser { user, destination }) =
            parse_user_destination(&message.destination, &self.user_prefix, true)
        {
            let destination = destination.to_owned();
            let user = user.to_owned();
            return self.try_publish_to_user(&user, &destination, message);
        }
        if !self.broker.handles(&message.destination) {
            return Err(SendError::NoBroker(message.destination));
        }
        Ok(self.broker.publish(Arc::new(message))?)
    }

    /// Publishes to `destination` (`/queue/reply`) of every session of `user`; the first
    /// refusal (a full point-to-point queue) is the error, after every session was tried.
    fn try_publish_to_user(
        &self,
        user: &str,
        destination: &str,
        message: PublishedMessage,
    ) -> Result<usize, SendError> {
        if let Some(result) =
            self.broker
                .publish_to_user(user, destination, Arc::new(message.clone()))
        {
            return Ok(result?);
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
            Some(error) => Err(error.into()),
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
                tracing::warn!(user = %crate::log::Escaped(user), destination = %crate::log::Escaped(destination), error = %crate::log::Escaped(&error), "message to user refused");
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
                tracing::warn!(%session, destination = %crate::log::Escaped(destination), error = %crate::log::Escaped(&error), "message to session refused");
                0
            })
    }
}

/// Sends messages to broker destinations and users, from handlers (as an argument) or from
/// any task (keep a clone; it is a reference count).
///
/// ```no_run
/// # async fn demo(template: stomp_server::Template) {
/// // A background job pushing prices to every subscriber of /topic/prices:
/// template.convert_and_send("/topic/prices", &serde_json::json!({"EUR": 1.08})).ok();
/// template.convert_and_send_to_user("alice", "/queue/alerts", "price moved").ok();
/// # }
/// ```
#[derive(Clone)]
pub struct Template {
    pub(crate) messaging: Arc<Messaging>,
}

impl Template {
    /// Converts `payload` (JSON, or raw text/bytes for `String`/`Bytes`) and publishes it to
    /// `destination`; a `/user/{name}/..` destination reaches that user's sessions. Returns
    /// the number of subscriptions reached.
    pub fn convert_and_send<T: Serialize + ?Sized>(
        &self,
        destination: &str,
        payload: &T,
    ) -> Result<usize, SendError> {
        self.convert_and_send_with_headers(destination, payload, &[])
    }

    /// Like [`convert_and_send`](Self::convert_and_send) with extra headers.
    pub fn convert_and_send_with_headers<T: Serialize + ?Sized>(
        &self,
        destination: &str,
        payload: &T,
        headers: &[(&str, &str)],
    ) -> Result<usize, SendError> {
        let Some(message) = message(destination, payload, headers)? else {
            return Ok(0);
        };
        self.messaging.publish(message)
    }

    /// Sends to `destination` (`/queue/reply`) of every session of `user`, which each see it
    /// on their `/user/queue/reply` subscription (Spring's `convertAndSendToUser`).
    pub fn convert_and_send_to_user<T: Serialize + ?Sized>(
        &self,
        user: &str,
        destination: &str,
        payload: &T,
    ) -> Result<usize, SendError> {
        let Some(message) = message(destination, payload, &[])? else {
            return Ok(0);
        };
        self.messaging
            .try_publish_to_user(user, destination, message)
    }

    /// Sends raw bytes with the given headers.
    pub fn send(
        &self,
        destination: &str,
        body: Bytes,
        headers: &[(&str, &str)],
    ) -> Result<usize, SendError> {
        self.messaging.publish(PublishedMessage {
            destination: destination.to_owned(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body,
        })
    }

    /// The users connected to this server (Spring's `SimpUserRegistry`).
    pub fn user_registry(&self) -> &UserRegistry {
        &self.messaging.users
    }
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template").finish_non_exhaustive()
    }
}

fn message<T: Serialize + ?Sized>(
    destination: &str,
    payload: &T,
    headers: &[(&str, &str)],
) -> Result<Option<PublishedMessage>, SendError> {
    let Some((body, content_type)) = to_body(payload)? else {
        return Ok(None);
    };
    let mut all = Vec::with_capacity(headers.len() + 1);
    if !headers.iter().any(|(n, _)| *n == names::CONTENT_TYPE) {
        all.push((names::CONTENT_TYPE.to_owned(), content_type.to_owned()));
    }
    all.extend(
        headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
    );
    Ok(Some(PublishedMessage {
        destination: destination.to_owned(),
        headers: all,
        body,
    }))
}

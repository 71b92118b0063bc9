//! [`Template`]: send messages from anywhere (Spring's `SimpMessagingTemplate`).

use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;
use stomp_core::names;

use crate::broker::{BrokerError, PublishedMessage};
use crate::converter::to_body;
use crate::routing::{with_content_type, RouteError, Routing};
use crate::user::UserRegistry;

/// Why a message could not be sent.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// No broker prefix (nor the user prefix) owns the destination.
    #[error("no broker handles destination `{0}`")]
    NoBroker(String),
    /// The payload could not be serialized.
    #[error(transparent)]
    Serialize(#[from] crate::converter::SerializeError),
    /// The broker refused the message (a full point-to-point queue).
    #[error(transparent)]
    Broker(#[from] BrokerError),
}

impl From<RouteError> for SendError {
    fn from(error: RouteError) -> SendError {
        match error {
            RouteError::NoBroker(destination) => SendError::NoBroker(destination),
            RouteError::Broker(error) => SendError::Broker(error),
        }
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
    pub(crate) routing: Arc<Routing>,
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
        Ok(self.routing.publish(message)?)
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
        Ok(self
            .routing
            .try_publish_to_user(user, destination, message)?)
    }

    /// Sends raw bytes with the given headers.
    pub fn send(
        &self,
        destination: &str,
        body: Bytes,
        headers: &[(&str, &str)],
    ) -> Result<usize, SendError> {
        Ok(self.routing.publish(PublishedMessage {
            destination: destination.to_owned(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body,
        })?)
    }

    /// The users connected to this server (Spring's `SimpUserRegistry`).
    pub fn user_registry(&self) -> &UserRegistry {
        &self.routing.users
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
    let all = with_content_type(
        content_type,
        headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned())),
        headers.iter().any(|(n, _)| *n == names::CONTENT_TYPE),
    );
    Ok(Some(PublishedMessage {
        destination: destination.to_owned(),
        headers: all,
        body,
    }))
}

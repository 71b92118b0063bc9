//! [`Subscription`]: the `MESSAGE` frames of one subscription, in order.

use std::time::Duration;

use stomp_core::{names, Command, Frame};
use tokio::sync::mpsc;

use super::error::ClientError;
use super::session::StompSession;
use super::state::Delivery;

/// One subscription of a [`StompSession`]: receives the `MESSAGE` frames whose
/// `subscription` header is its id.
///
/// Messages wait in a bounded buffer
/// ([`StompClient::subscription_capacity`](super::StompClient::subscription_capacity)); when
/// it is full the connection's reader waits, so a subscription nobody reads eventually
/// stalls every subscription of the session (the server then sees a slow consumer).
///
/// Dropping a `Subscription` sends nothing to the server: it only stops routing, and
/// later `MESSAGE` frames for its id go to
/// [`StompSession::next_unrouted`](StompSession::next_unrouted). Call
/// [`unsubscribe`](Subscription::unsubscribe) to tell the server.
#[derive(Debug)]
pub struct Subscription {
    id: String,
    receiver: mpsc::Receiver<Delivery>,
    session: StompSession,
}

impl Subscription {
    pub(super) fn new(
        id: String,
        receiver: mpsc::Receiver<Delivery>,
        session: StompSession,
    ) -> Subscription {
        Subscription {
            id,
            receiver,
            session,
        }
    }

    /// The subscription id (the `id` header of `SUBSCRIBE`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The session this subscription belongs to.
    pub fn session(&self) -> &StompSession {
        &self.session
    }

    /// The next `MESSAGE`, or `Err(ClientError::Error)` when the server sent an `ERROR`;
    /// `None` once the connection ended and every buffered message was taken.
    pub async fn next(&mut self) -> Option<Result<Frame, ClientError>> {
        self.receiver.recv().await
    }

    /// Like [`next`](Subscription::next), within `timeout`: `Err(ClientError::Timeout)` when
    /// nothing came, `Err(ClientError::Closed)` when the connection ended.
    pub async fn next_timeout(&mut self, timeout: Duration) -> Result<Frame, ClientError> {
        match tokio::time::timeout(timeout, self.receiver.recv()).await {
            Ok(Some(delivery)) => delivery,
            Ok(None) => Err(ClientError::Closed(
                self.session.shared().reason_or_default(),
            )),
            Err(_) => Err(ClientError::Timeout("MESSAGE")),
        }
    }

    /// A `MESSAGE` already buffered, without waiting (`None` when there is none).
    pub fn try_next(&mut self) -> Option<Result<Frame, ClientError>> {
        self.receiver.try_recv().ok()
    }

    /// Sends `UNSUBSCRIBE` for this id and stops routing (no receipt is awaited).
    pub async fn unsubscribe(self) -> Result<(), ClientError> {
        let frame = Frame::new(Command::Unsubscribe).header(names::ID, &self.id);
        self.session.send_frame(frame).await
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        // Closing first marks the route as dead, so only this subscription's route is
        // removed, never a newer one that reuses the id.
        self.receiver.close();
        self.session.shared().remove_closed_subscription(&self.id);
    }
}

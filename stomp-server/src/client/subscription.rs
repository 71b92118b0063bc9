//! [`Subscription`]: the `MESSAGE` frames of one subscription, in order, and how a
//! [`StompSession`] subscribes.

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

/// Subscribing: here rather than beside the session's other methods, so that the session
/// does not import its subscriptions (a subscription holds its session).
impl StompSession {
    /// Subscribes to `destination` with `ack:auto` and a generated id (`sub-0`, `sub-1`...),
    /// and waits for the server's `RECEIPT`, so the subscription is live when this returns.
    ///
    /// The server must answer a `SUBSCRIBE` that carries a `receipt` header; use
    /// [`subscribe_with`](StompSession::subscribe_with) with `wait_receipt: false` for one
    /// that does not.
    pub async fn subscribe(&self, destination: &str) -> Result<Subscription, ClientError> {
        let frame = Frame::new(Command::Subscribe)
            .header(names::ID, &self.shared().next_subscription_id())
            .header(names::DESTINATION, destination)
            .header(names::ACK, "auto");
        self.subscribe_with(frame, true).await
    }

    /// Subscribes with a `SUBSCRIBE` frame of your own (`ack:client-individual`, selectors,
    /// a chosen `id`...). An `id` is generated when absent. With `wait_receipt`, a `receipt`
    /// header is added (unless present) and the `RECEIPT` awaited.
    ///
    /// Messages are routed to the returned [`Subscription`] from the moment the frame is
    /// queued, so none is lost between the `RECEIPT` and the first `next()`.
    pub async fn subscribe_with(
        &self,
        mut frame: Frame,
        wait_receipt: bool,
    ) -> Result<Subscription, ClientError> {
        if frame.command != Command::Subscribe {
            return Err(ClientError::InvalidFrame(format!(
                "subscribe_with needs a SUBSCRIBE frame, not {}",
                frame.command
            )));
        }
        if frame.destination().is_none() {
            return Err(ClientError::InvalidFrame(
                "SUBSCRIBE needs a `destination` header".into(),
            ));
        }
        let id = match frame.id() {
            Some(id) => id.to_owned(),
            None => {
                let id = self.shared().next_subscription_id();
                frame.headers.append(names::ID, &id);
                id
            }
        };
        let (sender, receiver) = mpsc::channel(self.subscription_capacity());
        self.shared().add_subscription(&id, sender)?;
        // Built before sending: on failure its `Drop` removes the route again.
        let subscription = Subscription::new(id, receiver, self.clone());
        if wait_receipt {
            self.send_with_receipt(frame).await?;
        } else {
            self.send_frame(frame).await?;
        }
        Ok(subscription)
    }
}

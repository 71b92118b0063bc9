//! What a session does on its own broker connection: subscriptions that need RabbitMQ's
//! semantics (queues, client acknowledgements), their `ACK`/`NACK`,
//! transactions and the `SEND`s inside them.

use std::sync::Arc;

use stomp_core::{names, Command, Frame};
use tokio::sync::oneshot;

use super::connection::{closed, frame_size};
use super::destination::to_broker;
use super::session::{Request, Route, SessionRelay};
use super::{session_topic, user_topic};
use crate::broker::{
    AckMode, AckRequest, AckTarget, BrokerError, Confirmation, PublishedMessage, SubscribeRequest,
};
use crate::principal::SessionId;

/// The prefetch window of an acknowledging subscription that asks for none.
const DEFAULT_PREFETCH: usize = 1_000;

/// The broker destinations a subscription listens on: a user destination on two routes
/// (its user's and its session's), anything else on its broker name.
fn targets(session: &SessionId, request: &SubscribeRequest) -> Vec<String> {
    match &request.user {
        Some(user) => vec![
            user_topic(&user.user, &user.destination),
            session_topic(session.as_str(), &user.destination),
        ],
        None => vec![to_broker(&request.destination)],
    }
}

/// The `SUBSCRIBE` frame for one broker destination.
fn subscribe_frame(id: &str, target: &str, request: &SubscribeRequest) -> Frame {
    let ack = match request.ack {
        AckMode::Auto => "auto",
        AckMode::Client => "client",
        AckMode::ClientIndividual => "client-individual",
    };
    let mut frame = Frame::new(Command::Subscribe)
        .header(names::ID, id)
        .header(names::DESTINATION, target)
        .header(names::ACK, ack);
    // An acknowledging subscription without its own window gets one, so that RabbitMQ
    // never has more unacknowledged messages out than it can take back.
    let prefetch = request.prefetch.or(match request.ack {
        AckMode::Auto => None,
        AckMode::Client | AckMode::ClientIndividual => Some(DEFAULT_PREFETCH),
    });
    if let Some(prefetch) = prefetch {
        frame
            .headers
            .append("prefetch-count", &prefetch.to_string());
    }
    frame
}

impl SessionRelay {
    /// Subscribes on the session's connection; confirmed by the broker's `RECEIPT`.
    pub(super) fn subscribe(
        &self,
        session: &SessionId,
        request: &SubscribeRequest,
    ) -> Result<Confirmation, BrokerError> {
        let (confirm, confirmation) = oneshot::channel();
        let reported = request.reported_destination.clone().or_else(|| {
            (!request.destination.contains('*')).then(|| Arc::from(request.destination.as_str()))
        });
        let mut subs = self.lock();
        if subs.by_client.contains_key(&request.id) {
            return Err(BrokerError::DuplicateSubscription(request.id.to_string()));
        }
        let mut frames = Vec::new();
        let mut ids = Vec::new();
        for target in targets(session, request) {
            let id = subs.next_id();
            frames.push(subscribe_frame(&id, &target, request));
            let route = Route {
                client_id: Arc::clone(&request.id),
                reported: reported.clone(),
            };
            subs.routes.insert(id.clone(), route);
            ids.push(id);
        }
        let receipt = format!("subscribe-{}", ids.last().map_or("", String::as_str));
        if let Some(last) = frames.last_mut() {
            last.headers.append(names::RECEIPT, &receipt);
        }
        subs.by_client.insert(Arc::clone(&request.id), ids);
        drop(subs);
        let request = Request::Subscribe {
            frames,
            receipt,
            confirm,
        };
        self.requests.send(request).map_err(|_| closed())?;
        Ok(confirmation)
    }

    /// Ends subscription `id` of the client.
    pub(super) fn unsubscribe(&self, id: &str) -> Result<(), BrokerError> {
        let ids = {
            let mut subs = self.lock();
            let ids = subs
                .by_client
                .remove(id)
                .ok_or_else(|| BrokerError::UnknownSubscription(id.to_owned()))?;
            for broker_id in &ids {
                subs.routes.remove(broker_id);
            }
            ids
        };
        for broker_id in ids {
            let frame = Frame::new(Command::Unsubscribe).header(names::ID, &broker_id);
            let _ = self.send_control(frame);
        }
        Ok(())
    }

    /// Forwards an `ACK` or `NACK`, by the broker's ack id.
    pub(super) fn acknowledge(&self, request: &AckRequest) -> Result<(), BrokerError> {
        let ack_id = match &request.target {
            AckTarget::AckId(id) => id.clone(),
            AckTarget::MessageId {
                message_id,
                subscription,
            } => self.lock().take_ack_id(message_id).ok_or_else(|| {
                BrokerError::UnknownMessageId {
                    message_id: message_id.clone(),
                    subscription: subscription.clone(),
                }
            })?,
        };
        let command = if request.nack {
            Command::Nack
        } else {
            Command::Ack
        };
        self.send_control(Frame::new(command).header(names::ID, &ack_id))
    }

    /// A client's `SEND` on its own connection (inside a transaction, or to a destination
    /// that needs RabbitMQ's semantics), bounded by the connection's backlog.
    pub(super) fn publish(
        &self,
        message: &PublishedMessage,
        transaction: Option<&str>,
    ) -> Result<usize, BrokerError> {
        let mut frame =
            Frame::new(Command::Send).header(names::DESTINATION, &to_broker(&message.destination));
        for (name, value) in &message.headers {
            if !super::wire::is_relay_header(name) {
                frame.headers.append(name, value);
            }
        }
        if let Some(transaction) = transaction {
            frame.headers.append(names::TRANSACTION, transaction);
        }
        frame.body = message.body.clone();
        // Counted from here until written: the client's SENDs are bounded on their way to a
        // broker that does not read.
        if self.requests.is_closed() {
            return Err(closed());
        }
        let size = frame_size(&frame);
        self.backlog.reserve(size, self.backlog_limit)?;
        self.requests
            .send(Request::Send(frame, size))
            .map(|()| 1)
            .map_err(|_| {
                self.backlog.release(size);
                closed()
            })
    }
}

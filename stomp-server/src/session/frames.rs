//! The subscription side of a session: `SUBSCRIBE`, `UNSUBSCRIBE`, `ACK`, `NACK`, and the
//! transactions (`BEGIN`, `COMMIT`, `ABORT`) that hold `SEND`s, `ACK`s and `NACK`s until
//! they are committed.

use std::sync::Arc;

use bytes::Bytes;
use stomp_core::{names, Command, Frame, Version};

use super::run::{Body, End, SessionState, Subscribed};
use crate::broker::{AckMode, AckRequest, AckTarget, BrokerError, SubscribeRequest};
use crate::event::SessionEvent;
use crate::handler::dispatch::dispatch;
use crate::handler::MappingKind;
use crate::routing::SubscribeRoute;

/// How long a SUBSCRIBE waits for an external broker's confirmation.
const SUBSCRIBE_CONFIRMATION: std::time::Duration = std::time::Duration::from_secs(10);

/// The `SUBSCRIBE` header that lowers a subscription's prefetch window (RabbitMQ's name).
const PREFETCH_COUNT: &str = "prefetch-count";

impl SessionState<'_> {
    /// A `SUBSCRIBE` to an application destination: answered by a `#[subscribe_mapping]`.
    async fn subscribe_application(
        &mut self,
        frame: Frame,
        id: String,
        destination: String,
        offset: usize,
    ) -> Option<End> {
        // The receipt first: the reply of a subscribe mapping follows the subscription's
        // confirmation, as a client expects.
        self.receipt(&frame);
        let receipt = frame.receipt().map(str::to_owned);
        self.subscriptions.insert(
            id.clone(),
            Subscribed {
                destination: destination.clone(),
                application: true,
            },
        );
        if let Err(error) = dispatch(
            &self.app.handlers,
            self.session,
            frame,
            MappingKind::Subscribe,
            offset,
        )
        .await
        {
            return self.fail(error.to_string(), receipt.as_deref());
        }
        self.subscribed(id, destination);
        None
    }

    pub(super) async fn subscribe(&mut self, frame: Frame) -> Option<End> {
        let Some(destination) = frame.destination().map(str::to_owned) else {
            return self.fail(
                "SUBSCRIBE requires a destination header".to_owned(),
                frame.receipt(),
            );
        };
        let id = match (frame.id(), self.session.version) {
            (Some(id), _) => id.to_owned(),
            (None, Version::V1_0) => destination.clone(),
            (None, _) => {
                return self.fail(
                    "SUBSCRIBE requires an id header".to_owned(),
                    frame.receipt(),
                )
            }
        };
        let Some(ack) = AckMode::parse(frame.get(names::ACK)) else {
            return self.fail(
                format!(
                    "unknown ack mode `{}`; use auto, client or client-individual",
                    frame.get(names::ACK).unwrap_or("")
                ),
                frame.receipt(),
            );
        };
        let prefetch = match frame.get(PREFETCH_COUNT).map(str::parse::<usize>) {
            None => None,
            Some(Ok(count)) => Some(count),
            Some(Err(_)) => {
                return self.fail(
                    format!(
                        "invalid {PREFETCH_COUNT} `{}`; expected a whole number",
                        frame.get(PREFETCH_COUNT).unwrap_or("")
                    ),
                    frame.receipt(),
                )
            }
        };
        if self.subscriptions.contains_key(&id) {
            return self.fail(
                BrokerError::DuplicateSubscription(id).to_string(),
                frame.receipt(),
            );
        }
        let limit = self.app.config.limits.max_subscriptions_per_session;
        if self.subscriptions.len() >= limit {
            return self.fail(
                format!("subscription limit reached: a session may hold at most {limit} subscriptions (max_subscriptions_per_session)"),
                frame.receipt(),
            );
        }
        let route = match self.app.routing.subscribe_route(&destination, self.session) {
            Ok(route) => route,
            Err(text) => return self.fail(text, frame.receipt()),
        };
        let (broker_destination, reported_destination, user) = match route {
            SubscribeRoute::Broker {
                destination,
                reported_destination,
                user,
            } => (destination, reported_destination, user),
            SubscribeRoute::Application { lookup_offset } => {
                return self
                    .subscribe_application(frame, id, destination, lookup_offset)
                    .await;
            }
        };
        let request = SubscribeRequest {
            id: Arc::from(id.as_str()),
            destination: broker_destination,
            reported_destination,
            ack,
            prefetch,
            user,
        };
        match self.app.broker().subscribe(self.session, request) {
            Ok(None) => {}
            Ok(Some(confirmation)) => {
                // An external broker confirms asynchronously; the receipt waits for it.
                let confirmed = tokio::time::timeout(SUBSCRIBE_CONFIRMATION, confirmation).await;
                let error = match confirmed {
                    Ok(Ok(Ok(()))) => None,
                    Ok(Ok(Err(error))) => Some(error.to_string()),
                    Ok(Err(_)) => {
                        Some("broker unavailable: the broker connection closed".to_owned())
                    }
                    Err(_) => Some(
                        "broker unavailable: the broker did not confirm the subscription"
                            .to_owned(),
                    ),
                };
                if let Some(error) = error {
                    return self.fail(error, frame.receipt());
                }
            }
            Err(error) => return self.fail(error.to_string(), frame.receipt()),
        }
        self.subscriptions.insert(
            id.clone(),
            Subscribed {
                destination: destination.clone(),
                application: false,
            },
        );
        // The subscription is live now; only now does the client learn so.
        self.receipt(&frame);
        self.subscribed(id, destination);
        None
    }

    fn subscribed(&self, id: String, destination: String) {
        self.app.publish_event(&SessionEvent::Subscribe {
            session: self.session.id.clone(),
            principal: self.session.principal.clone(),
            subscription: id,
            destination,
        });
    }

    pub(super) fn unsubscribe(&mut self, frame: &Frame) -> Option<End> {
        // STOMP 1.0 may name the subscription by its destination, its default id.
        let id = match (frame.id(), self.session.version) {
            (Some(id), _) => id.to_owned(),
            (None, Version::V1_0) if frame.destination().is_some() => {
                frame.destination().unwrap_or_default().to_owned()
            }
            _ => {
                return self.fail(
                    "UNSUBSCRIBE requires an id header".to_owned(),
                    frame.receipt(),
                )
            }
        };
        let Some(subscribed) = self.subscriptions.remove(&id) else {
            return self.fail(
                BrokerError::UnknownSubscription(id).to_string(),
                frame.receipt(),
            );
        };
        if !subscribed.application {
            if let Err(error) = self.app.broker().unsubscribe(&self.session.id, &id) {
                return self.fail(error.to_string(), frame.receipt());
            }
        }
        self.receipt(frame);
        self.app.publish_event(&SessionEvent::Unsubscribe {
            session: self.session.id.clone(),
            principal: self.session.principal.clone(),
            subscription: id,
            destination: subscribed.destination,
        });
        None
    }

    /// `ACK` or `NACK` outside a transaction: applied now.
    pub(super) fn acknowledge(&mut self, frame: &Frame) -> Option<End> {
        match self.apply_ack(frame) {
            Ok(()) => {
                self.receipt(frame);
                None
            }
            Err(message) => self.fail(message, frame.receipt()),
        }
    }

    fn apply_ack(&self, frame: &Frame) -> Result<(), String> {
        let request = ack_request(frame, self.session.version)?;
        if let AckTarget::MessageId {
            subscription: Some(subscription),
            ..
        } = &request.target
        {
            // `#[subscribe_mapping]` replies are not tracked, as in Spring.
            if self
                .subscriptions
                .get(subscription)
                .is_some_and(|s| s.application)
            {
                return Ok(());
            }
        }
        self.app
            .broker()
            .acknowledge(&self.session.id, &request)
            .map_err(|error| error.to_string())
    }

    /// A `SEND`, `ACK` or `NACK` with a `transaction` header: held until `COMMIT`.
    pub(super) fn hold(&mut self, frame: Frame) -> Option<End> {
        let tx = tx_name(&frame);
        if !self.transactions.contains_key(tx) {
            return self.fail(format!("unknown transaction `{tx}`"), frame.receipt());
        }
        if let Some(text) = frame
            .destination()
            .and_then(|d| self.app.routing.prefixes.refuse_client_send(d))
        {
            // Refused now rather than at COMMIT, where the other held frames would go too.
            return self.fail(text, frame.receipt());
        }
        if matches!(frame.command, Command::Ack | Command::Nack) {
            // Checked now, applied at COMMIT.
            if let Err(message) = ack_request(&frame, self.session.version) {
                return self.fail(message, frame.receipt());
            }
        }
        let size = held_size(&frame);
        if let Some(end) = self.reserve_transaction_bytes(size, frame.receipt()) {
            return Some(end);
        }
        self.receipt(&frame);
        if let Some(held) = self.transactions.get_mut(tx_name(&frame)) {
            held.push(detached(frame));
        }
        None
    }

    /// Counts `size` more bytes held by transactions; past the limit the session ends.
    fn reserve_transaction_bytes(&mut self, size: usize, receipt: Option<&str>) -> Option<End> {
        let limit = self.app.config.limits.max_transaction_bytes;
        if self.transaction_bytes + size > limit {
            return self.fail(
                format!(
                    "open transactions would hold more than {limit} bytes (max_transaction_bytes)"
                ),
                receipt,
            );
        }
        self.transaction_bytes += size;
        None
    }

    /// Forgets what a finished transaction held.
    fn release_transaction(&mut self, tx: &str, held: &[Frame]) {
        let size = TRANSACTION_OVERHEAD + tx.len() + held.iter().map(held_size).sum::<usize>();
        self.transaction_bytes = self.transaction_bytes.saturating_sub(size);
    }

    pub(super) async fn transaction(&mut self, frame: Frame) -> Option<End> {
        let Some(tx) = frame.get(names::TRANSACTION).map(str::to_owned) else {
            return self.fail(
                format!("{} requires a transaction header", frame.command),
                frame.receipt(),
            );
        };
        if self.app.broker().forwards_transactions() {
            // The external broker runs the transaction (the relay: RabbitMQ's).
            if let Err(error) = self
                .app
                .broker()
                .transaction(&self.session.id, frame.command, &tx)
            {
                return self.fail(error.to_string(), frame.receipt());
            }
            self.receipt(&frame);
            return None;
        }
        match frame.command {
            Command::Begin => {
                if self.transactions.contains_key(&tx) {
                    return self.fail(
                        format!("transaction `{tx}` is already open"),
                        frame.receipt(),
                    );
                }
                if let Some(end) =
                    self.reserve_transaction_bytes(TRANSACTION_OVERHEAD + tx.len(), frame.receipt())
                {
                    return Some(end);
                }
                self.transactions.insert(tx, Vec::new());
            }
            Command::Commit => {
                let Some(held) = self.transactions.remove(&tx) else {
                    return self.fail(format!("unknown transaction `{tx}`"), frame.receipt());
                };
                self.release_transaction(&tx, &held);
                for mut held in held {
                    held.headers.remove(names::TRANSACTION);
                    held.headers.remove(names::RECEIPT);
                    let end = if held.command == Command::Send {
                        self.send(held, Body::Detached).await
                    } else {
                        self.apply_ack(&held).err().and_then(|message| {
                            self.fail(
                                format!("COMMIT of transaction `{tx}` failed: {message}"),
                                frame.receipt(),
                            )
                        })
                    };
                    if let Some(end) = end {
                        return Some(end);
                    }
                }
            }
            _ => {
                let Some(held) = self.transactions.remove(&tx) else {
                    return self.fail(format!("unknown transaction `{tx}`"), frame.receipt());
                };
                self.release_transaction(&tx, &held);
            }
        }
        self.receipt(&frame);
        None
    }
}

/// What an open transaction costs besides its frames.
const TRANSACTION_OVERHEAD: usize = 64;

/// `frame` with a body of its own. A decoded body is a slice of the session's receive
/// buffer and would keep that whole buffer (up to two maximum-size messages) alive, so a
/// frame held for a while owns a copy and counts for what it really holds.
fn detached(mut frame: Frame) -> Frame {
    frame.body = Bytes::copy_from_slice(&frame.body);
    frame
}

/// The bytes a held frame counts for: its body and headers, plus a little bookkeeping.
fn held_size(frame: &Frame) -> usize {
    32 + frame.body.len()
        + frame
            .headers
            .iter()
            .map(|(n, v)| n.len() + v.len())
            .sum::<usize>()
}

/// The `transaction` header of a frame (empty when absent).
fn tx_name(frame: &Frame) -> &str {
    frame.get(names::TRANSACTION).unwrap_or_default()
}

/// Reads the message an `ACK`/`NACK` names: `id` on STOMP 1.2, `message-id` and
/// `subscription` on 1.1, `message-id` on 1.0.
fn ack_request(frame: &Frame, version: Version) -> Result<AckRequest, String> {
    let nack = frame.command == Command::Nack;
    let id = frame.id().filter(|_| version == Version::V1_2);
    let target = match (id, frame.get(names::MESSAGE_ID)) {
        (Some(id), _) => AckTarget::AckId(id.to_owned()),
        (None, Some(message_id)) => {
            let subscription = frame.get(names::SUBSCRIPTION).map(str::to_owned);
            if subscription.is_none() && version == Version::V1_1 {
                return Err(format!(
                    "{} requires a subscription header beside message-id (STOMP 1.1)",
                    frame.command
                ));
            }
            AckTarget::MessageId {
                message_id: message_id.to_owned(),
                subscription,
            }
        }
        (None, None) => {
            return Err(format!(
                "{} requires an id (1.2) or message-id (1.0, 1.1) header",
                frame.command
            ))
        }
    };
    Ok(AckRequest {
        nack,
        target,
        transaction: frame.get(names::TRANSACTION).map(str::to_owned),
    })
}

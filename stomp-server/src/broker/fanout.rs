//! Encoding a published message for its subscribers.
//!
//! A `MESSAGE` differs between `ack:auto` subscribers only by its `subscription` header (and,
//! for user destinations, its reported `destination`, and the escaping of the session's
//! version). Browser clients (stompjs) call their first subscription `sub-0` on every
//! connection, so most subscribers of a topic can share one encoded frame: it is encoded once
//! per distinct key and the WebSocket message is cloned, which is a reference count.
//!
//! A subscription that acknowledges (`ack:client`, `ack:client-individual`) gets a frame of
//! its own, because its `ack` header is unique; only those pay for per-delivery encoding.

use std::sync::Arc;

use stomp_core::{Decimal, Version};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::ack::{Backlog, Delivery, Offered};
use super::recipient::{encode, encode_parts_of};
use super::registry::Subscriber;
use super::PublishedMessage;

/// One cached encoding: `(subscription id, version, reported destination)` and the frame.
type CachedFrame = (Arc<str>, Version, Option<Arc<str>>, WsMessage);

/// Encoded frames cached by `(subscription id, version, reported destination)`.
pub(crate) struct FanOut<'m> {
    message: &'m Arc<PublishedMessage>,
    message_seq: u64,
    message_id: Decimal,
    backlog: Backlog,
    cache: Vec<CachedFrame>,
    delivered: usize,
}

/// Most distinct encodings remembered for one message; past this, frames are encoded
/// without caching (clients that give every subscription a unique id gain nothing anyway).
const CACHE_LIMIT: usize = 16;

impl<'m> FanOut<'m> {
    /// A fan-out of `message` as `message-id` `message_seq`; acknowledging subscribers may
    /// hold what `backlog` allows behind their prefetch window.
    pub(crate) fn new(
        message: &'m Arc<PublishedMessage>,
        message_seq: u64,
        backlog: Backlog,
    ) -> FanOut<'m> {
        FanOut {
            message,
            message_seq,
            message_id: Decimal::new(message_seq),
            backlog,
            cache: Vec::new(),
            delivered: 0,
        }
    }

    /// Queues the message for one subscriber.
    pub(crate) fn deliver(&mut self, subscriber: &Subscriber) {
        if let Some(tracker) = &subscriber.tracker {
            let delivery = Delivery::new(Arc::clone(self.message), self.message_seq);
            let offered = tracker
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .offer(subscriber, delivery, self.backlog);
            if offered == Offered::Delivered {
                self.delivered += 1;
            }
            return;
        }
        if subscriber.session.outbound.intercepts() {
            // Interceptors see (and may change) each session's frame: encoded for it alone.
            let ws = encode(
                self.message,
                self.message_id.as_str(),
                subscriber,
                None,
                false,
            );
            self.delivered += usize::from(ws.is_none_or(|ws| subscriber.session.outbound.push(ws)));
            return;
        }
        let version = subscriber.session.version;
        let cached = self.cache.iter().find(|(id, v, reported, _)| {
            *v == version && **id == *subscriber.id && *reported == subscriber.reported_destination
        });
        let ws = match cached {
            Some((_, _, _, ws)) => ws.clone(),
            None => {
                let ws = encode_parts_of(
                    self.message,
                    self.message_id.as_str(),
                    subscriber,
                    None,
                    false,
                );
                if self.cache.len() < CACHE_LIMIT {
                    self.cache.push((
                        Arc::clone(&subscriber.id),
                        version,
                        subscriber.reported_destination.clone(),
                        ws.clone(),
                    ));
                }
                ws
            }
        };
        if subscriber.session.outbound.push(ws) {
            self.delivered += 1;
        }
    }

    /// How many subscribers got the message queued.
    pub(crate) fn delivered(&self) -> usize {
        self.delivered
    }
}

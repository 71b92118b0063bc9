//! Encoding a published message for its subscribers.
//!
//! A `MESSAGE` differs between subscribers only by its `subscription` header (and, for user
//! destinations, its reported `destination`, and the escaping of the session's version).
//! Browser clients (stompjs) call their first subscription `sub-0` on every connection, so
//! most subscribers of a topic can share one encoded frame: it is encoded once per distinct
//! key and the WebSocket message is cloned, which is a reference count.

use std::sync::Arc;

use bytes::BytesMut;
use stomp_core::{encode_parts, names, Command, Version};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::registry::Subscriber;
use super::PublishedMessage;
use crate::session::to_ws_message;

/// One cached encoding: `(subscription id, version, reported destination)` and the frame.
type CachedFrame = (Arc<str>, Version, Option<Arc<str>>, WsMessage);

/// Encoded frames cached by `(subscription id, version, reported destination)`.
pub(crate) struct FanOut<'m> {
    message: &'m PublishedMessage,
    message_id: &'m str,
    cache: Vec<CachedFrame>,
    delivered: usize,
}

/// Most distinct encodings remembered for one message; past this, frames are encoded
/// without caching (clients that give every subscription a unique id gain nothing anyway).
const CACHE_LIMIT: usize = 16;

impl<'m> FanOut<'m> {
    pub(crate) fn new(message: &'m PublishedMessage, message_id: &'m str) -> FanOut<'m> {
        FanOut {
            message,
            message_id,
            cache: Vec::new(),
            delivered: 0,
        }
    }

    /// Queues the message for one subscriber.
    pub(crate) fn deliver(&mut self, subscriber: &Subscriber) {
        let version = subscriber.session.version;
        let cached = self.cache.iter().find(|(id, v, reported, _)| {
            *v == version && **id == *subscriber.id && *reported == subscriber.reported_destination
        });
        let ws = match cached {
            Some((_, _, _, ws)) => ws.clone(),
            None => {
                let ws = self.encode(subscriber, version);
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

    fn encode(&self, subscriber: &Subscriber, version: Version) -> WsMessage {
        let destination = subscriber
            .reported_destination
            .as_deref()
            .unwrap_or(&self.message.destination);
        let mut buf = BytesMut::with_capacity(
            128 + self.message.body.len() + self.message.headers.len() * 32,
        );
        let fixed = [
            (names::DESTINATION, destination),
            (names::MESSAGE_ID, self.message_id),
            (names::SUBSCRIPTION, &*subscriber.id),
        ];
        let extra = self
            .message
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()));
        encode_parts(
            Command::Message,
            fixed.into_iter().chain(extra),
            &self.message.body,
            version,
            &mut buf,
        );
        to_ws_message(buf.freeze())
    }

    /// How many subscribers got the message queued.
    pub(crate) fn delivered(&self) -> usize {
        self.delivered
    }
}

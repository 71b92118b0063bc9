//! [`Recipient`]: the session end of a subscription, and the `MESSAGE` encoded for it.
//!
//! The fan-out, the acknowledgement trackers and the queues all encode through here; when
//! outbound interceptors watch the session, they see the frame first, once.

use std::sync::Arc;

use bytes::BytesMut;
use stomp_core::{encode_parts, names, Command, Frame, Version};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::PublishedMessage;
use crate::peer::{to_ws_message, SessionHandle, Withdrawal};

/// The header that marks a message delivered again (after a `NACK` or a consumer leaving),
/// as RabbitMQ names it.
pub(crate) const REDELIVERED: &str = "redelivered";

/// Who receives a subscription's messages, and under which names.
#[derive(Debug)]
pub(crate) struct Recipient {
    pub(crate) session: Arc<SessionHandle>,
    pub(crate) id: Arc<str>,
    pub(crate) reported_destination: Option<Arc<str>>,
    /// A point-to-point consumer: takes back, when it unsubscribes, the deliveries its
    /// session's writer has not reached (they go back to the queue instead).
    pub(crate) withdrawal: Option<Withdrawal>,
}

/// Encodes `message` as a `MESSAGE` for `subscriber`, with an `ack` header (STOMP 1.2
/// sessions only; 1.0 and 1.1 acknowledge by `message-id`) and `redelivered:true` when asked.
/// When outbound interceptors watch the session they see the frame first, once; `None`
/// when one dropped it.
pub(crate) fn encode(
    message: &PublishedMessage,
    message_id: &str,
    subscriber: &Recipient,
    ack: Option<&str>,
    redelivered: bool,
) -> Option<WsMessage> {
    let outbound = &subscriber.session.outbound;
    if !outbound.intercepts() {
        return Some(encode_parts_of(
            message,
            message_id,
            subscriber,
            ack,
            redelivered,
        ));
    }
    let mut frame = Frame::new(Command::Message);
    for (name, value) in headers_of(message, message_id, subscriber, ack, redelivered) {
        frame.headers.append(name, value);
    }
    frame.body = message.body.clone();
    outbound.intercept(frame, subscriber.session.version)
}

/// The headers of the `MESSAGE` for `subscriber`, in order.
fn headers_of<'a>(
    message: &'a PublishedMessage,
    message_id: &'a str,
    subscriber: &'a Recipient,
    ack: Option<&'a str>,
    redelivered: bool,
) -> impl Iterator<Item = (&'a str, &'a str)> + Clone {
    let version = subscriber.session.version;
    let destination = subscriber
        .reported_destination
        .as_deref()
        .unwrap_or(&message.destination);
    let fixed = [
        (names::DESTINATION, destination),
        (names::MESSAGE_ID, message_id),
        (names::SUBSCRIPTION, &*subscriber.id),
    ];
    let ack = ack
        .filter(|_| version == Version::V1_2)
        .map(|ack| (names::ACK, ack));
    let redelivered_header = redelivered.then_some((REDELIVERED, "true"));
    let extra = message
        .headers
        .iter()
        .filter(move |(n, _)| !(n == names::ACK || (redelivered && n == REDELIVERED)))
        .map(|(n, v)| (n.as_str(), v.as_str()));
    fixed
        .into_iter()
        .chain(ack)
        .chain(redelivered_header)
        .chain(extra)
}

/// [`encode`] without interceptors: straight from the parts, with no `Frame` built.
pub(crate) fn encode_parts_of(
    message: &PublishedMessage,
    message_id: &str,
    subscriber: &Recipient,
    ack: Option<&str>,
    redelivered: bool,
) -> WsMessage {
    // `encode_parts` reserves the exact length: one allocation.
    let mut buf = BytesMut::new();
    encode_parts(
        Command::Message,
        headers_of(message, message_id, subscriber, ack, redelivered),
        &message.body,
        subscriber.session.version,
        &mut buf,
    );
    to_ws_message(buf.freeze())
}

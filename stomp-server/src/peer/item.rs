//! What a session's writer is handed: encoded frames as WebSocket messages, deliveries
//! their consumer may still take back, and the close that ends the stream.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use stomp_core::{encode, Frame, Version};
use tokio_tungstenite::tungstenite::{Message as WsMessage, Utf8Bytes};

/// An item for the writer task.
#[derive(Debug)]
pub(crate) enum OutboundItem {
    /// A WebSocket message holding one or more encoded frames, with its queued byte count.
    Frame(WsMessage, usize),
    /// A point-to-point delivery that its consumer may take back before the writer reaches
    /// it (see [`Withdrawal`]): written like a `Frame` unless withdrawn by then.
    Delivery(WsMessage, usize, Withdrawal),
    /// Write everything before this, then close the WebSocket.
    Close,
}

impl OutboundItem {
    /// The queued byte count of a delivery its consumer withdrew: the writer skips it and
    /// counts it as written (it passed that point of the stream).
    pub(crate) fn withdrawn_len(&self) -> Option<usize> {
        match self {
            OutboundItem::Delivery(_, len, withdrawal) if withdrawal.is_withdrawn() => Some(*len),
            _ => None,
        }
    }
}

/// Shared by a point-to-point consumer and the deliveries it queued: once withdrawn (the
/// consumer unsubscribed and its queue took back what was not written), the writer skips
/// them, so that a message is not both given to the next consumer and written to a
/// subscription that no longer exists. One allocation per subscription, none per delivery.
#[derive(Debug, Clone, Default)]
pub(crate) struct Withdrawal(Arc<AtomicBool>);

impl Withdrawal {
    /// Withdraws every delivery of this consumer that the writer did not reach yet.
    pub(crate) fn withdraw(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// True once withdrawn.
    pub(crate) fn is_withdrawn(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Encodes a frame into fresh bytes.
pub(crate) fn encode_frame(frame: &Frame, version: Version) -> Bytes {
    // `encode` reserves the exact length: one allocation.
    let mut buf = BytesMut::new();
    encode(frame, version, &mut buf);
    buf.freeze()
}

/// Wraps encoded frames: a text WebSocket message when they are UTF-8, binary otherwise.
pub(crate) fn to_ws_message(bytes: Bytes) -> WsMessage {
    // `try_from` validates once; the clone is a reference count kept for the binary case.
    match Utf8Bytes::try_from(bytes.clone()) {
        Ok(text) => WsMessage::Text(text),
        Err(_) => WsMessage::Binary(bytes),
    }
}

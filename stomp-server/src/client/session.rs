//! [`StompSession`]: a connected STOMP session, like Spring's `StompSession`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use stomp_core::{names, Command, Frame, NegotiatedHeartBeat, Version};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

use super::error::{ClientError, CloseReason};
use super::state::Shared;
use super::writer::{encode_frame, encode_message};

/// A connected STOMP session.
///
/// A cheap handle: clone it to send from several tasks at once. Two background tasks own
/// the socket: a reader that routes incoming frames and a writer that batches outgoing
/// frames and sends heart-beats. The connection stays open while any handle (or any
/// `Subscription`, which holds one) is alive; when the last one is dropped the WebSocket
/// is closed without a `DISCONNECT`. Call [`disconnect`](StompSession::disconnect) to end
/// it properly.
#[derive(Debug, Clone)]
pub struct StompSession {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The writer's queue; its receiver closing means the writer stopped.
    queue: mpsc::Sender<Message>,
    shared: Arc<Shared>,
    connected: Frame,
    version: Version,
    heartbeat: NegotiatedHeartBeat,
    receipt_timeout: Duration,
    subscription_capacity: usize,
}

/// What `connect` hands to [`StompSession::new`].
pub(super) struct SessionParts {
    pub(super) queue: mpsc::Sender<Message>,
    pub(super) shared: Arc<Shared>,
    pub(super) connected: Frame,
    pub(super) version: Version,
    pub(super) heartbeat: NegotiatedHeartBeat,
    pub(super) receipt_timeout: Duration,
    pub(super) subscription_capacity: usize,
}

impl StompSession {
    pub(super) fn new(parts: SessionParts) -> StompSession {
        StompSession {
            inner: Arc::new(Inner {
                queue: parts.queue,
                shared: parts.shared,
                connected: parts.connected,
                version: parts.version,
                heartbeat: parts.heartbeat,
                receipt_timeout: parts.receipt_timeout,
                subscription_capacity: parts.subscription_capacity,
            }),
        }
    }

    pub(super) fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    /// The negotiated STOMP version (the `version` header of `CONNECTED`; 1.0 without one).
    pub fn version(&self) -> Version {
        self.inner.version
    }

    /// The `session` header of `CONNECTED`.
    pub fn session_id(&self) -> Option<&str> {
        self.inner.connected.get(names::SESSION)
    }

    /// The `server` header of `CONNECTED`.
    pub fn server(&self) -> Option<&str> {
        self.inner.connected.get(names::SERVER)
    }

    /// The `CONNECTED` frame, for any header (`user-name`, `heart-beat`...).
    pub fn connected_frame(&self) -> &Frame {
        &self.inner.connected
    }

    /// The heart-beat intervals negotiated with the server.
    pub fn heartbeat(&self) -> NegotiatedHeartBeat {
        self.inner.heartbeat
    }

    /// Sends `body` to `destination` (`SEND` with `destination` and `content-length`).
    ///
    /// Returns once the frame is queued for the writer; use
    /// [`send_with_receipt`](StompSession::send_with_receipt) to know the server got it.
    pub async fn send(&self, destination: &str, body: impl Into<Bytes>) -> Result<(), ClientError> {
        let body = body.into();
        let message = encode_message(
            Command::Send,
            [(names::DESTINATION, destination)],
            &body,
            self.inner.version,
        );
        self.enqueue(message).await
    }

    /// Sends `value` as JSON to `destination`, with `content-type:application/json`.
    pub async fn send_json<T: Serialize + ?Sized>(
        &self,
        destination: &str,
        value: &T,
    ) -> Result<(), ClientError> {
        let body = serde_json::to_vec(value)?;
        let message = encode_message(
            Command::Send,
            [
                (names::DESTINATION, destination),
                (names::CONTENT_TYPE, "application/json"),
            ],
            &body,
            self.inner.version,
        );
        self.enqueue(message).await
    }

    /// Sends any frame as it is (a `receipt` header in it is not awaited; the `RECEIPT` goes
    /// to [`next_unrouted`](StompSession::next_unrouted)).
    pub async fn send_frame(&self, frame: Frame) -> Result<(), ClientError> {
        self.enqueue(encode_frame(&frame, self.inner.version)).await
    }

    /// Sends `frame` with a `receipt` header (its own, or a generated `rcpt-N`) and waits
    /// for the matching `RECEIPT`, up to the client's receipt timeout.
    ///
    /// Fails with [`ClientError::Timeout`] when no receipt comes in time,
    /// [`ClientError::Error`] when the server answers with an `ERROR` naming this receipt,
    /// and [`ClientError::Closed`] when the connection ends first.
    pub async fn send_with_receipt(&self, mut frame: Frame) -> Result<Frame, ClientError> {
        let shared = &self.inner.shared;
        let id = match frame.receipt() {
            Some(id) => id.to_owned(),
            None => {
                let id = shared.next_receipt_id();
                frame.headers.append(names::RECEIPT, &id);
                id
            }
        };
        let receipt = shared.add_receipt(&id)?;
        // Removes the waiter on every early exit, timeout or cancellation included.
        let _guard = ReceiptGuard { shared, id: &id };
        self.send_frame(frame).await?;
        match tokio::time::timeout(self.inner.receipt_timeout, receipt).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ClientError::Closed(shared.reason_or_default())),
            Err(_) => Err(ClientError::Timeout("RECEIPT")),
        }
    }

    /// How many messages a subscription buffers before the reader waits.
    pub(super) fn subscription_capacity(&self) -> usize {
        self.inner.subscription_capacity
    }

    /// Acknowledges `message` (a `MESSAGE` frame): `ACK` with `id` taken from its `ack`
    /// header on 1.2, with `message-id` and `subscription` on 1.0 and 1.1.
    pub async fn ack(&self, message: &Frame) -> Result<(), ClientError> {
        self.send_frame(self.ack_frame(Command::Ack, message)?)
            .await
    }

    /// Refuses `message` (a `MESSAGE` frame) with `NACK` (STOMP 1.1 and later).
    pub async fn nack(&self, message: &Frame) -> Result<(), ClientError> {
        if self.inner.version == Version::V1_0 {
            return Err(ClientError::InvalidFrame(
                "NACK needs STOMP 1.1 or later".into(),
            ));
        }
        self.send_frame(self.ack_frame(Command::Nack, message)?)
            .await
    }

    fn ack_frame(&self, command: Command, message: &Frame) -> Result<Frame, ClientError> {
        let missing = |header: &str| {
            ClientError::InvalidFrame(format!(
                "cannot {command}: the MESSAGE has no `{header}` header"
            ))
        };
        let frame = Frame::new(command);
        Ok(match self.inner.version {
            Version::V1_2 => {
                let id = message.get(names::ACK).ok_or_else(|| missing(names::ACK))?;
                frame.header(names::ID, id)
            }
            Version::V1_0 | Version::V1_1 => {
                let id = message
                    .get(names::MESSAGE_ID)
                    .ok_or_else(|| missing(names::MESSAGE_ID))?;
                let frame = frame.header(names::MESSAGE_ID, id);
                match message.get(names::SUBSCRIPTION) {
                    Some(subscription) => frame.header(names::SUBSCRIPTION, subscription),
                    None if self.inner.version == Version::V1_1 => {
                        return Err(missing(names::SUBSCRIPTION))
                    }
                    None => frame,
                }
            }
        })
    }

    /// Starts transaction `transaction` (`BEGIN`).
    pub async fn begin(&self, transaction: &str) -> Result<(), ClientError> {
        self.transaction(Command::Begin, transaction).await
    }

    /// Commits transaction `transaction` (`COMMIT`).
    pub async fn commit(&self, transaction: &str) -> Result<(), ClientError> {
        self.transaction(Command::Commit, transaction).await
    }

    /// Rolls back transaction `transaction` (`ABORT`).
    pub async fn abort(&self, transaction: &str) -> Result<(), ClientError> {
        self.transaction(Command::Abort, transaction).await
    }

    async fn transaction(&self, command: Command, transaction: &str) -> Result<(), ClientError> {
        let message = encode_message(
            command,
            [(names::TRANSACTION, transaction)],
            &[],
            self.inner.version,
        );
        self.enqueue(message).await
    }

    /// Ends the session: `DISCONNECT` with a `receipt`, waits for the `RECEIPT`, closes the
    /// WebSocket and waits (a few seconds at most) for the connection to end.
    ///
    /// The connection is closed when this returns, even on error: `Err(Timeout)` when the
    /// receipt did not come, `Err(Closed)` when the connection had already ended. Other
    /// clones of this handle see [`CloseReason::Disconnected`].
    pub async fn disconnect(self) -> Result<(), ClientError> {
        self.inner.shared.set_client_closing();
        let receipt = self
            .send_with_receipt(Frame::new(Command::Disconnect))
            .await;
        let _ = self.inner.queue.send(Message::Close(None)).await;
        let wait = self.inner.receipt_timeout.max(Duration::from_secs(1));
        let _ = tokio::time::timeout(wait, self.closed()).await;
        receipt.map(drop)
    }

    /// The next `ERROR` frame the server sent (each is also delivered to every live
    /// `Subscription` as [`ClientError::Error`]); `None` once the connection ended and
    /// every `ERROR` was taken.
    pub async fn next_error(&self) -> Option<Frame> {
        self.inner.shared.next_error().await
    }

    /// The next frame nobody waited for: a `MESSAGE` for an unknown or dropped subscription,
    /// a `RECEIPT` nobody awaits, or any other unexpected frame. `None` once the connection
    /// ended and the queue is empty. The queue is bounded (see
    /// [`StompClient::unrouted_capacity`](super::StompClient::unrouted_capacity)).
    pub async fn next_unrouted(&self) -> Option<Frame> {
        self.inner.shared.next_unrouted().await
    }

    /// True once the connection has ended or is ending.
    pub fn is_closed(&self) -> bool {
        self.inner.shared.is_closed()
    }

    /// Waits for the end of the connection and says why it ended.
    pub async fn closed(&self) -> CloseReason {
        self.inner.shared.closed().await
    }

    async fn enqueue(&self, message: Message) -> Result<(), ClientError> {
        self.inner
            .queue
            .send(message)
            .await
            .map_err(|_| ClientError::Closed(self.inner.shared.reason_or_default()))
    }
}

/// Forgets a receipt waiter when `send_with_receipt` returns or is cancelled.
struct ReceiptGuard<'a> {
    shared: &'a Shared,
    id: &'a str,
}

impl Drop for ReceiptGuard<'_> {
    fn drop(&mut self) {
        let _ = self.shared.take_receipt(self.id);
    }
}

//! The writer task: the only owner of the WebSocket sink. It drains the send queue with
//! `feed` and flushes once per batch, and sends a heart-beat (`\n`) when idle.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::sink::SinkExt;
use futures_util::stream::SplitSink;
use stomp_core::{encode, encode_parts, Command, Frame, Version};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use super::error::CloseReason;
use super::state::Shared;
use crate::connection::{run_writer as write_all, Batch, Outgoing, WriterEnd};

/// The write half of a client WebSocket.
pub(super) type WsSink = SplitSink<super::transport::ClientTransport, Message>;

pub(super) use crate::config::FAR_FUTURE;

/// Encodes a frame given as parts into one WebSocket message: text when the bytes are
/// UTF-8, binary otherwise (a body with NUL bytes or arbitrary binary data).
///
/// Encoding happens in the sending task, so the writer only copies bytes to the socket and
/// many senders encode in parallel. The encoder reserves the exact length: one allocation
/// per frame.
pub(super) fn encode_message<'a, H>(
    command: Command,
    headers: H,
    body: &[u8],
    version: Version,
) -> Message
where
    H: IntoIterator<Item = (&'a str, &'a str)>,
    H::IntoIter: Clone,
{
    let mut buf = BytesMut::new();
    encode_parts(command, headers, body, version, &mut buf);
    into_message(buf.freeze())
}

/// Encodes a whole frame into one WebSocket message (see [`encode_message`]), in one
/// allocation too.
pub(super) fn encode_frame(frame: &Frame, version: Version) -> Message {
    let mut buf = BytesMut::new();
    encode(frame, version, &mut buf);
    into_message(buf.freeze())
}

fn into_message(bytes: Bytes) -> Message {
    // The clone is a reference count; on the error path the original becomes the message.
    match Utf8Bytes::try_from(bytes.clone()) {
        Ok(text) => Message::Text(text),
        Err(_) => Message::Binary(bytes),
    }
}

/// Runs the writer until the queue closes (every handle dropped), a `Close` message was
/// sent, the reader stops, or a write fails.
///
/// `_writer_done` is dropped on return, which tells the reader to stop waiting for more
/// than the close handshake.
pub(super) async fn run_writer(
    sink: WsSink,
    queue: mpsc::Receiver<Message>,
    reader_done: oneshot::Receiver<()>,
    _writer_done: oneshot::Sender<()>,
    send_every: Option<Duration>,
    shared: Arc<Shared>,
) {
    let mut out = ClientOutgoing {
        sink,
        queue,
        reader_done,
        next: None,
        shared,
    };
    // No send-time limit: a server that does not read holds the sender, not the server.
    if let WriterEnd::Failed(error) = write_all(&mut out, send_every, None).await {
        out.shared.record(CloseReason::Io(error.to_string()));
    }
}

/// The client's send queue and the write half of its WebSocket.
struct ClientOutgoing {
    sink: WsSink,
    queue: mpsc::Receiver<Message>,
    reader_done: oneshot::Receiver<()>,
    /// Taken from the queue and not written yet.
    next: Option<Message>,
    shared: Arc<Shared>,
}

impl Outgoing for ClientOutgoing {
    type Error = tokio_tungstenite::tungstenite::Error;

    fn has_pending(&self) -> bool {
        self.next.is_some()
    }

    async fn wait(&mut self) -> bool {
        tokio::select! {
            biased;
            _ = &mut self.reader_done => false,
            message = self.queue.recv() => match message {
                Some(message) => {
                    self.next = Some(message);
                    true
                }
                None => {
                    // Every handle is gone: close the WebSocket politely.
                    self.shared.set_client_closing();
                    let _ = self.sink.send(Message::Close(None)).await;
                    false
                }
            },
        }
    }

    /// Feeds what was taken and everything already queued, then flushes once: one
    /// syscall for many frames under load.
    async fn write_batch(&mut self) -> Result<Batch, Self::Error> {
        while let Some(message) = self.next.take() {
            let closing = matches!(message, Message::Close(_));
            self.sink.feed(message).await?;
            if closing {
                self.sink.flush().await?;
                return Ok(Batch::Closed);
            }
            self.next = self.queue.try_recv().ok();
        }
        self.sink.flush().await?;
        Ok(Batch::Written)
    }

    async fn write_heartbeat(&mut self) -> Result<(), Self::Error> {
        self.sink
            .send(Message::Text(Utf8Bytes::from_static("\n")))
            .await
    }
}

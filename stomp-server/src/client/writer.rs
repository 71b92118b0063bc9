//! The writer task: the only owner of the WebSocket sink. It drains the send queue with
//! `feed` and flushes once per batch, and sends a heart-beat (`\n`) when idle.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::sink::SinkExt;
use futures_util::stream::SplitSink;
use stomp_core::{encode, encode_parts, Command, Frame, Version};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep_until, Instant};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

use super::error::CloseReason;
use super::state::Shared;

/// The write half of a client WebSocket.
pub(super) type WsSink = SplitSink<WebSocketStream<TcpStream>, Message>;

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
    mut sink: WsSink,
    mut queue: mpsc::Receiver<Message>,
    mut reader_done: oneshot::Receiver<()>,
    _writer_done: oneshot::Sender<()>,
    send_every: Option<Duration>,
    shared: Arc<Shared>,
) {
    let heartbeat = send_every.unwrap_or(FAR_FUTURE);
    let mut last_write = Instant::now();
    // One timer for the whole connection, reset only when it fires: a busy connection pays
    // nothing per frame for its heart-beats.
    let timer = sleep_until(last_write + heartbeat);
    tokio::pin!(timer);
    loop {
        let first = tokio::select! {
            biased;
            _ = &mut reader_done => return,
            message = queue.recv() => match message {
                Some(message) => message,
                None => {
                    // Every handle is gone: close the WebSocket politely.
                    shared.set_client_closing();
                    let _ = sink.send(Message::Close(None)).await;
                    return;
                }
            },
            () = &mut timer, if send_every.is_some() => {
                let now = Instant::now();
                if now >= last_write + heartbeat {
                    let beat = Message::Text(Utf8Bytes::from_static("\n"));
                    if let Err(error) = sink.send(beat).await {
                        shared.record(CloseReason::Io(error.to_string()));
                        return;
                    }
                    last_write = now;
                }
                timer.as_mut().reset(last_write + heartbeat);
                continue;
            }
        };
        match write_batch(&mut sink, &mut queue, first).await {
            Ok(Batch::Continue) => last_write = Instant::now(),
            Ok(Batch::Closed) => return,
            Err(error) => {
                shared.record(CloseReason::Io(error.to_string()));
                return;
            }
        }
    }
}

/// What happened to a batch.
enum Batch {
    Continue,
    /// A close frame was written: nothing more may be sent.
    Closed,
}

/// Feeds `first` and everything already queued, then flushes once: one syscall for many
/// frames under load.
async fn write_batch(
    sink: &mut WsSink,
    queue: &mut mpsc::Receiver<Message>,
    first: Message,
) -> Result<Batch, tokio_tungstenite::tungstenite::Error> {
    let mut next = Some(first);
    while let Some(message) = next.take() {
        let closing = matches!(message, Message::Close(_));
        sink.feed(message).await?;
        if closing {
            sink.flush().await?;
            return Ok(Batch::Closed);
        }
        next = queue.try_recv().ok();
    }
    sink.flush().await?;
    Ok(Batch::Continue)
}

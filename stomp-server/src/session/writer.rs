//! The writer task of a session: drains the outbound queue into the WebSocket, through the
//! connection layer's one writer loop ([`crate::connection::run_writer`]).
//!
//! It takes everything queued at once, `feed`s it and `flush`es once, so a burst of
//! deliveries costs one write system call, and sends a heart-beat EOL when nothing else went
//! out for the negotiated interval. A write slower than the send-time limit closes the
//! session.

use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

use futures_util::{Sink, SinkExt};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};
use tracing::Span;

use super::close::close_with;
use super::split::{WriteHalf, Written};
use crate::connection::{run_writer as write_all, Batch, Outgoing, WriterEnd};
use crate::peer::OutboundItem;
use crate::peer::Receiver;
use crate::peer::{CloseCause, Outbound};

/// Runs until a `Close` item arrives, a write fails or is too slow, or the session task
/// aborts it. Its one log line is written in `span`, the session's; the task does not run
/// in it: entering and leaving a span on every wake-up, once per batch of deliveries, cost
/// a fifth of the server's CPU per delivery in the chat benchmark (BENCHMARKS.md).
///
/// Not an `async fn`: one would keep its arguments beside the [`SessionOutgoing`] made of
/// them, and every session's writer task would carry both.
pub(crate) fn run_writer<T>(
    sink: WriteHalf<T>,
    rx: Receiver,
    outbound: Outbound,
    heartbeat: Option<Duration>,
    send_time: Duration,
    span: Span,
) -> impl Future<Output = ()> + Send
where
    T: Sink<WsMessage, Error = WsError> + Unpin + Send,
{
    let mut out = SessionOutgoing {
        sink,
        rx,
        outbound,
        pending: VecDeque::new(),
    };
    async move {
        // The end is taken apart before the close is awaited: holding a `WsError` across that
        // await would make every session's writer task larger.
        let closed = match write_all(&mut out, heartbeat, Some(send_time)).await {
            WriterEnd::Closed => true,
            // The queue's receiver never ends by itself: the session aborts the writer.
            WriterEnd::Drained => false,
            WriterEnd::Failed(error) => {
                span.in_scope(|| tracing::debug!(%error, "websocket write failed"));
                out.outbound.close(CloseCause::WriteFailed);
                false
            }
            WriterEnd::Late => {
                out.outbound.close(CloseCause::SendTimeLimit);
                false
            }
        };
        if closed {
            close_with(&mut out.sink, out.outbound.close_frame(), send_time).await;
        }
    }
}

/// Most messages written with one flush.
const MAX_BATCH: usize = 1024;

/// A session's outbound queue and the write half of its transport.
struct SessionOutgoing<T> {
    sink: WriteHalf<T>,
    rx: Receiver,
    outbound: Outbound,
    /// What was taken from the queue and is not written yet.
    pending: VecDeque<OutboundItem>,
}

impl<T> Outgoing for SessionOutgoing<T>
where
    T: Sink<WsMessage, Error = WsError> + Unpin + Send,
{
    type Error = WsError;

    fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    async fn wait(&mut self) -> bool {
        Receiver::trim(&mut self.pending);
        self.rx.wait(&mut self.pending).await;
        // One message only: yield once, so that deliveries being published right now
        // join this write instead of costing one of their own. Done before the write,
        // not inside it, so that the write itself still usually completes at once and
        // never needs the send-time timer.
        if self.pending.len() == 1 {
            tokio::task::yield_now().await;
            self.rx.take(&mut self.pending);
        }
        true
    }

    async fn write_batch(&mut self) -> Result<Batch, WsError> {
        let mut written = Written::default();
        self.sink
            .write_batch(&mut self.pending, MAX_BATCH, &mut written)
            .await?;
        // Counted only once the transport took it: after a failed or late write the
        // session ends, and point-to-point messages it held go back to their queues.
        self.outbound.written(written.bytes);
        Ok(if written.close {
            Batch::Closed
        } else {
            Batch::Written
        })
    }

    async fn write_heartbeat(&mut self) -> Result<(), WsError> {
        self.sink.feed(WsMessage::text("\n")).await?;
        self.sink.flush().await
    }
}

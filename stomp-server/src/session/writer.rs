//! The writer task of a session: drains the outbound queue into the WebSocket.
//!
//! It `feed`s every queued message and `flush`es once, so a burst of deliveries costs one
//! write system call, and sends a heart-beat EOL when nothing else went out for the
//! negotiated interval. A write slower than the send-time limit closes the session.

use std::time::Duration;

use futures_util::{FutureExt, Sink, SinkExt};
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};

use super::outbound::{CloseCause, Outbound, OutboundItem};

/// Runs until the queue closes, a `Close` item arrives, or a write fails.
pub(crate) async fn run_writer<S>(
    mut sink: S,
    mut rx: mpsc::UnboundedReceiver<OutboundItem>,
    outbound: Outbound,
    heartbeat: Option<Duration>,
    send_time: Duration,
) where
    S: Sink<WsMessage, Error = WsError> + Unpin,
{
    let mut last_write = Instant::now();
    loop {
        let item = match heartbeat {
            Some(every) => {
                let deadline = last_write + every;
                tokio::select! {
                    item = rx.recv() => item,
                    () = tokio::time::sleep_until(deadline) => {
                        if write_all(&mut sink, vec![WsMessage::text("\n")], send_time, &outbound).await.is_err() {
                            return;
                        }
                        last_write = Instant::now();
                        continue;
                    }
                }
            }
            None => rx.recv().await,
        };
        let Some(item) = item else {
            let _ = sink.close().await;
            return;
        };
        let mut batch = Vec::with_capacity(16);
        let mut bytes = 0usize;
        let mut close = false;
        let mut push = |item: OutboundItem, batch: &mut Vec<WsMessage>| match item {
            OutboundItem::Frame(message, len) => {
                bytes += len;
                batch.push(message);
                false
            }
            OutboundItem::Close => true,
        };
        close |= push(item, &mut batch);
        while !close && batch.len() < 1024 {
            match rx.try_recv() {
                Ok(item) => close |= push(item, &mut batch),
                Err(_) => break,
            }
        }
        let result = write_all(&mut sink, batch, send_time, &outbound).await;
        outbound.written(bytes);
        if result.is_err() {
            return;
        }
        last_write = Instant::now();
        if close {
            let _ = timeout(send_time, sink.close()).await;
            return;
        }
    }
}

async fn write_all<S>(
    sink: &mut S,
    batch: Vec<WsMessage>,
    send_time: Duration,
    outbound: &Outbound,
) -> Result<(), ()>
where
    S: Sink<WsMessage, Error = WsError> + Unpin,
{
    let write = async {
        for message in batch {
            sink.feed(message).await?;
        }
        sink.flush().await
    };
    tokio::pin!(write);
    // Most batches are written at once (the socket has room): try that first and arm the
    // send-time timer only for a write that has to wait.
    let result = match write.as_mut().now_or_never() {
        Some(result) => Ok(result),
        None => timeout(send_time, write).await,
    };
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => {
            tracing::debug!(%error, "websocket write failed");
            outbound.close(CloseCause::WriteFailed);
            Err(())
        }
        Err(_) => {
            outbound.close(CloseCause::SendTimeLimit);
            Err(())
        }
    }
}

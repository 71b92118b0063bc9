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
    // One heart-beat timer for the whole session, moved only when it fires: a batch just
    // records when it was written, so busy sessions never touch the timer wheel.
    // Without heart-beats the timer branch is disabled; a year keeps the arithmetic simple.
    let every = heartbeat.unwrap_or(Duration::from_secs(365 * 86_400));
    let mut last_write = Instant::now();
    let timer = tokio::time::sleep_until(last_write + every);
    tokio::pin!(timer);
    // Reused for every batch, so steady traffic allocates nothing here; an idle session
    // holds none, and one that had a large burst gives the room back (see `KEPT_BATCH`).
    let mut batch: Vec<WsMessage> = Vec::new();
    loop {
        let item = tokio::select! {
            biased;
            item = rx.recv() => item,
            () = &mut timer, if heartbeat.is_some() => {
                let due = last_write + every;
                if due <= Instant::now() {
                    batch.push(WsMessage::text("\n"));
                    if write_all(&mut sink, &mut batch, send_time, &outbound).await.is_err() {
                        return;
                    }
                    last_write = Instant::now();
                }
                timer.as_mut().reset(last_write + every);
                continue;
            }
        };
        let Some(item) = item else {
            let _ = sink.close().await;
            return;
        };
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
        for round in 0..2 {
            if round == 1 {
                if close || batch.len() >= MAX_BATCH {
                    break;
                }
                tokio::task::yield_now().await;
            }
            while !close && batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(item) => close |= push(item, &mut batch),
                    Err(_) => break,
                }
            }
        }
        let result = write_all(&mut sink, &mut batch, send_time, &outbound).await;
        outbound.written(bytes);
        if batch.capacity() > KEPT_BATCH {
            batch = Vec::new();
        }
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

/// Most messages written with one flush.
const MAX_BATCH: usize = 1024;

/// The largest batch vector kept between writes (a few KiB); past it the vector is freed so
/// that a burst does not pin memory on a session that goes quiet.
const KEPT_BATCH: usize = 64;

/// Writes and empties `batch`.
async fn write_all<S>(
    sink: &mut S,
    batch: &mut Vec<WsMessage>,
    send_time: Duration,
    outbound: &Outbound,
) -> Result<(), ()>
where
    S: Sink<WsMessage, Error = WsError> + Unpin,
{
    let write = async {
        for message in batch.drain(..) {
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

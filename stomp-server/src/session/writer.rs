//! The writer task of a session: drains the outbound queue into the WebSocket.
//!
//! It takes everything queued at once, `feed`s it and `flush`es once, so a burst of
//! deliveries costs one write system call, and sends a heart-beat EOL when nothing else went
//! out for the negotiated interval. A write slower than the send-time limit closes the
//! session.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures_util::{FutureExt, Sink, SinkExt};
use tokio::time::{Instant, Sleep};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};

use super::close::close;
use super::outbound::{CloseCause, Outbound, OutboundItem};
use super::queue::Receiver;
use super::split::{WriteHalf, Written};
use crate::config::FAR_FUTURE;

/// Runs until a `Close` item arrives, a write fails or is too slow, or the session task
/// aborts it.
pub(crate) async fn run_writer<T>(
    mut sink: WriteHalf<T>,
    mut rx: Receiver,
    outbound: Outbound,
    heartbeat: Option<Duration>,
    send_time: Duration,
) where
    T: Sink<WsMessage, Error = WsError> + Unpin,
{
    // One timer for the whole session. It waits for the next heart-beat and is moved only
    // when it fires (a batch just records when it was written), so busy sessions never
    // touch the timer wheel; a write that has to wait borrows it for the send-time limit.
    // Without heart-beats its branch is disabled.
    let every = heartbeat.unwrap_or(FAR_FUTURE);
    let mut last_write = Instant::now();
    let timer = tokio::time::sleep_until(last_write + every);
    tokio::pin!(timer);
    // What was taken from the queue and is not written yet.
    let mut pending: VecDeque<OutboundItem> = VecDeque::new();
    loop {
        if pending.is_empty() {
            Receiver::trim(&mut pending);
            tokio::select! {
                biased;
                () = rx.wait(&mut pending) => {}
                () = &mut timer, if heartbeat.is_some() => {
                    let due = last_write + every;
                    if due <= Instant::now() {
                        let beat = async {
                            sink.feed(WsMessage::text("\n")).await?;
                            sink.flush().await
                        };
                        if within_send_time(beat, send_time, timer.as_mut(), &outbound).await.is_err() {
                            return;
                        }
                        last_write = Instant::now();
                    }
                    timer.as_mut().reset(last_write + every);
                    continue;
                }
            }
            // One message only: yield once, so that deliveries being published right now
            // join this write instead of costing one of their own. Done before the write,
            // not inside it, so that the write itself still usually completes at once and
            // never needs the send-time timer.
            if pending.len() == 1 {
                tokio::task::yield_now().await;
                rx.take(&mut pending);
            }
        }
        let mut written = Written::default();
        // Boxed: the write's state exists only while a batch is written, so an idle
        // session's task stays small (one allocation per batch, not per message).
        let write = Box::pin(sink.write_batch(&mut pending, MAX_BATCH, &mut written));
        let result = within_send_time(write, send_time, timer.as_mut(), &outbound).await;
        // Counted only once the transport took it: after a failed or late write the
        // session ends, and point-to-point messages it held go back to their queues.
        let Ok(timer_moved) = result else {
            return;
        };
        outbound.written(written.bytes);
        last_write = Instant::now();
        if timer_moved {
            timer.as_mut().reset(last_write + every);
        }
        if written.close {
            close(&mut sink, outbound.close_status(), send_time).await;
            return;
        }
    }
}

/// Most messages written with one flush.
const MAX_BATCH: usize = 1024;

/// Runs a write. Most finish at once (the socket has room): that is tried first, and only a
/// write that has to wait is given `send_time`, measured with `timer`. `Ok(true)` says the
/// timer was moved for that. A failed or late write closes the session.
async fn within_send_time(
    write: impl Future<Output = Result<(), WsError>>,
    send_time: Duration,
    mut timer: Pin<&mut Sleep>,
    outbound: &Outbound,
) -> Result<bool, ()> {
    tokio::pin!(write);
    let (result, timer_moved) = match write.as_mut().now_or_never() {
        Some(result) => (Some(result), false),
        None => {
            timer.as_mut().reset(Instant::now() + send_time);
            let result = tokio::select! {
                biased;
                result = &mut write => Some(result),
                () = timer.as_mut() => None,
            };
            (result, true)
        }
    };
    match result {
        Some(Ok(())) => Ok(timer_moved),
        Some(Err(error)) => {
            tracing::debug!(%error, "websocket write failed");
            outbound.close(CloseCause::WriteFailed);
            Err(())
        }
        None => {
            outbound.close(CloseCause::SendTimeLimit);
            Err(())
        }
    }
}

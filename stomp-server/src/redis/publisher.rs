//! The publishing side: one connection per instance that `PUBLISH`es every message this
//! instance's sessions, handlers and template send to a broadcast destination, in the order
//! they were published, in pipelined batches (one write for many messages). What waits to be
//! written is bounded in bytes.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use redis::aio::MultiplexedConnection;
use tokio::sync::Notify;

use super::health::{Health, Link};
use super::link::{connect_with_backoff, Backoff, Connector};
use crate::broker::BrokerError;

/// Most messages written to Redis in one pipeline.
const BATCH_MESSAGES: usize = 512;

/// How long the publishing connection may be idle before it checks Redis with a `PING`, so
/// that a Redis that went away is noticed (and reported) without waiting for a message.
const IDLE_PING: Duration = Duration::from_secs(1);

/// Messages waiting to be written to Redis: `(channel, envelope)`, in publish order.
pub(crate) struct Outbox {
    // A std Mutex: held to push or take a batch, never across an await.
    queue: Mutex<Queue>,
    /// Told when a message is queued or the backplane is dropped.
    wake: Notify,
    /// The most bytes `queue` may hold.
    limit: usize,
    /// Set when the backplane is dropped: the publishing task ends.
    closed: AtomicBool,
}

#[derive(Default)]
struct Queue {
    messages: VecDeque<(String, Bytes)>,
    bytes: usize,
}

impl Outbox {
    /// An empty outbox that holds at most `limit` bytes.
    pub(crate) fn new(limit: usize) -> Outbox {
        Outbox {
            queue: Mutex::default(),
            wake: Notify::new(),
            limit,
            closed: AtomicBool::new(false),
        }
    }

    /// Queues an envelope for `channel`, or refuses it when the outbox is full.
    pub(crate) fn push(&self, channel: String, envelope: Bytes) -> Result<(), BrokerError> {
        let size = channel.len() + envelope.len();
        {
            let mut queue = self.queue();
            if queue.bytes + size > self.limit {
                return Err(BrokerError::Backlog {
                    queued: queue.bytes,
                    limit: self.limit,
                });
            }
            queue.bytes += size;
            queue.messages.push_back((channel, envelope));
        }
        self.wake.notify_one();
        Ok(())
    }

    /// Ends the publishing task.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Takes the next batch (it no longer counts against the limit: it is being written).
    fn take_batch(&self) -> Vec<(String, Bytes)> {
        let mut queue = self.queue();
        let count = queue.messages.len().min(BATCH_MESSAGES);
        let batch: Vec<_> = queue.messages.drain(..count).collect();
        queue.bytes -= batch.iter().map(|(c, e)| c.len() + e.len()).sum::<usize>();
        batch
    }

    /// Drops everything waiting (the connection was lost); returns how many messages.
    fn clear(&self) -> usize {
        let mut queue = self.queue();
        queue.bytes = 0;
        std::mem::take(&mut queue.messages).len()
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Keeps the publishing connection open and writes the outbox through it, until the outbox
/// is closed.
pub(crate) async fn run_publisher(connector: Connector, outbox: Arc<Outbox>, health: Arc<Health>) {
    let mut backoff = Backoff::new(connector.max_reconnect_delay());
    health.server_built().await;
    loop {
        let connect = || connector.multiplexed();
        let closed = || outbox.is_closed();
        let connected =
            connect_with_backoff(connect, &mut backoff, &health, Link::Publisher, closed);
        let Some(connection) = connected.await else {
            return;
        };
        health.set(Link::Publisher, Ok(()));
        let reason = publish_until_lost(connection, &outbox, &health).await;
        let Some(reason) = reason else { return };
        let dropped = outbox.clear();
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "Redis connection lost: messages not yet published are dropped"
            );
        }
        health.set(Link::Publisher, Err(reason));
    }
}

/// Writes batches until the connection fails (`Some(why)`) or the outbox closes (`None`).
///
/// An idle connection to a Redis that restarted is found dead only by the next command
/// through it, which would be lost; the subscriber connection, always reading, sees the
/// close at once: when it fell since this connection opened, this one is not trusted either
/// and opens again.
async fn publish_until_lost(
    mut connection: MultiplexedConnection,
    outbox: &Outbox,
    health: &Health,
) -> Option<String> {
    let losses = health.subscriber_losses();
    loop {
        if outbox.is_closed() {
            return None;
        }
        if health.subscriber_losses() != losses {
            return Some("the subscriber connection to Redis was lost".to_owned());
        }
        let batch = outbox.take_batch();
        if batch.is_empty() {
            // `notify_one` keeps a permit when nobody waits, so a message queued between the
            // look above and this wait is not missed.
            tokio::select! {
                () = outbox.wake.notified() => {}
                () = health.subscriber_lost() => {}
                () = tokio::time::sleep(IDLE_PING) => {
                    let ping: redis::RedisResult<()> =
                        redis::cmd("PING").query_async(&mut connection).await;
                    if let Err(error) = ping {
                        return Some(format!("Redis stopped answering: {error}"));
                    }
                }
            }
            continue;
        }
        if let Err(error) = publish(&mut connection, &batch).await {
            tracing::warn!(lost = batch.len(), %error, "PUBLISH to Redis failed");
            return Some(format!("publishing to Redis failed: {error}"));
        }
    }
}

/// `PUBLISH`es a batch as one pipeline (one write, one round trip).
async fn publish(
    connection: &mut MultiplexedConnection,
    batch: &[(String, Bytes)],
) -> redis::RedisResult<()> {
    let mut pipeline = redis::pipe();
    for (channel, envelope) in batch {
        pipeline
            .cmd("PUBLISH")
            .arg(channel)
            .arg(envelope.as_ref())
            .ignore();
    }
    pipeline.query_async(connection).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outbox_refuses_past_its_bound_and_frees_what_is_taken() {
        let outbox = Outbox::new(20);
        let envelope = || Bytes::from_static(b"0123456789");
        outbox.push("c:1".to_owned(), envelope()).unwrap();
        let refused = outbox.push("c:2".to_owned(), envelope()).unwrap_err();
        assert_eq!(
            refused,
            BrokerError::Backlog {
                queued: 13,
                limit: 20
            }
        );
        let batch = outbox.take_batch();
        assert_eq!(batch.len(), 1);
        outbox.push("c:3".to_owned(), envelope()).unwrap();
        assert_eq!(outbox.clear(), 1);
        outbox.push("c:4".to_owned(), envelope()).unwrap();
    }

    #[test]
    fn a_batch_keeps_publish_order_and_its_size_bound() {
        let outbox = Outbox::new(usize::MAX);
        for n in 0..BATCH_MESSAGES + 3 {
            outbox.push(n.to_string(), Bytes::new()).unwrap();
        }
        let first = outbox.take_batch();
        assert_eq!(first.len(), BATCH_MESSAGES);
        assert_eq!(first[0].0, "0");
        let rest: Vec<String> = outbox.take_batch().into_iter().map(|(c, _)| c).collect();
        let expected: Vec<String> = (BATCH_MESSAGES..BATCH_MESSAGES + 3)
            .map(|n| n.to_string())
            .collect();
        assert_eq!(rest, expected);
    }
}

//! [`Backlog`]: the bytes queued for one broker connection and not written yet, shared by
//! everything that queues frames for it, and a way to wait until it drained.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

use crate::broker::BrokerError;

/// The bytes queued for one broker connection and not yet written.
#[derive(Debug, Clone, Default)]
pub(crate) struct Backlog(Arc<Count>);

#[derive(Debug, Default)]
struct Count {
    bytes: AtomicUsize,
    /// Signalled whenever written bytes are released.
    released: Notify,
}

impl Backlog {
    /// Counts `size` more bytes whatever the limit (the small control frames: refusing an
    /// `ACK` or an `UNSUBSCRIBE` would not help a broker that does not read).
    pub(crate) fn add(&self, size: usize) {
        self.0.bytes.fetch_add(size, Ordering::AcqRel);
    }

    /// Counts `size` more bytes, unless that would pass `limit`.
    pub(crate) fn reserve(&self, size: usize, limit: usize) -> Result<(), BrokerError> {
        let queued = self.0.bytes.fetch_add(size, Ordering::AcqRel) + size;
        if queued > limit {
            self.release(size);
            return Err(BrokerError::Backlog {
                queued: queued - size,
                limit,
            });
        }
        Ok(())
    }

    /// Marks `size` bytes as written (or dropped).
    pub(crate) fn release(&self, size: usize) {
        self.0.bytes.fetch_sub(size, Ordering::AcqRel);
        self.0.released.notify_waiters();
    }

    /// The bytes waiting now.
    pub(crate) fn bytes(&self) -> usize {
        self.0.bytes.load(Ordering::Acquire)
    }

    /// Resolves once fewer than `mark` bytes wait.
    pub(crate) async fn drained_below(&self, mark: usize) {
        loop {
            let released = self.0.released.notified();
            tokio::pin!(released);
            // Registered before looking, so that a release in between is not missed.
            released.as_mut().enable();
            if self.bytes() < mark {
                return;
            }
            released.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_wait_for_room_ends_when_enough_was_written() {
        let backlog = Backlog::default();
        backlog.reserve(900, 1_000).expect("room");
        assert!(backlog.reserve(200, 1_000).is_err(), "past the limit");
        let waiting = backlog.clone();
        let drained = tokio::spawn(async move { waiting.drained_below(500).await });
        backlog.release(300);
        tokio::task::yield_now().await;
        assert!(!drained.is_finished(), "600 bytes still wait");
        backlog.release(200);
        tokio::time::timeout(Duration::from_secs(10), drained)
            .await
            .expect("drained below the mark")
            .expect("the waiting task");
        assert_eq!(backlog.bytes(), 400);
    }
}

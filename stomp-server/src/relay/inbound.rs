//! The frames a broker connection read, on their way to the connection's owner, with a
//! bound on how far the reader reads ahead.
//!
//! The owner (a session's relay task) stops taking frames while its client's connection has
//! no credit; once [`READ_AHEAD`] frames wait, the reader stops reading the socket. The
//! broker (RabbitMQ) then meets TCP back-pressure and its own flow control, and keeps its
//! messages in its queues, instead of the server buffering them for a client that does not
//! keep up. The channel itself stays unbounded so that a failed write can always be
//! reported.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use stomp_core::Frame;
use tokio::sync::{mpsc, Notify};

use super::connection::RelayError;

/// Most frames read and not taken by the owner before the reader waits.
pub(crate) const READ_AHEAD: usize = 64;

/// What the reader and the owner share.
#[derive(Debug, Default)]
struct ReadAhead {
    /// Frames read and not taken yet.
    waiting: AtomicUsize,
    /// Signalled when the owner takes a frame at the bound (a stored permit, so a signal
    /// before the reader waits is not lost).
    room: Notify,
}

/// The owner's side: frames (or how the connection ended) in order.
#[derive(Debug)]
pub(crate) struct Inbound {
    rx: mpsc::UnboundedReceiver<Result<Frame, RelayError>>,
    window: Arc<ReadAhead>,
}

/// The reader's (and the writer's) side.
#[derive(Debug, Clone)]
pub(crate) struct InboundSender {
    tx: mpsc::UnboundedSender<Result<Frame, RelayError>>,
    window: Arc<ReadAhead>,
}

/// A new channel between a connection's reader and its owner.
pub(crate) fn inbound() -> (InboundSender, Inbound) {
    let (tx, rx) = mpsc::unbounded_channel();
    let window = Arc::new(ReadAhead::default());
    (
        InboundSender {
            tx,
            window: Arc::clone(&window),
        },
        Inbound { rx, window },
    )
}

impl Inbound {
    /// The next frame, or how the connection ended; `None` once every sender is gone.
    pub(crate) async fn recv(&mut self) -> Option<Result<Frame, RelayError>> {
        let next = self.rx.recv().await;
        if matches!(next, Some(Ok(_))) {
            let before = self.window.waiting.fetch_sub(1, Ordering::AcqRel);
            if before >= READ_AHEAD {
                self.window.room.notify_one();
            }
        }
        next
    }
}

impl InboundSender {
    /// Hands over a frame read from the broker; false when the owner is gone.
    pub(crate) fn frame(&self, frame: Frame) -> bool {
        self.window.waiting.fetch_add(1, Ordering::AcqRel);
        self.tx.send(Ok(frame)).is_ok()
    }

    /// Reports how the connection ended.
    pub(crate) fn end(&self, error: RelayError) {
        let _ = self.tx.send(Err(error));
    }

    /// Waits until fewer than [`READ_AHEAD`] frames wait for the owner; false when the
    /// owner went meanwhile.
    pub(crate) async fn room(&self) -> bool {
        while self.window.waiting.load(Ordering::Acquire) >= READ_AHEAD {
            tokio::select! {
                () = self.window.room.notified() => {}
                () = self.tx.closed() => return false,
            }
        }
        true
    }

    /// Resolves when the owner is gone.
    pub(crate) async fn closed(&self) {
        self.tx.closed().await;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use stomp_core::Command;

    use super::*;

    #[tokio::test]
    async fn the_reader_waits_at_the_bound_until_the_owner_takes_a_frame() {
        let (tx, mut rx) = inbound();
        for _ in 0..READ_AHEAD {
            assert!(tx.frame(Frame::new(Command::Message)));
        }
        let mut room = Box::pin(tx.room());
        assert!(
            futures_util::FutureExt::now_or_never(room.as_mut()).is_none(),
            "at the bound"
        );
        assert!(rx.recv().await.is_some_and(|f| f.is_ok()));
        let ready = tokio::time::timeout(Duration::from_secs(10), room).await;
        assert_eq!(ready.ok(), Some(true), "room after one was taken");
        drop(rx);
        for _ in 0..READ_AHEAD {
            tx.frame(Frame::new(Command::Message));
        }
        assert!(!tx.room().await, "the owner is gone");
    }
}

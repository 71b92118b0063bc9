//! The frames a broker connection read, on their way to the connection's owner, with a
//! bound in bytes on how far the reader reads ahead.
//!
//! Every frame read counts in a [`ReadAhead`] until its owner releases it: a control frame
//! (`RECEIPT`, `ERROR`) as soon as it is taken, a `MESSAGE` once it is handed to a client
//! that has credit for it (a session's relay task parks the others, still counted). Once
//! [`READ_AHEAD`] bytes are counted, the reader stops reading the socket. The broker
//! (RabbitMQ) then meets TCP back-pressure and its own flow control, and keeps its messages
//! in its queues, instead of the server buffering them for a client that does not keep up.
//! The channel itself stays unbounded so that a failed write can always be reported, and the
//! owner keeps taking frames, so that a `RECEIPT`, an `ERROR` or a lost connection already
//! read is handled at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use stomp_core::Frame;
use tokio::sync::{mpsc, Notify};

use super::wire::{frame_size, RelayError};

/// Most bytes of frames read and not released by the owner before the reader waits.
pub(crate) const READ_AHEAD: usize = 256 * 1024;

/// The bytes a broker connection read and its owner did not release yet, shared by the
/// reader and the owner (and a test that watches them).
#[derive(Debug, Clone, Default)]
pub(crate) struct ReadAhead(Arc<Window>);

/// The count behind a [`ReadAhead`].
#[derive(Debug, Default)]
struct Window {
    /// Bytes read and not released.
    bytes: AtomicUsize,
    /// The most bytes ever counted at once.
    peak: AtomicUsize,
    /// Signalled when the owner releases bytes at the bound (a stored permit, so a signal
    /// before the reader waits is not lost).
    room: Notify,
}

impl ReadAhead {
    /// Counts `size` more bytes read.
    fn add(&self, size: usize) {
        let now = self.0.bytes.fetch_add(size, Ordering::AcqRel) + size;
        self.0.peak.fetch_max(now, Ordering::AcqRel);
    }

    /// Releases `size` bytes, waking the reader when that makes room.
    pub(crate) fn release(&self, size: usize) {
        let before = self.0.bytes.fetch_sub(size, Ordering::AcqRel);
        if before >= READ_AHEAD && before - size < READ_AHEAD {
            self.0.room.notify_one();
        }
    }

    /// The bytes read and not released now.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.0.bytes.load(Ordering::Acquire)
    }

    /// The most bytes that were ever read and not released at once.
    #[cfg(test)]
    pub(crate) fn peak(&self) -> usize {
        self.0.peak.load(Ordering::Acquire)
    }
}

/// The owner's side: frames (or how the connection ended) in order.
#[derive(Debug)]
pub(crate) struct Inbound {
    rx: mpsc::UnboundedReceiver<Result<Frame, RelayError>>,
    window: ReadAhead,
}

/// The reader's (and the writer's) side.
#[derive(Debug, Clone)]
pub(crate) struct InboundSender {
    tx: mpsc::UnboundedSender<Result<Frame, RelayError>>,
    window: ReadAhead,
}

/// A new channel between a connection's reader and its owner, counting in `window`.
pub(crate) fn inbound(window: ReadAhead) -> (InboundSender, Inbound) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        InboundSender {
            tx,
            window: window.clone(),
        },
        Inbound { rx, window },
    )
}

impl Inbound {
    /// The next frame, or how the connection ended; `None` once every sender is gone. The
    /// frame's bytes are released.
    pub(crate) async fn recv(&mut self) -> Option<Result<Frame, RelayError>> {
        let next = self.recv_counted().await;
        next.map(|result| {
            result.map(|(frame, size)| {
                self.window.release(size);
                frame
            })
        })
    }

    /// The next frame with the bytes it counts for, still counted: the owner releases them
    /// through [`Inbound::window`] once it no longer holds the frame.
    pub(crate) async fn recv_counted(&mut self) -> Option<Result<(Frame, usize), RelayError>> {
        let next = self.rx.recv().await?;
        Some(next.map(|frame| {
            let size = frame_size(&frame);
            (frame, size)
        }))
    }

    /// Where this connection's read-ahead is counted.
    pub(crate) fn window(&self) -> &ReadAhead {
        &self.window
    }
}

impl InboundSender {
    /// Hands over a frame read from the broker; false when the owner is gone.
    pub(crate) fn frame(&self, frame: Frame) -> bool {
        self.window.add(frame_size(&frame));
        self.tx.send(Ok(frame)).is_ok()
    }

    /// Reports how the connection ended.
    pub(crate) fn end(&self, error: RelayError) {
        let _ = self.tx.send(Err(error));
    }

    /// Waits until fewer than [`READ_AHEAD`] bytes wait for the owner; false when the
    /// owner went meanwhile.
    pub(crate) async fn room(&self) -> bool {
        let window = &self.window.0;
        while window.bytes.load(Ordering::Acquire) >= READ_AHEAD {
            tokio::select! {
                () = window.room.notified() => {}
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

    fn message(body: usize) -> Frame {
        let mut frame = Frame::new(Command::Message);
        frame.body = vec![b'x'; body].into();
        frame
    }

    #[tokio::test]
    async fn the_reader_waits_at_the_bound_until_the_owner_releases_bytes() {
        let (tx, mut rx) = inbound(ReadAhead::default());
        let size = frame_size(&message(1_000));
        for _ in 0..READ_AHEAD.div_ceil(size) {
            assert!(tx.frame(message(1_000)));
        }
        let mut room = Box::pin(tx.room());
        assert!(
            futures_util::FutureExt::now_or_never(room.as_mut()).is_none(),
            "at the bound"
        );
        // Taken but still counted (a parked MESSAGE): no room yet.
        let taken = rx.recv_counted().await.and_then(Result::ok);
        assert_eq!(taken.map(|(_, n)| n), Some(size));
        assert!(
            futures_util::FutureExt::now_or_never(room.as_mut()).is_none(),
            "a frame taken and not released still counts"
        );
        rx.window().release(size);
        let ready = tokio::time::timeout(Duration::from_secs(10), room).await;
        assert_eq!(ready.ok(), Some(true), "room after one was released");
        // `recv` releases what it hands over.
        assert!(rx.recv().await.is_some_and(|f| f.is_ok()));
        assert_eq!(
            rx.window().bytes(),
            READ_AHEAD.div_ceil(size) * size - 2 * size
        );
        drop(rx);
        for _ in 0..READ_AHEAD.div_ceil(size) {
            tx.frame(message(1_000));
        }
        assert!(!tx.room().await, "the owner is gone");
    }
}

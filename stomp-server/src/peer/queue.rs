//! The queue between everything that publishes to a session and its writer task.
//!
//! Why not a tokio `mpsc` channel: a channel synchronises every message twice (a slot
//! written and a permit released on the way in, a slot read and a permit returned on the way
//! out) and wakes the writer through its own waker each time. A fan-out pushes the same
//! message to many sessions, and each writer takes what piled up in one go, so here a push
//! is one short lock, the writer is woken only when the queue goes from empty to not empty,
//! and it takes the whole queue with one lock by swapping buffers. The byte count for the
//! send-buffer limit lives under the same lock, so it costs no atomic operation of its own.
//! So does pacing: a paced push refused for lack of credit and the drain that restores it
//! meet under that lock, and the bytes ever queued tell how far the writer got.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Poll;

use futures_util::task::AtomicWaker;

use super::item::OutboundItem;

/// A buffer (the queue's or the writer's) holding more than this many slots once empty is
/// given back to the allocator rather than kept for the next burst: an idle session keeps
/// at most two buffers this size (a few KiB), whatever burst it once took.
const KEEP_CAPACITY: usize = 128;

/// What [`Sender::push`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Queued for the writer.
    Queued,
    /// Not queued: it would take the bytes waiting past the limit.
    OverLimit,
    /// Not queued: the writer is gone.
    Closed,
}

/// What [`Sender::push_paced`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Paced {
    /// Queued; the writer has handed everything up to byte `end` of the session's stream
    /// to the transport once [`Sender::written_total`] reaches it.
    Queued {
        /// The stream offset just after this item.
        end: u64,
    },
    /// Not queued: the bytes waiting are past the credit. The next drain below the low-water
    /// mark is reported by [`Sender::written`].
    NoCredit,
    /// Not queued: the writer is gone.
    Closed,
}

#[derive(Debug, Default)]
struct State {
    items: VecDeque<OutboundItem>,
    /// Bytes queued or taken by the writer and not yet written.
    bytes: usize,
    /// The most bytes ever waiting at once.
    peak: usize,
    /// Bytes ever queued: with `bytes`, where the writer is in the session's stream.
    pushed: u64,
    /// A paced push found no credit: the next drain below the low-water mark is reported.
    paced: bool,
    /// The writer dropped its receiver: nothing will be written any more.
    receiver_gone: bool,
}

/// The shared side of one session's queue.
#[derive(Debug, Default)]
struct Queue {
    state: Mutex<State>,
    writer: AtomicWaker,
}

/// A new queue: its first sender and its receiver.
pub(crate) fn queue() -> (Sender, Receiver) {
    let queue = Arc::new(Queue::default());
    (
        Sender {
            queue: Arc::clone(&queue),
        },
        Receiver { queue },
    )
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics under this lock; if something did, the queue is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The publishing side; clones share the queue. There is no "every sender gone" signal:
/// the writer holds a sender itself (through its `Outbound`), so it ends on a `Close`
/// item, a failed write, or its session task aborting it.
#[derive(Debug, Clone)]
pub(crate) struct Sender {
    queue: Arc<Queue>,
}

impl Sender {
    /// Queues `item`, counted as `len` bytes, unless that would take the bytes waiting past
    /// `limit`.
    pub(crate) fn push(&self, item: OutboundItem, len: usize, limit: usize) -> Pushed {
        let state = self.queue.lock();
        if state.receiver_gone {
            return Pushed::Closed;
        }
        let bytes = state.bytes + len;
        if bytes > limit {
            return Pushed::OverLimit;
        }
        self.append(state, item, len);
        Pushed::Queued
    }

    /// Queues `item` only while fewer than `credit` bytes wait (one item always goes when
    /// none does, however large). Without credit it remembers that someone waits for it, so
    /// that the drain which frees it is reported by [`Sender::written`]: both happen under
    /// the same lock, so no drain can slip between the refusal and the wish to hear of it.
    pub(crate) fn push_paced(&self, item: OutboundItem, len: usize, credit: usize) -> Paced {
        let mut state = self.queue.lock();
        if state.receiver_gone {
            return Paced::Closed;
        }
        if state.bytes > 0 && state.bytes + len > credit {
            state.paced = true;
            return Paced::NoCredit;
        }
        let end = self.append(state, item, len);
        Paced::Queued { end }
    }

    /// Appends under the lock, wakes the writer, returns the stream offset after `item`.
    fn append(&self, mut state: MutexGuard<'_, State>, item: OutboundItem, len: usize) -> u64 {
        state.bytes += len;
        state.peak = state.peak.max(state.bytes);
        state.pushed += len as u64;
        let end = state.pushed;
        let was_empty = state.items.is_empty();
        state.items.push_back(item);
        drop(state);
        // A writer that found the queue empty registered first; a non-empty queue has a
        // writer on its way already.
        if was_empty {
            self.queue.writer.wake();
        }
        end
    }

    /// Marks `len` bytes as written. True when a paced push waits for credit and the bytes
    /// waiting are now at most `low_water`: the caller tells whoever paces (once).
    pub(crate) fn written(&self, len: usize, low_water: usize) -> bool {
        let mut state = self.queue.lock();
        state.bytes = state.bytes.saturating_sub(len);
        let drained = state.paced && state.bytes <= low_water;
        if drained {
            state.paced = false;
        }
        drained
    }

    /// How far into the session's stream the writer got: every item whose end offset
    /// ([`Paced::Queued`]) is at most this was handed to the transport.
    pub(crate) fn written_total(&self) -> u64 {
        let state = self.queue.lock();
        state.pushed - state.bytes as u64
    }

    /// The bytes waiting to be written.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.queue.lock().bytes
    }

    /// The most bytes that ever waited at once.
    pub(crate) fn peak_bytes(&self) -> usize {
        self.queue.lock().peak
    }
}

/// The writer's side.
#[derive(Debug)]
pub(crate) struct Receiver {
    queue: Arc<Queue>,
}

impl Receiver {
    /// Moves everything queued to the end of `into`; false when nothing was.
    pub(crate) fn take(&mut self, into: &mut VecDeque<OutboundItem>) -> bool {
        let mut state = self.queue.lock();
        if state.items.is_empty() {
            return false;
        }
        if into.is_empty() {
            // Swap buffers: the writer's empty one (with its capacity) becomes the queue.
            std::mem::swap(&mut state.items, into);
        } else {
            into.append(&mut state.items);
        }
        Receiver::trim(&mut state.items);
        true
    }

    /// Waits until something is queued and moves it to `into`.
    pub(crate) async fn wait(&mut self, into: &mut VecDeque<OutboundItem>) {
        poll_fn(|cx| {
            if self.take(into) {
                return Poll::Ready(());
            }
            self.queue.writer.register(cx.waker());
            // Again after registering: a push in between saw a non-empty queue or woke the
            // old waker.
            if self.take(into) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }

    /// Frees a buffer that a burst made large, once it is empty again.
    pub(crate) fn trim(buffer: &mut VecDeque<OutboundItem>) {
        if buffer.is_empty() && buffer.capacity() > KEEP_CAPACITY {
            *buffer = VecDeque::new();
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let mut state = self.queue.lock();
        state.receiver_gone = true;
        // What was never written is freed now, not when the last sender goes.
        let items = std::mem::take(&mut state.items);
        drop(state);
        drop(items);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_tungstenite::tungstenite::Message as WsMessage;

    fn frame(text: &str) -> OutboundItem {
        OutboundItem::Frame(WsMessage::text(text), text.len())
    }

    fn texts(items: &VecDeque<OutboundItem>) -> Vec<String> {
        items
            .iter()
            .map(|item| match item {
                OutboundItem::Frame(message, _) | OutboundItem::Delivery(message, _, _) => {
                    message.to_text().unwrap_or("?").to_owned()
                }
                OutboundItem::Close => "close".to_owned(),
            })
            .collect()
    }

    #[tokio::test]
    async fn the_writer_takes_everything_in_order() {
        let (tx, mut rx) = queue();
        assert_eq!(tx.push(frame("a"), 1, 10), Pushed::Queued);
        assert_eq!(tx.push(frame("b"), 1, 10), Pushed::Queued);
        let mut batch = VecDeque::new();
        rx.wait(&mut batch).await;
        assert_eq!(texts(&batch), ["a", "b"]);
        assert_eq!(tx.queued_bytes(), 2, "taken is not written");
        tx.push(frame("c"), 1, 10);
        assert!(rx.take(&mut batch), "appended after what was taken");
        assert_eq!(texts(&batch), ["a", "b", "c"]);
        assert!(!rx.take(&mut batch));
        tx.written(3, 0);
        assert_eq!(tx.queued_bytes(), 0);
        assert_eq!(tx.peak_bytes(), 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_push_wakes_a_waiting_writer() {
        let (tx, mut rx) = queue();
        let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
        let writer = tokio::spawn(async move {
            let mut batch = VecDeque::new();
            loop {
                rx.wait(&mut batch).await;
                for text in texts(&batch) {
                    let _ = seen_tx.send(text);
                }
                batch.clear();
            }
        });
        // Each push must reach the waiting writer on its own: only a wake-up from the push
        // can deliver it.
        for round in 0..200 {
            let text = round.to_string();
            tx.push(frame(&text), 1, usize::MAX);
            let got = tokio::time::timeout(std::time::Duration::from_secs(10), seen.recv())
                .await
                .unwrap_or_else(|_| panic!("push {round} never reached the writer"));
            assert_eq!(got.as_deref(), Some(text.as_str()));
        }
        writer.abort();
    }

    #[test]
    fn a_burst_does_not_stay_allocated() {
        let (tx, mut rx) = queue();
        let mut pending = VecDeque::new();
        tx.push(frame("first"), 1, usize::MAX);
        assert!(rx.take(&mut pending));
        // A burst lands while the writer still holds something: it is appended.
        for _ in 0..10 * KEEP_CAPACITY {
            tx.push(frame("x"), 1, usize::MAX);
        }
        assert!(rx.take(&mut pending));
        assert!(rx.queue.lock().items.capacity() <= KEEP_CAPACITY);
        pending.clear();
        Receiver::trim(&mut pending);
        assert!(pending.capacity() <= KEEP_CAPACITY);
    }

    #[test]
    fn the_limit_counts_bytes_not_yet_written() {
        let (tx, mut rx) = queue();
        assert_eq!(tx.push(frame("aaaa"), 4, 6), Pushed::Queued);
        assert_eq!(tx.push(frame("bbb"), 3, 6), Pushed::OverLimit);
        let mut batch = VecDeque::new();
        assert!(rx.take(&mut batch));
        assert_eq!(
            tx.push(frame("bbb"), 3, 6),
            Pushed::OverLimit,
            "taken, not written"
        );
        tx.written(4, 0);
        assert_eq!(tx.push(frame("bbb"), 3, 6), Pushed::Queued);
        drop(rx);
        assert_eq!(tx.push(frame("c"), 1, 6), Pushed::Closed);
    }

    #[test]
    fn a_paced_push_waits_for_credit_and_hears_of_the_drain() {
        let (tx, mut rx) = queue();
        assert_eq!(tx.push_paced(frame("aaaa"), 4, 6), Paced::Queued { end: 4 });
        assert_eq!(tx.push_paced(frame("bbb"), 3, 6), Paced::NoCredit);
        let mut batch = VecDeque::new();
        assert!(rx.take(&mut batch));
        assert!(!tx.written(2, 1), "still above the low-water mark");
        assert_eq!(tx.written_total(), 2);
        assert!(tx.written(2, 1), "drained: reported once");
        assert!(!tx.written(0, 1));
        assert_eq!(tx.push_paced(frame("bbb"), 3, 6), Paced::Queued { end: 7 });
        // Nothing waits: one item larger than the credit still goes.
        tx.written(3, 0);
        assert_eq!(
            tx.push_paced(frame("big"), 100, 6),
            Paced::Queued { end: 107 }
        );
        drop(rx);
        assert_eq!(tx.push_paced(frame("c"), 1, 6), Paced::Closed);
        assert_eq!(
            tx.written_total(),
            7,
            "what was never written stays unwritten"
        );
    }

    #[test]
    fn a_large_empty_buffer_is_freed() {
        let mut buffer: VecDeque<OutboundItem> = VecDeque::with_capacity(KEEP_CAPACITY + 1);
        Receiver::trim(&mut buffer);
        assert_eq!(buffer.capacity(), 0);
        let mut small: VecDeque<OutboundItem> = VecDeque::with_capacity(8);
        Receiver::trim(&mut small);
        assert!(small.capacity() >= 8);
    }
}

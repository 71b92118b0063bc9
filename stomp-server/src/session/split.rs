//! A session's transport split into the half its reader polls and the half its writer
//! writes, sharing the transport behind a short-held lock.
//!
//! Why not `StreamExt::split`: its halves take their lock for every message, and the
//! writer sends messages by the thousand. Here the writer takes the lock once for a run of
//! messages ([`WriteHalf::write_batch`]). The lock is only held inside a poll, never across
//! an `.await`. The reader never blocks its thread on it: when the writer holds it, the
//! reader leaves its waker and returns `Pending`, and the writer hands the lock over at the
//! end of its current run ([`RUN`] messages at most) instead of starting another.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;
use futures_util::{Sink, Stream};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};

use crate::peer::OutboundItem;

/// Most messages handed to the transport under one taking of the lock.
const RUN: usize = 32;

/// Splits `transport` into its writing and reading halves.
pub(crate) fn split<T>(transport: T) -> (WriteHalf<T>, ReadHalf<T>) {
    let shared = Arc::new(Shared {
        transport: Mutex::new(transport),
        reader: AtomicWaker::new(),
        reader_waiting: AtomicBool::new(false),
    });
    (
        WriteHalf {
            shared: Arc::clone(&shared),
        },
        ReadHalf { shared },
    )
}

/// The transport and the reader's place in line for it.
#[derive(Debug)]
struct Shared<T> {
    transport: Mutex<T>,
    /// The reader, when it found the lock taken.
    reader: AtomicWaker,
    reader_waiting: AtomicBool,
}

impl<T> Shared<T> {
    /// The writer's lock: it may wait for a reader's poll, which is short.
    fn lock(&self) -> MutexGuard<'_, T> {
        // A panic inside the transport leaves it no worse than an error would; the session
        // ends on the next error either way.
        self.transport
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The reader's lock: `None` when the writer holds it; the reader is then woken when
    /// the writer lets go.
    fn try_lock_for_reader(&self, cx: &Context<'_>) -> Option<MutexGuard<'_, T>> {
        if let Some(guard) = self.try_lock() {
            return Some(guard);
        }
        self.reader.register(cx.waker());
        self.reader_waiting.store(true, Ordering::SeqCst);
        // Again: the writer may have let go before it could see the flag.
        self.try_lock()
    }

    /// The lock if it is free (a poisoned one too, as in [`Shared::lock`]).
    fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        match self.transport.try_lock() {
            Ok(guard) => Some(guard),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// Called by the writer after letting go of the lock: wakes a reader that waited for
    /// it; true when there was one.
    fn hand_over(&self) -> bool {
        // A plain load first: nobody waits almost always, and a swap on every write would
        // be a locked instruction each time.
        if self.reader_waiting.load(Ordering::SeqCst)
            && self.reader_waiting.swap(false, Ordering::SeqCst)
        {
            self.reader.wake();
            true
        } else {
            false
        }
    }

    /// Runs `f` on the transport under the writer's lock, then lets a waiting reader in.
    fn with_writer<R>(&self, f: impl FnOnce(Pin<&mut T>) -> R) -> R
    where
        T: Unpin,
    {
        let result = f(Pin::new(&mut *self.lock()));
        self.hand_over();
        result
    }
}

/// The half the session's reader polls for incoming messages.
#[derive(Debug)]
pub(crate) struct ReadHalf<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Stream for ReadHalf<T>
where
    T: Stream<Item = Result<WsMessage, WsError>> + Unpin,
{
    type Item = Result<WsMessage, WsError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.shared.try_lock_for_reader(cx) {
            Some(mut transport) => Pin::new(&mut *transport).poll_next(cx),
            None => Poll::Pending,
        }
    }
}

/// The half the writer task (and a session refused before it starts) writes to.
#[derive(Debug)]
pub(crate) struct WriteHalf<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sink<WsMessage> for WriteHalf<T>
where
    T: Sink<WsMessage, Error = WsError> + Unpin,
{
    type Error = WsError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        self.shared.with_writer(|t| t.poll_ready(cx))
    }

    fn start_send(self: Pin<&mut Self>, item: WsMessage) -> Result<(), WsError> {
        self.shared.with_writer(|t| t.start_send(item))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        self.shared.with_writer(|t| t.poll_flush(cx))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        self.shared.with_writer(|t| t.poll_close(cx))
    }
}

/// What [`WriteHalf::write_batch`] took from the front of the pending messages.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Written {
    /// Messages handed to the transport.
    pub(crate) messages: usize,
    /// Their queued byte count (for the send-buffer accounting), with that of the withdrawn
    /// deliveries skipped on the way.
    pub(crate) bytes: usize,
    /// A `Close` item was reached: it and everything after it were dropped from `pending`.
    pub(crate) close: bool,
}

impl<T> WriteHalf<T>
where
    T: Sink<WsMessage, Error = WsError> + Unpin,
{
    /// Hands up to `max` messages from the front of `pending` to the transport, then
    /// flushes it. Counts into `written` as it goes, so that what was taken is known even
    /// when the write fails or is abandoned.
    pub(crate) async fn write_batch(
        &mut self,
        pending: &mut VecDeque<OutboundItem>,
        max: usize,
        written: &mut Written,
    ) -> Result<(), WsError> {
        poll_fn(|cx| self.poll_write_batch(cx, pending, max, written)).await
    }

    fn poll_write_batch(
        &mut self,
        cx: &mut Context<'_>,
        pending: &mut VecDeque<OutboundItem>,
        max: usize,
        written: &mut Written,
    ) -> Poll<Result<(), WsError>> {
        loop {
            let mut transport = self.shared.lock();
            let mut sink = Pin::new(&mut *transport);
            let mut run = 0;
            while run < RUN && written.messages < max && !written.close {
                match pending.front() {
                    None => break,
                    Some(OutboundItem::Close) => {
                        written.close = true;
                        pending.clear();
                        break;
                    }
                    Some(item) => {
                        if let Some(len) = item.withdrawn_len() {
                            // Taken back by its queue: skipped, but past in the stream.
                            written.bytes += len;
                            pending.pop_front();
                            continue;
                        }
                    }
                }
                // Ready first, so that a message is only taken when the transport has
                // room for it.
                match sink.as_mut().poll_ready(cx) {
                    Poll::Ready(Ok(())) => {}
                    other => {
                        drop(transport);
                        self.shared.hand_over();
                        return other;
                    }
                }
                if let Some(
                    OutboundItem::Frame(message, len) | OutboundItem::Delivery(message, len, _),
                ) = pending.pop_front()
                {
                    written.messages += 1;
                    written.bytes += len;
                    if let Err(error) = sink.as_mut().start_send(message) {
                        drop(transport);
                        self.shared.hand_over();
                        return Poll::Ready(Err(error));
                    }
                }
                run += 1;
            }
            let done = written.close || written.messages >= max || pending.is_empty();
            let result = if done {
                Some(sink.poll_flush(cx))
            } else {
                None
            };
            drop(transport);
            if let Some(result) = result {
                self.shared.hand_over();
                return result;
            }
            // More to write: a reader waiting for the lock goes first; this write carries
            // on when it is polled again.
            if self.shared.hand_over() {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peer::Withdrawal;
    use futures_util::{SinkExt, StreamExt};
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;
    use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
    use tokio_tungstenite::WebSocketStream;

    fn frame(text: String) -> OutboundItem {
        let len = text.len();
        OutboundItem::Frame(WsMessage::text(text), len)
    }

    #[tokio::test]
    async fn a_batch_is_written_in_order_up_to_a_close_while_the_reader_reads() {
        let (server_io, client_io) = tokio::io::duplex(1 << 20);
        let server = WebSocketStream::from_raw_socket(server_io, Role::Server, None).await;
        let mut client = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
        let (mut write, mut read) = split(server);

        let mut pending: VecDeque<OutboundItem> =
            (0..100).map(|i| frame(format!("m{i}"))).collect();
        pending.push_back(OutboundItem::Close);
        pending.push_back(frame("after the close".to_owned()));

        // Several runs of the lock, bounded by `max`.
        let mut first = Written::default();
        write
            .write_batch(&mut pending, 70, &mut first)
            .await
            .expect("write");
        assert_eq!((first.messages, first.close), (70, false));
        assert_eq!(
            first.bytes,
            (0..70).map(|i| format!("m{i}").len()).sum::<usize>()
        );
        // The reader shares the transport between batches.
        client.send(WsMessage::text("hello")).await.expect("send");
        let got = read.next().await.expect("open").expect("message");
        assert_eq!(got.to_text().expect("text"), "hello");

        let mut second = Written::default();
        write
            .write_batch(&mut pending, 1024, &mut second)
            .await
            .expect("write");
        assert_eq!((second.messages, second.close), (30, true));
        assert!(pending.is_empty(), "nothing after the close is kept");

        for i in 0..100 {
            let message = client.next().await.expect("open").expect("message");
            assert_eq!(message.to_text().expect("text"), format!("m{i}"));
        }
        write.close().await.expect("close");
        assert!(
            matches!(client.next().await, Some(Ok(WsMessage::Close(_))) | None),
            "only the close follows"
        );
    }

    #[tokio::test]
    async fn a_full_transport_waits_and_keeps_what_it_did_not_take() {
        // A pipe smaller than the batch: the write has to wait for the client to read.
        let (server_io, client_io) = tokio::io::duplex(256);
        // No write buffer: every message goes to the pipe at once, so `poll_ready` itself
        // has to wait for room (not only the final flush).
        let config = WebSocketConfig::default().write_buffer_size(0);
        let server = WebSocketStream::from_raw_socket(server_io, Role::Server, Some(config)).await;
        let mut client = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
        let (mut write, _read) = split(server);
        let mut pending: VecDeque<OutboundItem> =
            (0..200).map(|i| frame(format!("{i:0>64}"))).collect();
        let writer = tokio::spawn(async move {
            let mut written = Written::default();
            let result = write.write_batch(&mut pending, 1024, &mut written).await;
            (result.is_ok(), written, pending.len())
        });
        for i in 0..200 {
            let message = client.next().await.expect("open").expect("message");
            assert_eq!(message.to_text().expect("text"), format!("{i:0>64}"));
        }
        let (ok, written, left) = writer.await.expect("writer task");
        assert!(ok);
        assert_eq!((written.messages, written.bytes, left), (200, 200 * 64, 0));
    }

    #[tokio::test]
    async fn a_withdrawn_delivery_is_skipped_but_counted_as_past() {
        let (server_io, client_io) = tokio::io::duplex(1 << 16);
        let server = WebSocketStream::from_raw_socket(server_io, Role::Server, None).await;
        let mut client = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
        let (mut write, _read) = split(server);
        let (kept, withdrawn) = (Withdrawal::default(), Withdrawal::default());
        let delivery = |text: &str, withdrawal: &Withdrawal| {
            OutboundItem::Delivery(WsMessage::text(text), text.len(), withdrawal.clone())
        };
        let mut pending: VecDeque<OutboundItem> = VecDeque::from([
            delivery("a", &kept),
            delivery("bb", &withdrawn),
            frame("ccc".to_owned()),
            delivery("dddd", &kept),
        ]);
        withdrawn.withdraw();
        let mut written = Written::default();
        write
            .write_batch(&mut pending, 1024, &mut written)
            .await
            .expect("write");
        assert_eq!((written.messages, written.bytes), (3, 10));
        for text in ["a", "ccc", "dddd"] {
            let message = client.next().await.expect("open").expect("message");
            assert_eq!(message.to_text().expect("text"), text);
        }
    }

    /// Counts its wake-ups.
    #[derive(Default)]
    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn a_reader_that_finds_the_lock_taken_waits_without_blocking_and_is_woken() {
        let (server_io, mut client_io) = tokio::io::duplex(1 << 16);
        let server = WebSocketStream::from_raw_socket(server_io, Role::Server, None).await;
        let (write, mut read) = split(server);
        let counter = Arc::new(CountingWaker::default());
        let waker = std::task::Waker::from(Arc::clone(&counter));
        let mut cx = Context::from_waker(&waker);

        // The writer holds the transport: the reader returns at once, Pending.
        let held = write.shared.lock();
        assert!(Pin::new(&mut read).poll_next(&mut cx).is_pending());
        assert_eq!(counter.0.load(Ordering::SeqCst), 0);
        // Letting go hands the lock over: the reader is woken, once.
        drop(held);
        assert!(write.shared.hand_over());
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert!(!write.shared.hand_over(), "nobody waits any more");

        // The woken reader gets the transport (nothing to read yet: Pending from the pipe).
        assert!(Pin::new(&mut read).poll_next(&mut cx).is_pending());
        tokio::io::AsyncWriteExt::shutdown(&mut client_io)
            .await
            .expect("shutdown");
        drop(write);
    }
}

//! Knowing when an HTTP response reached the client's connection: hyper writes a response
//! body it took and then flushes the connection, so a SockJS delivery counts as written
//! once a flush that came after hyper took it succeeded.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::session::Delivery;

/// The deliveries hyper took for one connection and has not flushed yet. Dropped with the
/// connection, they go back to their sessions unwritten.
#[derive(Clone, Default)]
pub(crate) struct Flushes(Arc<Waiting>);

#[derive(Default)]
struct Waiting {
    /// True while `deliveries` may hold something: a flush with nothing waiting (every flush
    /// of a WebSocket upgraded from this connection) then costs one load, not a lock.
    any: AtomicBool,
    deliveries: Mutex<Vec<Delivery>>,
}

impl Flushes {
    /// Hyper took `delivery`'s bytes: written once the connection next flushes.
    pub(crate) fn after_next_flush(&self, delivery: Delivery) {
        let mut deliveries = self.lock();
        deliveries.push(delivery);
        self.0.any.store(true, Ordering::Release);
    }

    fn flushed(&self) {
        if !self.0.any.load(Ordering::Acquire) {
            return;
        }
        let done = {
            let mut deliveries = self.lock();
            self.0.any.store(false, Ordering::Release);
            std::mem::take(&mut *deliveries)
        };
        for delivery in done {
            delivery.written();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Delivery>> {
        // Nothing panics under this lock; a poisoned list is still a list.
        self.0
            .deliveries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// A connection that reports its successful flushes to [`Flushes`] (none where SockJS is
/// off: then it only passes calls through).
pub(crate) struct FlushedIo<I> {
    io: I,
    flushes: Option<Flushes>,
}

impl<I> FlushedIo<I> {
    /// Wraps `io`, reporting to `flushes`.
    pub(crate) fn new(io: I, flushes: Option<Flushes>) -> FlushedIo<I> {
        FlushedIo { io, flushes }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for FlushedIo<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for FlushedIo<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = std::task::ready!(Pin::new(&mut self.io).poll_flush(cx));
        if let (Ok(()), Some(flushes)) = (&result, &self.flushes) {
            flushes.flushed();
        }
        Poll::Ready(result)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

//! Knowing when an HTTP response reached the client's connection: hyper writes a response
//! body it took and then flushes the connection, so a SockJS delivery counts as written
//! once a flush that came after hyper took it succeeded.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::session::Delivery;

/// The deliveries hyper took for one connection and has not flushed yet. Dropped with the
/// connection, they go back to their sessions unwritten.
#[derive(Clone, Default)]
pub(crate) struct Flushes(Arc<Mutex<Vec<Delivery>>>);

impl Flushes {
    /// Hyper took `delivery`'s bytes: written once the connection next flushes.
    pub(crate) fn after_next_flush(&self, delivery: Delivery) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(delivery);
    }

    fn flushed(&self) {
        let done = std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner));
        for delivery in done {
            delivery.written();
        }
    }
}

/// A connection that reports its successful flushes to [`Flushes`].
pub(crate) struct FlushedIo<I> {
    io: I,
    flushes: Flushes,
}

impl<I> FlushedIo<I> {
    /// Wraps `io`, reporting to `flushes`.
    pub(crate) fn new(io: I, flushes: Flushes) -> FlushedIo<I> {
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
        if result.is_ok() {
            self.flushes.flushed();
        }
        Poll::Ready(result)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

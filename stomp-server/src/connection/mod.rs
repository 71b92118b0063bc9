//! One connection layer: how every STOMP connection the server has reads and writes.
//!
//! A [`FrameReader`] owns the transport, the read buffer and the decoder. It hands out the
//! whole frames already buffered ([`FrameReader::next_buffered`]), reads once more from the
//! transport within the negotiated heart-beat window ([`FrameReader::fill`]), or both until
//! a frame is whole ([`FrameReader::read_frame`]). Server sessions (WebSocket and SockJS),
//! the client and the relay's TCP link to the broker all read through it; what differs
//! between them is only the [`ReadTransport`] and what they do between reads (a session
//! takes a frame-rate token per message, the relay waits for its read-ahead bound).
//!
//! The writing side is [`run_writer`]: it takes batches from a connection's queue, writes
//! each with one flush, sends idle heart-beats and applies the send-time limit, for every
//! kind of connection through its [`Outgoing`]: a session's WebSocket, the client, the
//! relay's TCP link and SockJS's `websocket` transport (its `a[..]` and `h` frames). Only
//! the SockJS HTTP transports (`xhr`, `xhr_streaming`) answer requests instead: they hand a
//! session's frames to the HTTP response being written.

mod delegate;
mod heartbeat;
mod transport;
mod writer;

pub(crate) use delegate::delegate_io;

pub(crate) use heartbeat::ReadWindow;
pub(crate) use transport::{ByteStream, Messages, PeerClose, ReadTransport, Received};
pub(crate) use writer::{run_writer, Batch, Outgoing, WriterEnd};

use std::future::{poll_fn, Future};
use std::task::Poll;
use std::time::Duration;

use bytes::BytesMut;
use stomp_core::{DecodeError, Decoder, Frame};
use tokio::time::Instant;

/// What [`FrameReader::fill`] gave.
#[derive(Debug)]
pub(crate) enum Fill<E> {
    /// One read from the transport, and when it returned.
    Received(Received<E>, Instant),
    /// Nothing (no STOMP bytes) was read within the heart-beat window.
    Silent,
}

/// What [`FrameReader::read_frame`] gave: the next whole frame, or how reading ended.
#[derive(Debug)]
pub(crate) enum Next<E> {
    /// A whole frame.
    Frame(Frame),
    /// The peer closed the transport, with its WebSocket close frame when it sent one.
    Closed(Option<PeerClose>),
    /// The transport failed.
    Failed(E),
    /// The peer sent bytes that are not a STOMP frame, or too big a one.
    Malformed(DecodeError),
    /// The peer was silent past the heart-beat window.
    Silent,
}

/// The reading side of a connection: transport, read buffer, decoder and heart-beat window.
#[derive(Debug)]
pub(crate) struct FrameReader<T> {
    transport: T,
    /// Bytes read and not decoded yet: a frame may span reads, a read may hold several.
    buffer: BytesMut,
    decoder: Decoder,
    window: ReadWindow,
}

impl<T: ReadTransport> FrameReader<T> {
    /// Reads `transport` with `decoder`, the peer silent for at most `window`.
    pub(crate) fn new(transport: T, decoder: Decoder, window: Option<Duration>) -> Self {
        Self::with_capacity(transport, decoder, 0, window)
    }

    /// As [`FrameReader::new`], with a read buffer of `capacity` bytes up front.
    pub(crate) fn with_capacity(
        transport: T,
        decoder: Decoder,
        capacity: usize,
        window: Option<Duration>,
    ) -> Self {
        FrameReader {
            transport,
            buffer: BytesMut::with_capacity(capacity),
            decoder,
            window: ReadWindow::new(window),
        }
    }

    /// The next whole frame already buffered, without reading.
    pub(crate) fn next_buffered(&mut self) -> Result<Option<Frame>, DecodeError> {
        self.decoder.decode(&mut self.buffer)
    }

    /// Reads once from the transport, or waits out the heart-beat window. STOMP bytes
    /// restart the window; control messages (pings) do not. Cancel-safe.
    pub(crate) async fn fill(&mut self) -> Fill<T::Error> {
        // Polled by hand rather than through `select!`: an idle connection waits here, and
        // this keeps what it holds meanwhile to the transport's read and two references.
        let receive = self.transport.receive(&mut self.buffer);
        tokio::pin!(receive);
        let window = &mut self.window;
        poll_fn(|cx| {
            if let Poll::Ready(received) = receive.as_mut().poll(cx) {
                let at = Instant::now();
                if matches!(received, Received::Data) {
                    window.restart(at);
                }
                return Poll::Ready(Fill::Received(received, at));
            }
            window.poll_expired(cx).map(|_| Fill::Silent)
        })
        .await
    }

    /// The next whole frame, reading as needed (as mini-redis's `read_frame`).
    pub(crate) async fn read_frame(&mut self) -> Next<T::Error> {
        loop {
            match self.next_buffered() {
                Ok(Some(frame)) => return Next::Frame(frame),
                Ok(None) => {}
                Err(error) => return Next::Malformed(error),
            }
            match self.fill().await {
                Fill::Received(Received::Data | Received::Control, _) => {}
                Fill::Received(Received::Closing(close), _) => return Next::Closed(close),
                Fill::Received(Received::Ended, _) => return Next::Closed(None),
                Fill::Received(Received::Failed(error), _) => return Next::Failed(error),
                Fill::Silent => return Next::Silent,
            }
        }
    }

    /// The decoder (to switch the STOMP version once `CONNECT` negotiated it).
    pub(crate) fn decoder_mut(&mut self) -> &mut Decoder {
        &mut self.decoder
    }

    /// The heart-beat window (to set it once negotiated, or restart it).
    pub(crate) fn window_mut(&mut self) -> &mut ReadWindow {
        &mut self.window
    }

    /// The transport.
    pub(crate) fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }
}

#[cfg(test)]
mod tests;

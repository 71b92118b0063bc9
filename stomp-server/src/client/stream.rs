//! [`ClientStream`]: the bytes under a client connection, either a socket the client opened
//! itself (TCP, inside TLS for `wss://` and `stomp+ssl://`) or a stream it was given
//! ([`StompClient::connect_over`](super::StompClient::connect_over): an in-memory pipe to a
//! server in the same process, a Unix socket, a connection opened elsewhere).

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::tls::ClientIo;

/// A byte stream a client can speak over.
pub(super) trait ByteStream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> ByteStream for T {}

/// What a client's WebSocket (or STOMP over TCP) runs on.
pub(super) enum ClientStream {
    /// A TCP connection the client opened, plain or in TLS.
    Socket(ClientIo),
    /// A stream given to the client (boxed: its type is the caller's).
    Given(Box<dyn ByteStream>),
}

impl fmt::Debug for ClientStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientStream::Socket(io) => f.debug_tuple("Socket").field(io).finish(),
            ClientStream::Given(_) => f.write_str("Given(..)"),
        }
    }
}

impl AsyncRead for ClientStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Socket(io) => Pin::new(io).poll_read(cx, buf),
            ClientStream::Given(io) => Pin::new(io.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ClientStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Socket(io) => Pin::new(io).poll_write(cx, buf),
            ClientStream::Given(io) => Pin::new(io.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ClientStream::Socket(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            ClientStream::Given(io) => Pin::new(io.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            ClientStream::Socket(io) => io.is_write_vectored(),
            ClientStream::Given(io) => io.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Socket(io) => Pin::new(io).poll_flush(cx),
            ClientStream::Given(io) => Pin::new(io.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ClientStream::Socket(io) => Pin::new(io).poll_shutdown(cx),
            ClientStream::Given(io) => Pin::new(io.as_mut()).poll_shutdown(cx),
        }
    }
}

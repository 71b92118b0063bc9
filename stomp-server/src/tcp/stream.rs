//! A STOMP-over-TCP connection seen as the message transport a session runs on.
//!
//! A session task reads and writes WebSocket messages ([`WsMessage`]); over plain TCP there
//! is no framing around STOMP frames. [`StompTcpStream`] reads what the socket holds (at
//! most [`READ_CHUNK`] bytes at a time, so that a frame may arrive in any pieces) as one
//! binary message, and writes the bytes of every text or binary message it is handed. A
//! close message shuts the write side down; pings and pongs do not exist on TCP and are
//! dropped. What it holds for its client is one write buffer ([`WRITE_BUFFER`] and one
//! frame): beyond that `poll_ready` waits for the socket, so the session's byte-bounded
//! outbound queue and send-time limit apply as they do on WebSocket.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};

use crate::accept::PendingPlace;

/// Most bytes taken from the socket in one read: one read is one message to the session
/// (and one frame-rate token), as one WebSocket message is.
pub(crate) const READ_CHUNK: usize = 4 * 1024;

/// Bytes gathered before `poll_ready` writes them out: one flush per batch of frames is
/// still one system call, as with tungstenite's write buffer.
pub(crate) const WRITE_BUFFER: usize = 32 * 1024;

/// A write buffer larger than this is let go once written, so that an idle connection
/// does not keep the room a burst once took.
const KEEP_CAPACITY: usize = 8 * 1024;

/// A TCP stream carrying STOMP frames, as a stream and sink of WebSocket messages.
#[derive(Debug)]
pub(crate) struct StompTcpStream<S> {
    io: S,
    out: BytesMut,
    /// The read side reached its end: nothing more is read.
    ended: bool,
    /// The connection's place among the pending connections, held until its first frame is
    /// whole (the end of a frame, a NUL byte, was read), as a WebSocket's is held until its
    /// upgrade.
    place: Option<PendingPlace>,
}

impl<S> StompTcpStream<S> {
    /// Wraps `io`, holding `place` until the client's first frame is complete.
    pub(crate) fn new(io: S, place: Option<PendingPlace>) -> StompTcpStream<S> {
        StompTcpStream {
            io,
            out: BytesMut::new(),
            ended: false,
            place,
        }
    }
}

impl<S: AsyncWrite + Unpin> StompTcpStream<S> {
    /// Writes the buffer until fewer than `keep` bytes are left in it.
    fn poll_write_out(&mut self, cx: &mut Context<'_>, keep: usize) -> Poll<io::Result<()>> {
        while self.out.len() > keep {
            let written = ready!(Pin::new(&mut self.io).poll_write(cx, &self.out))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out.advance(written);
        }
        if self.out.is_empty() && self.out.capacity() > KEEP_CAPACITY {
            self.out = BytesMut::new();
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> Stream for StompTcpStream<S> {
    type Item = Result<WsMessage, WsError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        // On the stack: an idle connection waiting here holds no read buffer.
        let mut chunk = [0u8; READ_CHUNK];
        let mut buf = ReadBuf::new(&mut chunk);
        if let Err(error) = ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf)) {
            self.ended = true;
            return Poll::Ready(Some(Err(WsError::Io(error))));
        }
        let read = buf.filled();
        if read.is_empty() {
            self.ended = true;
            return Poll::Ready(None);
        }
        if self.place.is_some() && read.contains(&0) {
            self.place = None;
        }
        Poll::Ready(Some(Ok(WsMessage::Binary(Bytes::copy_from_slice(read)))))
    }
}

impl<S: AsyncWrite + Unpin> Sink<WsMessage> for StompTcpStream<S> {
    type Error = WsError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        let keep = WRITE_BUFFER - 1;
        self.poll_write_out(cx, keep).map_err(WsError::Io)
    }

    fn start_send(mut self: Pin<&mut Self>, item: WsMessage) -> Result<(), WsError> {
        match item {
            WsMessage::Text(text) => self.out.extend_from_slice(text.as_bytes()),
            WsMessage::Binary(data) => self.out.extend_from_slice(&data),
            // The close is the shutdown of the write side (`poll_close`); TCP has no pings.
            WsMessage::Close(_) | WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_) => {
            }
        }
        Ok(())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        ready!(self.poll_write_out(cx, 0)).map_err(WsError::Io)?;
        Pin::new(&mut self.io).poll_flush(cx).map_err(WsError::Io)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        ready!(self.as_mut().poll_flush(cx))?;
        Pin::new(&mut self.io)
            .poll_shutdown(cx)
            .map_err(WsError::Io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::{SinkExt, StreamExt};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn bytes_in_are_messages_and_messages_out_are_bytes() {
        let (server_io, mut client) = tokio::io::duplex(1 << 16);
        let mut stream = StompTcpStream::new(server_io, None);
        client.write_all(b"SEND\n\nhi\0").await.expect("write");
        let Some(Ok(WsMessage::Binary(data))) = stream.next().await else {
            panic!("a binary message");
        };
        assert_eq!(&data[..], b"SEND\n\nhi\0");
        stream
            .feed(WsMessage::text("MESSAGE\n\nx\0"))
            .await
            .expect("feed");
        stream
            .feed(WsMessage::Ping(Bytes::from_static(b"p")))
            .await
            .expect("feed");
        stream.feed(WsMessage::text("\n")).await.expect("feed");
        stream.close().await.expect("close");
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.expect("read");
        assert_eq!(got, b"MESSAGE\n\nx\0\n");
        drop(client);
        assert!(
            stream.next().await.is_none(),
            "the end of the stream ends it"
        );
    }

    #[tokio::test]
    async fn a_read_takes_at_most_one_chunk() {
        let (server_io, mut client) = tokio::io::duplex(1 << 16);
        let mut stream = StompTcpStream::new(server_io, None);
        client
            .write_all(&[b'x'; 3 * READ_CHUNK])
            .await
            .expect("write");
        let Some(Ok(WsMessage::Binary(data))) = stream.next().await else {
            panic!("a binary message");
        };
        assert_eq!(data.len(), READ_CHUNK);
    }
}

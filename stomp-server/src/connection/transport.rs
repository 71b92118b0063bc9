//! What carries frames: WebSocket (or SockJS) messages, or a plain byte stream.
//!
//! A [`ReadTransport`] appends the STOMP bytes of one read to the connection's buffer and
//! says what the read was; it never decodes. A WebSocket message is one read (text and
//! binary carry STOMP bytes; pings and pongs do not), a byte stream read takes what the
//! socket holds, up to a bound.

use std::future::Future;

use bytes::{BufMut, BytesMut};
use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};

/// What one read from a transport gave.
#[derive(Debug)]
pub(crate) enum Received<E> {
    /// STOMP bytes (a frame, part of one, or heart-beat EOLs) were appended to the buffer.
    Data,
    /// Something that keeps the transport open but carries no STOMP bytes (a ping, a pong):
    /// not a STOMP heart-beat.
    Control,
    /// The peer sent a WebSocket close frame, with its code and reason when it gave them.
    /// Reading on completes the close handshake.
    Closing(Option<PeerClose>),
    /// The transport ended: the end of the message stream, or of the byte stream (EOF).
    Ended,
    /// The transport failed.
    Failed(E),
}

/// The close frame a WebSocket peer sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PeerClose {
    /// The close code (RFC 6455 section 7.4).
    pub(crate) code: u16,
    /// The reason the peer gave.
    pub(crate) reason: String,
}

/// The reading side of a transport.
pub(crate) trait ReadTransport {
    /// How a read fails.
    type Error;

    /// Reads once, appending any STOMP bytes to `buffer`. Cancel-safe: a read dropped
    /// before it finished took nothing.
    fn receive(
        &mut self,
        buffer: &mut BytesMut,
    ) -> impl Future<Output = Received<Self::Error>> + Send;
}

/// A transport of WebSocket messages: a `WebSocketStream`, its read half, or a SockJS
/// session adapter. Each text or binary message is one read.
#[derive(Debug)]
pub(crate) struct Messages<S>(pub(crate) S);

impl<S> Messages<S> {
    /// The message stream, for what a connection does after its last frame (lingering
    /// until the peer's close).
    pub(crate) fn get_mut(&mut self) -> &mut S {
        &mut self.0
    }
}

impl<S> ReadTransport for Messages<S>
where
    S: Stream<Item = Result<WsMessage, WsError>> + Unpin + Send,
{
    type Error = WsError;

    async fn receive(&mut self, buffer: &mut BytesMut) -> Received<WsError> {
        match self.0.next().await {
            Some(Ok(WsMessage::Text(text))) => {
                buffer.extend_from_slice(text.as_bytes());
                Received::Data
            }
            Some(Ok(WsMessage::Binary(bytes))) => {
                buffer.extend_from_slice(&bytes);
                Received::Data
            }
            Some(Ok(WsMessage::Close(frame))) => Received::Closing(frame.map(|f| PeerClose {
                code: u16::from(f.code),
                reason: f.reason.to_string(),
            })),
            Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_) | WsMessage::Frame(_))) => {
                Received::Control
            }
            Some(Err(error)) => Received::Failed(error),
            None => Received::Ended,
        }
    }
}

/// A byte-stream transport (TCP): STOMP frames with nothing around them. One read takes
/// at most `chunk` bytes, so that what a reader holds past a bound is at most that and
/// one frame.
#[derive(Debug)]
pub(crate) struct ByteStream<R> {
    io: R,
    chunk: usize,
}

impl<R> ByteStream<R> {
    /// Reads `io`, at most `chunk` bytes at a time.
    pub(crate) fn new(io: R, chunk: usize) -> ByteStream<R> {
        ByteStream { io, chunk }
    }
}

impl<R> ReadTransport for ByteStream<R>
where
    R: AsyncRead + Unpin + Send,
{
    type Error = std::io::Error;

    async fn receive(&mut self, buffer: &mut BytesMut) -> Received<std::io::Error> {
        let mut limited = buffer.limit(self.chunk);
        match self.io.read_buf(&mut limited).await {
            Ok(0) => Received::Ended,
            Ok(_) => Received::Data,
            Err(error) => Received::Failed(error),
        }
    }
}

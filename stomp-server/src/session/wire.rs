//! What one WebSocket connection owes its client on the wire.
//!
//! tungstenite answers every ping with a pong of its own, queued in its write buffer
//! whether or not the client reads: a client that floods pings and never reads would grow
//! that buffer without bound. Here everything handed to the WebSocket (STOMP frames,
//! heart-beats, close frames, and the pongs tungstenite queues by itself) is counted as it
//! goes in, and every byte the socket takes as it goes out. The difference is what the
//! connection holds for its client; once it passes the send-buffer limit the connection
//! reads no more and reports [`WsError::WriteBufferFull`], which ends the session as a slow
//! consumer. tungstenite's own `max_write_buffer_size` backs this with a hard cap.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use futures_util::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};
use tokio_tungstenite::WebSocketStream;

/// The bytes handed to a connection and the bytes its socket took.
#[derive(Debug)]
pub(crate) struct WireMeter {
    handed: AtomicUsize,
    sent: AtomicUsize,
    limit: usize,
}

impl WireMeter {
    /// A meter that lets `limit` bytes wait for the client.
    pub(crate) fn new(limit: usize) -> Arc<WireMeter> {
        Arc::new(WireMeter {
            handed: AtomicUsize::new(0),
            sent: AtomicUsize::new(0),
            limit,
        })
    }

    /// Bytes handed to the connection that its socket has not taken yet.
    pub(crate) fn unwritten(&self) -> usize {
        // `sent` is read first: it only grows, and never past `handed`.
        let sent = self.sent.load(Ordering::Acquire);
        self.handed.load(Ordering::Acquire).saturating_sub(sent)
    }

    fn hand(&self, len: usize) {
        self.handed.fetch_add(len, Ordering::AcqRel);
    }

    fn over_limit(&self) -> bool {
        self.unwritten() > self.limit
    }
}

/// The length on the wire of an unmasked (server) WebSocket frame carrying `payload` bytes.
fn frame_len(payload: usize) -> usize {
    let header = match payload {
        0..=125 => 2,
        126..=65_535 => 4,
        _ => 10,
    };
    payload + header
}

/// The length on the wire of `message` sent by the server.
fn message_len(message: &WsMessage) -> usize {
    match message {
        WsMessage::Text(text) => frame_len(text.len()),
        WsMessage::Binary(data) | WsMessage::Ping(data) | WsMessage::Pong(data) => {
            frame_len(data.len())
        }
        WsMessage::Close(Some(close)) => frame_len(2 + close.reason.len()),
        WsMessage::Close(None) => frame_len(0),
        WsMessage::Frame(frame) => frame.len(),
    }
}

/// A byte stream that counts what its writes took.
#[derive(Debug)]
pub(crate) struct MeteredIo<S> {
    inner: S,
    meter: Arc<WireMeter>,
}

impl<S> MeteredIo<S> {
    /// Wraps `inner`, counting into `meter`.
    pub(crate) fn new(inner: S, meter: Arc<WireMeter>) -> MeteredIo<S> {
        MeteredIo { inner, meter }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for MeteredIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for MeteredIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = ready!(Pin::new(&mut self.inner).poll_write(cx, buf))?;
        self.meter.sent.fetch_add(written, Ordering::AcqRel);
        Poll::Ready(Ok(written))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A WebSocket whose unwritten bytes, pongs included, are held to the meter's limit.
#[derive(Debug)]
pub(crate) struct MeteredWebSocket<S> {
    ws: WebSocketStream<MeteredIo<S>>,
    meter: Arc<WireMeter>,
    /// The limit was passed: the error was reported and nothing more is read.
    over: bool,
}

impl<S> MeteredWebSocket<S> {
    /// Wraps `ws`, whose byte stream counts into `meter`.
    pub(crate) fn new(ws: WebSocketStream<MeteredIo<S>>, meter: Arc<WireMeter>) -> Self {
        MeteredWebSocket {
            ws,
            meter,
            over: false,
        }
    }
}

impl<S> Stream for MeteredWebSocket<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    type Item = Result<WsMessage, WsError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.over {
            return Poll::Ready(None);
        }
        let next = ready!(Pin::new(&mut self.ws).poll_next(cx));
        if let Some(Ok(WsMessage::Ping(data))) = &next {
            // tungstenite has queued (or will queue on its next read) a pong with this payload.
            self.meter.hand(frame_len(data.len()));
            if self.meter.over_limit() {
                self.over = true;
                let pong = WsMessage::Pong(data.clone());
                return Poll::Ready(Some(Err(WsError::WriteBufferFull(Box::new(pong)))));
            }
        }
        Poll::Ready(next)
    }
}

impl<S> Sink<WsMessage> for MeteredWebSocket<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    type Error = WsError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        Pin::new(&mut self.ws).poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: WsMessage) -> Result<(), WsError> {
        let len = message_len(&item);
        Pin::new(&mut self.ws).start_send(item)?;
        self.meter.hand(len);
        Ok(())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        Pin::new(&mut self.ws).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        Pin::new(&mut self.ws).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::{SinkExt, StreamExt};
    use tokio::io::AsyncWriteExt;
    use tokio_tungstenite::tungstenite::protocol::Role;

    #[test]
    fn frame_lengths_follow_rfc_6455() {
        assert_eq!(frame_len(0), 2);
        assert_eq!(frame_len(125), 127);
        assert_eq!(frame_len(126), 130);
        assert_eq!(frame_len(65_535), 65_539);
        assert_eq!(frame_len(65_536), 65_546);
    }

    #[tokio::test]
    async fn what_the_socket_took_is_subtracted_from_what_was_handed() {
        let (server_io, client_io) = tokio::io::duplex(1 << 16);
        let meter = WireMeter::new(1 << 20);
        let io = MeteredIo::new(server_io, Arc::clone(&meter));
        let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
        let mut ws = MeteredWebSocket::new(ws, Arc::clone(&meter));
        let mut client = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
        ws.send(WsMessage::text("x".repeat(200)))
            .await
            .expect("send");
        assert_eq!(meter.handed.load(Ordering::Acquire), 204);
        assert_eq!(meter.unwritten(), 0);
        client
            .send(WsMessage::Ping(vec![1; 10].into()))
            .await
            .expect("ping");
        assert!(matches!(ws.next().await, Some(Ok(WsMessage::Ping(_)))));
        assert_eq!(meter.handed.load(Ordering::Acquire), 204 + 12);
        drop(client);
    }

    #[tokio::test]
    async fn pongs_nobody_reads_end_the_stream_past_the_limit() {
        // A small pipe the client never reads from: the pongs pile up on the server side.
        let (server_io, mut client_io) = tokio::io::duplex(1024);
        let meter = WireMeter::new(4096);
        let io = MeteredIo::new(server_io, Arc::clone(&meter));
        let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
        let mut ws = MeteredWebSocket::new(ws, Arc::clone(&meter));
        let ping = masked_ping(&[7; 125]);
        let feeder = tokio::spawn(async move {
            for _ in 0..1_000 {
                if client_io.write_all(&ping).await.is_err() {
                    break;
                }
            }
            client_io
        });
        let mut pings = 0;
        let end = loop {
            match ws.next().await {
                Some(Ok(WsMessage::Ping(_))) => pings += 1,
                other => break other,
            }
        };
        assert!(
            matches!(end, Some(Err(WsError::WriteBufferFull(_)))),
            "{end:?}"
        );
        assert!(pings < 100, "stopped after {pings} pings");
        assert!(ws.next().await.is_none(), "nothing is read past the limit");
        feeder.abort();
    }

    /// A client's ping frame: FIN + ping opcode, masked with a zero key.
    fn masked_ping(payload: &[u8]) -> Vec<u8> {
        let mut frame = vec![0x89, 0x80 | u8::try_from(payload.len()).expect("short")];
        frame.extend_from_slice(&[0, 0, 0, 0]);
        frame.extend_from_slice(payload);
        frame
    }
}

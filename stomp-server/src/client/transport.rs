//! What the client's frames travel over: a WebSocket (`ws://`, `wss://`), or STOMP over TCP
//! (`tcp://` and `stomp+ssl://`, as to RabbitMQ's ports 61613 and 61614 or a server's
//! `stomp_tcp` endpoint), both as a stream and sink of WebSocket messages so that one reader
//! and one writer serve both; each over plain TCP, TLS or a given stream ([`ClientStream`]).

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::{Sink, Stream};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use super::stream::ClientStream;
use crate::tcp::StompTcpStream;

/// The client's connection to the server.
#[derive(Debug)]
pub(super) enum ClientTransport {
    /// STOMP over WebSocket.
    WebSocket(Box<WebSocketStream<ClientStream>>),
    /// STOMP over TCP: frames are the bytes, heart-beats EOLs.
    Tcp(StompTcpStream<ClientStream>),
}

impl Stream for ClientTransport {
    type Item = Result<Message, WsError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.get_mut() {
            ClientTransport::WebSocket(ws) => Pin::new(ws.as_mut()).poll_next(cx),
            ClientTransport::Tcp(tcp) => Pin::new(tcp).poll_next(cx),
        }
    }
}

impl Sink<Message> for ClientTransport {
    type Error = WsError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        match self.get_mut() {
            ClientTransport::WebSocket(ws) => Pin::new(ws.as_mut()).poll_ready(cx),
            ClientTransport::Tcp(tcp) => Pin::new(tcp).poll_ready(cx),
        }
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), WsError> {
        match self.get_mut() {
            ClientTransport::WebSocket(ws) => Pin::new(ws.as_mut()).start_send(item),
            ClientTransport::Tcp(tcp) => Pin::new(tcp).start_send(item),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        match self.get_mut() {
            ClientTransport::WebSocket(ws) => Pin::new(ws.as_mut()).poll_flush(cx),
            ClientTransport::Tcp(tcp) => Pin::new(tcp).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        match self.get_mut() {
            ClientTransport::WebSocket(ws) => Pin::new(ws.as_mut()).poll_close(cx),
            ClientTransport::Tcp(tcp) => Pin::new(tcp).poll_close(cx),
        }
    }
}

//! A tiny scripted STOMP server for the client tests: it accepts one WebSocket on
//! `127.0.0.1:0`, reads the client's frames with the core decoder and answers with
//! hand-written frames.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use stomp_server::client::{StompClient, StompSession};
use stomp_server::core::{Command, Decoder, Frame, FrameLimits};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// How long any single step of a test may take before it fails.
pub(crate) const STEP: Duration = Duration::from_secs(3);

/// One accepted WebSocket, seen from the server side.
pub(crate) struct Peer {
    pub(crate) ws: WebSocketStream<TcpStream>,
    pub(crate) decoder: Decoder,
    pub(crate) buf: BytesMut,
    /// The `Origin` and `Sec-WebSocket-Protocol` handshake headers.
    pub(crate) origin: Option<String>,
    pub(crate) protocols: Option<String>,
    /// The client's address.
    pub(crate) remote: SocketAddr,
}

pub(crate) async fn listen() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws", listener.local_addr().unwrap());
    (listener, url)
}

impl Peer {
    /// Accepts one WebSocket, selecting `v12.stomp` (or the first offer) when offered.
    pub(crate) async fn accept(listener: &TcpListener) -> Peer {
        let (tcp, remote) = tokio::time::timeout(STEP, listener.accept())
            .await
            .expect("no connection")
            .unwrap();
        let mut origin = None;
        let mut protocols = None;
        let callback = |request: &Request, mut response: Response| {
            let header = |name: &str| {
                request
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            origin = header("origin");
            protocols = header("sec-websocket-protocol");
            if let Some(offered) = &protocols {
                let offers: Vec<&str> = offered.split(',').map(str::trim).collect();
                let chosen = if offers.contains(&"v12.stomp") {
                    "v12.stomp"
                } else {
                    offers[0]
                };
                response.headers_mut().insert(
                    "sec-websocket-protocol",
                    HeaderValue::from_str(chosen).unwrap(),
                );
            }
            Ok(response)
        };
        let ws = tokio_tungstenite::accept_hdr_async(tcp, callback)
            .await
            .unwrap();
        Peer {
            ws,
            decoder: Decoder::new(FrameLimits::default()),
            buf: BytesMut::new(),
            origin,
            protocols,
            remote,
        }
    }

    /// Accepts, reads `CONNECT`/`STOMP` and answers `CONNECTED` with `headers` (one
    /// `name:value` per line).
    pub(crate) async fn accept_connect(listener: &TcpListener, headers: &str) -> (Peer, Frame) {
        let mut peer = Peer::accept(listener).await;
        let connect = peer.frame().await;
        peer.send(&format!("CONNECTED\n{headers}\n\n\0")).await;
        (peer, connect)
    }

    /// The next WebSocket message (heart-beats included).
    pub(crate) async fn message(&mut self) -> Message {
        tokio::time::timeout(STEP, self.ws.next())
            .await
            .expect("no WebSocket message in time")
            .expect("the client closed the connection")
            .unwrap()
    }

    /// The next frame from the client, skipping heart-beats.
    pub(crate) async fn frame(&mut self) -> Frame {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.buf).unwrap() {
                return frame;
            }
            match self.message().await {
                Message::Text(text) => self.buf.extend_from_slice(text.as_bytes()),
                Message::Binary(bytes) => self.buf.extend_from_slice(&bytes),
                other => panic!("unexpected WebSocket message {other:?}"),
            }
        }
    }

    pub(crate) async fn send(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.unwrap();
    }

    /// Reads a `SUBSCRIBE` and answers its receipt; returns the frame.
    pub(crate) async fn accept_subscribe(&mut self) -> Frame {
        let subscribe = self.frame().await;
        assert_eq!(subscribe.command, Command::Subscribe);
        let receipt = subscribe.receipt().expect("SUBSCRIBE without receipt");
        self.send(&format!("RECEIPT\nreceipt-id:{receipt}\n\n\0"))
            .await;
        subscribe
    }
}

/// Connects `client` to a fresh fake server that runs `script` after `CONNECTED`. A script
/// that returns its `Peer` keeps the TCP connection open until the handle is awaited.
pub(crate) async fn session_with<F, Fut, T>(
    client: StompClient,
    connected: &'static str,
    script: F,
) -> (StompSession, JoinHandle<T>)
where
    F: FnOnce(Peer) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T> + Send,
    T: Send + 'static,
{
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let (peer, _) = Peer::accept_connect(&listener, connected).await;
        script(peer).await
    });
    let session = client.connect(&url).await.unwrap();
    (session, server)
}

pub(crate) fn quiet_client() -> StompClient {
    StompClient::new().heartbeat(0, 0)
}

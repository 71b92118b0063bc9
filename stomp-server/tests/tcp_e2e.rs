//! STOMP over plain TCP (`StompServerBuilder::stomp_tcp`) with a raw socket: the same
//! sessions and broker as the WebSocket endpoint, frames in any pieces, EOL heart-beats
//! both ways, and the limits (bad input, flooding, a client that never reads, the time to
//! the first frame, the pending-connection cap) and shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::tcp::TcpServer;
use common::{no_handlers, WAIT};
use stomp_server::client::StompClient;
use stomp_server::config::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// A raw STOMP-over-TCP client: what it has read and not yet taken as a frame.
struct Raw {
    tcp: TcpStream,
    buffer: Vec<u8>,
}

impl Raw {
    async fn open(server: &TcpServer) -> Raw {
        let tcp = TcpStream::connect(server.tcp).await.expect("connect");
        Raw {
            tcp,
            buffer: Vec::new(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.tcp.write_all(bytes).await.expect("write");
    }

    /// Reads until one more whole frame (or the end): its text, heart-beat EOLs before it
    /// counted into `beats`. `None` at the end of the stream.
    async fn frame_counting(&mut self, beats: &mut usize) -> Option<String> {
        loop {
            while self.buffer.first() == Some(&b'\n') || self.buffer.starts_with(b"\r\n") {
                let eol = if self.buffer[0] == b'\r' { 2 } else { 1 };
                self.buffer.drain(..eol);
                *beats += 1;
            }
            if let Some(end) = self.buffer.iter().position(|&b| b == 0) {
                let frame: Vec<u8> = self.buffer.drain(..=end).collect();
                return Some(String::from_utf8_lossy(&frame[..end]).into_owned());
            }
            let mut chunk = [0u8; 4096];
            let read = timeout(WAIT, self.tcp.read(&mut chunk))
                .await
                .expect("in time");
            match read {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
            }
        }
    }

    async fn frame(&mut self) -> Option<String> {
        self.frame_counting(&mut 0).await
    }

    /// True when the server closes the connection (after any frames still coming).
    async fn closed(&mut self) -> bool {
        while self.frame().await.is_some() {}
        true
    }

    async fn connect(server: &TcpServer, heart_beat: &str) -> (Raw, String) {
        let mut raw = Raw::open(server).await;
        let connect = format!("CONNECT\naccept-version:1.2\nhost:x\nheart-beat:{heart_beat}\n\n\0");
        raw.send(connect.as_bytes()).await;
        let connected = raw.frame().await.expect("CONNECTED");
        assert!(connected.starts_with("CONNECTED\n"), "{connected}");
        (raw, connected)
    }
}

#[tokio::test]
async fn frames_in_any_pieces_reach_the_same_broker_as_websocket_sessions() {
    let server = TcpServer::start(no_handlers()).await;
    let mut raw = Raw::open(&server).await;
    let connect = b"CONNECT\naccept-version:1.0,1.1,1.2\nhost:x\nheart-beat:0,0\n\n\0";
    // One byte at a time, each its own write.
    for byte in connect {
        raw.send(&[*byte]).await;
        raw.tcp.flush().await.expect("flush");
        tokio::task::yield_now().await;
    }
    let connected = raw.frame().await.expect("CONNECTED");
    assert!(connected.contains("version:1.2\n"), "{connected}");
    let destination = "/topic/tcp-pieces";
    let subscribe = format!("SUBSCRIBE\nid:0\ndestination:{destination}\nreceipt:r1\n\n\0");
    let (head, tail) = subscribe.as_bytes().split_at(17);
    raw.send(head).await;
    raw.tcp.flush().await.expect("flush");
    tokio::time::sleep(Duration::from_millis(20)).await;
    raw.send(tail).await;
    assert!(raw.frame().await.expect("RECEIPT").starts_with("RECEIPT\n"));

    // A WebSocket session publishes to the TCP session, and the other way round.
    let url = format!("ws://127.0.0.1:{}/ws", server.ws_port);
    let ws = StompClient::new().connect(&url).await.expect("ws connect");
    let mut ws_sub = ws.subscribe(destination).await.expect("subscribe");
    ws.send(destination, "from websocket").await.expect("send");
    let message = raw.frame().await.expect("MESSAGE");
    assert!(
        message.starts_with("MESSAGE\n") && message.ends_with("\n\nfrom websocket"),
        "{message}"
    );
    // Two frames in one write, the second with a content-length and a NUL in its body.
    let two = format!("SEND\ndestination:{destination}\n\nfrom tcp\0SEND\ndestination:{destination}\ncontent-length:3\n\na\0b\0");
    raw.send(two.as_bytes()).await;
    let mut bodies = Vec::new();
    for _ in 0..3 {
        let frame = ws_sub.next_timeout(WAIT).await.expect("message");
        bodies.push(frame.body.to_vec());
    }
    assert_eq!(bodies[1], b"from tcp");
    assert_eq!(bodies[2], b"a\0b");
    assert_eq!(server.stats.snapshot().sessions_current, 2);
    raw.send(b"DISCONNECT\nreceipt:bye\n\n\0").await;
    // Its own two messages come first (this reader splits the second at its NUL).
    loop {
        let frame = raw.frame().await.expect("RECEIPT");
        if frame.contains("receipt-id:bye") {
            break;
        }
    }
    assert!(raw.closed().await);
}

#[tokio::test]
async fn heart_beats_go_both_ways_and_a_silent_client_is_closed() {
    let server = TcpServer::start(no_handlers()).await;
    let (mut raw, connected) = Raw::connect(&server, "1000,1000").await;
    assert!(connected.contains("heart-beat:1000,1000\n"), "{connected}");
    // Beats from the client keep the session open past several windows (2 s each).
    let mut beats = 0;
    let until = tokio::time::Instant::now() + Duration::from_millis(4_500);
    while tokio::time::Instant::now() < until {
        raw.send(b"\n").await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Every frame the client asks for still works, and the server beat meanwhile.
    raw.send(b"SEND\ndestination:/topic/tcp-beat\nreceipt:alive\n\n\0")
        .await;
    let receipt = raw.frame_counting(&mut beats).await.expect("RECEIPT");
    assert!(receipt.contains("receipt-id:alive"), "{receipt}");
    assert!(beats >= 1, "the server sent {beats} heart-beats in 4.5 s");
    // Silence: the server gives up on the client.
    let error = raw.frame().await.expect("ERROR");
    assert!(error.contains("no frame or heart-beat received"), "{error}");
    assert!(raw.closed().await);
    assert_eq!(server.stats.snapshot().heartbeat_timeouts, 1);
}

#[tokio::test]
async fn garbage_and_oversize_frames_get_an_error_and_a_close() {
    let limits = Limits::default().with_message_size(8 * 1024);
    let server = TcpServer::start(no_handlers().limits(limits)).await;
    let mut raw = Raw::open(&server).await;
    raw.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\0").await;
    let error = raw.frame().await.expect("ERROR");
    assert!(error.starts_with("ERROR\n"), "{error}");
    assert!(raw.closed().await);

    let (mut raw, _) = Raw::connect(&server, "0,0").await;
    let mut big = b"SEND\ndestination:/topic/tcp-big\n\n".to_vec();
    big.extend(std::iter::repeat_n(b'x', 64 * 1024));
    // The client may find the connection closed before it wrote everything.
    let _ = raw.tcp.write_all(&big).await;
    let error = raw.frame().await.expect("ERROR");
    assert!(
        error.starts_with("ERROR\n") && error.contains("exceeds 8192 bytes"),
        "{error}"
    );
    assert!(raw.closed().await);
    // The server is still there.
    let (_raw, _) = Raw::connect(&server, "0,0").await;
}

#[tokio::test]
async fn a_flooding_client_is_closed() {
    let limits = Limits::default().with_max_frames_per_second(50);
    let server = TcpServer::start(no_handlers().limits(limits)).await;
    let (mut raw, _) = Raw::connect(&server, "0,0").await;
    let frame = b"SEND\ndestination:/topic/tcp-flood\n\nx\0";
    let mut error = None;
    for _ in 0..1_000 {
        if raw.tcp.write_all(frame).await.is_err() {
            break;
        }
    }
    while let Some(frame) = raw.frame().await {
        if frame.starts_with("ERROR\n") {
            error = Some(frame);
        }
    }
    let error = error.expect("an ERROR for the flood");
    assert!(error.contains("frames per second"), "{error}");
}

#[tokio::test]
async fn a_client_that_never_reads_is_closed_as_a_slow_consumer() {
    let limits = Limits::default()
        .with_send_buffer_size(64 * 1024)
        .with_send_time(Duration::from_secs(1));
    let server = TcpServer::start(no_handlers().limits(limits)).await;
    let (mut raw, _) = Raw::connect(&server, "0,0").await;
    let destination = "/topic/tcp-never-reads";
    raw.send(format!("SUBSCRIBE\nid:0\ndestination:{destination}\nreceipt:r\n\n\0").as_bytes())
        .await;
    assert!(raw.frame().await.expect("RECEIPT").starts_with("RECEIPT"));
    let payload = "y".repeat(16 * 1024);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    // Published until the server gives up on the client, which reads nothing meanwhile.
    while server.stats.snapshot().slow_consumer_closes == 0 {
        assert!(tokio::time::Instant::now() < deadline, "never closed");
        let _ = server.template.convert_and_send(destination, &payload);
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(server.stats.snapshot().slow_consumer_closes, 1);
    assert!(raw.closed().await, "the connection is closed");
}

#[tokio::test]
async fn a_connection_without_connect_is_closed_after_the_time_to_first_frame() {
    let limits = Limits::default().with_time_to_first_frame(Duration::from_millis(300));
    let server = TcpServer::start(no_handlers().limits(limits)).await;
    let mut raw = Raw::open(&server).await;
    raw.send(b"CONN").await;
    assert!(raw.closed().await);
}

#[tokio::test]
async fn the_pending_connection_cap_holds_until_the_first_frame() {
    let limits = Limits::default().with_max_pending_connections_per_address(1);
    let server = TcpServer::start(no_handlers().limits(limits)).await;
    let mut first = Raw::open(&server).await;
    // The first has sent nothing yet: a second from the same address is refused.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut second = Raw::open(&server).await;
    let error = second.frame().await.expect("ERROR");
    assert!(error.contains("too many connections"), "{error}");
    assert!(second.closed().await);
    first
        .send(b"CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\0")
        .await;
    assert!(first
        .frame()
        .await
        .expect("CONNECTED")
        .starts_with("CONNECTED"));
    // Its first frame is whole: the place is free again.
    let (_third, _) = Raw::connect(&server, "0,0").await;
}

#[tokio::test]
async fn shutdown_tells_tcp_sessions_why() {
    let server = TcpServer::start(no_handlers()).await;
    let (mut raw, _) = Raw::connect(&server, "0,0").await;
    let _ = server.stop.send(());
    let error = raw.frame().await.expect("ERROR");
    assert!(error.contains("server is shutting down"), "{error}");
    assert!(raw.closed().await);
    timeout(Duration::from_secs(10), server.task)
        .await
        .expect("stops")
        .expect("task");
}

#[tokio::test]
async fn the_rust_client_connects_over_tcp_with_heart_beats_and_disconnects() {
    let server = TcpServer::start(no_handlers()).await;
    let url = format!("tcp://{}", server.tcp);
    let client = StompClient::new()
        .login("tcp-user", "")
        .heartbeat(1_000, 1_000);
    let session = client.connect(&url).await.expect("connect over TCP");
    assert_eq!(
        session.heartbeat().send_every,
        Some(Duration::from_secs(1)),
        "the server followed the client's heart-beats"
    );
    let destination = "/topic/tcp-rust-client";
    let mut sub = session.subscribe(destination).await.expect("subscribe");
    session.send(destination, "over tcp").await.expect("send");
    let message = sub.next_timeout(WAIT).await.expect("message");
    assert_eq!(message.body_str(), Some("over tcp"));
    // Idle past two heart-beat windows: both sides' beats keep the session.
    tokio::time::sleep(Duration::from_millis(4_500)).await;
    assert!(!session.is_closed());
    assert_eq!(server.stats.snapshot().heartbeat_timeouts, 0);
    session.disconnect().await.expect("disconnect");
}

#[tokio::test]
async fn past_max_sessions_a_tcp_connection_gets_an_error() {
    let limits = Limits::default().with_max_sessions(1);
    let server = TcpServer::start(no_handlers().limits(limits)).await;
    let (_first, _) = Raw::connect(&server, "0,0").await;
    let mut second = Raw::open(&server).await;
    let error = second.frame().await.expect("ERROR");
    assert!(error.contains("too many sessions"), "{error}");
    assert!(second.closed().await);
    assert_eq!(server.stats.snapshot().sessions_current, 1);
}

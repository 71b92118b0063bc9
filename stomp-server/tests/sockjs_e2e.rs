//! SockJS driven by hand over real sockets: `info`, the framed WebSocket transport,
//! `xhr_streaming` and `xhr` with `xhr_send`, unknown sessions, the disconnect delay, and a
//! point-to-point backlog paced through the outbox.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::sockjs::{
    json, messages, read_head, request, server, xhr_send, Stream, CONNECT, SUBSCRIBE,
};
use common::{TestServer, WAIT};
use futures_util::{SinkExt, StreamExt};
use stomp_server::{sockjs::SockJsOptions, StompServer};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;

const SEND: &str = "SEND\ndestination:/topic/t\ncontent-type:text/plain\n\nhello \u{2028} sockjs\0";

#[tokio::test]
async fn info_and_preflight() {
    let server = server(SockJsOptions::default()).await;
    let reply = request(server.port, "GET", "/ws/info", "").await;
    assert_eq!(reply.status, 200);
    let info: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(info["websocket"], true);
    // Spring's default: the JSESSIONID cookie for sticky load balancers.
    assert_eq!(info["cookie_needed"], true);
    assert_eq!(info["origins"][0], "*:*");
    assert!(info["entropy"].is_u64());
    assert_eq!(
        reply.header("cache-control"),
        Some("no-store, no-cache, must-revalidate, max-age=0")
    );
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        reply.header("access-control-allow-credentials"),
        Some("true")
    );
    let preflight = request(server.port, "OPTIONS", "/ws/info", "").await;
    assert_eq!(preflight.status, 204);
    assert!(preflight.header("access-control-allow-methods").is_some());
    let greeting = request(server.port, "GET", "/ws", "").await;
    assert_eq!(greeting.body, "Welcome to SockJS!\n");
}

#[tokio::test]
async fn websocket_transport_frames() {
    let server = server(SockJsOptions::default()).await;
    let url = format!("ws://127.0.0.1:{}/ws/000/abcd/websocket", server.port);
    let tcp = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
    match tokio::time::timeout(WAIT, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
    {
        WsMessage::Text(t) => assert_eq!(t.as_str(), "o"),
        other => panic!("unexpected {other:?}"),
    }
    ws.send(WsMessage::text(json(&[CONNECT]))).await.unwrap();
    let connected = messages(&read_ws(&mut ws).await);
    assert!(connected[0].starts_with("CONNECTED\n"), "{connected:?}");
    ws.send(WsMessage::text(json(&[SUBSCRIBE]))).await.unwrap();
    assert!(messages(&read_ws(&mut ws).await)[0].starts_with("RECEIPT\nreceipt-id:r1\n"));
    // A single JSON string is accepted too.
    ws.send(WsMessage::text(serde_json::to_string(SEND).unwrap()))
        .await
        .unwrap();
    let message = messages(&read_ws(&mut ws).await).concat();
    assert!(message.starts_with("MESSAGE\n"), "{message:?}");
    assert!(message.contains("subscription:s1\n"));
    assert!(message.ends_with("hello \u{2028} sockjs\0"));
    // DISCONNECT: the server ends the session with `c[3000,"Go away!"]`.
    ws.send(WsMessage::text(json(&["DISCONNECT\n\n\0"])))
        .await
        .unwrap();
    assert_eq!(read_ws(&mut ws).await, "c[3000,\"Go away!\"]");
}

/// The websocket transport writes `h` whenever nothing else went out for the heart-beat
/// interval, through the connection layer's writer loop.
#[tokio::test]
async fn websocket_transport_sends_heart_beats_when_idle() {
    let options = SockJsOptions::default().with_heartbeat(Duration::from_millis(200));
    let server = server(options).await;
    let url = format!("ws://127.0.0.1:{}/ws/000/hbws/websocket", server.port);
    let tcp = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "o");
    assert_eq!(next_text(&mut ws).await, "h");
    assert_eq!(next_text(&mut ws).await, "h");
    // Frames still go out between the beats.
    ws.send(WsMessage::text(json(&[CONNECT]))).await.unwrap();
    let connected = messages(&read_ws(&mut ws).await);
    assert!(connected[0].starts_with("CONNECTED\n"), "{connected:?}");
    assert_eq!(next_text(&mut ws).await, "h");
}

/// The next text message, heart-beats included.
async fn next_text(ws: &mut tokio_tungstenite::WebSocketStream<TcpStream>) -> String {
    match tokio::time::timeout(WAIT, ws.next()).await {
        Ok(Some(Ok(WsMessage::Text(t)))) => t.as_str().to_owned(),
        other => panic!("unexpected {other:?}"),
    }
}

async fn read_ws(ws: &mut tokio_tungstenite::WebSocketStream<TcpStream>) -> String {
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            WsMessage::Text(t) if t.as_str() != "h" => return t.as_str().to_owned(),
            WsMessage::Text(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn xhr_streaming_round_trip() {
    let server = server(SockJsOptions::default()).await;
    let port = server.port;
    let mut stream = Stream::open(port, "/ws/000/stream1/xhr_streaming").await;
    assert_eq!(stream.frame().await.unwrap(), "h".repeat(2048));
    assert_eq!(stream.frame().await.unwrap(), "o");
    assert_eq!(xhr_send(port, "stream1", &[CONNECT]).await, 204);
    assert!(messages(&stream.frame().await.unwrap())[0].starts_with("CONNECTED\n"));
    assert_eq!(xhr_send(port, "stream1", &[SUBSCRIBE]).await, 204);
    assert!(messages(&stream.frame().await.unwrap())[0].starts_with("RECEIPT\nreceipt-id:r1\n"));
    assert_eq!(xhr_send(port, "stream1", &[SEND]).await, 204);
    let message = messages(&stream.frame().await.unwrap()).concat();
    assert!(message.starts_with("MESSAGE\n") && message.contains("subscription:s1\n"));
    assert!(message.ends_with("hello \u{2028} sockjs\0"));
    // Broken JSON is refused.
    let broken = request(port, "POST", "/ws/000/stream1/xhr_send", "[\"x").await;
    assert_eq!(broken.status, 500);
}

#[tokio::test]
async fn xhr_streaming_ends_at_the_bytes_limit() {
    let options = SockJsOptions::default().with_stream_bytes_limit(64);
    let server = server(options).await;
    let port = server.port;
    let mut stream = Stream::open(port, "/ws/000/short/xhr_streaming").await;
    assert_eq!(stream.frame().await.unwrap().len(), 2048);
    assert_eq!(stream.frame().await.unwrap(), "o");
    assert_eq!(xhr_send(port, "short", &[CONNECT]).await, 204);
    assert!(messages(&stream.frame().await.unwrap())[0].starts_with("CONNECTED\n"));
    assert_eq!(
        stream.frame().await,
        None,
        "the response ends after the limit"
    );
    // The same session continues on the next request.
    let mut stream = Stream::open(port, "/ws/000/short/xhr_streaming").await;
    assert_eq!(stream.frame().await.unwrap().len(), 2048);
    assert_eq!(xhr_send(port, "short", &[SUBSCRIBE]).await, 204);
    assert!(messages(&stream.frame().await.unwrap())[0].starts_with("RECEIPT\n"));
}

#[tokio::test]
async fn xhr_polling_round_trip() {
    let server = server(SockJsOptions::default()).await;
    let port = server.port;
    let poll = || request(port, "POST", "/ws/000/poll1/xhr", "");
    let first = poll().await;
    assert_eq!((first.status, first.body.as_str()), (200, "o\n"));
    assert_eq!(xhr_send(port, "poll1", &[CONNECT]).await, 204);
    assert!(messages(&poll().await.body)[0].starts_with("CONNECTED\n"));
    assert_eq!(xhr_send(port, "poll1", &[SUBSCRIBE, SEND]).await, 204);
    let mut frames = Vec::new();
    while frames.len() < 2 {
        frames.extend(messages(&poll().await.body));
    }
    assert!(frames[0].starts_with("RECEIPT\n"));
    assert!(frames[1].starts_with("MESSAGE\n") && frames[1].ends_with("hello \u{2028} sockjs\0"));
}

#[tokio::test]
async fn unknown_session_is_404() {
    let server = server(SockJsOptions::default()).await;
    assert_eq!(xhr_send(server.port, "nobody", &[CONNECT]).await, 404);
}

#[tokio::test]
async fn session_closes_after_the_disconnect_delay() {
    let options = SockJsOptions::default().with_disconnect_delay(Duration::from_millis(200));
    let server = server(options).await;
    let port = server.port;
    let first = request(port, "POST", "/ws/000/late/xhr", "").await;
    assert_eq!(first.body, "o\n");
    assert_eq!(xhr_send(port, "late", &[CONNECT]).await, 204);
    assert!(
        messages(&request(port, "POST", "/ws/000/late/xhr", "").await.body)[0]
            .starts_with("CONNECTED\n")
    );
    assert_eq!(server.stats.snapshot().sessions_current, 1);
    let deadline = tokio::time::Instant::now() + WAIT;
    while server.stats.snapshot().sessions_current > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.stats.snapshot().sessions_current, 0);
    assert_eq!(xhr_send(port, "late", &[SEND]).await, 404);
}

#[tokio::test]
async fn xhr_polling_receives_a_point_to_point_backlog_larger_than_its_send_buffer() {
    let server = TestServer::start(
        StompServer::builder()
            .handlers(stomp_server::handler::Handlers::new())
            .sockjs_options(SockJsOptions::default())
            .point_to_point(["/queue"]),
    )
    .await;
    let port = server.port;
    // 4,000 messages of about 200 bytes wait: more than the 512 KiB send buffer.
    let total = 4_000;
    for i in 0..total {
        let body = format!("{i:0>200}");
        server
            .template
            .convert_and_send("/queue/sockjs-backlog", &body)
            .expect("held");
    }
    let poll = || request(port, "POST", "/ws/000/backlog/xhr", "");
    assert_eq!(poll().await.body, "o\n");
    let subscribe = "SUBSCRIBE\nid:s1\ndestination:/queue/sockjs-backlog\n\n\0";
    assert_eq!(xhr_send(port, "backlog", &[CONNECT, subscribe]).await, 204);
    // Every message, in order, however many polls it takes (a safety net against hanging).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let mut stream = String::new();
    let mut received = Vec::new();
    while received.len() < total {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {total}",
            received.len()
        );
        let reply = poll().await;
        assert!(
            reply.body.starts_with('a'),
            "the session ended: {:?}",
            reply.body
        );
        stream.push_str(&messages(&reply.body).concat());
        while let Some(end) = stream.find('\0') {
            let frame: String = stream.drain(..=end).collect();
            if let Some(body) = frame
                .strip_prefix("MESSAGE\n")
                .and_then(|f| f.split_once("\n\n"))
            {
                received.push(body.1.trim_end_matches('\0').trim_matches('"').to_owned());
            }
        }
    }
    let expected: Vec<String> = (0..total).map(|i| format!("{i:0>200}")).collect();
    assert!(received == expected, "out of order or altered");
}

#[tokio::test]
async fn auto_ack_messages_an_abandoned_session_never_took_go_back_to_the_queue() {
    let server = TestServer::start(
        StompServer::builder()
            .handlers(stomp_server::handler::Handlers::new())
            .sockjs_options(
                SockJsOptions::default().with_disconnect_delay(Duration::from_millis(200)),
            )
            .point_to_point(["/queue"]),
    )
    .await;
    let port = server.port;
    let total = 2_000;
    for i in 0..total {
        let body = format!("{i:0>200}");
        server
            .template
            .convert_and_send("/queue/sockjs-handover", &body)
            .expect("held");
    }
    let subscribe = "SUBSCRIBE\nid:s1\ndestination:/queue/sockjs-handover\n\n\0";
    let mut received = Vec::new();
    // The first session takes one poll's worth, then its client goes away.
    let first = poll_messages(port, "leaving", subscribe, &mut received, 1).await;
    assert!(first > 0 && first < total, "one poll took {first}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while server.stats.snapshot().sessions_current > 0 {
        assert!(tokio::time::Instant::now() < deadline, "never ended");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // What it never took (in its outbox or its send buffer) is the next session's.
    poll_messages(port, "staying", subscribe, &mut received, usize::MAX).await;
    let expected: Vec<String> = (0..total).map(|i| format!("{i:0>200}")).collect();
    assert_eq!(received.len(), total, "lost or duplicated");
    assert!(received == expected, "out of order");
}

/// Opens xhr-polling session `id`, subscribes, and polls (at most `polls` times) until
/// every message of the test arrived; returns how many this session got.
async fn poll_messages(
    port: u16,
    id: &str,
    subscribe: &str,
    received: &mut Vec<String>,
    polls: usize,
) -> usize {
    let path = format!("/ws/000/{id}/xhr");
    assert_eq!(request(port, "POST", &path, "").await.body, "o\n");
    assert_eq!(xhr_send(port, id, &[CONNECT, subscribe]).await, 204);
    let before = received.len();
    let mut stream = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    for _ in 0..polls {
        if received.len() >= 2_000 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} arrived",
            received.len()
        );
        let reply = request(port, "POST", &path, "").await;
        if !reply.body.starts_with('a') {
            continue;
        }
        stream.push_str(&messages(&reply.body).concat());
        message_bodies(&mut stream, received);
    }
    received.len() - before
}

/// Moves the bodies of the complete MESSAGE frames at the front of `stream` to `received`.
fn message_bodies(stream: &mut String, received: &mut Vec<String>) {
    while let Some(end) = stream.find('\0') {
        let frame: String = stream.drain(..=end).collect();
        if let Some((_, body)) = frame
            .strip_prefix("MESSAGE\n")
            .and_then(|f| f.split_once("\n\n"))
        {
            received.push(body.trim_end_matches('\0').trim_matches('"').to_owned());
        }
    }
}

/// A server with a short send-time limit and disconnect delay, and `total` messages of
/// 4 KiB (about 12 MB for 3,000: more than a stream's channel, hyper's buffer and both
/// sockets hold) waiting on `destination`.
async fn stalled_server(destination: &str, total: usize) -> TestServer {
    let limits = stomp_server::config::Limits::default().with_send_time(Duration::from_secs(1));
    let server = TestServer::start(
        StompServer::builder()
            .handlers(stomp_server::handler::Handlers::new())
            .limits(limits)
            .sockjs_options(
                SockJsOptions::default()
                    .with_disconnect_delay(Duration::from_secs(2))
                    .with_stream_bytes_limit(usize::MAX)
                    .with_heartbeat(Duration::from_secs(1)),
            )
            .point_to_point(["/queue"]),
    )
    .await;
    for i in 0..total {
        server
            .template
            .convert_and_send(destination, &format!("{i:0>4096}"))
            .expect("held");
    }
    server
}

/// A connection to `port` with a small receive buffer, for a client that stops reading.
async fn small_window(port: u16) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(([127, 0, 0, 1], port).into()).await.unwrap()
}

/// Waits until the server gave up on every session.
async fn no_sessions(server: &TestServer) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while server.stats.snapshot().sessions_current > 0 {
        assert!(tokio::time::Instant::now() < deadline, "never ended");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Receives on a new xhr-polling session until every one of the `total` messages arrived
/// once at least, counting those in `received` (what the stalled client got).
async fn the_rest_arrives(port: u16, subscribe: &str, received: Vec<String>, total: usize) {
    let first = received.len();
    let path = "/ws/000/after-stall/xhr";
    assert_eq!(request(port, "POST", path, "").await.body, "o\n");
    assert_eq!(
        xhr_send(port, "after-stall", &[CONNECT, subscribe]).await,
        204
    );
    let expected: std::collections::BTreeSet<String> =
        (0..total).map(|i| format!("{i:0>4096}")).collect();
    let mut seen: std::collections::BTreeSet<String> = received.into_iter().collect();
    let (mut frames, mut more) = (String::new(), Vec::new());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while seen != expected {
        assert!(
            tokio::time::Instant::now() < deadline,
            "lost: {} of {total} arrived ({first} to the stalled client)",
            seen.len()
        );
        let reply = request(port, "POST", path, "").await;
        if reply.body.starts_with('a') {
            frames.push_str(&messages(&reply.body).concat());
            message_bodies(&mut frames, &mut more);
            seen.extend(more.drain(..));
        }
    }
}

#[tokio::test]
async fn auto_ack_messages_a_stalled_streaming_client_never_got_go_back_to_the_queue() {
    fn line(line: &str) -> Option<&str> {
        Some(line)
    }
    stalled_client_loses_nothing("POST", "xhr_streaming", "sockjs-stalled", line).await;
}

/// `eventsource` shares `xhr_streaming`'s response: the same bounded channel and send time.
#[tokio::test]
async fn auto_ack_messages_a_stalled_eventsource_client_never_got_go_back_to_the_queue() {
    fn data(line: &str) -> Option<&str> {
        line.strip_prefix("data: ")
    }
    stalled_client_loses_nothing("GET", "eventsource", "sockjs-stalled-es", data).await;
}

/// A client that opens `transport` with `method` and stops reading: the server gives up on
/// it, and every message of `/queue/<queue>` it did not get reaches the next session. The
/// SockJS frame of a line of its response is `frame_of(line)`.
async fn stalled_client_loses_nothing(
    method: &str,
    transport: &str,
    queue: &str,
    frame_of: fn(&str) -> Option<&str>,
) {
    let total = 3_000;
    let destination = format!("/queue/{queue}");
    let server = stalled_server(&destination, total).await;
    let port = server.port;
    let mut stalled = small_window(port).await;
    let head = format!(
        "{method} /ws/000/stalled/{transport} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Connection: close\r\nContent-Length: 0\r\n\r\n"
    );
    stalled.write_all(head.as_bytes()).await.unwrap();
    let subscribe = format!("SUBSCRIBE\nid:s1\ndestination:{destination}\n\n\0");
    assert_eq!(xhr_send(port, "stalled", &[CONNECT, &subscribe]).await, 204);
    // The server gives up on it (send-time limit, then the disconnect delay).
    no_sessions(&server).await;
    // What reached its connection it can still read; everything else is another
    // session's (at least once: some may arrive twice).
    let mut stream = Stream {
        reader: BufReader::new(stalled),
        pending: String::new(),
    };
    assert_eq!(read_head(&mut stream.reader).await.0, 200);
    let (mut frames, mut received) = (String::new(), Vec::new());
    while let Some(line) = stream.frame().await {
        if let Some(frame) = frame_of(&line).filter(|f| f.starts_with('a')) {
            frames.push_str(&messages(frame).concat());
        }
    }
    message_bodies(&mut frames, &mut received);
    the_rest_arrives(port, &subscribe, received, total).await;
}

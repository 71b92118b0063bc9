//! The STOMP session and the simple broker over real sockets: CONNECT negotiation, receipts,
//! errors, ordering, limits, origin checks and shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod raw;

use std::time::Duration;

use common::{error_message, no_handlers, nothing_more, TestServer, WAIT};
use futures_util::{SinkExt, StreamExt};
use raw::{closed, raw, read_text, Raw};
use stomp_server::client::StompClient;
use stomp_server::{config::Limits, Command, Frame};
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// A raw WebSocket that has sent CONNECT (STOMP 1.2) and read CONNECTED.
async fn connected_raw(server: &TestServer) -> Raw {
    connected_raw_beating(server, "0,0").await.0
}

/// A raw WebSocket that has sent CONNECT (STOMP 1.2) asking for `heart_beat`, with the
/// CONNECTED frame it read.
async fn connected_raw_beating(server: &TestServer, heart_beat: &str) -> (Raw, String) {
    let mut ws = raw(server).await;
    let connect = format!("CONNECT\naccept-version:1.2\nheart-beat:{heart_beat}\n\n\0");
    ws.send(WsMessage::text(connect)).await.unwrap();
    let connected = read_text(&mut ws).await.unwrap();
    assert!(connected.starts_with("CONNECTED\n"), "{connected}");
    (ws, connected)
}

async fn plain_server() -> TestServer {
    TestServer::start(no_handlers()).await
}

#[tokio::test]
async fn connect_negotiates_version_and_heartbeat() {
    // A floor at the configured heart-beats: the server offers them whatever the client
    // asks (Spring's behaviour; the default floor follows the client, see tcp_e2e.rs and
    // the unit tests of session::connect).
    let floor = Limits::default().with_heartbeat_floor(Duration::from_secs(10));
    let server = TestServer::start(no_handlers().limits(floor)).await;
    let mut ws = raw(&server).await;
    ws.send(WsMessage::text(
        "CONNECT\naccept-version:1.1,1.2\nhost:whatever\nheart-beat:5000,20000\n\n\0",
    ))
    .await
    .unwrap();
    let connected = read_text(&mut ws).await.unwrap();
    assert!(connected.starts_with("CONNECTED\n"), "{connected}");
    assert!(connected.contains("version:1.2\n"));
    assert!(connected.contains("heart-beat:10000,10000\n"));
    assert!(connected.contains("session:"));
    assert!(connected.contains("server:stomp-rs/"));
}

#[tokio::test]
async fn connect_without_accept_version_is_stomp_1_0() {
    let server = plain_server().await;
    let mut ws = raw(&server).await;
    ws.send(WsMessage::text("CONNECT\n\n\0")).await.unwrap();
    let connected = read_text(&mut ws).await.unwrap();
    assert!(connected.contains("version:1.0\n"), "{connected}");
}

#[tokio::test]
async fn unsupported_version_is_refused_with_the_supported_list() {
    let server = plain_server().await;
    let mut ws = raw(&server).await;
    ws.send(WsMessage::text("CONNECT\naccept-version:2.0\n\n\0"))
        .await
        .unwrap();
    let error = read_text(&mut ws).await.unwrap();
    assert!(error.starts_with("ERROR\n"), "{error}");
    assert!(error.contains("version:1.0,1.1,1.2"), "{error}");
    assert!(closed(&mut ws).await);
}

#[tokio::test]
async fn frame_before_connect_is_an_error_and_closes() {
    let server = plain_server().await;
    let mut ws = raw(&server).await;
    ws.send(WsMessage::text("SEND\ndestination:/topic/x\n\nhi\0"))
        .await
        .unwrap();
    let error = read_text(&mut ws).await.unwrap();
    assert!(
        error.contains("message:expected CONNECT or STOMP as the first frame, got SEND"),
        "{error}"
    );
    assert!(closed(&mut ws).await);
}

#[tokio::test]
async fn second_connect_is_an_error() {
    let server = plain_server().await;
    let session = server.connect_anonymous().await;
    session
        .send_frame(Frame::new(Command::Connect).header("accept-version", "1.2"))
        .await
        .unwrap();
    let error = error_message(&session).await;
    assert_eq!(
        error.get("message"),
        Some("already connected: a session accepts one CONNECT")
    );
}

#[tokio::test]
async fn malformed_frame_gets_an_error_and_other_sessions_do_not_notice() {
    let server = plain_server().await;
    let good = server.connect_anonymous().await;
    let mut sub = good.subscribe("/topic/calm").await.unwrap();
    let mut ws = connected_raw(&server).await;
    ws.send(WsMessage::text(
        "SEND\ndestination:/topic/calm\nbad\\tescape:x\n\n\0",
    ))
    .await
    .unwrap();
    let error = read_text(&mut ws).await.unwrap();
    assert!(
        error.starts_with("ERROR\n") && error.contains("escape"),
        "{error}"
    );
    assert!(closed(&mut ws).await);
    good.send("/topic/calm", "still here").await.unwrap();
    assert_eq!(
        sub.next_timeout(WAIT).await.unwrap().body_str(),
        Some("still here")
    );
}

#[tokio::test]
async fn oversize_frame_is_refused_while_it_arrives() {
    let limits = Limits::default().with_message_size(1024);
    let server = TestServer::start(no_handlers().limits(limits)).await;
    let mut ws = connected_raw(&server).await;
    // No NUL yet: the server must not wait for the end of the frame to refuse it.
    ws.send(WsMessage::text(format!(
        "SEND\ndestination:/topic/x\n\n{}",
        "x".repeat(1500)
    )))
    .await
    .unwrap();
    let error = read_text(&mut ws).await.unwrap();
    assert!(
        error.contains("message:frame exceeds 1024 bytes"),
        "{error}"
    );
}

#[tokio::test]
async fn send_to_an_unknown_destination_is_an_error_with_receipt_id() {
    let server = plain_server().await;
    let s = server.connect_anonymous().await;
    s.send_frame(
        Frame::new(Command::Send)
            .header("destination", "/nowhere/x")
            .header("receipt", "r-7"),
    )
    .await
    .unwrap();
    let error = error_message(&s).await;
    assert_eq!(
        error.get("message"),
        Some("no broker handles destination `/nowhere/x`")
    );
    assert_eq!(error.get("receipt-id"), Some("r-7"));
}

#[tokio::test]
async fn send_to_an_application_destination_without_handler_is_an_error() {
    let server = plain_server().await;
    let s = server.connect_anonymous().await;
    s.send("/app/missing", "x").await.unwrap();
    let error = error_message(&s).await;
    assert_eq!(
        error.get("message"),
        Some("no message_mapping handles destination `/app/missing`")
    );
}

#[tokio::test]
async fn unknown_subscription_id_is_an_error() {
    let server = plain_server().await;
    let s = server.connect_anonymous().await;
    s.send_frame(Frame::new(Command::Unsubscribe).header("id", "never"))
        .await
        .unwrap();
    let error = error_message(&s).await;
    assert_eq!(
        error.get("message"),
        Some("no subscription with id `never`")
    );
}

/// `ACK` and `NACK` need a delivered message to name (an unknown id is an `ERROR`); their
/// receipts are checked in `broker_ack.rs`.
#[tokio::test]
async fn receipts_for_every_frame_that_asks() {
    let server = plain_server().await;
    let s = server.connect_anonymous().await;
    for frame in [
        Frame::new(Command::Subscribe)
            .header("destination", "/topic/r")
            .header("id", "a"),
        Frame::new(Command::Send).header("destination", "/topic/r"),
        Frame::new(Command::Begin).header("transaction", "t1"),
        Frame::new(Command::Send)
            .header("destination", "/topic/r")
            .header("transaction", "t1"),
        Frame::new(Command::Commit).header("transaction", "t1"),
        Frame::new(Command::Begin).header("transaction", "t2"),
        Frame::new(Command::Abort).header("transaction", "t2"),
        Frame::new(Command::Unsubscribe).header("id", "a"),
    ] {
        let command = frame.command;
        let receipt = tokio::time::timeout(WAIT, s.send_with_receipt(frame))
            .await
            .unwrap();
        assert!(receipt.is_ok(), "{command}: {receipt:?}");
    }
    s.disconnect().await.unwrap();
}

#[tokio::test]
async fn transactions_hold_sends_until_commit_and_drop_them_on_abort() {
    let server = plain_server().await;
    let s = server.connect_anonymous().await;
    let mut sub = s.subscribe("/topic/tx").await.unwrap();
    s.send_frame(Frame::new(Command::Begin).header("transaction", "t"))
        .await
        .unwrap();
    s.send_frame(
        Frame::new(Command::Send)
            .header("destination", "/topic/tx")
            .header("transaction", "t")
            .with_body("held"),
    )
    .await
    .unwrap();
    nothing_more(&mut sub, "a SEND in a transaction waits for COMMIT").await;
    s.send_frame(Frame::new(Command::Commit).header("transaction", "t"))
        .await
        .unwrap();
    assert_eq!(
        sub.next_timeout(WAIT).await.unwrap().body_str(),
        Some("held")
    );
    s.send_frame(Frame::new(Command::Begin).header("transaction", "u"))
        .await
        .unwrap();
    s.send_frame(
        Frame::new(Command::Send)
            .header("destination", "/topic/tx")
            .header("transaction", "u")
            .with_body("dropped"),
    )
    .await
    .unwrap();
    s.send_frame(Frame::new(Command::Abort).header("transaction", "u"))
        .await
        .unwrap();
    s.send("/topic/tx", "after").await.unwrap();
    assert_eq!(
        sub.next_timeout(WAIT).await.unwrap().body_str(),
        Some("after")
    );
}

#[tokio::test]
async fn pattern_subscriptions_and_fan_out_keep_order() {
    let server = plain_server().await;
    let publisher = server.connect_anonymous().await;
    let mut subs = Vec::new();
    for _ in 0..5 {
        let s = server.connect_anonymous().await;
        let sub = s.subscribe("/topic/prices/**").await.unwrap();
        subs.push((s, sub));
    }
    for i in 0..200 {
        publisher
            .send(&format!("/topic/prices/eur/{}", i % 3), i.to_string())
            .await
            .unwrap();
    }
    for (_, sub) in &mut subs {
        for i in 0..200 {
            let frame = sub.next_timeout(WAIT).await.unwrap();
            assert_eq!(frame.body_str(), Some(i.to_string().as_str()));
        }
    }
}

#[tokio::test]
async fn non_utf8_bodies_travel_in_binary_websocket_messages() {
    let server = plain_server().await;
    let mut ws = connected_raw(&server).await;
    ws.send(WsMessage::text(
        "SUBSCRIBE\nid:0\ndestination:/topic/bin\nreceipt:r\n\n\0",
    ))
    .await
    .unwrap();
    read_text(&mut ws).await.unwrap();
    let mut frame = b"SEND\ndestination:/topic/bin\ncontent-length:3\n\n\xff\x00\xfe\x00".to_vec();
    // And split across two WebSocket messages.
    let tail = frame.split_off(20);
    ws.send(WsMessage::binary(frame)).await.unwrap();
    ws.send(WsMessage::binary(tail)).await.unwrap();
    loop {
        match tokio::time::timeout(WAIT, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            WsMessage::Binary(bytes) => {
                assert!(bytes.starts_with(b"MESSAGE\n"));
                assert!(bytes.ends_with(b"\n\n\xff\x00\xfe\x00"));
                break;
            }
            WsMessage::Text(t) if t.as_str() == "\n" => {}
            other => panic!("expected a binary MESSAGE, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn several_frames_in_one_websocket_message() {
    let server = plain_server().await;
    let mut ws = raw(&server).await;
    ws.send(WsMessage::text(
        "CONNECT\naccept-version:1.2\n\n\0\nSUBSCRIBE\nid:0\ndestination:/topic/m\n\n\0SEND\ndestination:/topic/m\n\none\0SEND\ndestination:/topic/m\n\ntwo\0",
    ))
    .await
    .unwrap();
    let mut seen = String::new();
    while !seen.contains("two") {
        seen.push_str(&read_text(&mut ws).await.unwrap());
    }
    assert!(seen.find("one").unwrap() < seen.find("two").unwrap());
}

#[tokio::test]
async fn origins_are_checked_at_the_handshake() {
    let server = plain_server().await;
    let request = http::Request::builder()
        .uri(server.url())
        .header("Host", format!("127.0.0.1:{}", server.port))
        .header("Origin", "http://evil.example")
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .body(())
        .unwrap();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    match tokio_tungstenite::client_async(request, tcp).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403);
        }
        other => panic!(
            "expected HTTP 403, got {:?}",
            other.map(|(_, r)| r.status())
        ),
    }
    // Same origin is accepted.
    let client = StompClient::new().origin(format!("http://127.0.0.1:{}", server.port));
    assert!(client.connect(&server.url()).await.is_ok());
}

#[tokio::test]
async fn silent_clients_are_closed_after_the_heartbeat_window() {
    let server = TestServer::start(no_handlers().heartbeat(100, 100)).await;
    let (mut ws, _) = connected_raw_beating(&server, "100,0").await;
    // Send nothing: the server expects something every 100 ms and gives up after 2x.
    let error = read_text(&mut ws).await.unwrap();
    assert!(error.contains("no frame or heart-beat received"), "{error}");
    assert!(closed(&mut ws).await);
    assert_eq!(server.stats.snapshot().heartbeat_timeouts, 1);
}

#[tokio::test]
async fn beating_clients_stay_and_idle_sessions_get_heart_beats() {
    // Server: sends every 100 ms, expects every 100 ms (gives up after 200 ms of silence).
    let server = TestServer::start(no_handlers().heartbeat(100, 100)).await;
    let (ws, connected) = connected_raw_beating(&server, "100,100").await;
    assert!(connected.contains("heart-beat:100,100\n"), "{connected}");
    // Beat every 25 ms for eight read windows: the read deadline is moved on, never hit.
    // Meanwhile count the server's EOLs; nothing else is sent to this session.
    let (mut sink, mut stream) = ws.split();
    let beats = tokio::spawn(async move {
        for _ in 0..64 {
            sink.send(WsMessage::text("\n")).await.unwrap();
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        sink.send(WsMessage::text(
            "SUBSCRIBE\nid:0\ndestination:/topic/hb\nreceipt:still-here\n\n\0",
        ))
        .await
        .unwrap();
        sink
    });
    let mut server_beats = 0;
    let receipt = loop {
        match tokio::time::timeout(WAIT, stream.next()).await {
            Ok(Some(Ok(WsMessage::Text(t)))) if t.as_str() == "\n" => server_beats += 1,
            Ok(Some(Ok(WsMessage::Text(t)))) => break t.as_str().to_owned(),
            other => panic!("session ended while the client was beating: {other:?}"),
        }
    };
    let _sink = beats.await.unwrap();
    assert!(
        receipt.starts_with("RECEIPT\nreceipt-id:still-here"),
        "{receipt}"
    );
    assert_eq!(server.stats.snapshot().heartbeat_timeouts, 0);
    // About 16 are due in 1.6 s; a loaded machine may delay some, none would mean no timer.
    assert!(
        server_beats >= 3,
        "only {server_beats} heart-beats from the server"
    );
}

#[tokio::test]
async fn a_header_cannot_forge_lines_for_a_stomp_1_0_subscriber() {
    let server = plain_server().await;
    // A 1.0 subscriber: its frames are never escaped.
    let mut old = raw(&server).await;
    old.send(WsMessage::text("CONNECT\n\n\0")).await.unwrap();
    assert!(read_text(&mut old).await.unwrap().contains("version:1.0"));
    old.send(WsMessage::text(
        "SUBSCRIBE\nid:0\ndestination:/topic/forge\nreceipt:r\n\n\0",
    ))
    .await
    .unwrap();
    read_text(&mut old).await.unwrap();
    // A 1.2 publisher sends a header whose (escaped) value holds line ends and a NUL.
    let mut publisher = connected_raw(&server).await;
    publisher
        .send(WsMessage::text(
            "SEND\ndestination:/topic/forge\nx-note:a\\nforged\\cyes\\r\n\nbody\0",
        ))
        .await
        .unwrap();
    let message = read_text(&mut old).await.unwrap();
    assert!(message.starts_with("MESSAGE\n"), "{message}");
    let head = message.split("\n\n").next().unwrap_or("");
    assert!(
        head.lines().any(|line| line == "x-note:a forged:yes "),
        "{message:?}"
    );
    assert!(
        !head.lines().any(|line| line.starts_with("forged")),
        "{message:?}"
    );
}

#[tokio::test]
async fn slow_consumer_is_cut_off_and_others_keep_their_messages() {
    let limits = Limits::default()
        .with_send_buffer_size(256 * 1024)
        .with_send_time(Duration::from_secs(2));
    let server = TestServer::start(no_handlers().limits(limits)).await;
    // A client that subscribes and then never reads its socket.
    let mut stalled = raw(&server).await;
    stalled
        .send(WsMessage::text("CONNECT\naccept-version:1.2\n\n\0"))
        .await
        .unwrap();
    read_text(&mut stalled).await.unwrap();
    stalled
        .send(WsMessage::text(
            "SUBSCRIBE\nid:0\ndestination:/topic/flood\nreceipt:r\n\n\0",
        ))
        .await
        .unwrap();
    read_text(&mut stalled).await.unwrap();
    let reader = server.connect_anonymous().await;
    let mut sub = reader.subscribe("/topic/flood").await.unwrap();
    let publisher = server.connect_anonymous().await;
    let body = "x".repeat(8 * 1024);
    // 24 MB in all: far more than the stalled socket's kernel buffers plus its 256 KiB queue.
    let total = 3000;
    let consume = tokio::spawn(async move {
        for i in 0..total {
            let frame = sub
                .next_timeout(Duration::from_secs(20))
                .await
                .expect("reader keeps receiving");
            assert!(frame.body_str().unwrap().starts_with(&format!("{i}:")));
        }
    });
    for i in 0..total {
        let frame = Frame::new(Command::Send)
            .header("destination", "/topic/flood")
            .with_body(format!("{i}:{body}"));
        if i % 16 == 15 {
            // Pace the publisher so that the reading subscriber can keep up.
            publisher.send_with_receipt(frame).await.unwrap();
        } else {
            publisher.send_frame(frame).await.unwrap();
        }
    }
    consume.await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while server.stats.snapshot().slow_consumer_closes == 0
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stats = server.stats.snapshot();
    assert_eq!(stats.slow_consumer_closes, 1);
    // Memory stayed bounded: the stalled session's queue filled up to its limit, never past.
    assert!(
        stats.send_buffer_peak_bytes > 128 * 1024 && stats.send_buffer_peak_bytes <= 256 * 1024,
        "peak send buffer {} bytes",
        stats.send_buffer_peak_bytes
    );
    drop(stalled);
}

#[tokio::test]
async fn a_write_stuck_past_the_send_time_limit_closes_the_session() {
    // A queue limit too large to be reached: only the send-time limit can end the session.
    let limits = Limits::default()
        .with_send_buffer_size(256 * 1024 * 1024)
        .with_send_time(Duration::from_millis(300));
    let server = TestServer::start(no_handlers().limits(limits)).await;
    let mut stalled = connected_raw(&server).await;
    stalled
        .send(WsMessage::text(
            "SUBSCRIBE\nid:0\ndestination:/topic/stuck\nreceipt:r\n\n\0",
        ))
        .await
        .unwrap();
    read_text(&mut stalled).await.unwrap();
    let publisher = server.connect_anonymous().await;
    let body = "x".repeat(32 * 1024);
    // Up to 64 MB, far more than loopback socket buffers hold; stop once the session is cut.
    for i in 0..2048 {
        let frame = Frame::new(Command::Send)
            .header("destination", "/topic/stuck")
            .with_body(body.clone());
        publisher.send_with_receipt(frame).await.unwrap();
        if i % 16 == 15 && server.stats.snapshot().slow_consumer_closes > 0 {
            break;
        }
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    while server.stats.snapshot().slow_consumer_closes == 0
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(server.stats.snapshot().slow_consumer_closes, 1);
    // The publisher's session is untouched.
    let receipt = publisher
        .send_with_receipt(Frame::new(Command::Send).header("destination", "/topic/stuck"))
        .await;
    assert!(receipt.is_ok(), "{receipt:?}");
    drop(stalled);
}

#[tokio::test]
async fn shutdown_tells_sessions_and_closes_them() {
    let server = plain_server().await;
    let s = server.connect_anonymous().await;
    let mut sub = s.subscribe("/topic/last-words").await.unwrap();
    // Queued just before shutdown: must still be written before the session closes.
    server
        .template
        .convert_and_send("/topic/last-words", "in flight")
        .unwrap();
    server.shutdown().await;
    assert_eq!(
        sub.next_timeout(WAIT).await.unwrap().body_str(),
        Some("in flight")
    );
    let reason = tokio::time::timeout(WAIT, s.closed()).await.unwrap();
    match reason {
        stomp_server::client::CloseReason::Error { message } => {
            assert_eq!(message, "server is shutting down");
        }
        other => panic!("expected the shutdown ERROR, got {other:?}"),
    }
    assert!(s.is_closed());
}

#[tokio::test]
async fn a_connection_that_never_sends_connect_is_closed() {
    let limits = Limits::default().with_time_to_first_frame(Duration::from_millis(200));
    let server = TestServer::start(no_handlers().limits(limits)).await;
    let mut ws = raw(&server).await;
    assert!(
        closed(&mut ws).await,
        "the server must close a silent handshake"
    );
}

#[tokio::test]
async fn heart_beats_before_connect_do_not_extend_the_wait() {
    const FIRST_FRAME: Duration = Duration::from_secs(1);
    let limits = Limits::default().with_time_to_first_frame(FIRST_FRAME);
    let server = TestServer::start(no_handlers().limits(limits)).await;
    let ws = raw(&server).await;
    let (mut sink, mut stream) = ws.split();
    // An EOL every 20 ms, far more often than the wait, for up to 20 s: without one
    // deadline for the whole wait the session would stay open all that time. The longest
    // gap between two beats is kept: a gap as long as the wait would let a per-read
    // timeout close the session too, and prove nothing.
    let beating = tokio::spawn(async move {
        let mut longest = Duration::ZERO;
        let mut last = std::time::Instant::now();
        for _ in 0..1_000 {
            if sink.send(WsMessage::text("\n")).await.is_err() {
                break;
            }
            longest = longest.max(last.elapsed());
            last = std::time::Instant::now();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        longest
    });
    let ended = tokio::time::timeout(WAIT, async {
        loop {
            match stream.next().await {
                None | Some(Err(_)) | Some(Ok(WsMessage::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "a client sending only heart-beats was never closed"
    );
    let longest = tokio::time::timeout(WAIT, beating)
        .await
        .expect("the beats stop once the session is closed")
        .expect("beating task");
    assert!(
        longest < FIRST_FRAME / 2,
        "inconclusive: the beats stalled for {longest:?}, long enough for a per-read timeout"
    );
}

#[tokio::test]
async fn a_connection_that_never_finishes_its_request_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let limits = Limits::default().with_time_to_first_frame(Duration::from_millis(200));
    let server = TestServer::start(no_handlers().limits(limits)).await;
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    tcp.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // Never the blank line: the server must give up on its own (hyper may answer 408).
    let mut rest = Vec::new();
    let read = tokio::time::timeout(WAIT, tcp.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "a half-sent request held the connection open");
}

#[tokio::test]
async fn connections_waiting_to_connect_count_against_the_session_limit() {
    let limits = Limits::default().with_max_sessions(1);
    let server = TestServer::start(no_handlers().limits(limits)).await;
    // Upgraded but silent: no CONNECT yet, and it holds the only place.
    let silent = raw(&server).await;
    match StompClient::new().connect(&server.url()).await {
        Err(error) => assert!(error.to_string().contains("503"), "{error}"),
        Ok(_) => panic!("a silent connection must hold its place"),
    }
    // Once it is gone, its place is free again.
    drop(silent);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match StompClient::new().connect(&server.url()).await {
            Ok(_) => break,
            Err(error) if tokio::time::Instant::now() < deadline => {
                assert!(error.to_string().contains("503"), "{error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("the place was never freed: {error}"),
        }
    }
}

#[tokio::test]
async fn handshakes_past_the_session_limit_get_503() {
    let limits = Limits::default().with_max_sessions(2);
    let server = TestServer::start(no_handlers().limits(limits)).await;
    let _one = server.connect_anonymous().await;
    let _two = server.connect_anonymous().await;
    match StompClient::new().connect(&server.url()).await {
        Err(error) => assert!(error.to_string().contains("503"), "{error}"),
        Ok(_) => panic!("a third session must be refused"),
    }
    assert_eq!(server.stats.snapshot().rejected_handshakes, 1);
}

#[tokio::test]
async fn other_sessions_can_neither_read_nor_forge_user_destinations() {
    let server = TestServer::start(no_handlers().interceptor(common::login_interceptor)).await;
    let bob = server.connect("bob").await;
    let mut reply = bob.subscribe("/user/queue/reply").await.unwrap();
    let bobs_queue = format!("/queue/reply-user{}", bob.session_id().unwrap());
    // Eve listens to every queue, and tries bob's translated name directly.
    let eve = server.connect("eve").await;
    let mut everything = eve.subscribe("/queue/**").await.unwrap();
    // (A refusal closes the session, so another one tries the direct subscription.)
    let trudy = server.connect("trudy").await;
    let refused = trudy
        .subscribe_with(
            Frame::new(Command::Subscribe).header("destination", &bobs_queue),
            true,
        )
        .await;
    assert!(
        refused.is_err(),
        "subscribing to another session's queue must fail"
    );
    server
        .template
        .convert_and_send_to_user("bob", "/queue/reply", "for bob only")
        .unwrap();
    assert_eq!(
        reply.next_timeout(WAIT).await.unwrap().body_str(),
        Some("for bob only")
    );
    nothing_more(&mut everything, "/queue/** must not see it").await;
    // Forging into bob's queue is refused too (on a fresh session: the refusal closes it).
    let mallory = server.connect("mallory").await;
    let forged = mallory
        .send_with_receipt(
            Frame::new(Command::Send)
                .header("destination", &bobs_queue)
                .with_body("forged"),
        )
        .await;
    assert!(forged.is_err());
    nothing_more(&mut reply, "bob must not get a forged message").await;
    // The broker itself refuses it too: an ordinary publish naming bob's broker destination
    // (here from the application, past the session's check) reaches no user subscription.
    server
        .template
        .convert_and_send(&bobs_queue, "forged by name")
        .unwrap();
    nothing_more(
        &mut reply,
        "a user subscription receives only what was sent to its session",
    )
    .await;
}

#[tokio::test]
async fn a_flooding_session_gets_an_error_and_others_carry_on() {
    let limits = Limits::default().with_max_frames_per_second(50);
    let server = TestServer::start(no_handlers().limits(limits)).await;
    let calm = server.connect_anonymous().await;
    let mut sub = calm.subscribe("/topic/calm").await.unwrap();
    let mut ws = connected_raw(&server).await;
    // 200 frames at once: four times the per-second allowance.
    let flood = "SEND\ndestination:/topic/flood\n\nx\0".repeat(200);
    ws.send(WsMessage::text(flood)).await.unwrap();
    let error = read_text(&mut ws).await.unwrap();
    assert!(
        error.contains("message:more than 50 frames per second"),
        "{error}"
    );
    assert!(closed(&mut ws).await);
    calm.send("/topic/calm", "unaffected").await.unwrap();
    assert_eq!(
        sub.next_timeout(WAIT).await.unwrap().body_str(),
        Some("unaffected")
    );
}

#[tokio::test]
async fn transactions_cannot_hold_memory_without_bound() {
    let limits = Limits::default().with_max_transaction_bytes(2_000);
    let server = TestServer::start(no_handlers().limits(limits)).await;
    let s = server.connect_anonymous().await;
    let held = |tx: &str| {
        Frame::new(Command::Send)
            .header("destination", "/topic/tx-bound")
            .header("transaction", tx)
            .with_body("x".repeat(400))
    };
    // Twice 3 frames of ~450 bytes fit, because COMMIT gives the bytes back.
    for tx in ["t1", "t2"] {
        s.send_with_receipt(Frame::new(Command::Begin).header("transaction", tx))
            .await
            .unwrap();
        for _ in 0..3 {
            s.send_with_receipt(held(tx)).await.unwrap();
        }
        s.send_with_receipt(Frame::new(Command::Commit).header("transaction", tx))
            .await
            .unwrap();
    }
    // Holding more than the limit at once ends the session with an ERROR saying why.
    s.send_with_receipt(Frame::new(Command::Begin).header("transaction", "t3"))
        .await
        .unwrap();
    let mut refused = None;
    for _ in 0..6 {
        if let Err(error) = s.send_with_receipt(held("t3")).await {
            refused = Some(error.to_string());
            break;
        }
    }
    let refused = refused.expect("the transaction limit must be enforced");
    assert!(refused.contains("max_transaction_bytes"), "{refused}");
}

#[tokio::test]
async fn point_to_point_user_queues_take_only_their_sessions_messages() {
    let server = TestServer::start(
        no_handlers()
            .interceptor(common::login_interceptor)
            .point_to_point(["/queue"]),
    )
    .await;
    let bob = server.connect("bob").await;
    let mut reply = bob.subscribe("/user/queue/reply").await.unwrap();
    let bobs_queue = format!("/queue/reply-user{}", bob.session_id().unwrap());
    let refused = server
        .template
        .convert_and_send(&bobs_queue, "forged by name");
    assert!(refused.is_err(), "{refused:?}");
    server
        .template
        .convert_and_send_to_user("bob", "/queue/reply", "for bob")
        .unwrap();
    assert_eq!(
        reply.next_timeout(WAIT).await.unwrap().body_str(),
        Some("for bob")
    );
    nothing_more(&mut reply, "expected nothing").await;
}

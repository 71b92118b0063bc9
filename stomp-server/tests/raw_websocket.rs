//! Raw WebSocket endpoints (`raw_endpoint`, no STOMP) over real sockets with a
//! tokio-tungstenite client: messages both ways, sending to other sessions, the bridge to
//! STOMP destinations both ways, and the limits, origin check and shutdown the STOMP
//! endpoint has.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod raw;

use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use common::{next_body, TestServer, WAIT};
use raw::{client_frame, drained_to_close, raw_upgraded_at, read_head};
use stomp_server::config::Limits;
use stomp_server::websocket::{
    CloseStatus, RawSessions, TextMessage, WebSocketHandler, WebSocketSession,
};
use stomp_server::{message_mapping, Payload, State, StompServer, StompServerBuilder};

/// Answers commands a test sends as text:
/// `echo:X`, `to:ID:X`, `all:X`, `publish:DEST:X`, `spam:N` (N KiB to itself), `close`,
/// `panic`, `who` (the handshake's user). Greets each session with `id:ID`; reports each close on `closed`.
struct Commands {
    closed: mpsc::UnboundedSender<(String, CloseStatus)>,
}

impl WebSocketHandler for Commands {
    async fn after_connection_established(&self, session: &WebSocketSession) {
        let _ = session.send_text(format!("id:{}", session.id()));
    }

    async fn handle_text_message(&self, session: &WebSocketSession, message: TextMessage) {
        let text = message.as_str();
        let (command, rest) = text.split_once(':').unwrap_or((text, ""));
        match command {
            "echo" => {
                let _ = session.send_text(rest);
            }
            "to" => {
                let (id, text) = rest.split_once(':').unwrap();
                let _ = session.sessions().send_text(id, text);
            }
            "all" => {
                session.sessions().broadcast_text(rest);
            }
            "publish" => {
                let (destination, text) = rest.split_once(':').unwrap();
                session
                    .template()
                    .convert_and_send(destination, text)
                    .unwrap();
            }
            "spam" => {
                let kib = "x".repeat(1024);
                for _ in 0..rest.parse::<usize>().unwrap() {
                    if session.send_text(kib.clone()).is_err() {
                        break;
                    }
                }
            }
            "close" => session.close(CloseStatus::new(4001).with_reason("asked to")),
            "who" => {
                let who = session.principal().map_or("anonymous", |p| p.name());
                let _ = session.send_text(format!("you are {who}"));
            }
            "panic" => panic!("the handler was asked to panic"),
            _ => {
                let _ = session.send_text(format!("unknown:{text}"));
            }
        }
    }

    async fn after_connection_closed(&self, session: &WebSocketSession, status: CloseStatus) {
        // Gone from the registry before this is called.
        assert!(session.sessions().get(session.id().as_str()).is_none());
        let _ = self.closed.send((session.id().as_str().to_owned(), status));
    }
}

/// A STOMP handler that hands a message to every raw client.
#[message_mapping("/raw-test/broadcast")]
fn to_raw_clients(Payload(text): Payload<String>, raw: State<RawSessions>) {
    raw.broadcast_text(format!("from stomp: {text}"));
}

type Closed = mpsc::UnboundedReceiver<(String, CloseStatus)>;

fn builder() -> (StompServerBuilder, Closed) {
    let (closed, rx) = mpsc::unbounded_channel();
    let builder = StompServer::builder().raw_endpoint("/raw", Commands { closed });
    (builder, rx)
}

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

/// A raw client, and its session id (from the greeting).
async fn open(server: &TestServer) -> (Ws, String) {
    let tcp = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let url = format!("ws://127.0.0.1:{}/raw", server.port);
    let (mut ws, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
    let greeting = next_text(&mut ws).await.expect("a greeting");
    let id = greeting.strip_prefix("id:").expect("id:ID").to_owned();
    (ws, id)
}

/// The next text message, `None` when the socket closes first or nothing comes in time.
async fn next_text(ws: &mut Ws) -> Option<String> {
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await.ok()?? {
            Ok(WsMessage::Text(text)) => return Some(text.as_str().to_owned()),
            Ok(WsMessage::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// Reads until the server's close frame and returns its code (`None`: no close frame).
async fn close_code(ws: &mut Ws) -> Option<u16> {
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await.ok()?? {
            Ok(WsMessage::Close(frame)) => return frame.map(|f| u16::from(f.code)),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}

async fn say(ws: &mut Ws, text: &str) {
    ws.send(WsMessage::text(text)).await.unwrap();
}

#[tokio::test]
async fn a_session_is_answered_and_reaches_other_sessions_by_id_and_by_broadcast() {
    let (builder, mut closed) = builder();
    let server = TestServer::start(builder).await;
    let (mut a, a_id) = open(&server).await;
    let (mut b, b_id) = open(&server).await;
    assert_ne!(a_id, b_id);
    assert_eq!(server.stats.snapshot().raw_sessions_current, 2);

    say(&mut a, "echo:hello").await;
    assert_eq!(next_text(&mut a).await.as_deref(), Some("hello"));
    say(&mut a, &format!("to:{b_id}:psst")).await;
    assert_eq!(next_text(&mut b).await.as_deref(), Some("psst"));
    say(&mut b, "all:everyone").await;
    assert_eq!(next_text(&mut a).await.as_deref(), Some("everyone"));
    assert_eq!(next_text(&mut b).await.as_deref(), Some("everyone"));

    // The client closes: the handler hears its status, the session leaves the registry.
    a.close(None).await.unwrap();
    let (id, status) = tokio::time::timeout(WAIT, closed.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((id.as_str(), status.code()), (a_id.as_str(), 1005));
    // The handler closes with its own status.
    say(&mut b, "close").await;
    assert_eq!(close_code(&mut b).await, Some(4001));
    let (id, status) = tokio::time::timeout(WAIT, closed.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((id.as_str(), status.code()), (b_id.as_str(), 4001));
    let snapshot = server.stats.snapshot();
    assert_eq!(
        (snapshot.raw_sessions_current, snapshot.raw_sessions_total),
        (0, 2)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn raw_clients_publish_into_stomp_destinations_and_stomp_handlers_reach_them() {
    let (builder, _closed) = builder();
    let server = TestServer::start(builder).await;
    let stomp = server.connect_anonymous().await;
    let mut sub = stomp.subscribe("/topic/raw-test-bridge").await.unwrap();
    let (mut ws, _) = open(&server).await;

    say(&mut ws, "publish:/topic/raw-test-bridge:to stomp").await;
    assert_eq!(next_body(&mut sub).await.1, "to stomp");

    stomp
        .send("/app/raw-test/broadcast", "to raw")
        .await
        .unwrap();
    assert_eq!(
        next_text(&mut ws).await.as_deref(),
        Some("from stomp: to raw")
    );
    // The server's own handle holds the same sessions.
    assert_eq!(server.raw_sessions.len(), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn binary_messages_close_a_text_handler_with_1003() {
    let (builder, mut closed) = builder();
    let server = TestServer::start(builder).await;
    let (mut ws, _) = open(&server).await;
    ws.send(WsMessage::binary(vec![1, 2, 3])).await.unwrap();
    assert_eq!(close_code(&mut ws).await, Some(1003));
    let (_, status) = tokio::time::timeout(WAIT, closed.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), 1003);
    server.shutdown().await;
}

#[tokio::test]
async fn a_message_over_the_size_limit_closes_with_1009_and_others_carry_on() {
    let (builder, _closed) = builder();
    let limits = Limits::default().with_message_size(1024);
    let server = TestServer::start(builder.limits(limits)).await;
    let (mut big, _) = open(&server).await;
    let (mut other, _) = open(&server).await;
    say(&mut big, &format!("echo:{}", "x".repeat(1024 - 5))).await;
    assert_eq!(next_text(&mut big).await.map(|t| t.len()), Some(1024 - 5));
    say(&mut big, &format!("echo:{}", "x".repeat(1024 - 4))).await;
    assert_eq!(close_code(&mut big).await, Some(1009));
    say(&mut other, "echo:still here").await;
    assert_eq!(next_text(&mut other).await.as_deref(), Some("still here"));
    server.shutdown().await;
}

#[tokio::test]
async fn a_reader_that_stops_reading_is_cut_as_a_slow_consumer() {
    let (builder, mut closed) = builder();
    let limits = Limits::default().with_send_buffer_size(64 * 1024);
    let server = TestServer::start(builder.limits(limits)).await;
    let (mut other, _) = open(&server).await;
    // A client with a small receive buffer that asks for 32 MiB and never reads.
    let mut slow = raw_upgraded_at(server.port, "/raw").await;
    slow.write_all(&client_frame(0x81, b"spam:32768"))
        .await
        .unwrap();
    let (_, status) = tokio::time::timeout(WAIT, closed.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), 4500, "{status}");
    let snapshot = server.stats.snapshot();
    assert_eq!(snapshot.slow_consumer_closes, 1);
    assert!(snapshot.send_buffer_peak_bytes <= 64 * 1024);
    assert!(drained_to_close(&mut slow).await, "the connection is cut");
    say(&mut other, "echo:unaffected").await;
    assert_eq!(next_text(&mut other).await.as_deref(), Some("unaffected"));
    server.shutdown().await;
}

#[tokio::test]
async fn a_handshake_from_another_origin_is_refused_with_403() {
    let (builder, _closed) = builder();
    let server = TestServer::start(builder).await;
    let handshake = |origin: String| async move {
        let mut tcp = TcpStream::connect(("127.0.0.1", server.port))
            .await
            .unwrap();
        let request = format!(
            "GET /raw HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: Upgrade\r\n\
             Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: {origin}\r\n\r\n",
            port = server.port
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        read_head(&mut tcp).await
    };
    let refused = handshake("http://evil.example".to_owned()).await;
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    let same = handshake(format!("http://127.0.0.1:{}", server.port)).await;
    assert!(same.starts_with("HTTP/1.1 101"), "{same}");
    assert_eq!(server.stats.snapshot().rejected_handshakes, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn raw_sessions_take_places_under_max_sessions_like_stomp_ones() {
    let (builder, _closed) = builder();
    let server = TestServer::start(builder.limits(Limits::default().with_max_sessions(1))).await;
    let (_ws, _) = open(&server).await;
    let mut tcp = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let request = format!(
        "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        server.port
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let head = read_head(&mut tcp).await;
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_writes_what_is_queued_then_closes_with_1001() {
    let (builder, mut closed) = builder();
    let server = TestServer::start(builder).await;
    let (mut ws, _) = open(&server).await;
    server.raw_sessions.broadcast_text("last words");
    server.shutdown().await;
    assert_eq!(next_text(&mut ws).await.as_deref(), Some("last words"));
    assert_eq!(close_code(&mut ws).await, Some(1001));
    let (_, status) = tokio::time::timeout(WAIT, closed.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), 1001);
}

#[tokio::test]
async fn a_panicking_handler_closes_its_session_with_1011_and_the_server_carries_on() {
    let (builder, _closed) = builder();
    let server = TestServer::start(builder).await;
    let (mut ws, _) = open(&server).await;
    say(&mut ws, "panic").await;
    assert_eq!(close_code(&mut ws).await, Some(1011));
    let (mut again, _) = open(&server).await;
    say(&mut again, "echo:fine").await;
    assert_eq!(next_text(&mut again).await.as_deref(), Some("fine"));
    assert_eq!(server.stats.snapshot().raw_sessions_current, 1);
    server.shutdown().await;
}

#[tokio::test]
async fn a_silent_client_is_pinged_and_closed_when_it_does_not_answer() {
    let (builder, mut closed) = builder();
    // Incoming heart-beat 200 ms: a ping after 200 ms of silence, closed 200 ms later.
    let server = TestServer::start(builder.heartbeat(10_000, 200)).await;
    // Reads the socket by hand: pings are never answered.
    let mut mute = raw_upgraded_at(server.port, "/raw").await;
    let (_, status) = tokio::time::timeout(WAIT, closed.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), 1008, "{status}");
    let (texts, code) = raw::texts_and_close_code(&mut mute).await;
    assert_eq!(code, Some(1008), "{texts:?}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_that_vanishes_without_a_close_frame_is_reported_as_1006() {
    let (builder, mut closed) = builder();
    let server = TestServer::start(builder).await;
    // The end of its stream (FIN), with no close frame before it.
    let mut gone = raw_upgraded_at(server.port, "/raw").await;
    gone.shutdown().await.unwrap();
    let (_, status) = tokio::time::timeout(WAIT, closed.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), 1006, "{status}");
    assert_eq!(server.stats.snapshot().raw_sessions_current, 0);
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_past_the_message_rate_is_closed_with_1008() {
    let (builder, mut closed) = builder();
    let limits = Limits::default().with_max_frames_per_second(5);
    let server = TestServer::start(builder.limits(limits)).await;
    let (mut ws, _) = open(&server).await;
    // 200 messages: 40 seconds' worth, sent at once.
    for _ in 0..200 {
        if ws.feed(WsMessage::text("unknown")).await.is_err() {
            break;
        }
    }
    let _ = ws.flush().await;
    assert_eq!(close_code(&mut ws).await, Some(1008));
    let (_, status) = tokio::time::timeout(WAIT, closed.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), 1008, "{status}");
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_that_answers_the_pings_stays_open_while_silent() {
    let (builder, _closed) = builder();
    // A ping after 1 s of silence; a client that reads answers it (tungstenite pongs).
    let server = TestServer::start(builder.heartbeat(10_000, 1_000)).await;
    let (mut ws, _) = open(&server).await;
    let mut pings = 0;
    let quiet_until = tokio::time::Instant::now() + std::time::Duration::from_millis(3_500);
    while let Ok(next) = tokio::time::timeout_at(quiet_until, ws.next()).await {
        match next {
            Some(Ok(WsMessage::Ping(_))) => pings += 1,
            other => panic!("expected only pings while silent, got {other:?}"),
        }
    }
    assert!(pings >= 1, "the silent client was pinged");
    say(&mut ws, "echo:still open").await;
    assert_eq!(next_text(&mut ws).await.as_deref(), Some("still open"));
    server.shutdown().await;
}

/// Admits `?token=user-NAME` as NAME, `?token=brief-NAME` as NAME for 300 ms, and refuses
/// anything else with 401 before the upgrade.
async fn token_handshake(
    request: stomp_server::handshake::HandshakeRequest,
) -> Result<stomp_server::handshake::Handshake, stomp_server::handshake::HandshakeRejection> {
    use stomp_server::handshake::{Handshake, HandshakeRejection};
    let token = request.query("token").unwrap_or_default();
    let user = |name: &str| Handshake::proceed().user(stomp_server::Principal::new(name));
    if let Some(name) = token.strip_prefix("user-") {
        return Ok(user(name));
    }
    if let Some(name) = token.strip_prefix("brief-") {
        let at = std::time::SystemTime::now() + std::time::Duration::from_millis(300);
        return Ok(user(name).expires_at(at));
    }
    Err(HandshakeRejection::unauthorized("a token is needed"))
}

async fn open_with_token(port: u16, token: &str) -> Result<(Ws, String), u16> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let url = format!("ws://127.0.0.1:{port}/raw?token={token}");
    match tokio_tungstenite::client_async(url, tcp).await {
        Ok((mut ws, _)) => {
            let greeting = next_text(&mut ws).await.expect("a greeting");
            Ok((ws, greeting))
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Err(response.status().as_u16())
        }
        Err(other) => panic!("handshake failed: {other}"),
    }
}

#[tokio::test]
async fn handshake_interceptors_authenticate_raw_sessions_and_their_expiry_closes_them() {
    let (builder, _closed) = builder();
    let server = TestServer::start(builder.handshake_interceptor(token_handshake)).await;
    // Refused before the upgrade: no session, no handler call.
    assert_eq!(
        open_with_token(server.port, "nonsense").await.err(),
        Some(401)
    );
    // The handshake's user is the session's principal.
    let (mut ann, _) = open_with_token(server.port, "user-ann").await.unwrap();
    say(&mut ann, "who").await;
    assert_eq!(next_text(&mut ann).await.as_deref(), Some("you are ann"));
    // Credentials that expire close the session with 1008; the others stay open.
    let (mut bob, _) = open_with_token(server.port, "brief-bob").await.unwrap();
    assert_eq!(close_code(&mut bob).await, Some(1008));
    say(&mut ann, "echo:still here").await;
    assert_eq!(next_text(&mut ann).await.as_deref(), Some("still here"));
}

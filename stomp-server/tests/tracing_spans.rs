//! The `tracing` spans a session and a handler call run in: an application's own log line
//! inside a handler (sync, async, exception handler, subscribe mapping, and the template's
//! sends from it) carries the session's id, user, client address and transport and the
//! handler's mapping and destination (`info,stomp_server::trace=debug`; under plain `info`
//! the session's fields only); raw WebSocket sessions and
//! STOMP over TCP have their span too; and `info` stays quiet under load.
//!
//! Each test captures its own thread's events (a current-thread runtime runs the server
//! and the clients), so the tests run in parallel.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod capture;
mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use capture::{Captured, Log};
use common::sockjs::{messages, xhr_send, Stream};
use common::tcp::TcpServer;
use common::{login_interceptor, next_body, TestServer, WAIT};
use futures_util::{SinkExt, StreamExt};
use stomp_server::client::{StompClient, StompSession};
use stomp_server::handshake::{Handshake, HandshakeRejection, HandshakeRequest};
use stomp_server::interceptor::OutboundContext;
use stomp_server::websocket::{TextMessage, WebSocketHandler, WebSocketSession};
use stomp_server::{
    message_exception_handler, message_mapping, subscribe_mapping, Command, Frame, StompServer,
    StompServerBuilder, Template,
};
use tokio_tungstenite::tungstenite::Message as WsMessage;

#[message_mapping("/trace/sync/{room}")]
fn sync_post(room: String) {
    tracing::info!(%room, "in the sync handler");
}

#[message_mapping("/trace/async/<room>")]
async fn async_post(room: String, template: Template) {
    tokio::task::yield_now().await;
    tracing::info!(%room, "in the async handler");
    let _ = template.convert_and_send(&format!("/topic/trace/{room}"), "from the handler");
}

#[derive(Debug, thiserror::Error)]
#[error("room {0} is closed")]
struct RoomClosed(String);

#[message_mapping("/trace/closed/<room>")]
fn closed_room(room: String) -> Result<(), RoomClosed> {
    Err(RoomClosed(room))
}

#[message_exception_handler]
fn on_closed(error: RoomClosed) {
    tracing::info!(%error, "in the exception handler");
}

#[subscribe_mapping("/trace/history/<room>")]
fn history(room: String) -> Vec<String> {
    tracing::info!(%room, "in the subscribe handler");
    vec![room]
}

#[derive(Debug, thiserror::Error)]
#[error("nobody takes this")]
struct Untaken;

/// Fails with an error no exception handler takes.
#[message_mapping("/trace/untaken")]
fn untaken() -> Result<(), Untaken> {
    Err(Untaken)
}

/// A handler that logs nothing: what the load in `info_is_quiet_under_load` calls.
#[message_mapping("/trace/silent/<n>")]
fn silent(n: u32) -> u32 {
    n
}

/// Logs the messages the async handler sends through the template, as an application's
/// outbound interceptor would.
fn log_template_sends(frame: &mut Frame, _: &OutboundContext<'_>) -> bool {
    if frame
        .destination()
        .is_some_and(|d| d.starts_with("/topic/trace/"))
    {
        tracing::info!("outbound from the template");
    }
    true
}

/// Gives the session the user named by the `user` query parameter, if any.
async fn user_from_query(request: HandshakeRequest) -> Result<Handshake, HandshakeRejection> {
    let handshake = Handshake::proceed();
    Ok(match request.query("user") {
        Some(name) => handshake.user(stomp_server::Principal::new(name)),
        None => handshake,
    })
}

/// What a session's span must say.
struct Expected<'a> {
    session: &'a str,
    user: &'a str,
    ip: IpAddr,
    transport: &'a str,
}

/// `event` happened in the session's span, in a handler span for `mapping` and
/// `destination` inside it.
fn assert_in_handler(event: &Captured, expected: &Expected<'_>, mapping: &str, destination: &str) {
    assert_eq!(
        event.span_names(),
        ["stomp_session", "stomp_handler"],
        "{event:#?}"
    );
    assert_session(event, "stomp_session", expected);
    let handler = |name| event.span_field("stomp_handler", name);
    assert_eq!(handler("mapping"), Some(mapping), "{event:#?}");
    assert_eq!(handler("destination"), Some(destination), "{event:#?}");
}

/// The fields of `event`'s span `span` are `expected`'s.
fn assert_session(event: &Captured, span: &str, expected: &Expected<'_>) {
    let field = |name| event.span_field(span, name);
    assert_eq!(field("session"), Some(expected.session), "{event:#?}");
    assert_eq!(field("user"), Some(expected.user), "{event:#?}");
    assert_eq!(field("transport"), Some(expected.transport), "{event:#?}");
    let remote: SocketAddr = field("remote")
        .expect("remote")
        .parse()
        .expect("an address");
    assert_eq!(remote.ip(), expected.ip, "{event:#?}");
}

fn loopback(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

async fn connect_from(server: &TestServer, login: &str, ip: IpAddr) -> StompSession {
    StompClient::new()
        .login(login, "")
        .bind_addr(ip)
        .connect(&server.url())
        .await
        .expect("connect")
}

async fn send_with_receipt(session: &StompSession, destination: &str) {
    let frame = Frame::new(Command::Send)
        .header("destination", destination)
        .with_body("{}");
    session.send_with_receipt(frame).await.expect("a receipt");
}

fn traced_server() -> StompServerBuilder {
    StompServer::builder()
        .interceptor(login_interceptor)
        .outbound_interceptor(log_template_sends)
}

#[tokio::test]
async fn log_lines_in_every_kind_of_handler_carry_the_session_and_the_handler() {
    let log = Log::default();
    let _guard = log.install_info_and_handler_spans();
    let server = TestServer::start(traced_server()).await;
    let alice = connect_from(&server, "alice", loopback(2)).await;
    let expected = Expected {
        session: alice.session_id().expect("a session id"),
        user: "alice",
        ip: loopback(2),
        transport: "websocket",
    };
    send_with_receipt(&alice, "/app/trace/sync/lobby").await;
    let event = log.only("in the sync handler");
    assert_in_handler(
        &event,
        &expected,
        "/trace/sync/{room}",
        "/app/trace/sync/lobby",
    );

    let mut topic = alice
        .subscribe("/topic/trace/lobby")
        .await
        .expect("subscribe");
    send_with_receipt(&alice, "/app/trace/async/lobby").await;
    let event = log.only("in the async handler");
    assert_in_handler(
        &event,
        &expected,
        "/trace/async/<room>",
        "/app/trace/async/lobby",
    );
    // The template's send from the handler ran inside the handler's span.
    assert_eq!(next_body(&mut topic).await.1, "from the handler");
    let event = log.only("outbound from the template");
    assert_in_handler(
        &event,
        &expected,
        "/trace/async/<room>",
        "/app/trace/async/lobby",
    );

    send_with_receipt(&alice, "/app/trace/closed/attic").await;
    let event = log.only("in the exception handler");
    assert_in_handler(
        &event,
        &expected,
        "/trace/closed/<room>",
        "/app/trace/closed/attic",
    );

    let mut history = alice
        .subscribe("/app/trace/history/lobby")
        .await
        .expect("subscribe");
    assert_eq!(next_body(&mut history).await.1, r#"["lobby"]"#);
    let event = log.only("in the subscribe handler");
    let destination = "/app/trace/history/lobby";
    assert_in_handler(&event, &expected, "/trace/history/<room>", destination);

    // A second session's lines carry its own id, user and address.
    let bob = connect_from(&server, "bob", loopback(3)).await;
    send_with_receipt(&bob, "/app/trace/sync/kitchen").await;
    let event = log
        .events()
        .into_iter()
        .find(|e| e.message() == "in the sync handler" && e.fields.0["room"] == "kitchen")
        .expect("bob's line");
    let bob_expected = Expected {
        session: bob.session_id().expect("a session id"),
        user: "bob",
        ip: loopback(3),
        transport: "websocket",
    };
    assert_ne!(bob_expected.session, expected.session);
    assert_in_handler(
        &event,
        &bob_expected,
        "/trace/sync/{room}",
        "/app/trace/sync/kitchen",
    );
    server.shutdown().await;
}

#[tokio::test]
async fn the_user_a_handshake_interceptor_names_is_on_the_span() {
    let log = Log::default();
    let _guard = log.install_info_and_handler_spans();
    let builder = StompServer::builder().handshake_interceptor(user_from_query);
    let server = TestServer::start(builder).await;
    let carol = StompClient::new()
        .connect(&format!("{}?user=carol", server.url()))
        .await
        .expect("connect");
    send_with_receipt(&carol, "/app/trace/sync/hall").await;
    let expected = Expected {
        session: carol.session_id().expect("a session id"),
        user: "carol",
        ip: loopback(1),
        transport: "websocket",
    };
    let event = log.only("in the sync handler");
    assert_in_handler(
        &event,
        &expected,
        "/trace/sync/{room}",
        "/app/trace/sync/hall",
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_stomp_over_tcp_session_names_its_transport() {
    let log = Log::default();
    let _guard = log.install_info_and_handler_spans();
    let server = TcpServer::start(traced_server()).await;
    let dave = StompClient::new()
        .login("dave", "")
        .bind_addr(loopback(4))
        .connect(&format!("tcp://{}", server.tcp))
        .await
        .expect("connect");
    send_with_receipt(&dave, "/app/trace/sync/cellar").await;
    let expected = Expected {
        session: dave.session_id().expect("a session id"),
        user: "dave",
        ip: loopback(4),
        transport: "tcp",
    };
    let event = log.only("in the sync handler");
    assert_in_handler(
        &event,
        &expected,
        "/trace/sync/{room}",
        "/app/trace/sync/cellar",
    );
    let _ = server.stop.send(());
    let _ = tokio::time::timeout(WAIT, server.task).await;
}

#[tokio::test]
async fn a_sockjs_session_names_its_sockjs_transport() {
    let log = Log::default();
    let _guard = log.install_info_and_handler_spans();
    let server = TestServer::start(traced_server().with_sockjs()).await;
    let port = server.port;
    let mut stream = Stream::open(port, "/ws/000/traced/xhr_streaming").await;
    assert_eq!(stream.frame().await.unwrap(), "h".repeat(2048));
    assert_eq!(stream.frame().await.unwrap(), "o");
    let connect = "CONNECT\naccept-version:1.2\nlogin:frank\nheart-beat:0,0\n\n\0";
    assert_eq!(xhr_send(port, "traced", &[connect]).await, 204);
    let connected = messages(&stream.frame().await.unwrap()).concat();
    let session = connected
        .lines()
        .find_map(|line| line.strip_prefix("session:"))
        .expect("a session header")
        .to_owned();
    let send = "SEND\ndestination:/app/trace/sync/porch\nreceipt:r1\n\n{}\0";
    assert_eq!(xhr_send(port, "traced", &[send]).await, 204);
    assert!(messages(&stream.frame().await.unwrap())[0].starts_with("RECEIPT\n"));
    let expected = Expected {
        session: &session,
        user: "frank",
        ip: loopback(1),
        transport: "sockjs/xhr_streaming",
    };
    let event = log.only("in the sync handler");
    assert_in_handler(
        &event,
        &expected,
        "/trace/sync/{room}",
        "/app/trace/sync/porch",
    );
    server.shutdown().await;
}

/// Logs each text message it is sent, and greets each session with its id.
struct Logging;

impl WebSocketHandler for Logging {
    async fn after_connection_established(&self, session: &WebSocketSession) {
        let _ = session.send_text(session.id().as_str());
    }

    async fn handle_text_message(&self, session: &WebSocketSession, message: TextMessage) {
        tracing::info!(text = message.as_str(), "in the raw handler");
        let _ = session.send_text("logged");
    }
}

#[tokio::test]
async fn a_raw_websocket_session_has_its_span() {
    let log = Log::default();
    let _guard = log.install_info_and_handler_spans();
    let builder = StompServer::builder()
        .raw_endpoint("/raw", Logging)
        .handshake_interceptor(user_from_query);
    let server = TestServer::start(builder).await;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(loopback(5), 0)).unwrap();
    let tcp = socket
        .connect(SocketAddr::new(loopback(1), server.port))
        .await
        .unwrap();
    let local = tcp.local_addr().unwrap();
    let url = format!("ws://127.0.0.1:{}/raw?user=erin", server.port);
    let (mut ws, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
    let id = next_text(&mut ws).await;
    ws.send(WsMessage::text("hello")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "logged");
    let event = log.only("in the raw handler");
    assert_eq!(event.span_names(), ["websocket_session"], "{event:#?}");
    let expected = Expected {
        session: &id,
        user: "erin",
        ip: loopback(5),
        transport: "websocket",
    };
    assert_session(&event, "websocket_session", &expected);
    let remote = event.span_field("websocket_session", "remote");
    assert_eq!(remote, Some(local.to_string().as_str()));
    server.shutdown().await;
}

async fn next_text(ws: &mut tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>) -> String {
    loop {
        let message = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a message in time")
            .expect("open")
            .expect("no error");
        if let WsMessage::Text(text) = message {
            return text.as_str().to_owned();
        }
    }
}

/// Sessions connect, subscribe, send `messages` each to the broker and to a handler, read
/// every delivery, and disconnect: what the server logs at INFO or above meanwhile.
async fn load(server: &TestServer, log: &Log, sessions: usize, messages: usize) -> Vec<Captured> {
    let before = log.events().len();
    let mut clients = Vec::new();
    for n in 0..sessions {
        let session = server.connect(&format!("load-{n}")).await;
        let topic = session.subscribe("/topic/quiet").await.expect("subscribe");
        clients.push((session, topic));
    }
    for (session, _) in &clients {
        for m in 0..messages {
            session
                .send("/topic/quiet", format!("m{m}"))
                .await
                .expect("send");
            send_with_receipt(session, &format!("/app/trace/silent/{m}")).await;
        }
    }
    for (_, topic) in &mut clients {
        for _ in 0..sessions * messages {
            let _ = next_body(topic).await;
        }
    }
    for (session, _) in clients {
        session.disconnect().await.expect("disconnect");
    }
    let events = log.events();
    events[before..]
        .iter()
        .filter(|e| e.target.starts_with("stomp_server"))
        .cloned()
        .collect()
}

/// The handler span is at DEBUG (each one costs the fmt subscriber a formatted string per
/// message, a fifth of the chat benchmark's CPU per delivery at INFO): under a plain
/// `info` filter a handler's line carries its session's span only.
#[tokio::test]
async fn under_info_a_handler_line_carries_its_session_span_and_no_handler_span() {
    let log = Log::default();
    let _guard = log.install_info();
    let server = TestServer::start(traced_server()).await;
    let bob = connect_from(&server, "bob", loopback(4)).await;
    let expected = Expected {
        session: bob.session_id().expect("a session id"),
        user: "bob",
        ip: loopback(4),
        transport: "websocket",
    };
    send_with_receipt(&bob, "/app/trace/sync/lobby").await;
    let event = log.only("in the sync handler");
    assert_eq!(event.span_names(), ["stomp_session"], "{event:#?}");
    assert_session(&event, "stomp_session", &expected);
    server.shutdown().await;
}

#[tokio::test]
async fn info_is_quiet_under_load() {
    let log = Log::default();
    let _guard = log.install_info();
    let server = TestServer::start(traced_server()).await;
    // Started: the start-up lines are logged before the load is counted.
    let first = server.connect("first").await;
    first.disconnect().await.expect("disconnect");
    assert!(log
        .events()
        .iter()
        .any(|e| e.message() == "serving HTTP and WebSocket"));
    // Twice the messages: a line per frame or message would show up in either run, and the
    // server's own lines must not grow with the load.
    for messages in [10, 20] {
        let logged = load(&server, &log, 4, messages).await;
        assert!(
            logged.is_empty(),
            "{messages} messages × 4 sessions logged at INFO or above: {:#?}",
            logged
                .iter()
                .map(|e| (e.level, e.message().to_owned()))
                .collect::<Vec<_>>()
        );
    }
    server.shutdown().await;
}

#[tokio::test]
async fn a_handler_error_repeated_by_a_client_is_warned_about_now_and_then() {
    let log = Log::default();
    let _guard = log.install_info_and_handler_spans();
    let builder = traced_server().unhandled_errors(stomp_server::config::UnhandledErrors::LogOnly);
    let server = TestServer::start(builder).await;
    let session = server.connect("mallory").await;
    let sent = 20;
    for _ in 0..sent {
        send_with_receipt(&session, "/app/trace/untaken").await;
    }
    let warned: Vec<Captured> = log
        .events()
        .into_iter()
        .filter(|e| e.message() == "handler error not handled by any #[message_exception_handler]")
        .collect();
    // One warning per 10 s for the whole server: the first, and another only if sending 20
    // frames took longer than that.
    assert!(
        !warned.is_empty() && warned.len() < sent / 2,
        "{} warnings for {sent} errors",
        warned.len()
    );
    assert_eq!(warned[0].level, tracing::Level::WARN);
    assert_eq!(
        warned[0].span_field("stomp_handler", "mapping"),
        Some("/trace/untaken")
    );
    server.shutdown().await;
}

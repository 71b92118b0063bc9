//! Handshake interceptors (refusal before the upgrade, the user and attributes a session
//! starts with, the time limit), async inbound interceptors (no blocked runtime thread, frame
//! order, the time limit), credentials that expire, and ending sessions from application
//! code (`SessionControl`), against a real server over TCP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use common::{error_message, next_body, no_handlers, WAIT};
use stomp_server::client::{ClientError, StompClient, StompSession};
use stomp_server::config::Limits;
use stomp_server::handshake::{Handshake, HandshakeRejection, HandshakeRequest};
use stomp_server::interceptor::{InboundMessage, InterceptorContext, Rejection};
use stomp_server::{Command, Frame, Principal, SessionControl, SessionId, StompServerBuilder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;

/// A running server and its [`SessionControl`]; stops when dropped.
struct Running {
    addr: SocketAddr,
    control: SessionControl,
    template: stomp_server::Template,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start(builder: StompServerBuilder) -> Running {
    let server = builder.stats_log_interval(None).build().unwrap();
    let listener = server.bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let control = server.sessions();
    let template = server.template();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run(listener, async move {
        let _ = stopped.await;
    }));
    Running {
        addr,
        control,
        template,
        _stop: stop,
    }
}

impl Running {
    fn url(&self, path_and_query: &str) -> String {
        format!("ws://{}{path_and_query}", self.addr)
    }

    /// A raw HTTP/1.1 request (a WebSocket handshake when `upgrade`): the status and body.
    async fn raw(&self, method: &str, path: &str, upgrade: bool, extra: &str) -> (u16, String) {
        let mut tcp = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let handshake = if upgrade {
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        } else {
            "Content-Length: 0\r\n"
        };
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{handshake}{extra}Connection: close\r\n\r\n",
            self.addr
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        let mut buf = [0u8; 4096];
        // Up to the end of the answer, or what came before a 101's WebSocket traffic.
        loop {
            let read = tokio::time::timeout(WAIT, tcp.read(&mut buf)).await;
            match read {
                Ok(Ok(n)) if n > 0 => response.extend_from_slice(&buf[..n]),
                _ => break,
            }
            if response.starts_with(b"HTTP/1.1 101")
                && response.windows(4).any(|w| w == b"\r\n\r\n")
            {
                break;
            }
        }
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = text.split(' ').nth(1).unwrap_or("0").parse().unwrap_or(0);
        let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
        (status, body)
    }
}

/// The user's name carried in a cookie.
#[derive(Debug, PartialEq, Eq)]
struct FromCookie(String);

/// Tokens `ok-<name>` in `?access_token=` or the `token` cookie; a token that is not `ok-..`
/// gets 401; no token: the handshake goes on without a user. `?slow` never answers.
async fn token_handshake(request: HandshakeRequest) -> Result<Handshake, HandshakeRejection> {
    if request.query("slow").is_some() {
        std::future::pending::<()>().await;
    }
    let from_cookie = request.cookie("token").map(str::to_owned);
    if let Some(token) = &from_cookie {
        request.attributes().insert(FromCookie(token.clone()));
    }
    let Some(token) = request.query("access_token").or(from_cookie) else {
        return Ok(Handshake::proceed());
    };
    match token.strip_prefix("ok-") {
        Some(name) => Ok(Handshake::proceed().user(Principal::new(name))),
        None => Err(HandshakeRejection::unauthorized(format!(
            "invalid token `{token}`"
        ))),
    }
}

/// On CONNECT: `as:<name>` overrides the user; `expect-cookie` must match the attribute the
/// handshake stored; `expires-in-ms` sets the credentials' expiry.
fn connect_checks(
    frame: &mut Frame,
    context: &mut InterceptorContext<'_>,
) -> Result<(), Rejection> {
    if frame.command != Command::Connect {
        return Ok(());
    }
    if let Some(name) = frame.get("as") {
        *context.principal = Some(Principal::new(name));
    }
    if let Some(expected) = frame.get("expect-cookie") {
        let stored = context.attributes.get::<FromCookie>();
        if stored.as_deref().map(|c| c.0.as_str()) != Some(expected) {
            return Err(Rejection::new("the handshake's attribute is missing"));
        }
    }
    if let Some(ms) = frame.get("expires-in-ms").and_then(|v| v.parse().ok()) {
        context.expires_at = Some(SystemTime::now() + Duration::from_millis(ms));
    }
    Ok(())
}

fn user(session: &StompSession) -> Option<&str> {
    session.connected_frame().get("user-name")
}

#[tokio::test]
async fn a_handshake_interceptor_refuses_before_the_upgrade_or_names_the_user() {
    let server = start(
        no_handlers()
            .handshake_interceptor(token_handshake)
            .interceptor(connect_checks),
    )
    .await;
    let (status, body) = server.raw("GET", "/ws?access_token=forged", true, "").await;
    assert_eq!((status, body.as_str()), (401, "invalid token `forged`"));
    let (status, _) = server
        .raw("GET", "/ws", true, "Cookie: a=1; token=stolen\r\n")
        .await;
    assert_eq!(status, 401, "a bad cookie too");
    // A request that is no handshake is answered as before, interceptors or not.
    let (status, _) = server
        .raw("GET", "/ws?access_token=forged", false, "")
        .await;
    assert_eq!(status, 400);
    let by_query = StompClient::new()
        .connect(&server.url("/ws?access_token=ok-alice"))
        .await
        .unwrap();
    assert_eq!(user(&by_query), Some("alice"));
    let by_cookie = StompClient::new()
        .handshake_header("Cookie", "token=ok-bob")
        .header("expect-cookie", "ok-bob")
        .connect(&server.url("/ws"))
        .await
        .unwrap();
    assert_eq!(
        user(&by_cookie),
        Some("bob"),
        "and CONNECT saw its attribute"
    );
    let overridden = StompClient::new()
        .header("as", "carol")
        .connect(&server.url("/ws?access_token=ok-alice"))
        .await
        .unwrap();
    assert_eq!(user(&overridden), Some("carol"), "CONNECT may override");
    let anonymous = StompClient::new()
        .connect(&server.url("/ws"))
        .await
        .unwrap();
    assert_eq!(user(&anonymous), None);
    // Bob's session holds the user through to the user registry: a user destination
    // reaches it.
    let mut mine = by_cookie.subscribe("/user/queue/notes").await.unwrap();
    server
        .template
        .convert_and_send_to_user("bob", "/queue/notes", "for bob")
        .unwrap();
    assert_eq!(next_body(&mut mine).await.1, "for bob");
}

#[tokio::test]
async fn a_handshake_interceptor_sees_method_path_headers_and_the_client_address() {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = Arc::clone(&seen);
    let server = start(
        no_handlers().handshake_interceptor(move |request: HandshakeRequest| {
            let record = Arc::clone(&record);
            async move {
                record.lock().unwrap().push(format!(
                    "{} {} {} {}",
                    request.method(),
                    request.path(),
                    request.header("x-app").unwrap_or("-"),
                    request.remote_addr().ip()
                ));
                Ok(Handshake::proceed())
            }
        }),
    )
    .await;
    let session = StompClient::new()
        .handshake_header("X-App", "demo")
        .connect(&server.url("/ws?x=1"))
        .await
        .unwrap();
    session.disconnect().await.unwrap();
    assert_eq!(*seen.lock().unwrap(), ["GET /ws demo 127.0.0.1"]);
    // A cross-origin or malformed handshake is refused as before, without the application's
    // interceptor running for it.
    let evil = "Origin: http://evil.example\r\n";
    assert_eq!(server.raw("GET", "/ws", true, evil).await.0, 403);
    assert_eq!(server.raw("POST", "/ws", true, "").await.0, 400);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_handshake_interceptor_past_its_time_gets_503_and_others_go_on() {
    let limits = Limits::default().with_interceptor_time(Duration::from_millis(200));
    let server = start(
        no_handlers()
            .limits(limits)
            .handshake_interceptor(token_handshake),
    )
    .await;
    let (status, body) = server.raw("GET", "/ws?slow", true, "").await;
    assert_eq!(status, 503);
    assert!(body.contains("in time"), "{body}");
    let fine = StompClient::new()
        .connect(&server.url("/ws?access_token=ok-dave"))
        .await
        .unwrap();
    assert_eq!(user(&fine), Some("dave"));
}

#[tokio::test]
async fn sockjs_sessions_are_checked_at_the_websocket_and_at_the_first_xhr() {
    let server = start(no_handlers().with_sockjs().handshake_interceptor(
        |request: HandshakeRequest| async move {
            match request.query("access_token").as_deref() {
                Some("good") => Ok(Handshake::proceed().user(Principal::new("sam"))),
                _ => Err(HandshakeRejection::unauthorized("a token is needed")),
            }
        },
    ))
    .await;
    let (status, _) = server
        .raw("GET", "/ws/000/aaaa/websocket?access_token=bad", true, "")
        .await;
    assert_eq!(status, 401);
    let (status, _) = server
        .raw("GET", "/ws/000/bbbb/websocket?access_token=good", true, "")
        .await;
    assert_eq!(status, 101);
    let (status, body) = server.raw("POST", "/ws/000/cccc/xhr", false, "").await;
    assert_eq!((status, body.as_str()), (401, "a token is needed"));
    let streaming = server
        .raw("POST", "/ws/000/eeee/xhr_streaming", false, "")
        .await;
    assert_eq!(streaming.0, 401);
    let (status, body) = server
        .raw("POST", "/ws/000/dddd/xhr?access_token=good", false, "")
        .await;
    assert_eq!((status, body.as_str()), (200, "o\n"));
    // The greeting and info are not sessions: nothing to check.
    assert_eq!(server.raw("GET", "/ws/info", false, "").await.0, 200);
    // Raw STOMP over WebSocket under the SockJS path is checked too.
    let sockjs_raw = StompClient::new()
        .connect(&server.url("/ws/websocket?access_token=good"))
        .await
        .unwrap();
    assert_eq!(user(&sockjs_raw), Some("sam"));
}

#[tokio::test(flavor = "current_thread")]
async fn an_async_connect_lookup_does_not_block_the_runtime() {
    // One runtime thread: if the CONNECT lookup blocked it, the other session could not
    // exchange a message until the lookup ended, and the lookup only ends after that.
    let gate = Arc::new(Notify::new());
    let lookups = Arc::new(AtomicUsize::new(0));
    let (open, counted) = (Arc::clone(&gate), Arc::clone(&lookups));
    let server = start(
        no_handlers().async_interceptor(move |mut message: InboundMessage| {
            let (open, counted) = (Arc::clone(&open), Arc::clone(&counted));
            async move {
                if message.frame.command == Command::Connect {
                    if message.frame.get("login") == Some("slow") {
                        counted.fetch_add(1, Ordering::SeqCst);
                        open.notified().await;
                    }
                    let name = message.frame.get("login").unwrap_or("anon").to_owned();
                    message.principal = Some(Principal::new(name));
                }
                Ok(message)
            }
        }),
    )
    .await;
    let quick = StompClient::new()
        .login("quick", "")
        .connect(&server.url("/ws"))
        .await
        .unwrap();
    assert_eq!(user(&quick), Some("quick"));
    let url = server.url("/ws");
    let slow = tokio::spawn(async move {
        StompClient::new()
            .login("slow", "")
            .connect_timeout(Duration::from_secs(30))
            .connect(&url)
            .await
    });
    while lookups.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut sub = quick.subscribe("/topic/async-connect").await.unwrap();
    quick
        .send("/topic/async-connect", "meanwhile")
        .await
        .unwrap();
    assert_eq!(next_body(&mut sub).await.1, "meanwhile");
    assert!(
        !slow.is_finished(),
        "the slow CONNECT is still being looked up"
    );
    gate.notify_one();
    let slow = tokio::time::timeout(WAIT, slow)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(user(&slow), Some("slow"));
}

#[tokio::test]
async fn async_interceptors_keep_frame_order_and_may_refuse() {
    let server = start(
        no_handlers().async_interceptor(|mut message: InboundMessage| async move {
            if message.frame.command == Command::Send {
                let body = String::from_utf8_lossy(&message.frame.body).into_owned();
                // Earlier frames wait longer: order holds only if each is awaited in turn.
                let n: u64 = body.parse().unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(20u64.saturating_sub(n))).await;
                if body == "forbidden" {
                    return Err(Rejection::new("no forbidden bodies"));
                }
                message.frame.headers.set("x-checked", "yes");
            }
            Ok(message)
        }),
    )
    .await;
    let session = StompClient::new()
        .connect(&server.url("/ws"))
        .await
        .unwrap();
    let mut sub = session.subscribe("/topic/async-order").await.unwrap();
    for n in 0..20 {
        session
            .send("/topic/async-order", n.to_string())
            .await
            .unwrap();
    }
    for n in 0..20 {
        let (frame, body) = next_body(&mut sub).await;
        assert_eq!(body, n.to_string());
        assert_eq!(frame.get("x-checked"), Some("yes"));
    }
    session
        .send("/topic/async-order", "forbidden")
        .await
        .unwrap();
    let error = error_message(&session).await;
    assert_eq!(error.get("message"), Some("no forbidden bodies"));
}

#[tokio::test]
async fn an_async_interceptor_past_its_time_ends_the_session_with_an_error() {
    let limits = Limits::default().with_interceptor_time(Duration::from_millis(200));
    let server = start(no_handlers().limits(limits).async_interceptor(
        |message: InboundMessage| async move {
            if message.frame.destination() == Some("/topic/never") {
                std::future::pending::<()>().await;
            }
            Ok(message)
        },
    ))
    .await;
    let stuck = StompClient::new()
        .connect(&server.url("/ws"))
        .await
        .unwrap();
    let other = StompClient::new()
        .connect(&server.url("/ws"))
        .await
        .unwrap();
    stuck.send("/topic/never", "x").await.unwrap();
    let error = error_message(&stuck).await;
    assert_eq!(error.get("message"), Some("interceptor timed out"));
    tokio::time::timeout(WAIT, stuck.closed()).await.unwrap();
    let mut sub = other.subscribe("/topic/async-fine").await.unwrap();
    other.send("/topic/async-fine", "fine").await.unwrap();
    assert_eq!(next_body(&mut sub).await.1, "fine");
    // And on CONNECT: refused with the same text.
    let server = start(no_handlers().limits(limits).async_interceptor(
        |_: InboundMessage| async move {
            std::future::pending::<()>().await;
            Err(Rejection::new("unreachable"))
        },
    ))
    .await;
    match StompClient::new().connect(&server.url("/ws")).await {
        Err(ClientError::Refused { message, .. }) => assert_eq!(message, "interceptor timed out"),
        other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn a_session_whose_credentials_expire_gets_an_error_and_is_closed() {
    let soon = SystemTime::now() + Duration::from_millis(500);
    let server = start(
        no_handlers()
            .handshake_interceptor(move |request: HandshakeRequest| async move {
                let handshake = Handshake::proceed().user(Principal::new("eve"));
                Ok(match request.query("short") {
                    Some(_) => handshake.expires_at(soon),
                    None => handshake,
                })
            })
            .interceptor(connect_checks),
    )
    .await;
    let lasting = StompClient::new()
        .connect(&server.url("/ws"))
        .await
        .unwrap();
    let from_handshake = StompClient::new()
        .connect(&server.url("/ws?short"))
        .await
        .unwrap();
    let from_connect = StompClient::new()
        .header("expires-in-ms", "300")
        .connect(&server.url("/ws"))
        .await
        .unwrap();
    for expiring in [&from_handshake, &from_connect] {
        let error = error_message(expiring).await;
        assert_eq!(error.get("message"), Some("credentials expired"));
        tokio::time::timeout(WAIT, expiring.closed()).await.unwrap();
    }
    let already = StompClient::new()
        .header("expires-in-ms", "0")
        .connect(&server.url("/ws"))
        .await
        .unwrap();
    assert_eq!(
        error_message(&already).await.get("message"),
        Some("credentials expired")
    );
    let mut sub = lasting.subscribe("/topic/expiry").await.unwrap();
    lasting.send("/topic/expiry", "still here").await.unwrap();
    assert_eq!(next_body(&mut sub).await.1, "still here");
}

#[tokio::test]
async fn application_code_ends_one_session_or_every_session_of_a_user() {
    let server = start(no_handlers().interceptor(common::login_interceptor)).await;
    let connect = |name: &'static str| {
        let url = server.url("/ws");
        async move {
            StompClient::new()
                .login(name, "")
                .connect(&url)
                .await
                .unwrap()
        }
    };
    let (alice1, alice2, alice3, bob) = (
        connect("alice").await,
        connect("alice").await,
        connect("alice").await,
        connect("bob").await,
    );
    let control = &server.control;
    let id = |s: &StompSession| SessionId::new(s.session_id().unwrap());
    assert!(control.close_session(&id(&alice1), "kicked by an admin"));
    let error = error_message(&alice1).await;
    assert_eq!(error.get("message"), Some("kicked by an admin"));
    tokio::time::timeout(WAIT, alice1.closed()).await.unwrap();
    assert!(!control.close_session(&SessionId::new("no-such-session"), "x"));
    // The others go on.
    let mut sub = alice2.subscribe("/topic/control").await.unwrap();
    bob.send("/topic/control", "one").await.unwrap();
    assert_eq!(next_body(&mut sub).await.1, "one");
    assert_eq!(control.close_user("alice", "account banned"), 2);
    for session in [&alice2, &alice3] {
        let error = error_message(session).await;
        assert_eq!(error.get("message"), Some("account banned"));
        tokio::time::timeout(WAIT, session.closed()).await.unwrap();
    }
    assert_eq!(control.close_user("nobody", "x"), 0);
    let mut bobs = bob.subscribe("/topic/control-bob").await.unwrap();
    bob.send("/topic/control-bob", "two").await.unwrap();
    assert_eq!(next_body(&mut bobs).await.1, "two");
    let ended = control.close_matching("matched", |session| {
        session.principal.map(Principal::name) == Some("bob")
    });
    assert_eq!(ended, 1);
    assert_eq!(error_message(&bob).await.get("message"), Some("matched"));
}

/// A handler that ends every session of a user, through `State<SessionControl>`.
mod kick {
    use stomp_server::{message_mapping, SessionControl, State};

    #[message_mapping("/kick/<user>")]
    fn kick(user: String, control: State<SessionControl>) {
        control.close_user(&user, "kicked by a moderator");
    }
}

#[tokio::test]
async fn a_handler_ends_sessions_through_state_session_control() {
    let handlers =
        stomp_server::handler::Handlers::collected_in(&format!("{}::kick", module_path!()));
    assert_eq!(handlers.mappings().len(), 1);
    let server = start(
        stomp_server::StompServer::builder()
            .handlers(handlers)
            .interceptor(common::login_interceptor),
    )
    .await;
    let connect = |name: &'static str| {
        let url = server.url("/ws");
        async move {
            StompClient::new()
                .login(name, "")
                .connect(&url)
                .await
                .unwrap()
        }
    };
    let (moderator, troll) = (connect("mod").await, connect("troll").await);
    moderator.send("/app/kick/troll", "").await.unwrap();
    assert_eq!(
        error_message(&troll).await.get("message"),
        Some("kicked by a moderator")
    );
    tokio::time::timeout(WAIT, troll.closed()).await.unwrap();
    assert!(!moderator.is_closed());
}

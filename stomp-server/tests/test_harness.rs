//! The test harness (`stomp_server::test`) itself: each assertion passes when it should and
//! fails, with a message naming what went wrong, when it should not; users come through the
//! application's own CONNECT and handshake, or as a mock user without them; sessions see
//! each other; hundreds of in-memory sessions run at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures_util::FutureExt;
use serde::{Deserialize, Serialize};
use stomp_server::authorization::{MessageSecurity, MessageType};
use stomp_server::client::{ClientError, CloseReason, StompClient};
use stomp_server::handshake::{Handshake, HandshakeRejection, HandshakeRequest};
use stomp_server::interceptor::{InterceptorContext, Rejection};
use stomp_server::test::TestServer;
use stomp_server::{
    message_mapping, send_to, send_to_user, Command, Frame, MessageHeaders, Payload, Principal,
    StompServer, StompServerBuilder,
};

/// A chat note, as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Note {
    text: String,
}

#[message_mapping("/harness/echo/<room>")]
#[send_to("/topic/harness/echo/<room>")]
fn echo(room: String, Payload(note): Payload<Note>) -> Note {
    Note {
        text: format!("{room}: {}", note.text),
    }
}

/// Who the handler's `Principal` is, and whether it is in the role ADMIN.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Identity {
    name: String,
    admin: bool,
}

#[message_mapping("/harness/whoami")]
#[send_to_user("/queue/harness/whoami", broadcast = false)]
fn whoami(user: Principal) -> Identity {
    Identity {
        name: user.name().to_owned(),
        admin: user.has_role("ADMIN"),
    }
}

#[message_mapping("/harness/headers")]
#[send_to("/topic/harness/headers")]
fn headers(headers: MessageHeaders) -> String {
    headers.get("x-tenant").unwrap_or("none").to_owned()
}

/// The application's authentication: CONNECT's `login` names the user, and a CONNECT
/// without one is refused.
fn login_required(
    frame: &mut Frame,
    context: &mut InterceptorContext<'_>,
) -> Result<(), Rejection> {
    if frame.command != Command::Connect {
        return Ok(());
    }
    match frame.get("login").filter(|login| !login.is_empty()) {
        Some(login) => {
            *context.principal = Some(Principal::new(login));
            Ok(())
        }
        None => Err(Rejection::new("login required")),
    }
}

/// The harness's server for most tests: handlers of this file, `/topic/harness/secret`
/// denied to everyone by the rules.
fn app() -> StompServerBuilder {
    let rules = MessageSecurity::builder()
        .type_matchers([MessageType::Connect, MessageType::Disconnect])
        .permit_all()
        .dest_matchers(["/topic/harness/secret"])
        .deny_all()
        .any_message()
        .permit_all()
        .build()
        .unwrap();
    StompServer::builder().message_security(rules)
}

fn harness(builder: StompServerBuilder) -> TestServer {
    TestServer::build(builder).expect("the server builds")
}

/// Runs `assertion` on a task of its own and returns its panic message; fails when it does
/// not panic.
async fn failure_of(assertion: impl Future<Output = ()> + Send + 'static) -> String {
    let error = tokio::spawn(assertion)
        .await
        .expect_err("the assertion must fail");
    let payload = error.into_panic();
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .expect("a panic message")
}

#[tokio::test]
async fn expect_message_gets_what_a_handler_sends_and_decodes_its_json() {
    let server = harness(app());
    let mut alice = server.connect().await;
    alice.subscribe("/topic/harness/echo/rust").await;
    let note = Note { text: "hi".into() };
    alice.send_json("/app/harness/echo/rust", &note).await;
    let message = alice.expect_message("/topic/harness/echo/rust").await;
    assert_eq!(message.json::<Note>().text, "rust: hi");
    assert_eq!(message.destination(), "/topic/harness/echo/rust");
    assert!(message
        .content_type()
        .unwrap()
        .starts_with("application/json"));

    // A plain body, a header of one's own, and a receipt once the handler has run.
    alice.subscribe("/topic/harness/headers").await;
    alice
        .send_with_headers("/app/harness/headers", &[("x-tenant", "acme")], "")
        .await;
    assert_eq!(
        alice.expect_message("/topic/harness/headers").await.text(),
        "acme"
    );
    let receipt = alice.send_with_receipt("/app/harness/headers", "").await;
    assert_eq!(receipt.command, Command::Receipt);
    assert_eq!(
        alice.expect_message("/topic/harness/headers").await.text(),
        "none"
    );
    alice.send("/topic/harness/plain", "plain text").await;
    alice.disconnect().await;
}

#[tokio::test]
async fn a_timed_out_expect_message_names_the_destination_and_what_did_arrive() {
    let server = harness(app()).with_timeout(Duration::from_millis(300));
    let mut alice = server.connect().await;
    alice.subscribe("/topic/harness/quiet").await;
    alice.subscribe("/topic/harness/echo/elsewhere").await;
    let note = Note {
        text: "went elsewhere".into(),
    };
    // With a receipt: the reply is in before the wait starts, whatever the machine's speed.
    let body = serde_json::to_vec(&note).unwrap();
    alice
        .send_with_receipt("/app/harness/echo/elsewhere", body)
        .await;
    let message = failure_of(async move {
        alice.expect_message("/topic/harness/quiet").await;
    })
    .await;
    assert!(
        message.contains("no MESSAGE on `/topic/harness/quiet` within 300ms"),
        "{message}"
    );
    assert!(
        message.contains("1 MESSAGE(s) on `/topic/harness/echo/elsewhere`")
            && message.contains("went elsewhere"),
        "{message}"
    );
}

#[tokio::test]
async fn a_message_seen_while_reporting_is_still_expected_afterwards() {
    let server = harness(app()).with_timeout(Duration::from_millis(300));
    let mut alice = server.connect().await;
    alice.subscribe("/topic/harness/quiet").await;
    alice.subscribe("/topic/harness/echo/kept").await;
    let note = Note {
        text: "kept".into(),
    };
    alice
        .send_with_receipt("/app/harness/echo/kept", serde_json::to_vec(&note).unwrap())
        .await;
    // Times out, taking the other subscription's message to describe it...
    let timed_out = AssertUnwindSafe(alice.expect_message("/topic/harness/quiet"))
        .catch_unwind()
        .await;
    assert!(
        timed_out.is_err(),
        "nothing was sent to /topic/harness/quiet"
    );
    // ...which is still there for the next expect.
    let message = alice.expect_message("/topic/harness/echo/kept").await;
    assert_eq!(message.json::<Note>().text, "kept: kept");
}

#[tokio::test]
async fn expect_no_message_passes_when_quiet_and_fails_when_something_arrives() {
    let server = harness(app());
    let mut alice = server.connect().await;
    alice.subscribe("/topic/harness/echo/busy").await;
    alice
        .expect_no_message("/topic/harness/echo/busy", Duration::from_millis(50))
        .await;
    let note = Note {
        text: "not quiet".into(),
    };
    alice.send_json("/app/harness/echo/busy", &note).await;
    let message = failure_of(async move {
        alice
            .expect_no_message("/topic/harness/echo/busy", Duration::from_secs(5))
            .await;
    })
    .await;
    assert!(
        message.contains("expected no MESSAGE on `/topic/harness/echo/busy`")
            && message.contains("busy: not quiet"),
        "{message}"
    );
}

#[tokio::test]
async fn expecting_on_a_destination_never_subscribed_names_the_subscriptions() {
    let server = harness(app());
    let mut alice = server.connect().await;
    alice.subscribe("/topic/harness/one").await;
    let message = failure_of(async move {
        alice.expect_message("/topic/harness/two").await;
    })
    .await;
    assert!(
        message.contains("no subscription to it (it has `/topic/harness/one`)"),
        "{message}"
    );
}

#[tokio::test]
async fn expect_error_gets_the_servers_error_for_unknown_and_refused_destinations() {
    let server = harness(app());
    let mut unknown = server.connect().await;
    unknown.send("/app/harness/nobody-handles-this", "").await;
    let error = unknown.expect_error().await;
    assert!(
        error.message().contains("/app/harness/nobody-handles-this"),
        "{}",
        error.message()
    );
    assert!(matches!(
        unknown.expect_closed().await,
        CloseReason::Error { .. }
    ));

    let mut refused = server.connect().await;
    match refused.try_subscribe("/topic/harness/secret").await {
        Err(ClientError::Error { message, .. }) => assert!(message.contains("denied"), "{message}"),
        other => panic!("the rules must refuse the subscription, got {other:?}"),
    }
    let error = refused.expect_error().await;
    assert!(error.message().contains("denied"), "{}", error.message());
    refused.expect_closed().await;
}

#[tokio::test]
async fn expect_error_fails_when_no_error_comes() {
    let server = harness(app()).with_timeout(Duration::from_millis(200));
    let mut alice = server.connect().await;
    alice.subscribe("/topic/harness/calm").await;
    let message = failure_of(async move {
        alice.expect_error().await;
    })
    .await;
    assert!(
        message.contains("no ERROR within 200ms")
            && message.contains("nothing else arrived (it has `/topic/harness/calm`"),
        "{message}"
    );
}

#[tokio::test]
async fn the_mock_user_reaches_its_user_queue_and_the_handlers_principal() {
    let server = harness(app().interceptor(login_required));
    // The application's authentication refuses a session without a login...
    let why = server.client().expect_connect_error().await;
    assert_eq!(why, "login required");
    // ...and lets one with a login in, as that user.
    let bob = server.client().login("bob", "").connect().await;
    assert_eq!(bob.user_name(), Some("bob"));

    // The mock user skips it, and is who the handler sees.
    let mut alice = server.connect_with_mock_user("alice").await;
    assert_eq!(alice.user_name(), Some("alice"));
    alice.subscribe("/user/queue/harness/whoami").await;
    alice.send("/app/harness/whoami", "").await;
    let me: Identity = alice.expect_json("/user/queue/harness/whoami").await;
    assert_eq!(
        me,
        Identity {
            name: "alice".into(),
            admin: false
        }
    );

    // Roles come with a mock principal (`@WithMockUser(roles = "ADMIN")`).
    let admin = Principal::new("root").with_roles(["ADMIN"]);
    let mut root = server.client().with_mock_principal(admin).connect().await;
    root.subscribe("/user/queue/harness/whoami").await;
    root.send("/app/harness/whoami", "").await;
    let me: Identity = root.expect_json("/user/queue/harness/whoami").await;
    assert!(me.admin && me.name == "root", "{me:?}");
}

#[tokio::test]
async fn a_mock_user_is_still_held_to_the_authorization_rules() {
    let server = harness(app().interceptor(login_required));
    let mut alice = server.connect_with_mock_user("alice").await;
    alice.send("/topic/harness/secret", "psst").await;
    let error = alice.expect_error().await;
    assert!(error.message().contains("denied"), "{}", error.message());
}

/// The application's handshake: a token in the query names the user, a wrong one is 401.
async fn token_handshake(request: HandshakeRequest) -> Result<Handshake, HandshakeRejection> {
    match request.query("access_token").as_deref() {
        Some("alice-token") => Ok(Handshake::proceed().user(Principal::new("alice"))),
        Some(_) => Err(HandshakeRejection::unauthorized("bad token")),
        None => Ok(Handshake::proceed()),
    }
}

#[tokio::test]
async fn users_come_through_the_applications_handshake_too() {
    let server = harness(app().handshake_interceptor(token_handshake));
    let alice = server
        .client()
        .path("/ws?access_token=alice-token")
        .connect()
        .await;
    assert_eq!(alice.user_name(), Some("alice"));
    match server
        .client()
        .path("/ws?access_token=forged")
        .try_connect()
        .await
    {
        Err(ClientError::WebSocket(why)) => assert!(why.contains("401"), "{why}"),
        other => panic!("a forged token must get 401, got {:?}", other.map(|_| ())),
    }
    // The mock user does not go through the handshake interceptors either.
    let carol = server.connect_with_mock_user("carol").await;
    assert_eq!(carol.user_name(), Some("carol"));
}

#[tokio::test]
async fn two_sessions_see_each_others_broadcasts() {
    let server = harness(app());
    let mut alice = server.connect_with_mock_user("alice").await;
    let mut bob = server.connect_with_mock_user("bob").await;
    alice.subscribe("/topic/harness/echo/both").await;
    bob.subscribe("/topic/harness/echo/both").await;
    let from_alice = Note {
        text: "from alice".into(),
    };
    alice.send_json("/app/harness/echo/both", &from_alice).await;
    let from_bob = Note {
        text: "from bob".into(),
    };
    bob.send_json("/app/harness/echo/both", &from_bob).await;
    for session in [&mut alice, &mut bob] {
        let mut seen = Vec::new();
        for _ in 0..2 {
            let note: Note = session.expect_json("/topic/harness/echo/both").await;
            seen.push(note.text);
        }
        seen.sort();
        assert_eq!(seen, ["both: from alice", "both: from bob"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_in_memory_sessions_at_once() {
    const SESSIONS: usize = 200;
    let server = harness(app());
    let mut sessions = Vec::new();
    for i in 0..SESSIONS {
        let mut session = server.connect_with_mock_user(&format!("user{i}")).await;
        session.subscribe("/topic/harness/echo/crowd").await;
        sessions.push(session);
    }
    let note = Note { text: "all".into() };
    sessions[0]
        .send_json("/app/harness/echo/crowd", &note)
        .await;
    for session in &mut sessions {
        let note: Note = session.expect_json("/topic/harness/echo/crowd").await;
        assert_eq!(note.text, "crowd: all");
    }
    assert_eq!(server.stats().snapshot().sessions_current, SESSIONS as u64);
}

#[tokio::test]
async fn the_client_connects_over_a_given_stream_only_with_a_plain_url() {
    let client = StompClient::new();
    let (stream, _other_end) = tokio::io::duplex(1024);
    match client.connect_over(stream, "wss://localhost/ws").await {
        Err(ClientError::Config(why)) => assert!(why.contains("ws://"), "{why}"),
        other => panic!(
            "a TLS URL over a given stream must be refused, got {:?}",
            other.map(|_| ())
        ),
    }
}

#[tokio::test]
async fn the_client_speaks_stomp_over_tcp_on_a_given_stream() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (stream, mut broker) = tokio::io::duplex(4096);
    let broker = tokio::spawn(async move {
        let mut received = Vec::new();
        let mut buf = [0u8; 1024];
        while !received.contains(&0) {
            let n = broker.read(&mut buf).await.unwrap();
            assert!(n > 0, "the client closed before its CONNECT was whole");
            received.extend_from_slice(&buf[..n]);
        }
        broker
            .write_all(b"CONNECTED\nversion:1.2\nsession:on-a-pipe\n\n\0")
            .await
            .unwrap();
        (String::from_utf8(received).unwrap(), broker)
    });
    let session = StompClient::new()
        .heartbeat(0, 0)
        .connect_over(stream, "tcp://broker.example")
        .await
        .unwrap();
    let (connect, _broker) = broker.await.unwrap();
    assert!(
        connect.starts_with("CONNECT\n") && connect.contains("host:broker.example\n"),
        "{connect}"
    );
    assert_eq!(session.session_id(), Some("on-a-pipe"));
}

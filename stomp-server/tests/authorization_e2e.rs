//! Authorization rules end to end: a real server on port 0 and the Rust client. Each outcome
//! (permit all, authenticated, role, authority, custom, deny, unmatched), the ERROR naming
//! the rule, the rules running after the interceptors, and user destinations only ever for
//! their owner whatever the rules say.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{error_message, nothing_more, TestServer, WAIT};
use stomp_server::authorization::{MessageSecurity, MessageType, SecurityConfigError};
use stomp_server::client::{ClientError, StompClient, StompSession};
use stomp_server::interceptor::{InterceptorContext, Rejection};
use stomp_server::{Command, Frame, Principal, StartError};

/// The CONNECT `login` is the principal; `admin` is in the role ADMIN, `writer` has the
/// authority `message:write`.
fn login_with_roles(
    frame: &mut Frame,
    context: &mut InterceptorContext<'_>,
) -> Result<(), Rejection> {
    if frame.command == Command::Connect {
        if let Some(login) = frame.get("login").filter(|l| !l.is_empty()) {
            let principal = match login {
                "admin" => Principal::new(login).with_roles(["ADMIN", "USER"]),
                "writer" => Principal::new(login).with_authorities(["message:write"]),
                _ => Principal::new(login),
            };
            *context.principal = Some(principal);
        }
    }
    Ok(())
}

/// Rewrites SEND `/topic/legacy` to `/topic/secret`, as an interceptor may.
fn rewrite_legacy(frame: &mut Frame, _: &mut InterceptorContext<'_>) -> Result<(), Rejection> {
    if frame.command == Command::Send && frame.destination() == Some("/topic/legacy") {
        frame.headers.set("destination", "/topic/secret");
    }
    Ok(())
}

/// Rules for most tests: anyone may connect; `/topic/public/**` for all, `/topic/admin/**`
/// for ADMIN, SEND to `/topic/write/**` with `message:write`, `/topic/own/<name>` for the
/// user of that name, SEND to `/topic/secret` nobody; anything else for authenticated
/// sessions.
fn rules() -> MessageSecurity {
    MessageSecurity::builder()
        .type_matchers([MessageType::Connect, MessageType::Disconnect])
        .permit_all()
        .dest_matchers(["/topic/public/**"])
        .permit_all()
        .dest_matchers(["/topic/admin/**"])
        .has_role("ADMIN")
        .send_dest_matchers(["/topic/write/**"])
        .has_authority("message:write")
        .dest_matchers(["/topic/own/*"])
        .access("its own name", |c| {
            let (Some(user), Some(to)) = (c.principal, c.destination) else {
                return false;
            };
            to.strip_prefix("/topic/own/") == Some(user.name())
        })
        .send_dest_matchers(["/topic/secret"])
        .deny_all()
        .any_message()
        .authenticated()
        .build()
        .expect("rules build")
}

async fn server_with(rules: MessageSecurity) -> TestServer {
    TestServer::start(
        common::no_handlers()
            .interceptor(login_with_roles)
            .interceptor(rewrite_legacy)
            .message_security(rules),
    )
    .await
}

/// The ERROR the server answers `frame` with (the session then closes).
async fn refused(session: &StompSession, frame: Frame) -> String {
    match session.send_with_receipt(frame).await {
        Err(ClientError::Error { message, .. }) => {
            tokio::time::timeout(WAIT, session.closed())
                .await
                .expect("closed after the ERROR");
            message
        }
        other => panic!("expected an ERROR, got {other:?}"),
    }
}

fn send(destination: &str) -> Frame {
    Frame::new(Command::Send)
        .header("destination", destination)
        .with_body("x")
}

fn subscribe(destination: &str) -> Frame {
    Frame::new(Command::Subscribe)
        .header("destination", destination)
        .header("id", "1")
}

#[tokio::test]
async fn a_denied_send_is_an_error_naming_the_rule_and_reaches_nobody() {
    let server = server_with(rules()).await;
    let watcher = server.connect("watcher").await;
    let mut secret = watcher.subscribe("/topic/secret").await.unwrap();
    let bob = server.connect("bob").await;
    assert_eq!(
        refused(&bob, send("/topic/secret")).await,
        "access denied by rule #6 (SEND /topic/secret: deny)"
    );
    nothing_more(&mut secret, "a denied SEND must not reach the broker").await;
    assert_eq!(server.stats.snapshot().access_denied, 1);
    // The watcher's session is untouched.
    watcher
        .send_with_receipt(send("/topic/public/ok"))
        .await
        .unwrap();
}

#[tokio::test]
async fn the_rules_see_the_frame_as_the_interceptors_left_it() {
    let server = server_with(rules()).await;
    let bob = server.connect("bob").await;
    assert_eq!(
        refused(&bob, send("/topic/legacy")).await,
        "access denied by rule #6 (SEND /topic/secret: deny)"
    );
}

#[tokio::test]
async fn permit_all_and_authenticated() {
    let server = server_with(rules()).await;
    let anonymous = server.connect_anonymous().await;
    let mut public = anonymous.subscribe("/topic/public/news").await.unwrap();
    anonymous
        .send_with_receipt(send("/topic/public/news"))
        .await
        .unwrap();
    assert_eq!(
        public.next_timeout(WAIT).await.unwrap().body_str(),
        Some("x")
    );
    assert_eq!(
        refused(&anonymous, subscribe("/topic/members")).await,
        "access denied by rule #7 (any message: authenticated)"
    );
    let bob = server.connect("bob").await;
    bob.subscribe("/topic/members").await.unwrap();
}

#[tokio::test]
async fn roles_and_authorities_come_from_the_principal_an_interceptor_set() {
    let server = server_with(rules()).await;
    let admin = server.connect("admin").await;
    let _board = admin.subscribe("/topic/admin/board").await.unwrap();
    let bob = server.connect("bob").await;
    assert_eq!(
        refused(&bob, subscribe("/topic/admin/board")).await,
        "access denied by rule #3 (/topic/admin/**: has role ADMIN)"
    );
    let writer = server.connect("writer").await;
    writer
        .send_with_receipt(send("/topic/write/a"))
        .await
        .unwrap();
    assert_eq!(
        refused(&admin, send("/topic/write/a")).await,
        "access denied by rule #4 (SEND /topic/write/**: has authority message:write)"
    );
}

#[tokio::test]
async fn a_custom_rule_decides_with_the_frame_and_principal() {
    let server = server_with(rules()).await;
    let ann = server.connect("ann").await;
    ann.subscribe("/topic/own/ann").await.unwrap();
    assert_eq!(
        refused(&ann, subscribe("/topic/own/bob")).await,
        "access denied by rule #5 (/topic/own/*: access its own name)"
    );
}

#[tokio::test]
async fn connect_is_authorized_after_the_interceptors_and_unmatched_frames_are_denied() {
    let rules = MessageSecurity::builder()
        .type_matchers([MessageType::Connect])
        .authenticated()
        .subscribe_dest_matchers(["/topic/**"])
        .permit_all()
        .build()
        .unwrap();
    let server = server_with(rules).await;
    match StompClient::new().connect(&server.url()).await {
        Err(ClientError::Refused { message, .. }) => {
            assert_eq!(message, "access denied by rule #1 (CONNECT: authenticated)");
        }
        other => panic!(
            "an anonymous CONNECT must be refused, got {:?}",
            other.map(|_| ())
        ),
    }
    let bob = server.connect("bob").await;
    bob.subscribe("/topic/a").await.unwrap();
    bob.send("/topic/a", "x").await.unwrap();
    let error = error_message(&bob).await;
    assert_eq!(
        error.get("message"),
        Some("access denied: no rule matches SEND /topic/a and unmatched messages are denied")
    );
    assert_eq!(server.stats.snapshot().access_denied, 2);
}

#[tokio::test]
async fn a_session_never_subscribes_to_another_users_destinations_whatever_the_rules() {
    let everything = MessageSecurity::builder()
        .any_message()
        .permit_all()
        .build()
        .unwrap();
    let server = server_with(everything).await;
    let bob = server.connect("bob").await;
    let mut inbox = bob.subscribe("/user/queue/inbox").await.unwrap();
    let mallory = server.connect("mallory").await;
    let message = refused(&mallory, subscribe("/user/bob/queue/inbox")).await;
    assert!(message.contains("another user's"), "{message}");
    // Bob's per-session broker name is refused too.
    let id = bob.session_id().unwrap().to_owned();
    let mallory = server.connect("mallory").await;
    let message = refused(&mallory, subscribe(&format!("/queue/inbox-user{id}"))).await;
    assert!(message.contains("another session's"), "{message}");
    // Naming oneself is one's own destination.
    let mut named = bob.subscribe("/user/bob/queue/inbox").await.unwrap();
    server
        .template
        .convert_and_send_to_user("bob", "/queue/inbox", "for bob")
        .unwrap();
    assert_eq!(
        inbox.next_timeout(WAIT).await.unwrap().body_str(),
        Some("for bob")
    );
    assert_eq!(
        named.next_timeout(WAIT).await.unwrap().body_str(),
        Some("for bob")
    );
}

#[tokio::test]
async fn an_anonymous_session_cannot_subscribe_to_another_by_its_id() {
    let server = TestServer::start(common::no_handlers()).await;
    let first = server.connect_anonymous().await;
    let _inbox = first.subscribe("/user/queue/inbox").await.unwrap();
    let id = first.session_id().unwrap().to_owned();
    let other = server.connect_anonymous().await;
    let message = refused(&other, subscribe(&format!("/user/{id}/queue/inbox"))).await;
    assert!(message.contains("another user's"), "{message}");
}

#[tokio::test]
async fn rules_with_another_separator_than_the_servers_stop_the_start() {
    let dotted = MessageSecurity::builder()
        .path_separator('.')
        .build()
        .unwrap();
    let error = common::no_handlers()
        .message_security(dotted)
        .build()
        .err()
        .expect("refused");
    assert!(
        matches!(
            error,
            StartError::Security(SecurityConfigError::Separator {
                rules: '.',
                server: '/'
            })
        ),
        "{error}"
    );
}

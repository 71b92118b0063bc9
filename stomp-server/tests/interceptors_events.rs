//! Inbound interceptors (reject, rewrite, order, authenticate) and session events.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{error_message, TestServer, WAIT};
use stomp_server::client::{ClientError, StompClient};
use stomp_server::{
    event::SessionEvent,
    handler::Handlers,
    interceptor::{InterceptorContext, Rejection},
    Command, Frame, Principal, StompServer,
};

fn guard(frame: &mut Frame, _: &mut InterceptorContext<'_>) -> Result<(), Rejection> {
    if frame.command == Command::Send && frame.destination() == Some("/topic/forbidden") {
        return Err(Rejection::new("sending to /topic/forbidden is not allowed"));
    }
    Ok(())
}

fn stamp_first(frame: &mut Frame, _: &mut InterceptorContext<'_>) -> Result<(), Rejection> {
    if frame.command == Command::Send {
        frame.headers.set("x-trail", "first");
    }
    Ok(())
}

fn stamp_second(frame: &mut Frame, _: &mut InterceptorContext<'_>) -> Result<(), Rejection> {
    if frame.command == Command::Send {
        let trail = format!("{},second", frame.get("x-trail").unwrap_or("?"));
        frame.headers.set("x-trail", &trail);
    }
    Ok(())
}

fn token_auth(frame: &mut Frame, context: &mut InterceptorContext<'_>) -> Result<(), Rejection> {
    if frame.command == Command::Connect || frame.command == Command::Stomp {
        match frame.get("token") {
            Some("secret-alice") => *context.principal = Some(Principal::new("alice")),
            Some(_) => return Err(Rejection::new("invalid token")),
            None => return Err(Rejection::new("missing token")),
        }
    }
    Ok(())
}

fn builder() -> stomp_server::StompServerBuilder {
    StompServer::builder().handlers(Handlers::new())
}

#[tokio::test]
async fn an_interceptor_rejects_a_frame_with_an_error_and_others_carry_on() {
    let server = TestServer::start(builder().interceptor(guard)).await;
    let calm = server.connect_anonymous().await;
    let mut sub = calm.subscribe("/topic/fine").await.unwrap();
    let bad = server.connect_anonymous().await;
    bad.send("/topic/forbidden", "x").await.unwrap();
    let error = error_message(&bad).await;
    assert_eq!(
        error.get("message"),
        Some("sending to /topic/forbidden is not allowed")
    );
    tokio::time::timeout(WAIT, bad.closed()).await.unwrap();
    calm.send("/topic/fine", "still fine").await.unwrap();
    assert_eq!(
        sub.next_timeout(WAIT).await.unwrap().body_str(),
        Some("still fine")
    );
}

#[tokio::test]
async fn interceptors_rewrite_headers_in_registration_order() {
    let server =
        TestServer::start(builder().interceptor(stamp_first).interceptor(stamp_second)).await;
    let s = server.connect_anonymous().await;
    let mut sub = s.subscribe("/topic/trail").await.unwrap();
    s.send("/topic/trail", "x").await.unwrap();
    let frame = sub.next_timeout(WAIT).await.unwrap();
    assert_eq!(frame.get("x-trail"), Some("first,second"));
}

#[tokio::test]
async fn a_connect_interceptor_authenticates_or_refuses() {
    let server = TestServer::start(builder().interceptor(token_auth)).await;
    let alice = StompClient::new()
        .header("token", "secret-alice")
        .connect(&server.url())
        .await
        .unwrap();
    assert_eq!(alice.connected_frame().get("user-name"), Some("alice"));
    for (client, expected) in [
        (
            StompClient::new().header("token", "forged"),
            "invalid token",
        ),
        (StompClient::new(), "missing token"),
    ] {
        match client.connect(&server.url()).await {
            Err(ClientError::Refused { message, .. }) => assert_eq!(message, expected),
            other => panic!("expected a refusal, got {:?}", other.map(|_| ())),
        }
    }
}

#[tokio::test]
async fn session_events_arrive_once_each_in_order() {
    let events: Arc<Mutex<Vec<SessionEvent>>> = Arc::default();
    let sink = Arc::clone(&events);
    let server = TestServer::start(
        builder()
            .interceptor(common::login_interceptor)
            .on_event(move |event, _| sink.lock().unwrap().push(event.clone())),
    )
    .await;
    let s = server.connect("erin").await;
    let sub = s.subscribe("/topic/events").await.unwrap();
    sub.unsubscribe().await.unwrap();
    s.disconnect().await.unwrap();
    // An abrupt end (socket dropped without DISCONNECT) also yields exactly one event.
    let abrupt = server.connect("frank").await;
    drop(abrupt);
    let deadline = tokio::time::Instant::now() + WAIT;
    while events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, SessionEvent::Disconnected { .. }))
        .count()
        < 2
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let events = events.lock().unwrap().clone();
    let erin: Vec<&SessionEvent> = events
        .iter()
        .filter(|e| match e {
            SessionEvent::Connect { principal, .. }
            | SessionEvent::Connected { principal, .. }
            | SessionEvent::Subscribe { principal, .. }
            | SessionEvent::Unsubscribe { principal, .. }
            | SessionEvent::Disconnected { principal, .. } => {
                principal.as_ref().map(Principal::name) == Some("erin")
            }
            _ => false,
        })
        .collect();
    let kinds: Vec<&str> = erin
        .iter()
        .map(|e| match e {
            SessionEvent::Connect { .. } => "connect",
            SessionEvent::Connected { .. } => "connected",
            SessionEvent::Subscribe { .. } => "subscribe",
            SessionEvent::Unsubscribe { .. } => "unsubscribe",
            SessionEvent::Disconnected { .. } => "disconnected",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "connect",
            "connected",
            "subscribe",
            "unsubscribe",
            "disconnected"
        ]
    );
    match erin[3] {
        SessionEvent::Unsubscribe { destination, .. } => assert_eq!(destination, "/topic/events"),
        other => panic!("{other:?}"),
    }
    match erin[4] {
        SessionEvent::Disconnected { reason, .. } => assert_eq!(reason, "DISCONNECT"),
        other => panic!("{other:?}"),
    }
    let frank_disconnects = events
        .iter()
        .filter(|e| matches!(e, SessionEvent::Disconnected { principal: Some(p), .. } if p.name() == "frank"))
        .count();
    assert_eq!(frank_disconnects, 1);
}

#[tokio::test]
async fn outbound_interceptors_see_rewrite_and_drop_frames_per_session() {
    let seen: Arc<Mutex<Vec<Command>>> = Arc::default();
    let log = Arc::clone(&seen);
    let server = TestServer::start(
        builder()
            .interceptor(common::login_interceptor)
            .outbound_interceptor(
                move |frame: &mut Frame,
                      context: &stomp_server::interceptor::OutboundContext<'_>| {
                    log.lock().unwrap().push(frame.command);
                    if frame.command != Command::Message {
                        return true;
                    }
                    if frame.body_str().is_some_and(|b| b.contains("secret")) {
                        return false;
                    }
                    let user = context
                        .principal
                        .map_or("anonymous", Principal::name)
                        .to_owned();
                    frame.headers.append("x-delivered-to", &user);
                    true
                },
            ),
    )
    .await;
    let gina = server.connect("gina").await;
    let hank = server.connect("hank").await;
    let mut g = gina.subscribe("/topic/out").await.unwrap();
    let mut h = hank.subscribe("/topic/out").await.unwrap();
    gina.send("/topic/out", "a secret").await.unwrap();
    gina.send("/topic/out", "public").await.unwrap();
    let to_gina = g.next_timeout(WAIT).await.unwrap();
    let to_hank = h.next_timeout(WAIT).await.unwrap();
    // The secret was dropped; each subscriber's copy was stamped for its own session.
    assert_eq!(to_gina.body_str(), Some("public"));
    assert_eq!(to_gina.get("x-delivered-to"), Some("gina"));
    assert_eq!(to_hank.body_str(), Some("public"));
    assert_eq!(to_hank.get("x-delivered-to"), Some("hank"));
    let seen = seen.lock().unwrap().clone();
    assert!(seen.contains(&Command::Connected), "{seen:?}");
    assert!(seen.contains(&Command::Receipt), "{seen:?}");
}

#[tokio::test]
async fn outbound_interceptors_see_each_message_once_before_it_is_encoded() {
    // (command, had a content-length header): the encoder writes one, so a frame decoded
    // back from its encoding would show it; the frame the broker built has none.
    let seen: Arc<Mutex<Vec<(Command, bool)>>> = Arc::default();
    let log = Arc::clone(&seen);
    let server = TestServer::start(builder().outbound_interceptor(
        move |frame: &mut Frame, _: &stomp_server::interceptor::OutboundContext<'_>| {
            let has_length = frame.get("content-length").is_some();
            log.lock().unwrap().push((frame.command, has_length));
            true
        },
    ))
    .await;
    let auto = server.connect_anonymous().await;
    let acking = server.connect_anonymous().await;
    let mut a = auto.subscribe("/topic/once-before-encoding").await.unwrap();
    let mut b = common::subscribe_acking(
        &acking,
        "/topic/once-before-encoding",
        "client-individual",
        None,
    )
    .await;
    auto.send("/topic/once-before-encoding", "body")
        .await
        .unwrap();
    assert_eq!(a.next_timeout(WAIT).await.unwrap().body_str(), Some("body"));
    assert_eq!(b.next_timeout(WAIT).await.unwrap().body_str(), Some("body"));
    let messages: Vec<bool> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|(command, _)| *command == Command::Message)
        .map(|(_, has_length)| *has_length)
        .collect();
    // Once per subscriber (an ack:auto and an acknowledging one), never decoded back.
    assert_eq!(messages, [false, false]);
}

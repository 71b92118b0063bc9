//! User-defined extractors, the remaining built-in extractors, and the unhandled-error
//! policies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{error_message, login_interceptor, TestServer, QUIET, WAIT};
use stomp_server::{
    config::UnhandledErrors,
    extract::{FromInvocation, Invocation},
    handler::Handlers,
    message_mapping, send_to, Frame, HandlerError, SessionAttributes, StompServer,
};

/// A user-defined extractor: the tenant named by the `x-tenant` header, required.
struct Tenant(String);

#[derive(Debug, thiserror::Error)]
#[error("no tenant: send an x-tenant header")]
struct NoTenant;

impl FromInvocation for Tenant {
    fn from_invocation(invocation: &Invocation) -> Result<Tenant, HandlerError> {
        invocation
            .frame()
            .get("x-tenant")
            .map(|t| Tenant(t.to_owned()))
            .ok_or_else(|| NoTenant.into())
    }
}

#[message_mapping("/tenant")]
#[send_to("/topic/tenant")]
fn tenant(Tenant(name): Tenant, frame: Frame) -> String {
    format!("{name} via {}", frame.destination().unwrap_or(""))
}

/// Counts messages per session in the session's attributes.
struct Count(std::sync::atomic::AtomicU32);

#[message_mapping("/count")]
#[send_to("/topic/count")]
fn count(attributes: SessionAttributes) -> String {
    if attributes.get::<Count>().is_none() {
        attributes.insert(Count(std::sync::atomic::AtomicU32::new(0)));
    }
    let counter = attributes.get::<Count>().unwrap();
    let n = counter.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
    n.to_string()
}

fn only(patterns: &[&str]) -> Handlers {
    let all = Handlers::collected();
    patterns.iter().fold(Handlers::new(), |handlers, pattern| {
        handlers.mapping(
            *all.mappings()
                .iter()
                .find(|d| d.pattern == *pattern)
                .unwrap(),
        )
    })
}

#[tokio::test]
async fn a_user_defined_extractor_and_the_raw_frame() {
    let server = TestServer::start(StompServer::builder().handlers(only(&["/tenant"]))).await;
    let s = server.connect_anonymous().await;
    let mut topic = s.subscribe("/topic/tenant").await.unwrap();
    let frame = Frame::new(stomp_server::Command::Send)
        .header("destination", "/app/tenant")
        .header("x-tenant", "acme");
    s.send_frame(frame).await.unwrap();
    assert_eq!(
        topic.next_timeout(WAIT).await.unwrap().body_str(),
        Some("acme via /app/tenant")
    );
    // Its error type reaches the client like any handler error (default policy: ERROR).
    s.send("/app/tenant", "").await.unwrap();
    let error = error_message(&s).await;
    assert_eq!(
        error.get("message"),
        Some("no tenant: send an x-tenant header")
    );
}

#[tokio::test]
async fn session_attributes_live_as_long_as_the_session() {
    let server = TestServer::start(StompServer::builder().handlers(only(&["/count"]))).await;
    let first = server.connect_anonymous().await;
    let second = server.connect_anonymous().await;
    let mut topic = first.subscribe("/topic/count").await.unwrap();
    for expected in ["1", "2", "3"] {
        first.send("/app/count", "").await.unwrap();
        assert_eq!(
            topic.next_timeout(WAIT).await.unwrap().body_str(),
            Some(expected)
        );
    }
    // Another session has its own attributes.
    second.send("/app/count", "").await.unwrap();
    assert_eq!(
        topic.next_timeout(WAIT).await.unwrap().body_str(),
        Some("1")
    );
}

#[tokio::test]
async fn unhandled_errors_can_go_to_a_user_destination_instead() {
    let server = TestServer::start(
        StompServer::builder()
            .handlers(only(&["/tenant"]))
            .interceptor(login_interceptor)
            .unhandled_errors(UnhandledErrors::UserDestination("/queue/errors".to_owned())),
    )
    .await;
    let s = server.connect("ivy").await;
    let mut errors = s.subscribe("/user/queue/errors").await.unwrap();
    s.send("/app/tenant", "").await.unwrap();
    let frame = errors.next_timeout(WAIT).await.unwrap();
    let body: serde_json::Value = serde_json::from_slice(&frame.body).unwrap();
    assert_eq!(body["error"], "no tenant: send an x-tenant header");
    assert_eq!(body["destination"], "/app/tenant");
    assert!(!s.is_closed(), "the session stays open");
}

#[tokio::test]
async fn unhandled_errors_can_be_only_logged_as_spring_does() {
    let server = TestServer::start(
        StompServer::builder()
            .handlers(only(&["/tenant"]))
            .unhandled_errors(UnhandledErrors::LogOnly),
    )
    .await;
    let s = server.connect_anonymous().await;
    s.send("/app/tenant", "").await.unwrap();
    assert!(
        tokio::time::timeout(QUIET, s.next_error()).await.is_err(),
        "no ERROR frame"
    );
    // The handler did fail (without its header): the error was counted and only logged.
    assert_eq!(server.stats.snapshot().handler_errors, 1);
    // Still connected: a receipt comes back.
    let receipt = s
        .send_with_receipt(
            Frame::new(stomp_server::Command::Send).header("destination", "/topic/x"),
        )
        .await;
    assert!(receipt.is_ok());
}

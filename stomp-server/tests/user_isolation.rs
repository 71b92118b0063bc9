//! Private user destinations stay private: clients cannot write into another user's queues
//! unless the application allows it, and then cannot pass for the server or another user.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{login_interceptor, nothing_more, TestServer, WAIT};
use stomp_server::client::ClientError;
use stomp_server::{config::ClientUserSends, handler::Handlers, Command, Frame, StompServer};

fn server() -> stomp_server::StompServerBuilder {
    StompServer::builder()
        .handlers(Handlers::new())
        .interceptor(login_interceptor)
}

/// The phishing message of the finding: a fake error with a forged `sender`.
fn forged_error(destination: &str) -> Frame {
    Frame::new(Command::Send)
        .header("destination", destination)
        .header("content-type", "text/plain")
        .header("sender", "admin")
        .header("message", "session expired")
        .with_body("session expired, log in at http://evil.example")
}

#[tokio::test]
async fn a_client_send_to_another_users_queue_is_refused_by_default() {
    let server = TestServer::start(server()).await;
    let bob = server.connect("bob").await;
    let mut errors = bob.subscribe("/user/queue/errors").await.unwrap();
    let mallory = server.connect("mallory").await;
    match mallory
        .send_with_receipt(forged_error("/user/bob/queue/errors"))
        .await
    {
        Err(ClientError::Error { message, .. }) => {
            assert!(
                message.contains("may not send to user destinations"),
                "{message}"
            );
        }
        other => panic!("expected an ERROR, got {other:?}"),
    }
    nothing_more(&mut errors, "bob must not receive mallory's message").await;
    // The server still reaches bob there.
    server
        .template
        .convert_and_send_to_user("bob", "/queue/errors", "from the server")
        .unwrap();
    assert_eq!(
        errors.next_timeout(WAIT).await.unwrap().body_str(),
        Some("from the server")
    );
}

#[tokio::test]
async fn an_anonymous_session_cannot_be_reached_through_its_id() {
    let server = TestServer::start(server()).await;
    let anonymous = server.connect_anonymous().await;
    let mut inbox = anonymous.subscribe("/user/queue/inbox").await.unwrap();
    let id = anonymous.session_id().unwrap().to_owned();
    let mallory = server.connect("mallory").await;
    let refused = mallory
        .send_with_receipt(forged_error(&format!("/user/{id}/queue/inbox")))
        .await;
    assert!(
        matches!(refused, Err(ClientError::Error { .. })),
        "{refused:?}"
    );
    nothing_more(&mut inbox, "the anonymous session must not receive it").await;
}

#[tokio::test]
async fn a_transactional_send_to_a_user_is_refused_when_sent_not_at_commit() {
    let server = TestServer::start(server()).await;
    let mallory = server.connect("mallory").await;
    mallory
        .send_with_receipt(Frame::new(Command::Begin).header("transaction", "t1"))
        .await
        .unwrap();
    let mut frame = forged_error("/user/bob/queue/errors");
    frame.headers.append("transaction", "t1");
    let refused = mallory.send_with_receipt(frame).await;
    assert!(
        matches!(refused, Err(ClientError::Error { .. })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn allowed_user_sends_carry_only_the_body_content_type_and_the_real_sender() {
    let server = TestServer::start(server().client_user_sends(ClientUserSends::Allow)).await;
    let bob = server.connect("bob").await;
    let mut errors = bob.subscribe("/user/queue/errors").await.unwrap();
    let mallory = server.connect("mallory").await;
    mallory
        .send_with_receipt(forged_error("/user/bob/queue/errors"))
        .await
        .unwrap();
    let got = errors.next_timeout(WAIT).await.unwrap();
    assert_eq!(
        got.body_str(),
        Some("session expired, log in at http://evil.example")
    );
    assert_eq!(got.get("sender"), Some("mallory"), "{got:?}");
    assert_eq!(got.get("content-type"), Some("text/plain"));
    assert_eq!(
        got.get("message"),
        None,
        "client headers must not pass: {got:?}"
    );
    assert_eq!(got.headers.get_all("sender").count(), 1, "{got:?}");
    // An anonymous sender gets no `sender` at all, whatever it wrote.
    let anonymous = server.connect_anonymous().await;
    anonymous
        .send_with_receipt(forged_error("/user/bob/queue/errors"))
        .await
        .unwrap();
    let got = errors.next_timeout(WAIT).await.unwrap();
    assert_eq!(got.get("sender"), None, "{got:?}");
}

#[tokio::test]
async fn session_ids_are_not_sequential() {
    let server = TestServer::start(server()).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let session = server.connect_anonymous().await;
        ids.push(session.session_id().unwrap().to_owned());
    }
    for id in &ids {
        let random = id[1..].split_once('-').unwrap().0;
        assert_eq!(random.len(), 16, "64 random bits in hex: {id}");
    }
    let numbers: Vec<u64> = ids
        .iter()
        .map(|id| u64::from_str_radix(&id[1..17], 16).unwrap())
        .collect();
    assert!(
        numbers
            .windows(2)
            .all(|w| w[1].wrapping_sub(w[0]) > 1_000_000),
        "{ids:?}"
    );
}

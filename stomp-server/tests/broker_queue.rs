//! Point-to-point destinations over real sockets: competing consumers, held messages,
//! redelivery to another consumer, queue limits and user destinations.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{
    error_message, login_interceptor, next_body, nothing_more, point_to_point, send_all,
    subscribe_acking, TestServer, QUIET, WAIT,
};
use stomp_server::client::ClientError;
use stomp_server::{
    config::{BrokerConfig, ClientUserSends},
    handler::Handlers,
    Command, Frame, StompServer,
};

async fn queue_server(config: BrokerConfig) -> TestServer {
    TestServer::start(point_to_point(config).interceptor(login_interceptor)).await
}

fn numbered(count: usize) -> Vec<String> {
    (0..count).map(|i| i.to_string()).collect()
}

#[tokio::test]
async fn competing_consumers_each_message_exactly_once_and_balanced() {
    let server = queue_server(BrokerConfig::default()).await;
    let mut consumers = Vec::new();
    for _ in 0..3 {
        let session = server.connect_anonymous().await;
        let sub = subscribe_acking(&session, "/queue/work", "client-individual", Some(10)).await;
        consumers.push((session, sub));
    }
    let publisher = server.connect_anonymous().await;
    let total = 300;
    send_all(&publisher, "/queue/work", &numbered(total)).await;
    // Each consumer reads until all of them together have every message (a pause of one
    // consumer is not taken for the end), within a generous bound against hanging.
    let received = Arc::new(AtomicUsize::new(0));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let tasks: Vec<_> = consumers
        .into_iter()
        .map(|(session, mut sub)| {
            let received = Arc::clone(&received);
            tokio::spawn(async move {
                let mut got = Vec::new();
                while received.load(Ordering::SeqCst) < total
                    && tokio::time::Instant::now() < deadline
                {
                    match sub.next_timeout(QUIET).await {
                        Ok(frame) => {
                            got.push(frame.body_str().unwrap().to_owned());
                            session.ack(&frame).await.unwrap();
                            received.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(ClientError::Timeout(_)) => {}
                        Err(error) => panic!("consumer failed: {error}"),
                    }
                }
                got
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        let got = task.await.unwrap();
        // Round-robin among consumers with room; a consumer the scheduler starves for a
        // while still gets its share of the rest, so only a clear imbalance fails.
        assert!(
            got.len() >= total / 10,
            "unbalanced: one consumer got {} of {total}",
            got.len()
        );
        all.extend(got);
    }
    assert_eq!(all.len(), total, "every message exactly once");
    let distinct: HashSet<_> = all.iter().collect();
    assert_eq!(distinct.len(), total);
}

#[tokio::test]
async fn auto_ack_consumers_take_turns() {
    // The builder shorthand.
    let server = TestServer::start(
        StompServer::builder()
            .handlers(Handlers::new())
            .point_to_point(["/queue"]),
    )
    .await;
    let a = server.connect_anonymous().await;
    let mut sub_a = a.subscribe("/queue/turns").await.unwrap();
    let b = server.connect_anonymous().await;
    let mut sub_b = b.subscribe("/queue/turns").await.unwrap();
    send_all(&a, "/queue/turns", &numbered(10)).await;
    let mut seen = Vec::new();
    for sub in [&mut sub_a, &mut sub_b] {
        for _ in 0..5 {
            seen.push(next_body(sub).await.1);
        }
        nothing_more(sub, "five each").await;
    }
    seen.sort_by_key(|s| s.parse::<u32>().unwrap());
    assert_eq!(seen, numbered(10));
}

#[tokio::test]
async fn held_messages_reach_a_late_subscriber_in_order() {
    let server = queue_server(BrokerConfig::default()).await;
    let publisher = server.connect_anonymous().await;
    send_all(&publisher, "/queue/late", &numbered(20)).await;
    let consumer = server.connect_anonymous().await;
    let mut sub = consumer.subscribe("/queue/late").await.unwrap();
    for expected in numbered(20) {
        assert_eq!(next_body(&mut sub).await.1, expected);
    }
    // Taken: a second consumer gets none of them.
    let other = server.connect_anonymous().await;
    let mut second = other.subscribe("/queue/late").await.unwrap();
    nothing_more(&mut second, "each message once").await;
}

#[tokio::test]
async fn a_consumer_that_leaves_without_ack_hands_its_messages_to_another() {
    let server = queue_server(BrokerConfig::default()).await;
    let leaving = server.connect_anonymous().await;
    let mut sub = subscribe_acking(&leaving, "/queue/handover", "client", Some(5)).await;
    let publisher = server.connect_anonymous().await;
    send_all(&publisher, "/queue/handover", &numbered(8)).await;
    for expected in numbered(5) {
        assert_eq!(next_body(&mut sub).await.1, expected);
    }
    let staying = server.connect_anonymous().await;
    let mut other = subscribe_acking(&staying, "/queue/handover", "client-individual", None).await;
    // 5..8 were held (the window was full); they go to the new consumer at once.
    for expected in ["5", "6", "7"] {
        assert_eq!(next_body(&mut other).await.1, expected);
    }
    leaving.disconnect().await.unwrap();
    for expected in numbered(5) {
        let (frame, body) = next_body(&mut other).await;
        assert_eq!(body, expected);
        assert_eq!(frame.get("redelivered"), Some("true"));
        staying.ack(&frame).await.unwrap();
    }
    nothing_more(&mut other, "all eight handed over").await;
}

#[tokio::test]
async fn unsubscribe_without_ack_returns_messages_to_the_queue() {
    let server = queue_server(BrokerConfig::default()).await;
    let s = server.connect_anonymous().await;
    let sub = subscribe_acking(&s, "/queue/back", "client-individual", None).await;
    send_all(&s, "/queue/back", &numbered(3)).await;
    let id = sub.id().to_owned();
    s.send_with_receipt(Frame::new(Command::Unsubscribe).header("id", &id))
        .await
        .unwrap();
    drop(sub);
    let mut again = s.subscribe("/queue/back").await.unwrap();
    for expected in numbered(3) {
        assert_eq!(next_body(&mut again).await.1, expected);
    }
}

#[tokio::test]
async fn nack_hands_the_message_to_another_consumer() {
    let server = queue_server(BrokerConfig::default()).await;
    let a = server.connect_anonymous().await;
    let mut sub_a = subscribe_acking(&a, "/queue/nack", "client-individual", Some(1)).await;
    send_all(&a, "/queue/nack", &["job".to_owned()]).await;
    let (message, _) = next_body(&mut sub_a).await;
    let b = server.connect_anonymous().await;
    let mut sub_b = subscribe_acking(&b, "/queue/nack", "client-individual", Some(1)).await;
    a.nack(&message).await.unwrap();
    let (again, body) = next_body(&mut sub_b).await;
    assert_eq!(body, "job");
    assert_eq!(again.get("redelivered"), Some("true"));
    nothing_more(&mut sub_a, "the other consumer had room").await;
}

#[tokio::test]
async fn a_full_queue_refuses_the_send_with_an_error() {
    let server = queue_server(BrokerConfig::default().with_max_held_per_queue(3)).await;
    let s = server.connect_anonymous().await;
    send_all(&s, "/queue/full", &numbered(3)).await;
    let refused = s
        .send_with_receipt(
            Frame::new(Command::Send)
                .header("destination", "/queue/full")
                .with_body("one too many"),
        )
        .await;
    match refused {
        Err(ClientError::Error { message, .. }) => assert_eq!(
            message,
            "queue `/queue/full` is full (3 messages wait for a consumer); message refused"
        ),
        other => panic!("expected an ERROR, got {other:?}"),
    }
    // Nothing was lost: the three held messages are still there.
    let consumer = server.connect_anonymous().await;
    let mut sub = consumer.subscribe("/queue/full").await.unwrap();
    for expected in numbered(3) {
        assert_eq!(next_body(&mut sub).await.1, expected);
    }
}

#[tokio::test]
async fn user_destinations_work_in_point_to_point_mode() {
    // Clients may send to users only where the application allows it.
    let server = TestServer::start(
        StompServer::builder()
            .handlers(Handlers::new())
            .interceptor(login_interceptor)
            .client_user_sends(ClientUserSends::Allow)
            .point_to_point(["/queue"]),
    )
    .await;
    let alice = server.connect("alice").await;
    let bob_phone = server.connect("bob").await;
    let mut phone = bob_phone.subscribe("/user/queue/inbox").await.unwrap();
    let bob_laptop = server.connect("bob").await;
    // Sent before the laptop subscribes: held for it, delivered on SUBSCRIBE.
    alice
        .send_with_receipt(
            Frame::new(Command::Send)
                .header("destination", "/user/bob/queue/inbox")
                .with_body("hi bob"),
        )
        .await
        .unwrap();
    let on_phone = phone.next_timeout(WAIT).await.unwrap();
    assert_eq!(on_phone.body_str(), Some("hi bob"));
    assert_eq!(on_phone.get("destination"), Some("/user/queue/inbox"));
    let mut laptop = bob_laptop.subscribe("/user/queue/inbox").await.unwrap();
    assert_eq!(
        laptop.next_timeout(WAIT).await.unwrap().body_str(),
        Some("hi bob")
    );
    // The template reaches both too; alice sees none of it.
    let mut alice_inbox = alice.subscribe("/user/queue/inbox").await.unwrap();
    assert_eq!(
        server
            .template
            .convert_and_send_to_user("bob", "/queue/inbox", "from the server")
            .unwrap(),
        2
    );
    for sub in [&mut phone, &mut laptop] {
        assert_eq!(
            sub.next_timeout(WAIT).await.unwrap().body_str(),
            Some("from the server")
        );
    }
    nothing_more(&mut alice_inbox, "not alice's").await;
}

#[tokio::test]
async fn patterns_are_refused_on_point_to_point_destinations() {
    let server = queue_server(BrokerConfig::default()).await;
    let s = server.connect_anonymous().await;
    let refused = s.subscribe("/queue/*").await;
    assert!(refused.is_err());
    let error = error_message(&s).await;
    assert!(error.get("message").unwrap().contains("take no patterns"));
}

#[tokio::test]
async fn topics_still_broadcast_beside_queues() {
    let server = queue_server(BrokerConfig::default()).await;
    let a = server.connect_anonymous().await;
    let mut sub_a = a.subscribe("/topic/news").await.unwrap();
    let b = server.connect_anonymous().await;
    let mut sub_b = b.subscribe("/topic/news").await.unwrap();
    send_all(&a, "/topic/news", &["extra".to_owned()]).await;
    assert_eq!(next_body(&mut sub_a).await.1, "extra");
    assert_eq!(next_body(&mut sub_b).await.1, "extra");
}

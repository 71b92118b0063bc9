//! Acknowledgements in the simple broker over real sockets: `ack:client` (cumulative) and
//! `ack:client-individual`, STOMP 1.1 acknowledgement by `message-id`, `NACK` redelivery and
//! dead letters, the prefetch window, unknown ids, transactions, subscription limits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};

use common::{
    error_message, next_body, nothing_more, send_all, subscribe_acking, TestServer, WAIT,
};
use stomp_server::client::StompClient;
use stomp_server::core::Version;
use stomp_server::{
    config::{BrokerConfig, Limits},
    event::SessionEvent,
    handler::Handlers,
    Command, Frame, StompServer,
};

async fn server_with(config: BrokerConfig) -> TestServer {
    TestServer::start(
        StompServer::builder()
            .handlers(Handlers::new())
            .broker_config(config),
    )
    .await
}

/// An `ACK`/`NACK` naming `message` by its STOMP 1.2 `ack` header.
fn ack_of(command: Command, message: &Frame) -> Frame {
    Frame::new(command).header("id", message.get("ack").expect("MESSAGE has an ack header"))
}

#[tokio::test]
async fn client_ack_is_cumulative() {
    let server = server_with(BrokerConfig::default()).await;
    let s = server.connect_anonymous().await;
    let mut sub = subscribe_acking(&s, "/topic/cumulative", "client", Some(3)).await;
    send_all(&s, "/topic/cumulative", &["m1", "m2", "m3", "m4", "m5"]).await;
    let (m1, _) = next_body(&mut sub).await;
    let (m2, b2) = next_body(&mut sub).await;
    let (_m3, b3) = next_body(&mut sub).await;
    assert_eq!((b2.as_str(), b3.as_str()), ("m2", "m3"));
    nothing_more(&mut sub, "the window of 3 is full").await;
    // ACK of m2 covers m1 too: two places free up.
    s.send_with_receipt(ack_of(Command::Ack, &m2))
        .await
        .unwrap();
    assert_eq!(next_body(&mut sub).await.1, "m4");
    assert_eq!(next_body(&mut sub).await.1, "m5");
    // m1 is no longer awaited.
    let id = m1.get("ack").unwrap().to_owned();
    s.send_frame(ack_of(Command::Ack, &m1).header("receipt", "r-m1"))
        .await
        .unwrap();
    let error = error_message(&s).await;
    assert!(
        error.get("message").unwrap().contains(&format!("`{id}`")),
        "{error:?}"
    );
    assert_eq!(error.get("receipt-id"), Some("r-m1"));
}

#[tokio::test]
async fn client_individual_acks_one_message_at_a_time() {
    let server = server_with(BrokerConfig::default()).await;
    let s = server.connect_anonymous().await;
    let mut sub = subscribe_acking(&s, "/topic/individual", "client-individual", Some(3)).await;
    send_all(&s, "/topic/individual", &["m1", "m2", "m3", "m4", "m5"]).await;
    let (m1, _) = next_body(&mut sub).await;
    let (m2, _) = next_body(&mut sub).await;
    let (m3, _) = next_body(&mut sub).await;
    assert_ne!(m1.get("ack"), m2.get("ack"));
    s.send_with_receipt(ack_of(Command::Ack, &m2))
        .await
        .unwrap();
    assert_eq!(next_body(&mut sub).await.1, "m4");
    nothing_more(&mut sub, "only m2 was acknowledged").await;
    s.send_with_receipt(ack_of(Command::Ack, &m1))
        .await
        .unwrap();
    assert_eq!(next_body(&mut sub).await.1, "m5");
    // m3 was not covered by the later ACKs.
    s.send_with_receipt(ack_of(Command::Ack, &m3))
        .await
        .unwrap();
    s.send_frame(ack_of(Command::Ack, &m2)).await.unwrap();
    let error = error_message(&s).await;
    assert!(error.get("message").unwrap().contains("unknown ack id"));
}

#[tokio::test]
async fn stomp_1_1_acknowledges_by_message_id_and_subscription() {
    let server = server_with(BrokerConfig::default()).await;
    let s = StompClient::new()
        .accept_versions(&[Version::V1_1])
        .connect(&server.url())
        .await
        .unwrap();
    assert_eq!(s.version(), Version::V1_1);
    let mut sub = subscribe_acking(&s, "/topic/v11", "client-individual", Some(1)).await;
    send_all(&s, "/topic/v11", &["m1", "m2"]).await;
    let (m1, _) = next_body(&mut sub).await;
    assert_eq!(m1.get("ack"), None, "1.1 acknowledges by message-id");
    nothing_more(&mut sub, "window of 1").await;
    // NACK by message-id + subscription: redelivered, marked so.
    s.nack(&m1).await.unwrap();
    let (again, body) = next_body(&mut sub).await;
    assert_eq!(body, "m1");
    assert_eq!(again.get("redelivered"), Some("true"));
    assert_eq!(again.get("message-id"), m1.get("message-id"));
    s.ack(&again).await.unwrap();
    let (m2, body) = next_body(&mut sub).await;
    assert_eq!(body, "m2");
    s.send_with_receipt(
        Frame::new(Command::Ack)
            .header("message-id", m2.get("message-id").unwrap())
            .header("subscription", sub.id()),
    )
    .await
    .unwrap();
    // Without the subscription header 1.1 refuses it.
    s.send_frame(Frame::new(Command::Ack).header("message-id", "1"))
        .await
        .unwrap();
    let error = error_message(&s).await;
    assert!(error.get("message").unwrap().contains("subscription"));
}

#[tokio::test]
async fn stomp_1_0_acknowledges_by_message_id_alone() {
    let server = server_with(BrokerConfig::default()).await;
    let s = StompClient::new()
        .accept_versions(&[Version::V1_0])
        .connect(&server.url())
        .await
        .unwrap();
    assert_eq!(s.version(), Version::V1_0);
    let mut sub = subscribe_acking(&s, "/topic/v10", "client", Some(1)).await;
    send_all(&s, "/topic/v10", &["m1", "m2"]).await;
    let (m1, _) = next_body(&mut sub).await;
    let ack = Frame::new(Command::Ack).header("message-id", m1.get("message-id").unwrap());
    s.send_with_receipt(ack.clone()).await.unwrap();
    assert_eq!(next_body(&mut sub).await.1, "m2");
    s.send_frame(ack).await.unwrap();
    let error = error_message(&s).await;
    assert!(
        error
            .get("message")
            .unwrap()
            .starts_with("unknown message-id"),
        "{error:?}"
    );
}

#[tokio::test]
async fn nack_redelivers_then_dead_letters_after_the_last_attempt() {
    let server = server_with(
        BrokerConfig::default()
            .with_max_delivery_attempts(3)
            .with_dead_letter_destination(Some("/queue/dead-letter".to_owned())),
    )
    .await;
    let watcher = server.connect_anonymous().await;
    let mut dead = watcher.subscribe("/queue/dead-letter").await.unwrap();
    let s = server.connect_anonymous().await;
    let mut sub = subscribe_acking(&s, "/topic/jobs", "client-individual", None).await;
    s.send_with_receipt(
        Frame::new(Command::Send)
            .header("destination", "/topic/jobs")
            .header("x-job", "7")
            .with_body("poison"),
    )
    .await
    .unwrap();
    for attempt in 1..=3 {
        let (message, body) = next_body(&mut sub).await;
        assert_eq!(body, "poison");
        let redelivered = message.get("redelivered");
        assert_eq!(redelivered, (attempt > 1).then_some("true"), "{attempt}");
        s.send_with_receipt(ack_of(Command::Nack, &message))
            .await
            .unwrap();
    }
    let letter = dead.next_timeout(WAIT).await.unwrap();
    assert_eq!(letter.body_str(), Some("poison"));
    assert_eq!(letter.get("original-destination"), Some("/topic/jobs"));
    assert_eq!(letter.get("delivery-attempts"), Some("3"));
    assert_eq!(letter.get("x-job"), Some("7"));
    nothing_more(&mut sub, "a dead letter is not delivered again").await;
}

#[tokio::test]
async fn without_a_dead_letter_destination_the_message_is_dropped() {
    let server = server_with(BrokerConfig::default().with_max_delivery_attempts(1)).await;
    let s = server.connect_anonymous().await;
    let mut sub = subscribe_acking(&s, "/topic/once", "client", None).await;
    send_all(&s, "/topic/once", &["only"]).await;
    let (message, _) = next_body(&mut sub).await;
    s.send_with_receipt(ack_of(Command::Nack, &message))
        .await
        .unwrap();
    nothing_more(&mut sub, "one attempt only").await;
}

#[tokio::test]
async fn the_prefetch_window_holds_back_the_third_message_until_an_ack() {
    let server = server_with(BrokerConfig::default().with_max_unacked_per_subscription(2)).await;
    let s = server.connect_anonymous().await;
    // A larger prefetch-count cannot raise the configured window.
    let mut sub = subscribe_acking(&s, "/topic/window", "client-individual", Some(50)).await;
    send_all(&s, "/topic/window", &["1", "2", "3"]).await;
    let (first, _) = next_body(&mut sub).await;
    assert_eq!(next_body(&mut sub).await.1, "2");
    nothing_more(&mut sub, "the window of 2 is full").await;
    s.ack(&first).await.unwrap();
    assert_eq!(next_body(&mut sub).await.1, "3");
    // ack:auto subscribers are not held back.
    let mut auto = s.subscribe("/topic/window").await.unwrap();
    send_all(&s, "/topic/window", &["a", "b", "c"]).await;
    for body in ["a", "b", "c"] {
        assert_eq!(
            auto.next_timeout(WAIT).await.unwrap().body_str(),
            Some(body)
        );
    }
}

#[tokio::test]
async fn a_subscriber_that_never_acknowledges_is_a_slow_consumer() {
    let server = server_with(
        BrokerConfig::default()
            .with_max_unacked_per_subscription(1)
            .with_max_pending_per_subscription(3),
    )
    .await;
    let s = server.connect_anonymous().await;
    let _sub = subscribe_acking(&s, "/topic/backlog", "client", None).await;
    let publisher = server.connect_anonymous().await;
    send_all(&publisher, "/topic/backlog", &["1", "2", "3", "4", "5"]).await;
    let error = error_message(&s).await;
    assert!(
        error.get("message").unwrap().contains("slow consumer"),
        "{error:?}"
    );
    tokio::time::timeout(WAIT, s.closed()).await.unwrap();
    assert_eq!(server.stats.snapshot().slow_consumer_closes, 1);
}

#[tokio::test]
async fn unknown_ack_id_is_an_error_naming_it() {
    let server = server_with(BrokerConfig::default()).await;
    let s = server.connect_anonymous().await;
    s.send_frame(
        Frame::new(Command::Nack)
            .header("id", "12345-sub-9")
            .header("receipt", "r-1"),
    )
    .await
    .unwrap();
    let error = error_message(&s).await;
    assert_eq!(
        error.get("message"),
        Some("unknown ack id `12345-sub-9`: no message awaiting acknowledgement has this id")
    );
    assert_eq!(error.get("receipt-id"), Some("r-1"));
}

#[tokio::test]
async fn acks_in_a_transaction_apply_on_commit_and_vanish_on_abort() {
    let server = server_with(BrokerConfig::default()).await;
    let s = server.connect_anonymous().await;
    let mut sub = subscribe_acking(&s, "/topic/tx-ack", "client-individual", Some(1)).await;
    send_all(&s, "/topic/tx-ack", &["m1", "m2", "m3"]).await;
    let (m1, _) = next_body(&mut sub).await;
    s.send_with_receipt(Frame::new(Command::Begin).header("transaction", "t"))
        .await
        .unwrap();
    s.send_with_receipt(ack_of(Command::Ack, &m1).header("transaction", "t"))
        .await
        .unwrap();
    nothing_more(&mut sub, "the ACK waits for COMMIT").await;
    s.send_with_receipt(Frame::new(Command::Commit).header("transaction", "t"))
        .await
        .unwrap();
    let (m2, body) = next_body(&mut sub).await;
    assert_eq!(body, "m2");
    s.begin("u").await.unwrap();
    s.send_frame(ack_of(Command::Ack, &m2).header("transaction", "u"))
        .await
        .unwrap();
    s.send_with_receipt(Frame::new(Command::Abort).header("transaction", "u"))
        .await
        .unwrap();
    nothing_more(&mut sub, "the aborted ACK never happened").await;
    // m2 is still awaited: acknowledging it now works and frees the window.
    s.send_with_receipt(ack_of(Command::Ack, &m2))
        .await
        .unwrap();
    assert_eq!(next_body(&mut sub).await.1, "m3");
}

#[tokio::test]
async fn a_commit_with_an_unknown_ack_is_an_error_naming_it() {
    let server = server_with(BrokerConfig::default()).await;
    let s = server.connect_anonymous().await;
    s.begin("t").await.unwrap();
    s.send_frame(
        Frame::new(Command::Ack)
            .header("id", "99-nope")
            .header("transaction", "t"),
    )
    .await
    .unwrap();
    s.send_frame(
        Frame::new(Command::Commit)
            .header("transaction", "t")
            .header("receipt", "c-1"),
    )
    .await
    .unwrap();
    let error = error_message(&s).await;
    assert!(
        error.get("message").unwrap().contains("`99-nope`"),
        "{error:?}"
    );
    assert_eq!(error.get("receipt-id"), Some("c-1"));
}

#[tokio::test]
async fn subscriptions_per_session_are_limited() {
    let server = TestServer::start(
        StompServer::builder()
            .handlers(Handlers::new())
            .limits(Limits::default().with_max_subscriptions_per_session(2)),
    )
    .await;
    let s = server.connect_anonymous().await;
    s.subscribe("/topic/a").await.unwrap();
    s.subscribe("/topic/b").await.unwrap();
    let third = s.subscribe("/topic/c").await;
    assert!(third.is_err(), "{third:?}");
    let error = error_message(&s).await;
    assert!(
        error
            .get("message")
            .unwrap()
            .contains("at most 2 subscriptions"),
        "{error:?}"
    );
}

#[tokio::test]
async fn unsubscribe_events_name_the_destination_and_unacked_messages_go_with_it() {
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&events);
    let server = TestServer::start(StompServer::builder().handlers(Handlers::new()).on_event(
        move |event, _| {
            if let SessionEvent::Unsubscribe {
                subscription,
                destination,
                ..
            } = event
            {
                seen.lock()
                    .unwrap()
                    .push((subscription.clone(), destination.clone()));
            }
        },
    ))
    .await;
    let s = server.connect_anonymous().await;
    let mut sub = subscribe_acking(&s, "/topic/leaving", "client", Some(1)).await;
    send_all(&s, "/topic/leaving", &["1", "2"]).await;
    next_body(&mut sub).await;
    let id = sub.id().to_owned();
    s.send_with_receipt(Frame::new(Command::Unsubscribe).header("id", &id))
        .await
        .unwrap();
    assert_eq!(
        *events.lock().unwrap(),
        vec![(id.clone(), "/topic/leaving".to_owned())]
    );
    // Broadcast: the unacknowledged message left with the subscription; a new one starts
    // empty.
    let mut again = subscribe_acking(&s, "/topic/leaving", "client", Some(1)).await;
    nothing_more(&mut again, "nothing carried over").await;
}

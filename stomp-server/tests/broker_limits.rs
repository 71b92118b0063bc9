//! What the simple broker holds is bounded in bytes: per point-to-point destination, for all
//! of them together, and per session for unacknowledged or waiting messages; the totals are
//! in the stats.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{
    error_message, next_body, point_to_point, send_all, subscribe_acking, TestServer, WAIT,
};
use stomp_server::client::ClientError;
use stomp_server::{config::BrokerConfig, Command, Frame};

async fn server_with(config: BrokerConfig) -> TestServer {
    TestServer::start(point_to_point(config)).await
}

/// A body of `size` bytes.
fn body(size: usize) -> String {
    "x".repeat(size)
}

/// The `message` of the ERROR that answers a `SEND` with a receipt.
async fn refused(session: &stomp_server::client::StompSession, destination: &str) -> String {
    let frame = Frame::new(Command::Send)
        .header("destination", destination)
        .with_body(body(1_000));
    match session.send_with_receipt(frame).await {
        Err(ClientError::Error { message, .. }) => message,
        other => panic!("expected an ERROR, got {other:?}"),
    }
}

#[tokio::test]
async fn a_queue_past_its_byte_bound_refuses_the_send_and_keeps_what_it_holds() {
    let server = server_with(BrokerConfig::default().with_max_held_bytes_per_queue(10_000)).await;
    let destination = "/queue/limits-bytes";
    // Each message holds its destination and its body: 1,019 bytes.
    let size = destination.len() + 1_000;
    let publisher = server.connect_anonymous().await;
    send_all(&publisher, destination, &vec![body(1_000); 9]).await;
    let stats = server.stats.snapshot();
    assert_eq!(
        (stats.queued_messages, stats.queued_bytes),
        (9, 9 * size as u64)
    );
    let message = refused(&publisher, destination).await;
    assert_eq!(
        message,
        format!(
            "queue `{destination}` is full ({} bytes wait for a consumer, limit 10000); message refused",
            9 * size
        )
    );
    // Nothing held was lost, and the stats follow the queue down.
    let consumer = server.connect_anonymous().await;
    let mut sub = consumer.subscribe(destination).await.unwrap();
    for _ in 0..9 {
        next_body(&mut sub).await;
    }
    let stats = server.stats.snapshot();
    assert_eq!((stats.queued_messages, stats.queued_bytes), (0, 0));
}

#[tokio::test]
async fn all_queues_together_are_bounded_in_bytes() {
    let server = server_with(BrokerConfig::default().with_max_held_bytes_total(5_000)).await;
    let publisher = server.connect_anonymous().await;
    send_all(&publisher, "/queue/limits-total-a", &vec![body(1_000); 2]).await;
    send_all(&publisher, "/queue/limits-total-b", &vec![body(1_000); 2]).await;
    let message = refused(&publisher, "/queue/limits-total-c").await;
    assert!(
        message.starts_with("the broker's queues are full (")
            && message.ends_with("limit 5000); message to `/queue/limits-total-c` refused"),
        "{message}"
    );
}

#[tokio::test]
async fn unacknowledged_bytes_are_in_the_stats_until_acknowledged() {
    let server = server_with(BrokerConfig::default()).await;
    let destination = "/topic/limits-stats";
    let s = server.connect_anonymous().await;
    let mut sub = subscribe_acking(&s, destination, "client", None).await;
    send_all(&s, destination, &vec![body(100); 3]).await;
    let mut last = None;
    for _ in 0..3 {
        last = Some(next_body(&mut sub).await.0);
    }
    let size = (destination.len() + 100) as u64;
    assert_eq!(server.stats.snapshot().unacked_bytes, 3 * size);
    let last = last.unwrap();
    let ack = Frame::new(Command::Ack).header("id", last.get("ack").unwrap());
    s.send_with_receipt(ack).await.unwrap();
    assert_eq!(server.stats.snapshot().unacked_bytes, 0);
}

#[tokio::test]
async fn a_session_holding_too_many_unacknowledged_bytes_is_a_slow_consumer() {
    let server =
        server_with(BrokerConfig::default().with_max_unacked_bytes_per_session(64 * 1024)).await;
    let s = server.connect_anonymous().await;
    // Two subscriptions that read but never acknowledge: together past the session's bound
    // long before their windows (1,000 messages each) fill.
    let _a = subscribe_acking(&s, "/topic/limits-slow-a", "client", None).await;
    let _b = subscribe_acking(&s, "/topic/limits-slow-b", "client", None).await;
    let publisher = server.connect_anonymous().await;
    for destination in ["/topic/limits-slow-a", "/topic/limits-slow-b"] {
        send_all(&publisher, destination, &vec![body(2_000); 20]).await;
    }
    let error = error_message(&s).await;
    let message = error.get("message").unwrap();
    assert!(
        message.contains("slow consumer") && message.contains("(limit 65536)"),
        "{message}"
    );
    tokio::time::timeout(WAIT, s.closed()).await.unwrap();
    // The session is gone, and what it held with it (safety net for its teardown only).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while server.stats.snapshot().unacked_bytes > 0 {
        assert!(tokio::time::Instant::now() < deadline, "still held");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(server.stats.snapshot().slow_consumer_closes, 1);
}

#[tokio::test]
async fn a_queue_consumer_kept_full_by_its_backlog_leaves_room_for_its_sessions_topics() {
    let server =
        server_with(BrokerConfig::default().with_max_unacked_bytes_per_session(64 * 1024)).await;
    let publisher = server.connect_anonymous().await;
    let jobs = "/queue/limits-share-jobs";
    let news = "/topic/limits-share-news";
    // 200 KB of jobs: far more than the session's bound, so the queue keeps the consumer
    // at its share however promptly it acknowledges.
    send_all(&publisher, jobs, &vec![body(1_000); 200]).await;
    let s = server.connect_anonymous().await;
    let mut news_sub = subscribe_acking(&s, news, "client", None).await;
    let mut jobs_sub = subscribe_acking(&s, jobs, "client", None).await;
    for _ in 0..10 {
        let (job, _) = next_body(&mut jobs_sub).await;
        let ack = Frame::new(Command::Ack).header("id", job.get("ack").unwrap());
        s.send_with_receipt(ack).await.unwrap();
    }
    // One news message to a subscription holding nothing: delivered, not a slow consumer.
    send_all(&publisher, news, &[body(1_000)]).await;
    let (_, got) = next_body(&mut news_sub).await;
    assert_eq!(got, body(1_000));
    assert_eq!(server.stats.snapshot().slow_consumer_closes, 0);
    let (job, _) = next_body(&mut jobs_sub).await;
    assert!(job.get("ack").is_some(), "the session still works");
}

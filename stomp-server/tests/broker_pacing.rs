//! Point-to-point backlogs delivered at the pace a consumer's connection drains: a large
//! backlog reaches one consumer whole and in order, whatever its `ack` mode, instead of
//! overflowing its send buffer (which cut the consumer off and lost what was queued for it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{send_all, TestServer};
use stomp_server::client::{StompSession, Subscription};
use stomp_server::{BrokerConfig, Command, Frame, Handlers, StompServer};

/// A safety net against hanging only: every message normally arrives in well under this.
const DRAIN: Duration = Duration::from_secs(120);

async fn queue_server(config: BrokerConfig) -> TestServer {
    TestServer::start(
        StompServer::builder()
            .handlers(Handlers::new())
            .broker_config(BrokerConfig {
                point_to_point_prefixes: vec!["/queue".to_owned()],
                ..config
            }),
    )
    .await
}

/// Limits raised so that a 100,000-message backlog fits.
fn roomy() -> BrokerConfig {
    BrokerConfig {
        max_held_per_queue: 200_000,
        max_held_total: 200_000,
        max_held_bytes_per_queue: 256 * 1024 * 1024,
        max_held_bytes_total: 256 * 1024 * 1024,
        ..BrokerConfig::default()
    }
}

/// `count` bodies of `size` bytes each, numbered at the front.
fn bodies(count: usize, size: usize) -> Vec<String> {
    (0..count)
        .map(|i| format!("{i:0>size$}", size = size.max(8)))
        .collect()
}

/// Subscribes without waiting for a receipt: the backlog arrives before it would, and the
/// client stops reading once its subscription's buffer (1,024 messages) is full until the
/// test takes the subscription.
async fn subscribe(session: &StompSession, destination: &str, ack: &str) -> Subscription {
    let frame = Frame::new(Command::Subscribe)
        .header("destination", destination)
        .header("ack", ack);
    session
        .subscribe_with(frame, false)
        .await
        .expect("subscribe")
}

/// Receives `expected` in order on `sub`, acknowledging every `ack_every`-th message (0: none).
async fn receive_in_order(
    session: &StompSession,
    sub: &mut Subscription,
    expected: &[String],
    ack_every: usize,
) {
    for (i, want) in expected.iter().enumerate() {
        let frame = match sub.next_timeout(DRAIN).await {
            Ok(frame) => frame,
            Err(error) => panic!("message {i} of {} never came: {error}", expected.len()),
        };
        assert_eq!(
            frame.body_str(),
            Some(want.as_str()),
            "message {i} out of order"
        );
        if ack_every > 0 && (i + 1) % ack_every == 0 {
            session.ack(&frame).await.unwrap();
        }
    }
}

#[tokio::test]
async fn an_auto_ack_consumer_receives_a_backlog_larger_than_its_send_buffer() {
    let server = queue_server(BrokerConfig::default()).await;
    let publisher = server.connect_anonymous().await;
    // 4,000 × 200 bytes: more than the 512 KiB send buffer at once.
    let sent = bodies(4_000, 200);
    send_all(&publisher, "/queue/pacing-auto", &sent).await;
    let consumer = server.connect_anonymous().await;
    let mut sub = subscribe(&consumer, "/queue/pacing-auto", "auto").await;
    receive_in_order(&consumer, &mut sub, &sent, 0).await;
}

#[tokio::test]
async fn a_client_ack_consumer_receives_a_backlog_larger_than_its_send_buffer() {
    let server = queue_server(BrokerConfig::default()).await;
    let publisher = server.connect_anonymous().await;
    // 1,500 × 1,000 bytes: the 1,000-message window alone is twice the send buffer.
    let sent = bodies(1_500, 1_000);
    send_all(&publisher, "/queue/pacing-client", &sent).await;
    let consumer = server.connect_anonymous().await;
    let mut sub = subscribe(&consumer, "/queue/pacing-client", "client").await;
    receive_in_order(&consumer, &mut sub, &sent, 100).await;
}

#[tokio::test]
async fn a_hundred_thousand_message_backlog_drains_to_one_auto_consumer() {
    let server = queue_server(roomy()).await;
    let publisher = server.connect_anonymous().await;
    let sent = bodies(100_000, 16);
    send_all(&publisher, "/queue/pacing-100k-auto", &sent).await;
    let consumer = server.connect_anonymous().await;
    let mut sub = subscribe(&consumer, "/queue/pacing-100k-auto", "auto").await;
    receive_in_order(&consumer, &mut sub, &sent, 0).await;
}

#[tokio::test]
async fn a_hundred_thousand_message_backlog_drains_to_one_client_ack_consumer() {
    let server = queue_server(roomy()).await;
    let publisher = server.connect_anonymous().await;
    let sent = bodies(100_000, 16);
    send_all(&publisher, "/queue/pacing-100k-client", &sent).await;
    let consumer = server.connect_anonymous().await;
    let mut sub = subscribe(&consumer, "/queue/pacing-100k-client", "client").await;
    receive_in_order(&consumer, &mut sub, &sent, 500).await;
}

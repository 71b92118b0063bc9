//! Point-to-point backlogs delivered at the pace a consumer's connection drains: a large
//! backlog reaches one consumer whole and in order, whatever its `ack` mode, instead of
//! overflowing its send buffer (which cut the consumer off and lost what was queued for it).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod raw;

use std::collections::HashSet;
use std::time::Duration;

use common::{point_to_point, send_all, TestServer};
use futures_util::SinkExt;
use raw::{raw, read_text};
use stomp_server::client::{StompSession, Subscription};
use stomp_server::{
    config::{BrokerConfig, Limits},
    Command, Frame,
};
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// A safety net against hanging only: every message normally arrives in well under this.
const DRAIN: Duration = Duration::from_secs(120);

async fn queue_server(config: BrokerConfig) -> TestServer {
    queue_server_with(config, Limits::default()).await
}

async fn queue_server_with(config: BrokerConfig, limits: Limits) -> TestServer {
    TestServer::start(point_to_point(config).limits(limits)).await
}

/// Limits raised so that a 100,000-message backlog fits.
fn roomy() -> BrokerConfig {
    BrokerConfig::default()
        .with_max_held_per_queue(200_000)
        .with_max_held_total(200_000)
        .with_max_held_bytes_per_queue(256 * 1024 * 1024)
        .with_max_held_bytes_total(256 * 1024 * 1024)
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

/// Publishes `count` bodies of `size` bytes to `destination` with no consumer, then one
/// consumer in `ack` mode (acknowledging every `ack_every`, 0: never) must receive them all,
/// in order.
async fn backlog_drains_whole(
    config: BrokerConfig,
    destination: &str,
    (count, size): (usize, usize),
    ack: &str,
    ack_every: usize,
) {
    let server = queue_server(config).await;
    let publisher = server.connect_anonymous().await;
    let sent = bodies(count, size);
    send_all(&publisher, destination, &sent).await;
    let consumer = server.connect_anonymous().await;
    let mut sub = subscribe(&consumer, destination, ack).await;
    receive_in_order(&consumer, &mut sub, &sent, ack_every).await;
}

#[tokio::test]
async fn an_auto_ack_consumer_receives_a_backlog_larger_than_its_send_buffer() {
    // 4,000 × 200 bytes: more than the 512 KiB send buffer at once.
    let config = BrokerConfig::default();
    backlog_drains_whole(config, "/queue/pacing-auto", (4_000, 200), "auto", 0).await;
}

#[tokio::test]
async fn a_client_ack_consumer_receives_a_backlog_larger_than_its_send_buffer() {
    // 1,500 × 1,000 bytes: the 1,000-message window alone is twice the send buffer.
    let config = BrokerConfig::default();
    backlog_drains_whole(
        config,
        "/queue/pacing-client",
        (1_500, 1_000),
        "client",
        100,
    )
    .await;
}

#[tokio::test]
async fn a_hundred_thousand_message_backlog_drains_to_one_auto_consumer() {
    backlog_drains_whole(roomy(), "/queue/pacing-100k-auto", (100_000, 16), "auto", 0).await;
}

#[tokio::test]
async fn a_hundred_thousand_message_backlog_drains_to_one_client_ack_consumer() {
    let destination = "/queue/pacing-100k-client";
    backlog_drains_whole(roomy(), destination, (100_000, 16), "client", 500).await;
}

/// A frame read by hand: command, headers, body.
type RawFrame = (String, Vec<(String, String)>, String);

/// Every frame in `text` (one WebSocket message).
fn frames(text: &str) -> Vec<RawFrame> {
    text.split('\0')
        .map(|f| f.trim_start_matches(['\n', '\r']))
        .filter(|f| !f.is_empty())
        .map(|f| {
            let (head, body) = f.split_once("\n\n").expect("a frame");
            let mut lines = head.lines();
            let command = lines.next().expect("a command").to_owned();
            let headers = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect();
            (command, headers, body.to_owned())
        })
        .collect()
}

#[tokio::test]
async fn an_auto_ack_consumer_that_unsubscribes_mid_backlog_loses_nothing() {
    let server = queue_server(roomy()).await;
    let publisher = server.connect_anonymous().await;
    // 20,000 × 1,000 bytes: more than the socket buffers take, so that the consumer's
    // writer is stuck with a credit's worth queued when it unsubscribes.
    let sent = bodies(20_000, 1_000);
    let destination = "/queue/pacing-leave";
    send_all(&publisher, destination, &sent).await;
    let mut leaving = silent_consumer(&server, destination).await;
    // It reads nothing until the backlog started flowing to it, then leaves.
    dispatch_started(&server, sent.len()).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let unsubscribe = "UNSUBSCRIBE\nid:leaving\nreceipt:left\n\n\0";
    leaving.send(WsMessage::text(unsubscribe)).await.unwrap();
    // Everything it is sent up to the receipt: what the writer reached before the
    // UNSUBSCRIBE (the rest is skipped, not written to a subscription that is gone).
    let mut got: HashSet<String> = HashSet::new();
    'receipt: loop {
        let text = read_text(&mut leaving)
            .await
            .expect("the receipt never came");
        for (command, headers, body) in frames(&text) {
            match command.as_str() {
                "MESSAGE" => assert!(got.insert(body), "twice to one subscription"),
                "RECEIPT" => break 'receipt,
                other => panic!("unexpected {other}: {headers:?}"),
            }
        }
    }
    assert!(
        got.len() < sent.len(),
        "the backlog was not stuck: nothing to check"
    );
    // The next consumer gets the rest; one being written at the UNSUBSCRIBE may come
    // again, marked redelivered.
    let consumer = server.connect_anonymous().await;
    let mut sub = subscribe(&consumer, destination, "auto").await;
    let mut missing: HashSet<&String> = sent.iter().filter(|b| !got.contains(*b)).collect();
    while !missing.is_empty() {
        let frame = match sub.next_timeout(DRAIN).await {
            Ok(frame) => frame,
            Err(error) => panic!("{} messages lost: {error}", missing.len()),
        };
        let body = frame.body_str().unwrap().to_owned();
        if got.contains(&body) {
            assert_eq!(
                frame.get("redelivered"),
                Some("true"),
                "a duplicate unmarked"
            );
        }
        missing.remove(&body);
    }
}

/// A raw consumer of `destination` (`ack:auto`, subscription `leaving`) that reads nothing.
async fn silent_consumer(server: &TestServer, destination: &str) -> raw::Raw {
    let mut ws = raw(server).await;
    let connect = "CONNECT\naccept-version:1.2\nhost:localhost\n\n\0";
    ws.send(WsMessage::text(connect)).await.unwrap();
    assert!(read_text(&mut ws).await.unwrap().starts_with("CONNECTED"));
    let subscribe = format!("SUBSCRIBE\nid:leaving\ndestination:{destination}\nack:auto\n\n\0");
    ws.send(WsMessage::text(subscribe)).await.unwrap();
    ws
}

/// The bodies of every `MESSAGE` `ws` still receives until its connection ends.
async fn rest_of(ws: &mut raw::Raw) -> HashSet<String> {
    let mut got = HashSet::new();
    while let Some(text) = read_text(ws).await {
        for (command, _, body) in frames(&text) {
            if command == "MESSAGE" {
                got.insert(body);
            }
        }
    }
    got
}

#[tokio::test]
async fn what_a_stuck_consumer_had_not_written_when_it_unsubscribed_reaches_the_next_one() {
    // A write stuck for a second ends the session.
    let limits = Limits::default().with_send_time(Duration::from_secs(1));
    let server = queue_server_with(roomy(), limits).await;
    let publisher = server.connect_anonymous().await;
    // More than the socket buffers take: the consumer's writer gets stuck with a credit's
    // worth queued.
    let sent = bodies(20_000, 1_000);
    let destination = "/queue/pacing-stuck-leave";
    send_all(&publisher, destination, &sent).await;
    let mut leaving = silent_consumer(&server, destination).await;
    dispatch_started(&server, sent.len()).await;
    let deadline = tokio::time::Instant::now() + DRAIN;
    tokio::time::sleep(Duration::from_millis(100)).await;
    // Leaves while stuck; the stuck write then ends the session.
    let unsubscribe = "UNSUBSCRIBE\nid:leaving\n\n\0";
    leaving.send(WsMessage::text(unsubscribe)).await.unwrap();
    while server.stats.snapshot().slow_consumer_closes == 0 {
        assert!(tokio::time::Instant::now() < deadline, "never cut off");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // What reached the client before the end; the next consumer gets everything else.
    let got = rest_of(&mut leaving).await;
    assert!(
        got.len() < sent.len(),
        "the backlog was not stuck: nothing to check"
    );
    let consumer = server.connect_anonymous().await;
    let mut sub = subscribe(&consumer, destination, "auto").await;
    let mut missing: HashSet<&String> = sent.iter().filter(|b| !got.contains(*b)).collect();
    while !missing.is_empty() {
        let frame = match sub.next_timeout(DRAIN).await {
            Ok(frame) => frame,
            Err(error) => panic!("{} messages lost: {error}", missing.len()),
        };
        missing.remove(&frame.body_str().unwrap().to_owned());
    }
}

/// Waits until the queue no longer holds all `sent` messages: dispatch to the consumer began.
async fn dispatch_started(server: &TestServer, sent: usize) {
    let deadline = tokio::time::Instant::now() + DRAIN;
    while server.stats.snapshot().queued_messages as usize == sent {
        assert!(tokio::time::Instant::now() < deadline, "nothing dispatched");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

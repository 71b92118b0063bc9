//! The relay's shared topic subscriptions under load: two instances on one RabbitMQ, a
//! publisher on A sending a numbered sequence while subscribers on both instances come and
//! go. Every subscriber sees each number at most once, in order, with no gap, from no later
//! than the first number sent after its `RECEIPT`; the ones that stay see the whole
//! sequence. A third instance has only subscribers that come and go, so its RabbitMQ
//! subscription comes and goes with them. An exact and a pattern subscription of one session on one instance (two
//! RabbitMQ subscriptions of that instance, each handed every message) each get it once.
//!
//! ```text
//! bash tests/relay/start-rabbitmq.sh
//! cargo test -p tests --test relay_shared -- --nocapture
//! ```

mod relay_common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use relay_common::{body, init_logging, rabbit_or_skip, unique, Instance};
use stomp_server::client::{StompClient, StompSession, Subscription};
use stomp_server::relay::RelayConfig;

const TEST: &str = "relay_shared";
/// Numbers the publisher sends.
const SENT: u64 = 3_000;
/// How long a churning subscriber stays before it unsubscribes (and comes back).
const STAY: Duration = Duration::from_millis(150);
/// The longest wait for one message (a safety net).
const WAIT: Duration = Duration::from_secs(20);

/// What one subscription received, as numbers.
fn number(frame: &stomp_server::Frame) -> u64 {
    body(frame)
        .parse()
        .unwrap_or_else(|_| panic!("a number, got {:?}", body(frame)))
}

/// Checks that `got` is a run of consecutive numbers starting no later than `live_from`
/// (the first number whose sending began after the subscription's receipt), unless it
/// ended before then.
fn assert_contiguous(what: &str, got: &[u64], live_from: u64) {
    for pair in got.windows(2) {
        assert!(
            pair[1] == pair[0] + 1,
            "{what}: {} followed {} (a gap, a duplicate or a reordering) in {got:?}",
            pair[1],
            pair[0]
        );
    }
    if let (Some(first), Some(last)) = (got.first(), got.last()) {
        assert!(
            *first <= live_from || *last < live_from,
            "{what}: subscribed (receipt) when {live_from} was next, but the first message was {first}: lost the ones between"
        );
    }
}

/// Receives until `last` (the whole sequence).
async fn receive_all(what: &str, subscription: &mut Subscription, last: u64) -> Vec<u64> {
    let mut got = Vec::new();
    while got.last() != Some(&last) {
        let frame = subscription
            .next_timeout(WAIT)
            .await
            .unwrap_or_else(|e| panic!("{what}: after {} messages: {e}", got.len()));
        got.push(number(&frame));
    }
    got
}

/// Subscribes, receives for [`STAY`], unsubscribes, and again, until the publisher is done;
/// checks each round.
async fn churn(name: String, session: StompSession, topic: String, next: Arc<AtomicU64>) -> usize {
    let mut rounds = 0;
    while next.load(Ordering::Acquire) < SENT {
        let mut subscription = session.subscribe(&topic).await.expect("SUBSCRIBE");
        // The number being sent when the receipt came may have gone out before the
        // subscription was live; the one after it began after the receipt.
        let live_from = next.load(Ordering::Acquire) + 1;
        let mut got = Vec::new();
        let until = tokio::time::Instant::now() + STAY;
        while let Ok(Some(frame)) = tokio::time::timeout_at(until, subscription.next()).await {
            got.push(number(&frame.expect("a MESSAGE")));
        }
        assert_contiguous(&format!("{name} round {rounds}"), &got, live_from);
        subscription.unsubscribe().await.expect("UNSUBSCRIBE");
        rounds += 1;
    }
    rounds
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_coming_and_going_under_load_miss_nothing_and_see_nothing_twice() {
    if !rabbit_or_skip(TEST) {
        return;
    }
    let seen = churn_under_load(RelayConfig::default()).await;
    assert_eq!(
        seen,
        Seen {
            frames: SENT,
            batches: 0
        },
        "without the publish batch, RabbitMQ's own clients see one message per message"
    );
}

/// The same with the publish batch on: the numbers the template publishes in bursts reach
/// RabbitMQ several to a message, and come out one by one, in order, once each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_publish_batches_too() {
    if !rabbit_or_skip(TEST) {
        return;
    }
    let seen = churn_under_load(RelayConfig::default().with_publish_batch(64)).await;
    println!(
        "{TEST}: with batches: RabbitMQ carried {SENT} messages in {} frames ({} batches)",
        seen.frames, seen.batches
    );
    assert!(
        seen.batches > 0 && seen.frames < SENT,
        "nothing was batched: {seen:?}"
    );
}

/// What a plain RabbitMQ client (on RabbitMQ's Web-STOMP port) subscribed to the topic saw.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    /// `MESSAGE` frames.
    frames: u64,
    /// Frames that were batches.
    batches: u64,
}

/// Subscribes at RabbitMQ itself to `topic` (in RabbitMQ's words) and counts what comes,
/// until it carried `SENT` messages.
async fn watch_rabbitmq(topic: &str) -> tokio::task::JoinHandle<Seen> {
    let session = StompClient::new()
        .login("guest", "guest")
        .host("/")
        .connect("ws://127.0.0.1:15674/ws")
        .await
        .unwrap_or_else(|e| panic!("{TEST}: RabbitMQ's Web-STOMP (port 15674): {e}"));
    let mut subscription = session
        .subscribe(topic)
        .await
        .expect("SUBSCRIBE at RabbitMQ");
    tokio::spawn(async move {
        let mut seen = Seen {
            frames: 0,
            batches: 0,
        };
        let mut carried = 0;
        while carried < SENT {
            let frame = subscription
                .next_timeout(WAIT)
                .await
                .expect("RabbitMQ's MESSAGE");
            seen.frames += 1;
            match frame
                .get("x-stomp-relay-batch")
                .and_then(|n| n.parse::<u64>().ok())
            {
                Some(n) => {
                    seen.batches += 1;
                    carried += n;
                }
                None => carried += 1,
            }
        }
        let _ = session.disconnect().await;
        seen
    })
}

async fn churn_under_load(config: RelayConfig) -> Seen {
    init_logging();
    let a = Instance::start_with("A", config.clone()).await;
    let b = Instance::start_with("B", config.clone()).await;
    // C has only subscribers that come and go: each first one makes C subscribe at
    // RabbitMQ, and its RECEIPT must wait for that.
    let c = Instance::start_with("C", config).await;
    for instance in [&a, &b, &c] {
        instance.wait_available(WAIT).await;
    }
    let base = format!("/topic/relay/churn/{}", unique());
    let topic = format!("{base}/numbers");
    let pattern = format!("{base}/*");
    let at_rabbitmq = format!(
        "/topic/{}",
        topic.trim_start_matches("/topic/").replace('/', ".")
    );
    let watcher = watch_rabbitmq(&at_rabbitmq).await;

    let stay_a = a.connect(&format!("stay-a-{}", unique())).await;
    let stay_b = b.connect(&format!("stay-b-{}", unique())).await;
    let mut exact_a = stay_a.subscribe(&topic).await.expect("SUBSCRIBE on A");
    let mut exact_b = stay_b.subscribe(&topic).await.expect("SUBSCRIBE on B");
    let mut pattern_b = stay_b.subscribe(&pattern).await.expect("SUBSCRIBE * on B");

    let next = Arc::new(AtomicU64::new(0));
    let mut churners = Vec::new();
    for (i, instance) in [&a, &b, &c, &c].into_iter().enumerate() {
        let name = format!("churner {i} on {}", instance.name);
        let session = instance.connect(&format!("churn-{i}-{}", unique())).await;
        churners.push(tokio::spawn(churn(
            name,
            session,
            topic.clone(),
            Arc::clone(&next),
        )));
    }
    // The publisher: the template of A, numbers in order, a little at a time.
    for n in 0..SENT {
        next.store(n, Ordering::Release);
        a.template
            .convert_and_send(&topic, &n.to_string())
            .unwrap_or_else(|e| panic!("publishing {n}: {e}"));
        if n % 20 == 19 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    next.store(SENT, Ordering::Release);
    // Read side by side: a subscription the test does not read holds its session's reader
    // once its client buffer is full.
    let last = SENT - 1;
    let whole: Vec<u64> = (0..SENT).collect();
    let (got_a, got_b, got_pattern) = tokio::join!(
        receive_all("the subscriber that stays on A", &mut exact_a, last),
        receive_all("the subscriber that stays on B", &mut exact_b, last),
        receive_all("the pattern subscriber on B", &mut pattern_b, last),
    );
    for (what, got) in [("A", got_a), ("B", got_b), ("B's pattern", got_pattern)] {
        assert!(got == whole, "{what}: not 0..{SENT} exactly once in order");
    }
    let mut rounds = 0;
    for churner in churners {
        rounds += churner.await.expect("a churner");
    }
    println!("{TEST}: {SENT} messages; {rounds} subscribe/unsubscribe rounds checked");
    assert!(rounds >= 4, "the churners hardly ran ({rounds} rounds)");
    for instance in [a, b, c] {
        instance.shutdown().await;
    }
    watcher.await.expect("the watcher")
}

/// The relay's own marks on what it sends RabbitMQ are its own: a client that sets the batch
/// header gets its body delivered as one message (not the frames it holds), and one that
/// sets an origin cannot hide its message from an instance. Neither header reaches a reader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_can_forge_neither_a_batch_nor_an_origin() {
    if !rabbit_or_skip(TEST) {
        return;
    }
    init_logging();
    let a = Instance::start_with("A", RelayConfig::default().with_publish_batch(64)).await;
    let b = Instance::start_with("B", RelayConfig::default().with_publish_batch(64)).await;
    a.wait_available(WAIT).await;
    b.wait_available(WAIT).await;
    let topic = format!("/topic/relay/forged/{}", unique());
    let reader = b.connect(&format!("reader-{}", unique())).await;
    let mut reading = reader.subscribe(&topic).await.expect("SUBSCRIBE on B");
    let sender = a.connect(&format!("forger-{}", unique())).await;
    let forged_batch = "SEND\n\nfake one\0SEND\n\nfake two\0";
    let frames = [
        ("x-stomp-relay-batch", "2", forged_batch),
        ("x-stomp-relay-origin", "0000000000000000", "with an origin"),
    ];
    for (header, value, text) in frames {
        let frame = stomp_server::Frame::new(stomp_server::Command::Send)
            .header("destination", &topic)
            .header(header, value)
            .with_body(text.to_owned());
        sender.send_with_receipt(frame).await.expect("SEND");
    }
    for expected in [forged_batch, "with an origin"] {
        let frame = reading.next_timeout(WAIT).await.expect("a MESSAGE on B");
        assert_eq!(body(&frame), expected);
        assert!(
            frame.get("x-stomp-relay-batch").is_none()
                && frame.get("x-stomp-relay-origin").is_none(),
            "a relay header reached the reader: {frame:?}"
        );
    }
    a.shutdown().await;
    b.shutdown().await;
}

/// With the publish batch on, an `ack:client-individual` topic subscription is served by the
/// instance's local broker too (a batch never reaches a session's own RabbitMQ connection):
/// each message of a batch arrives on its own with an `ack` id, a `NACK` redelivers it, an
/// `ACK` settles it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_batches_client_acks_on_topics_are_the_local_brokers() {
    if !rabbit_or_skip(TEST) {
        return;
    }
    init_logging();
    let config = RelayConfig::default().with_publish_batch(64);
    let a = Instance::start_with("A", config.clone()).await;
    let b = Instance::start_with("B", config).await;
    a.wait_available(WAIT).await;
    b.wait_available(WAIT).await;
    let topic = format!("/topic/relay/acks/{}", unique());
    let reader = b.connect(&format!("acker-{}", unique())).await;
    let frame = stomp_server::Frame::new(stomp_server::Command::Subscribe)
        .header("destination", &topic)
        .header("ack", "client-individual");
    let mut acking = reader.subscribe_with(frame, true).await.expect("SUBSCRIBE");
    // A burst, so that A batches it.
    for n in 0..50 {
        a.template
            .convert_and_send(&topic, &n.to_string())
            .expect("publish");
    }
    let first = acking.next_timeout(WAIT).await.expect("the first message");
    assert_eq!(body(&first), "0");
    assert!(first.get("ack").is_some(), "no ack id: {first:?}");
    reader.nack(&first).await.expect("NACK");
    let mut seen = Vec::new();
    let mut redelivered = false;
    while seen.len() < 50 {
        let frame = acking.next_timeout(WAIT).await.expect("a message");
        assert!(
            frame.get("x-stomp-relay-batch").is_none(),
            "a batch reached the client"
        );
        let n = number(&frame);
        if n == 0 {
            redelivered = true;
        }
        seen.push(n);
        reader.ack(&frame).await.expect("ACK");
    }
    seen.sort_unstable();
    assert!(redelivered, "the NACKed message came back");
    assert_eq!(seen, (0..50).collect::<Vec<u64>>());
    a.shutdown().await;
    b.shutdown().await;
}

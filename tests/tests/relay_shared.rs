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
use stomp_server::client::{StompSession, Subscription};

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
/// (the first number sent after the subscription's receipt), unless it ended before then.
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
        let live_from = next.load(Ordering::Acquire);
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
    init_logging();
    let a = Instance::start("A").await;
    let b = Instance::start("B").await;
    // C has only subscribers that come and go: each first one makes C subscribe at
    // RabbitMQ, and its RECEIPT must wait for that.
    let c = Instance::start("C").await;
    for instance in [&a, &b, &c] {
        instance.wait_available(WAIT).await;
    }
    let base = format!("/topic/relay/churn/{}", unique());
    let topic = format!("{base}/numbers");
    let pattern = format!("{base}/*");

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
        a.template
            .convert_and_send(&topic, &n.to_string())
            .unwrap_or_else(|e| panic!("publishing {n}: {e}"));
        next.store(n + 1, Ordering::Release);
        if n % 20 == 19 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
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
}

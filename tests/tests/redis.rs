//! The Redis backplane with a real redis-server: two instances on one Redis serve one set of
//! broadcast destinations.
//!
//! ```text
//! bash tests/redis/start-redis.sh          # once: redis-server on 127.0.0.1:6379
//! cargo test -p tests --test redis
//! ```
//!
//! Without Redis each test prints a loud `SKIPPED` line and passes, unless
//! `STOMP_REQUIRE_ALL=1`. Every test uses destinations of its own, so they run in parallel
//! and beside other users of the same Redis. The restart test is `redis_restart.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod redis_common;
mod relay_common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis_common::{redis_or_skip, redis_subscribers, Instance};
use relay_common::{body, expect_message, init_logging, show, unique, within, WAIT};
use stomp_server::broker::BrokerError;
use stomp_server::client::{ClientError, StompClient, StompSession, Subscription};
use stomp_server::event::SessionEvent;
use stomp_server::redis::RedisConfig;
use stomp_server::{message_mapping, send_to, Payload, SendError};

/// Echoes a post to every instance's subscribers of `/topic/redis/handled/<tag>`.
#[message_mapping("/redis/echo/<tag>")]
#[send_to("/topic/redis/handled/<tag>")]
async fn echo(tag: String, Payload(text): Payload<String>) -> String {
    format!("{tag}: {text}")
}

async fn two_instances() -> (Instance, Instance) {
    init_logging();
    let a = Instance::start("A").await;
    let b = Instance::start("B").await;
    a.wait_available(true, Duration::from_secs(30)).await;
    b.wait_available(true, Duration::from_secs(30)).await;
    (a, b)
}

/// The bodies `subscription` receives up to and including `last`.
async fn bodies_until(subscription: &mut Subscription, last: &str, what: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let text = body(&expect_message(subscription, what).await);
        let done = text == last;
        bodies.push(text);
        if done {
            return bodies;
        }
    }
}

fn numbered(count: usize, last: &str) -> Vec<String> {
    let mut bodies: Vec<String> = (1..=count).map(|n| n.to_string()).collect();
    bodies.push(last.to_owned());
    bodies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_message_reaches_subscribers_on_both_instances_once_each_in_order() {
    if !redis_or_skip("a_topic_message_reaches_subscribers_on_both_instances_once_each_in_order") {
        return;
    }
    let (a, b) = two_instances().await;
    let topic = format!("/topic/redis/order/{}", unique());
    let on_a = a.connect("reader-a").await;
    let (on_b1, on_b2) = (b.connect("reader-b1").await, b.connect("reader-b2").await);
    let mut subscriptions = Vec::new();
    for session in [&on_a, &on_b1, &on_b2] {
        subscriptions.push(session.subscribe(&topic).await.expect("SUBSCRIBE"));
    }
    // One Redis subscription per instance, however many sessions subscribe there.
    assert_eq!(redis_subscribers(&format!("stomp:{topic}")), 2);

    let sender = a.connect("sender").await;
    for n in 1..=100 {
        sender.send(&topic, n.to_string()).await.expect("SEND");
    }
    sender.send(&topic, "end").await.expect("SEND");
    for (subscription, who) in subscriptions.iter_mut().zip(["A", "B1", "B2"]) {
        let got = bodies_until(subscription, "end", who).await;
        assert_eq!(got, numbered(100, "end"), "subscriber {who}");
    }

    // The template of B publishes too, and A's subscriber gets it once.
    b.template
        .convert_and_send(&topic, "from B")
        .expect("template");
    b.template
        .convert_and_send(&topic, "end")
        .expect("template");
    let got = bodies_until(&mut subscriptions[0], "end", "A from B").await;
    assert_eq!(got, ["from B", "end"].map(String::from).to_vec());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pattern_subscription_gets_what_its_pattern_matches_once() {
    if !redis_or_skip("a_pattern_subscription_gets_what_its_pattern_matches_once") {
        return;
    }
    let (a, b) = two_instances().await;
    let base = format!("/topic/redis/pattern/{}", unique());
    let reader = b.connect("pattern-reader").await;
    let mut one = reader.subscribe(&format!("{base}/*")).await.expect("*");
    let mut any = reader.subscribe(&format!("{base}/**")).await.expect("**");
    let mut exact = reader.subscribe(&format!("{base}/a")).await.expect("exact");

    let sender = a.connect("pattern-sender").await;
    sender.send(&format!("{base}/a"), "a").await.expect("SEND");
    // Redis' glob for `*` matches `a/b` too; the local broker checks the pattern itself.
    sender
        .send(&format!("{base}/a/b"), "a/b")
        .await
        .expect("SEND");
    sender
        .send(&format!("{base}/a"), "end")
        .await
        .expect("SEND");

    let strings = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        bodies_until(&mut one, "end", "*").await,
        strings(&["a", "end"])
    );
    assert_eq!(
        bodies_until(&mut any, "end", "**").await,
        strings(&["a", "a/b", "end"])
    );
    assert_eq!(
        bodies_until(&mut exact, "end", "exact").await,
        strings(&["a", "end"])
    );
    let frame = {
        let sender_b = b.connect("pattern-sender-b").await;
        sender_b
            .send(&format!("{base}/x"), "local")
            .await
            .expect("SEND");
        expect_message(&mut any, "a message published on B itself").await
    };
    assert_eq!(
        frame.destination(),
        Some(format!("{base}/x").as_str()),
        "{}",
        show(&frame)
    );
}

/// What one subscriber saw in one round: the numbers received, and how many messages the
/// publisher had started to send when the `RECEIPT` came.
struct Round {
    who: String,
    sent_at_receipt: u64,
    received: Vec<u64>,
}

/// Sends `0, 1, 2, ..` to `topic` until `stop`; `sent` counts each before it is sent, so a
/// subscriber that reads `n` after its RECEIPT knows that message `n` was sent after it.
async fn publish_numbers(
    session: StompSession,
    topic: String,
    sent: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Acquire) {
        let n = sent.fetch_add(1, Ordering::AcqRel);
        session.send(&topic, n.to_string()).await.expect("SEND");
        if n % 20 == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// Subscriber `i` on `instance`: three rounds of subscribe, take `50 + 10 i` messages,
/// unsubscribe.
async fn subscribe_in_rounds(
    i: usize,
    instance: Arc<Instance>,
    topic: String,
    sent: Arc<AtomicU64>,
) -> Vec<Round> {
    let who = format!("subscriber {i} on {}", instance.name);
    let session = instance.connect(&format!("churn-{i}")).await;
    let mut rounds = Vec::new();
    for round in 0..3 {
        let mut subscription = session.subscribe(&topic).await.expect("SUBSCRIBE");
        let sent_at_receipt = sent.load(Ordering::Acquire);
        let mut received = Vec::new();
        while received.len() < 50 + 10 * i {
            let frame = expect_message(&mut subscription, &who).await;
            received.push(body(&frame).parse::<u64>().expect("a number"));
        }
        subscription.unsubscribe().await.expect("UNSUBSCRIBE");
        let who = format!("{who}, round {round}");
        rounds.push(Round {
            who,
            sent_at_receipt,
            received,
        });
    }
    rounds
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_coming_and_going_under_load_see_contiguous_sequences() {
    if !redis_or_skip("subscribers_coming_and_going_under_load_see_contiguous_sequences") {
        return;
    }
    let (a, b) = two_instances().await;
    let (a, b) = (Arc::new(a), Arc::new(b));
    let topic = format!("/topic/redis/churn/{}", unique());
    let sent = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let session = a.connect("churn-publisher").await;
    let publisher = tokio::spawn(publish_numbers(
        session,
        topic.clone(),
        Arc::clone(&sent),
        Arc::clone(&stop),
    ));
    let subscribers: Vec<_> = (0..6)
        .map(|i| {
            let instance = Arc::clone(if i % 2 == 0 { &a } else { &b });
            tokio::spawn(subscribe_in_rounds(
                i,
                instance,
                topic.clone(),
                Arc::clone(&sent),
            ))
        })
        .collect();
    let mut rounds = Vec::new();
    for subscriber in subscribers {
        let finished = within("a subscriber's rounds", WAIT * 6, subscriber).await;
        rounds.extend(finished.expect("task"));
    }
    stop.store(true, Ordering::Release);
    publisher.await.expect("publisher");

    for round in &rounds {
        let first = round.received[0];
        assert!(
            first <= round.sent_at_receipt,
            "{}: first message {first}, but {} had been sent when the RECEIPT came",
            round.who,
            round.sent_at_receipt
        );
        for pair in round.received.windows(2) {
            assert_eq!(
                pair[1],
                pair[0] + 1,
                "{}: a gap or a repeat in {:?}",
                round.who,
                round.received
            );
        }
    }
    println!(
        "{} rounds, {} messages sent",
        rounds.len(),
        sent.load(Ordering::Acquire)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_to_reply_on_one_instance_reaches_subscribers_of_the_other() {
    if !redis_or_skip("a_send_to_reply_on_one_instance_reaches_subscribers_of_the_other") {
        return;
    }
    let (a, b) = two_instances().await;
    let tag = unique();
    let reader = b.connect("handled-reader").await;
    let mut handled = reader
        .subscribe(&format!("/topic/redis/handled/{tag}"))
        .await
        .expect("SUBSCRIBE");
    let sender = a.connect("handled-sender").await;
    sender
        .send(&format!("/app/redis/echo/{tag}"), "\"hello\"")
        .await
        .expect("SEND");
    let frame = expect_message(&mut handled, "the handler's reply on B").await;
    assert_eq!(
        body(&frame),
        format!("{tag}: \"hello\""),
        "{}",
        show(&frame)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_past_the_backlog_bound_is_refused() {
    if !redis_or_skip("publishing_past_the_backlog_bound_is_refused") {
        return;
    }
    init_logging();
    let config = RedisConfig::default().with_publish_backlog(300);
    let a = Instance::start_with("tiny backlog", config).await;
    a.wait_available(true, Duration::from_secs(30)).await;
    let topic = format!("/topic/redis/backlog/{}", unique());
    let refused = a.template.convert_and_send(&topic, &"x".repeat(400));
    assert!(
        matches!(
            refused,
            Err(SendError::Broker(BrokerError::Backlog { limit: 300, .. }))
        ),
        "{refused:?}"
    );
    a.template
        .convert_and_send(&topic, "small")
        .expect("a message within the bound");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_is_refused_while_redis_cannot_be_reached() {
    init_logging();
    // Nothing listens on port 1.
    let config = RedisConfig::default()
        .with_url("redis://127.0.0.1:1".to_owned())
        .with_max_reconnect_delay(Duration::from_millis(200));
    let a = Instance::start_with("no redis", config).await;
    a.wait_available(false, Duration::from_secs(30)).await;
    let refused = StompClient::new()
        .login("nobody", "")
        .connect(&a.url())
        .await;
    match refused {
        Err(ClientError::Refused { message, .. }) => assert!(
            message.starts_with("broker unavailable: cannot reach Redis at redis://127.0.0.1:1"),
            "{message}"
        ),
        other => panic!(
            "CONNECT should be refused, got {:?}",
            other.map(|_| "a session")
        ),
    }
    let events = a.broker_events();
    assert!(
        matches!(
            events.first(),
            Some(SessionEvent::BrokerUnavailable { reason }) if reason.contains("127.0.0.1:1")
        ),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backplane_shows_as_redis_in_the_metrics() {
    if !redis_or_skip("the_backplane_shows_as_redis_in_the_metrics") {
        return;
    }
    let instance = Instance::start("M").await;
    instance.wait_available(true, WAIT).await;
    let collector = stomp_server::metrics::StompCollector::new(Arc::clone(&instance.stats));
    let text = stomp_server::metrics::exposition(&collector);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.contains(&r#"stomp_broker_up{backplane="redis"} 1"#),
        "{text}"
    );
    assert!(
        lines.contains(&r#"stomp_broker_reconnects_total{backplane="redis"} 0"#),
        "{text}"
    );
    assert!(!text.contains(r#"backplane="relay""#), "{text}");
}

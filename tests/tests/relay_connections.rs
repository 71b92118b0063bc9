//! What the relay costs RabbitMQ: an instance whose sessions hold 1,000 topic subscriptions
//! (200 sessions, 5 topics each, a pattern among them) and a user queue each keeps a handful
//! of RabbitMQ connections (its system connection and its shared subscriber connection),
//! counted by
//! RabbitMQ itself (`rabbitmqctl list_stomp_connections`; `list_connections` does not show
//! STOMP). For contrast, the same instance set up as Spring's relay
//! (`shared_prefixes` empty) opens one per subscribing session.
//!
//! ```text
//! bash tests/relay/start-rabbitmq.sh
//! cargo test -p tests --test relay_connections -- --nocapture
//! ```
//!
//! Its own test binary: it counts every STOMP connection RabbitMQ has, so it waits until
//! nobody else uses RabbitMQ (as `relay_restart` does).

mod relay_common;

use std::time::Duration;

use relay_common::{
    expect_message, init_logging, rabbit_and_rabbitmqctl_or_skip, rabbitmqctl_async, unique,
    wait_until_nobody_else_uses_rabbitmq, Instance,
};
use stomp_server::client::{StompSession, Subscription};
use stomp_server::relay::RelayConfig;

const TEST: &str = "relay_connections";
const SESSIONS: usize = 200;
const TOPICS_PER_SESSION: usize = 5;

/// The STOMP connections RabbitMQ has now.
async fn stomp_connections() -> usize {
    let listed = rabbitmqctl_async(&["-s", "list_stomp_connections", "conn_name"])
        .await
        .unwrap_or_else(|e| panic!("{TEST}: rabbitmqctl list_stomp_connections: {e}"));
    listed
        .lines()
        .filter(|line| !line.trim().is_empty())
        .count()
}

/// `sessions` sessions on `instance`, each subscribed to the topics of `base`.
async fn subscribers(
    instance: &Instance,
    sessions: usize,
    base: &str,
) -> Vec<(StompSession, Vec<Subscription>)> {
    let mut all = Vec::new();
    for i in 0..sessions {
        let session = instance.connect(&format!("fan-{i}-{}", unique())).await;
        let mut subscriptions = Vec::new();
        for t in 0..TOPICS_PER_SESSION - 1 {
            let topic = format!("{base}/t{}", (i + t) % 10);
            subscriptions.push(session.subscribe(&topic).await.expect("SUBSCRIBE"));
        }
        subscriptions.push(
            session
                .subscribe(&format!("{base}/*"))
                .await
                .expect("SUBSCRIBE *"),
        );
        all.push((session, subscriptions));
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_topic_subscribers_cost_a_handful_of_rabbitmq_connections() {
    if !rabbit_and_rabbitmqctl_or_skip(TEST) {
        return;
    }
    init_logging();
    wait_until_nobody_else_uses_rabbitmq(TEST).await;
    let before = stomp_connections().await;

    let instance = Instance::start("A").await;
    instance.wait_available(Duration::from_secs(30)).await;
    let base = format!("/topic/relay/connections/{}", unique());
    let mut sessions = subscribers(&instance, SESSIONS, &base).await;
    let subscriptions: usize = sessions.iter().map(|(_, s)| s.len()).sum();
    let shared = stomp_connections().await - before;
    println!("{TEST}: {SESSIONS} sessions, {subscriptions} topic subscriptions: {shared} RabbitMQ connection(s)");
    assert_eq!(subscriptions, SESSIONS * TOPICS_PER_SESSION);
    assert!(
        shared <= 3,
        "{subscriptions} topic subscriptions took {shared} RabbitMQ connections"
    );
    // And they all hear what is published, through those few connections.
    let sent = instance
        .template
        .convert_and_send(&format!("{base}/t3"), "to t3")
        .expect("publish");
    assert!(sent > 0);
    for (session, subscriptions) in &mut sessions {
        let pattern = subscriptions.last_mut().expect("the pattern subscription");
        expect_message(pattern, "t3 through the pattern").await;
        let _ = session;
    }
    for (session, _) in sessions {
        let _ = session.disconnect().await;
    }
    instance.shutdown().await;

    // Spring's way, for contrast: a broker connection per subscribing session.
    let spring_like =
        Instance::start_with("S", RelayConfig::default().with_shared_prefixes(Vec::new())).await;
    spring_like.wait_available(Duration::from_secs(30)).await;
    let few = 20;
    let base = format!("/topic/relay/connections/{}", unique());
    let sessions = subscribers(&spring_like, few, &base).await;
    let each = stomp_connections().await - before;
    println!("{TEST}: with shared_prefixes empty (as Spring): {few} sessions took {each} RabbitMQ connections");
    assert!(
        each > few,
        "{few} sessions, {each} connections: not one per session"
    );
    for (session, _) in sessions {
        let _ = session.disconnect().await;
    }
    spring_like.shutdown().await;
}

//! The Redis backplane through a Redis outage: two instances with subscribed sessions, then
//! `redis-cli shutdown nosave`: both instances say the broker is gone (stats, events) and
//! refuse new `CONNECT`s with "broker unavailable", while the sessions already connected
//! stay; then redis-server is started again (tests/redis/start-redis.sh): the backplane
//! reconnects on its own, subscribes again, and the SAME sessions exchange messages across
//! the instances again.
//!
//! ```text
//! bash tests/redis/start-redis.sh          # once: redis-server on 127.0.0.1:6379
//! cargo test -p tests --test redis_restart -- --nocapture
//! ```
//!
//! Its own test binary (one test), so that stopping Redis disturbs no other test of this
//! crate. Redis is always started again at the end, failure or not. Without Redis (or
//! `redis-server` to start it again) the test prints a loud `SKIPPED` line and passes,
//! unless `STOMP_REQUIRE_ALL=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod redis_common;
mod relay_common;

use std::process::Command as Process;
use std::time::{Duration, Instant};

use redis_common::{redis_cli, redis_or_skip, redis_reachable, redis_subscribers, Instance};
use relay_common::{body, expect_message, init_logging, show, unique};
use stomp_server::client::{ClientError, StompClient, StompSession, Subscription};
use stomp_server::event::SessionEvent;
use tests::prerequisite::{missing, workspace_root};

const TEST: &str = "instances_recover_when_redis_restarts";
/// How long the instances may take to notice that Redis is gone, or back.
const NOTICE_WITHIN: Duration = Duration::from_secs(30);

/// Starts redis-server again when dropped, if it was stopped: a failing test must not leave
/// the shared Redis down.
struct RestartGuard {
    stopped: bool,
}

impl RestartGuard {
    fn start_again(&mut self) -> Result<(), String> {
        if !self.stopped {
            return Ok(());
        }
        let script = workspace_root().join("tests/redis/start-redis.sh");
        let status = Process::new("bash")
            .arg(&script)
            .env("REDIS_NO_INSTALL", "1")
            .status()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if !status.success() {
            return Err(format!("{} failed ({status})", script.display()));
        }
        self.stopped = false;
        Ok(())
    }
}

impl Drop for RestartGuard {
    fn drop(&mut self) {
        if let Err(error) = self.start_again() {
            eprintln!("{TEST}: COULD NOT START REDIS AGAIN: {error}\n  run bash tests/redis/start-redis.sh");
        }
    }
}

/// A message from `sender` on `topic` reaches every one of `readers`, exactly as sent.
async fn crosses(sender: &StompSession, topic: &str, readers: &mut [Subscription], when: &str) {
    let text = format!("{when} {}", unique());
    sender
        .send(topic, text.clone())
        .await
        .unwrap_or_else(|e| panic!("{when}: SEND failed: {e}"));
    for reader in readers.iter_mut() {
        let frame = expect_message(reader, when).await;
        assert_eq!(body(&frame), text, "{when}:\n{}", show(&frame));
    }
}

/// A message for `user` sent by `from`'s template reaches `reader` (the user's
/// `/user/queue/restart` subscription on the other instance).
async fn user_hears(from: &Instance, user: &str, reader: &mut Subscription, when: &str) {
    let text = format!("{when} {}", unique());
    from.template
        .convert_and_send_to_user(user, "/queue/restart", &text)
        .unwrap_or_else(|e| panic!("{when}: convert_and_send_to_user failed: {e}"));
    let frame = expect_message(reader, when).await;
    assert_eq!(body(&frame), text, "{when}:\n{}", show(&frame));
}

/// The next frame `session` gets is an `ERROR` saying the broker is unavailable.
async fn expect_broker_unavailable(what: &str, session: &StompSession) {
    let error = tokio::time::timeout(NOTICE_WITHIN, session.next_error())
        .await
        .unwrap_or_else(|_| panic!("{what}: no ERROR within {NOTICE_WITHIN:?}"))
        .unwrap_or_else(|| panic!("{what}: the session ended without an ERROR"));
    let message = error.get("message").unwrap_or_default();
    assert!(
        message.starts_with("broker unavailable"),
        "{what}:\n{}",
        show(&error)
    );
}

/// During the outage: a `CONNECT`, a `SEND` (of `late.0`) and a `SUBSCRIBE` to a new
/// destination (of `late.1`) are answered with "broker unavailable"; the `connected`
/// sessions stay open.
async fn refused_while_down(
    a: &Instance,
    (late_sender, late_reader): (&StompSession, &StompSession),
    base: &str,
    connected: [&StompSession; 3],
) {
    match StompClient::new().login("late", "").connect(&a.url()).await {
        Err(ClientError::Refused { message, .. }) => assert!(
            message.starts_with("broker unavailable"),
            "the CONNECT's ERROR should say the broker is unavailable: {message}"
        ),
        other => panic!(
            "CONNECT during the outage: {:?}",
            other.map(|_| "a session")
        ),
    }
    late_sender
        .send(&format!("{base}/news"), "lost")
        .await
        .expect("SEND written");
    expect_broker_unavailable("a SEND during the outage", late_sender).await;
    let subscribe = late_reader.subscribe(&format!("{base}/new")).await;
    assert!(
        subscribe.is_err(),
        "a SUBSCRIBE to a new destination during the outage succeeded"
    );
    expect_broker_unavailable("a SUBSCRIBE during the outage", late_reader).await;
    for (name, session) in ["sender", "reader A", "reader B"].iter().zip(connected) {
        assert!(
            !session.is_closed(),
            "{name}'s session was closed by the outage"
        );
    }
}

/// The instance's broker events alternate, from available, through at least one
/// unavailable, back to available.
fn assert_events_alternate(instance: &Instance) {
    let kinds: Vec<&str> = instance
        .broker_events()
        .iter()
        .map(|e| match e {
            SessionEvent::BrokerAvailable => "available",
            SessionEvent::BrokerUnavailable { .. } => "unavailable",
            _ => "other",
        })
        .collect();
    // Each change once: available, then down and back (as often as the links flapped).
    let alternates = kinds.windows(2).all(|pair| pair[0] != pair[1]);
    assert!(
        alternates
            && kinds.first() == Some(&"available")
            && kinds.contains(&"unavailable")
            && kinds.last() == Some(&"available"),
        "instance {}: {kinds:?}",
        instance.name
    );
}

/// `redis-server` on PATH, to start Redis again (else the shared skip-or-fail rule).
fn redis_server_or_skip() -> bool {
    if Process::new("redis-server")
        .arg("--version")
        .output()
        .is_ok()
    {
        return true;
    }
    missing(
        TEST,
        "redis-server is not on PATH (needed to start Redis again)",
        redis_common::INSTALL,
    );
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_recover_when_redis_restarts() {
    if !redis_or_skip(TEST) || !redis_server_or_skip() {
        return;
    }
    init_logging();
    let a = Instance::start("A").await;
    let b = Instance::start("B").await;
    a.wait_available(true, NOTICE_WITHIN).await;
    b.wait_available(true, NOTICE_WITHIN).await;

    let base = format!("/topic/redis/restart/{}", unique());
    let topic = format!("{base}/news");
    let sender = a.connect("restart-sender").await;
    let (reader_a, reader_b) = (a.connect("reader-a").await, b.connect("reader-b").await);
    let mut readers = vec![
        reader_a.subscribe(&topic).await.expect("SUBSCRIBE on A"),
        reader_b.subscribe(&topic).await.expect("SUBSCRIBE on B"),
        reader_b
            .subscribe(&format!("{base}/*"))
            .await
            .expect("pattern on B"),
    ];
    crosses(&sender, &topic, &mut readers, "before the outage").await;
    // A user destination too: its user's channel is subscribed again after the outage.
    let user = format!("restart-user-{}", unique());
    let user_b = b.connect(&user).await;
    let mut user_reader = user_b
        .subscribe("/user/queue/restart")
        .await
        .expect("SUBSCRIBE /user/queue/restart on B");
    user_hears(
        &a,
        &user,
        &mut user_reader,
        "a user message before the outage",
    )
    .await;
    // Sessions that will try to publish and to subscribe during the outage (an ERROR ends
    // a session).
    let (late_sender, late_reader) = (
        a.connect("late-sender").await,
        b.connect("late-reader").await,
    );

    // ---- Redis goes away ----
    let mut guard = RestartGuard { stopped: true };
    let stopped_at = Instant::now();
    // `shutdown` closes the connection it came on: redis-cli may report an error for it.
    let _ = redis_cli(&["shutdown", "nosave"]);
    assert!(!redis_reachable(), "Redis still answers after SHUTDOWN");
    a.wait_available(false, NOTICE_WITHIN).await;
    b.wait_available(false, NOTICE_WITHIN).await;
    println!(
        "{TEST}: both instances unavailable after {:.1} s",
        stopped_at.elapsed().as_secs_f64()
    );
    let late = (&late_sender, &late_reader);
    refused_while_down(&a, late, &base, [&sender, &reader_a, &reader_b]).await;
    assert!(
        a.template
            .convert_and_send_to_user(&user, "/queue/restart", "lost")
            .is_err(),
        "a message for a user during the outage must be refused"
    );

    // ---- Redis comes back ----
    guard.start_again().expect("redis-server starts again");
    let back_at = Instant::now();
    a.wait_available(true, NOTICE_WITHIN).await;
    b.wait_available(true, NOTICE_WITHIN).await;
    println!(
        "{TEST}: both instances available {:.1} s after the restart",
        back_at.elapsed().as_secs_f64()
    );
    // Both instances subscribed again, once each.
    assert_eq!(redis_subscribers(&format!("stomp:{topic}")), 2);
    crosses(
        &sender,
        &topic,
        &mut readers,
        "after the restart, same sessions",
    )
    .await;
    assert_eq!(
        redis_subscribers(&format!("stomp:user:{user}:/queue/restart")),
        1
    );
    user_hears(
        &a,
        &user,
        &mut user_reader,
        "a user message after the restart",
    )
    .await;
    let _new_session = a.connect("after-restart").await;

    for instance in [&a, &b] {
        assert_events_alternate(instance);
    }
}

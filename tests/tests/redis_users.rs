//! User destinations across instances on the Redis backplane, with a real redis-server:
//! `convert_and_send_to_user` and `#[send_to_user]` on any instance reach every session of
//! the user on every instance, `broadcast = false` only the sending session, and no other
//! user reads or forges them.
//!
//! ```text
//! bash tests/redis/start-redis.sh          # once: redis-server on 127.0.0.1:6379
//! cargo test -p tests --test redis_users
//! ```
//!
//! Without Redis each test prints a loud `SKIPPED` line and passes, unless
//! `STOMP_REQUIRE_ALL=1`. Every test uses users of its own, so they run in parallel.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod redis_common;
mod relay_common;

use std::time::Duration;

use redis_common::{redis_cli, redis_or_skip, redis_subscribers, Instance};
use relay_common::{body, expect_message, expect_nothing, init_logging, show, unique};
use stomp_server::client::{StompSession, Subscription};
use stomp_server::redis::RedisConfig;
use stomp_server::{message_mapping, send_to_user, Frame, Payload, Principal};

/// Answers the sending session only, even when its user has other sessions elsewhere.
#[message_mapping("/redis/whoami")]
#[send_to_user("/queue/whoami", broadcast = false)]
fn whoami(user: Principal, Payload(text): Payload<String>) -> String {
    format!("{}: {text}", user.name())
}

/// Answers every session of the sending user, on every instance.
#[message_mapping("/redis/notify")]
#[send_to_user("/queue/notify")]
fn notify(user: Principal, Payload(text): Payload<String>) -> String {
    format!("{}: {text}", user.name())
}

async fn two_instances() -> (Instance, Instance) {
    init_logging();
    let a = Instance::start("A").await;
    let b = Instance::start("B").await;
    a.wait_available(true, Duration::from_secs(30)).await;
    b.wait_available(true, Duration::from_secs(30)).await;
    (a, b)
}

async fn subscribe(session: &StompSession, destination: &str) -> Subscription {
    session
        .subscribe(destination)
        .await
        .unwrap_or_else(|e| panic!("SUBSCRIBE {destination}: {e}"))
}

fn assert_message(frame: &Frame, destination: &str, text: &str, what: &str) {
    assert_eq!(
        frame.destination(),
        Some(destination),
        "{what}: {}",
        show(frame)
    );
    assert_eq!(body(frame), text, "{what}: {}", show(frame));
}

async fn close(sessions: impl IntoIterator<Item = StompSession>) {
    for session in sessions {
        let _ = session.disconnect().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn convert_and_send_to_user_from_either_instance_reaches_the_users_sessions_on_both() {
    if !redis_or_skip(
        "convert_and_send_to_user_from_either_instance_reaches_the_users_sessions_on_both",
    ) {
        return;
    }
    let (a, b) = two_instances().await;
    let run = unique();
    let (bob, carol) = (format!("bob-{run}"), format!("carol-{run}"));
    let (bob_a, bob_b1, bob_b2) = (
        a.connect(&bob).await,
        b.connect(&bob).await,
        b.connect(&bob).await,
    );
    let carol_b = b.connect(&carol).await;
    let mut on_a = subscribe(&bob_a, "/user/queue/reply").await;
    let mut on_b1 = subscribe(&bob_b1, "/user/queue/reply").await;
    let mut on_b2 = subscribe(&bob_b2, "/user/queue/reply").await;
    let mut carols = subscribe(&carol_b, "/user/queue/reply").await;
    // One Redis subscription per instance for bob's /queue/reply, however many sessions.
    assert_eq!(
        redis_subscribers(&format!("stomp:user:{bob}:/queue/reply")),
        2
    );

    for (from, text) in [(&a, "from A"), (&b, "from B")] {
        from.template
            .convert_and_send_to_user(&bob, "/queue/reply", text)
            .expect("convert_and_send_to_user");
        for (subscription, what) in [
            (&mut on_a, "bob on A"),
            (&mut on_b1, "bob's first session on B"),
            (&mut on_b2, "bob's second session on B"),
        ] {
            let frame = expect_message(subscription, what).await;
            assert_message(&frame, "/user/queue/reply", text, what);
        }
    }
    b.template
        .convert_and_send_to_user(&carol, "/queue/reply", "for carol")
        .expect("to carol");
    let frame = expect_message(&mut carols, "carol").await;
    // Carol's first message is her own: bob's two did not reach her.
    assert_message(&frame, "/user/queue/reply", "for carol", "carol");
    expect_nothing(&mut on_a, "bob on A, once each and nothing of carol's").await;

    // The last session of bob on B leaves: B stops listening, A still hears bob.
    drop((on_b1, on_b2));
    close([bob_b1, bob_b2]).await;
    relay_common::poll_until(Duration::from_secs(10), || {
        redis_subscribers(&format!("stomp:user:{bob}:/queue/reply")) == 1
    })
    .await
    .expect("B unsubscribes bob's channel once bob's sessions there left");
    b.template
        .convert_and_send_to_user(&bob, "/queue/reply", "after")
        .expect("to bob");
    let frame = expect_message(&mut on_a, "bob on A after").await;
    assert_message(&frame, "/user/queue/reply", "after", "bob on A");
    close([bob_a, carol_b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_to_user_broadcasts_across_instances_and_without_broadcast_answers_the_sender_only() {
    if !redis_or_skip(
        "send_to_user_broadcasts_across_instances_and_without_broadcast_answers_the_sender_only",
    ) {
        return;
    }
    let (a, b) = two_instances().await;
    let dave = format!("dave-{}", unique());
    let (dave_a, dave_b) = (a.connect(&dave).await, b.connect(&dave).await);
    let mut whoami_a = subscribe(&dave_a, "/user/queue/whoami").await;
    let mut whoami_b = subscribe(&dave_b, "/user/queue/whoami").await;
    let mut notify_a = subscribe(&dave_a, "/user/queue/notify").await;
    let mut notify_b = subscribe(&dave_b, "/user/queue/notify").await;

    dave_a
        .send("/app/redis/whoami", "who?")
        .await
        .expect("SEND");
    let frame = expect_message(&mut whoami_a, "the sending session (A)").await;
    assert_message(&frame, "/user/queue/whoami", &format!("{dave}: who?"), "A");

    // With broadcast (the default) both sessions hear the reply, from either instance.
    for (sender, text) in [(&dave_a, "from A"), (&dave_b, "from B")] {
        sender.send("/app/redis/notify", text).await.expect("SEND");
        let text = format!("{dave}: {text}");
        let frame = expect_message(&mut notify_a, "dave on A, broadcast").await;
        assert_message(&frame, "/user/queue/notify", &text, "dave on A");
        let frame = expect_message(&mut notify_b, "dave on B, broadcast").await;
        assert_message(&frame, "/user/queue/notify", &text, "dave on B");
    }
    // B's whoami: its first message is its own answer, not A's.
    dave_b
        .send("/app/redis/whoami", "and me?")
        .await
        .expect("SEND");
    let frame = expect_message(&mut whoami_b, "the sending session (B)").await;
    assert_message(
        &frame,
        "/user/queue/whoami",
        &format!("{dave}: and me?"),
        "B",
    );
    expect_nothing(&mut whoami_a, "A, broadcast = false from B").await;
    close([dave_a, dave_b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_user_can_neither_read_nor_forge_a_users_messages_across_instances() {
    if !redis_or_skip("another_user_can_neither_read_nor_forge_a_users_messages_across_instances") {
        return;
    }
    // A channel prefix of this test's own, so that `/topic/**` hears only these instances
    // (other tests and programs share the Redis).
    init_logging();
    let run = unique();
    let prefix = format!("isolated-{run}:");
    let config = RedisConfig::default().with_channel_prefix(prefix.clone());
    let a = Instance::start_with("A", config.clone()).await;
    let b = Instance::start_with("B", config).await;
    a.wait_available(true, Duration::from_secs(30)).await;
    b.wait_available(true, Duration::from_secs(30)).await;
    let (erin, mallory) = (format!("erin-{run}"), format!("mallory-{run}"));
    let erin_a = a.connect(&erin).await;
    let mut erins = subscribe(&erin_a, "/user/queue/reply").await;
    let mallory_b = b.connect(&mallory).await;
    // Naming erin's user destination is refused outright (it used to be taken as
    // mallory's own `/{erin}/queue/reply`, which received nothing).
    let naming = b.connect(&mallory).await;
    let refused = naming.subscribe(&format!("/user/{erin}/queue/reply")).await;
    assert!(
        refused.is_err(),
        "SUBSCRIBE /user/{{erin}}/.. must be refused"
    );
    let mut everything = subscribe(&mallory_b, "/topic/**").await;
    let mut queues = subscribe(&mallory_b, "/queue/**").await;
    // Redis' channel names are no destinations: no broker prefix covers them.
    for raw in [
        format!("{prefix}user:{erin}:/queue/reply"),
        format!("user:{erin}:/queue/reply"),
    ] {
        let mallory = b.connect(&mallory).await;
        let refused = mallory.subscribe(&raw).await;
        assert!(refused.is_err(), "SUBSCRIBE {raw} must be refused");
    }
    // A forged message for erin: the client may not send to user destinations.
    let forger = b.connect(&mallory).await;
    let _ = forger
        .send(&format!("/user/{erin}/queue/reply"), "forged")
        .await;
    let _ = redis_cli(&[
        "publish",
        &format!("{prefix}user:{erin}:/queue/reply"),
        "not an envelope",
    ]);

    b.template
        .convert_and_send_to_user(&erin, "/queue/reply", "genuine")
        .expect("to erin");
    let frame = expect_message(&mut erins, "erin on A").await;
    assert_message(
        &frame,
        "/user/queue/reply",
        "genuine",
        "erin's first message",
    );
    for (subscription, what) in [
        (&mut everything, "mallory's /topic/**"),
        (&mut queues, "mallory's /queue/**"),
    ] {
        expect_nothing(subscription, what).await;
    }
    expect_nothing(&mut erins, "erin, nothing forged after").await;
    close([erin_a, mallory_b]).await;
}

// ---- the user registry across instances ----

/// Backplane settings with a short registry refresh, so the cluster's view settles fast.
fn quick_registry() -> RedisConfig {
    RedisConfig::default().with_registry_refresh(Duration::from_millis(200))
}

/// How many sessions `instance`'s user registry knows `user` has (0: not connected).
fn sessions_known(instance: &Instance, user: &str) -> usize {
    let registry = instance.template.user_registry();
    let listed = registry
        .users()
        .into_iter()
        .find(|u| u.name == user)
        .map_or(0, |u| u.sessions.len());
    let looked_up = registry.user(user).map_or(0, |u| u.sessions.len());
    assert_eq!(listed, looked_up, "users() and user({user}) disagree");
    listed
}

/// Waits (at most 20 s, a safety net) until `instance` knows `count` sessions of `user`.
async fn wait_sessions(instance: &Instance, user: &str, count: usize, what: &str) {
    let started = std::time::Instant::now();
    relay_common::poll_until(Duration::from_secs(20), || {
        sessions_known(instance, user) == count
    })
    .await
    .unwrap_or_else(|()| {
        panic!(
            "{what}: instance {} knows {} sessions of {user}, not {count}",
            instance.name,
            sessions_known(instance, user)
        )
    });
    println!("{what}: settled after {:?}", started.elapsed());
}

/// An instance on a runtime of its own, which the test kills to stop it without any
/// cleanup: its tasks end where they are, as when its process dies.
fn start_killable(name: &'static str, config: RedisConfig) -> (tokio::runtime::Runtime, Instance) {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime");
        let instance = runtime.block_on(async {
            let instance = Instance::start_with(name, config).await;
            instance.wait_available(true, Duration::from_secs(30)).await;
            instance
        });
        (runtime, instance)
    })
    .join()
    .expect("the instance starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_lists_users_of_every_instance_and_forgets_those_that_leave_or_die() {
    if !redis_or_skip(
        "the_registry_lists_users_of_every_instance_and_forgets_those_that_leave_or_die",
    ) {
        return;
    }
    init_logging();
    let a = Instance::start_with("A", quick_registry()).await;
    a.wait_available(true, Duration::from_secs(30)).await;
    let (runtime_b, b) = start_killable("B", quick_registry());
    let run = unique();
    let (frank, gina, hugo) = (
        format!("frank-{run}"),
        format!("gina-{run}"),
        format!("hugo-{run}"),
    );
    // frank: one session on A, two on B; gina and hugo: one on B only.
    let frank_a = a.connect(&frank).await;
    let (frank_b1, frank_b2) = (b.connect(&frank).await, b.connect(&frank).await);
    let (gina_b, hugo_b) = (b.connect(&gina).await, b.connect(&hugo).await);
    wait_sessions(&a, &frank, 3, "frank's sessions on both instances").await;
    wait_sessions(&a, &gina, 1, "gina, connected only to B").await;
    wait_sessions(&b, &frank, 3, "B sees frank's session on A too").await;
    assert_eq!(
        a.template.user_registry().session_count(),
        1,
        "this instance's own"
    );

    // A session on B leaves: A forgets it.
    let _ = gina_b.disconnect().await;
    let _ = frank_b2.disconnect().await;
    wait_sessions(&a, &gina, 0, "gina after her session on B disconnected").await;
    wait_sessions(&a, &frank, 2, "frank after one session on B disconnected").await;
    assert_eq!(sessions_known(&a, &hugo), 1, "hugo is still connected to B");

    // B dies with hugo and frank still connected there: A forgets them once B's entry
    // expires (three refreshes).
    runtime_b.shutdown_background();
    wait_sessions(&a, &hugo, 0, "hugo after B died").await;
    wait_sessions(&a, &frank, 1, "frank after B died: his session on A stays").await;
    drop((frank_b1, hugo_b, b));
    close([frank_a]).await;
}

/// A server on the backplane whose `/queue` destinations are point-to-point queues; its
/// template, its URL, and what stops it when dropped.
async fn start_point_to_point() -> (
    stomp_server::Template,
    String,
    tokio::sync::oneshot::Sender<()>,
) {
    let server = stomp_server::StompServer::builder()
        .redis_backplane(RedisConfig::default())
        .point_to_point(["/queue"])
        .interceptor(tests::server_support::login_interceptor)
        .stats_log_interval(None)
        .build()
        .expect("the server builds");
    let stats = server.stats();
    let listener = server.bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("local address").port();
    let template = server.template();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run(listener, async move {
        let _ = stopped.await;
    }));
    relay_common::poll_until(Duration::from_secs(30), || {
        stats.snapshot().broker_available == Some(true)
    })
    .await
    .expect("the backplane comes up");
    (template, format!("ws://127.0.0.1:{port}/ws"), stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_destination_under_a_point_to_point_prefix_crosses_instances_too() {
    if !redis_or_skip("a_user_destination_under_a_point_to_point_prefix_crosses_instances_too") {
        return;
    }
    init_logging();
    let (template_a, _, _stop_a) = start_point_to_point().await;
    let (_, url_b, _stop_b) = start_point_to_point().await;
    let ivy = format!("ivy-{}", unique());
    let ivy_b = stomp_server::client::StompClient::new()
        .login(&ivy, "")
        .connect(&url_b)
        .await
        .expect("ivy connects to B");
    let mut on_b = subscribe(&ivy_b, "/user/queue/reply").await;
    template_a
        .convert_and_send_to_user(&ivy, "/queue/reply", "to a queue")
        .expect("to ivy");
    let frame = expect_message(&mut on_b, "ivy on B").await;
    assert_message(&frame, "/user/queue/reply", "to a queue", "ivy on B");
    close([ivy_b]).await;
}

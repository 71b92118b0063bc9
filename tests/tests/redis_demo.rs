//! demo-chat `--redis` with a real redis-server: two demo processes share a room (a message,
//! a join notice and a member list from one reach the other; a bad message is answered on
//! the sender's error queue), and the room's history, kept in a Redis Stream, is
//! complete on both and survives a restart of every instance.
//!
//! ```text
//! bash tests/redis/start-redis.sh          # once: redis-server on 127.0.0.1:6379
//! cargo test -p tests --test redis_demo
//! ```
//!
//! Without Redis the test prints a loud `SKIPPED` line and passes, unless
//! `STOMP_REQUIRE_ALL=1`. The room is new to each run; its stream is deleted at the end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod redis_common;
mod relay_common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use redis_common::{redis_cli, redis_or_skip, redis_subscribers};
use relay_common::{body, expect_message, init_logging, poll_until, unique};
use stomp_server::client::{StompClient, StompSession};
use tests::demo_process::{build, DemoProcess, Target};
use tests::prerequisite::workspace_root;

const REDIS_URL: &str = "redis://127.0.0.1:6379";

/// A generous bound on an instance joining Redis after it listens.
const JOIN: Duration = Duration::from_secs(30);

fn start(exe: &Path, log: &Path) -> (DemoProcess, SocketAddr) {
    let mut demo = DemoProcess::start(exe, &["--redis", REDIS_URL], log);
    let addr = demo.wait_ready("demo-chat on http://");
    (demo, addr)
}

/// A session of `user` on the demo at `addr`, once it accepts one (`CONNECT` is refused
/// until the instance has joined Redis).
async fn connect(addr: SocketAddr, user: &str) -> StompSession {
    let url = format!("ws://{addr}/ws");
    let mut last = String::new();
    let deadline = tokio::time::Instant::now() + JOIN;
    while tokio::time::Instant::now() < deadline {
        match StompClient::new().login(user, "").connect(&url).await {
            Ok(session) => return session,
            Err(error) => last = error.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{user} cannot connect to {url} within {JOIN:?}: {last}");
}

/// The contents of the messages `/app/chat/{room}/history` gives a new page on `addr`.
async fn history(addr: SocketAddr, room: &str) -> Vec<String> {
    let session = connect(addr, "reader").await;
    let mut subscription = session
        .subscribe(&format!("/app/chat/{room}/history"))
        .await
        .expect("SUBSCRIBE history");
    let frame = expect_message(&mut subscription, "the room's history").await;
    let messages: Vec<serde_json::Value> =
        serde_json::from_str(&body(&frame)).expect("the history is a JSON array");
    messages
        .iter()
        .map(|m| m["content"].as_str().expect("a content").to_owned())
        .collect()
}

/// Posts `content` to `room` as `user` through the demo at `addr`, and waits until the
/// subscriber `reader` (on another instance) has it.
async fn post_and_see(
    from: &StompSession,
    reader: &mut stomp_server::client::Subscription,
    room: &str,
    content: &str,
) {
    from.send_json(
        &format!("/app/chat/{room}"),
        &serde_json::json!({ "content": content }),
    )
    .await
    .expect("SEND");
    let frame = expect_message(reader, "the message posted on the other instance").await;
    let message: serde_json::Value = serde_json::from_str(&body(&frame)).expect("JSON");
    assert_eq!(message["content"], content);
    assert_eq!(message["room"], room);
}

/// Reads `subscription` until a JSON body satisfies `wanted` (each wait bounded by `WAIT`).
async fn until(
    subscription: &mut stomp_server::client::Subscription,
    what: &str,
    wanted: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    loop {
        let frame = expect_message(subscription, what).await;
        let value: serde_json::Value = serde_json::from_str(&body(&frame)).expect("JSON");
        if wanted(&value) {
            return value;
        }
    }
}

/// On B, bob watches the room's notices and member lists; alice joins on A: bob sees her
/// join notice and A's member list with her, tagged with A's instance id.
async fn a_join_on_a_is_seen_on_b(
    alice: &StompSession,
    bob: &StompSession,
    room: &str,
) -> stomp_server::client::Subscription {
    let mut events = bob
        .subscribe(&format!("/topic/chat/{room}/events"))
        .await
        .expect("SUBSCRIBE events");
    let mut members = bob
        .subscribe(&format!("/topic/chat/{room}/members"))
        .await
        .expect("SUBSCRIBE members");
    for topic in ["events", "members"] {
        let channel = format!("stomp:/topic/chat/{room}/{topic}");
        poll_until(JOIN, || redis_subscribers(&channel) == 1)
            .await
            .expect("B subscribes the room's lists in Redis");
    }
    let on_a = alice
        .subscribe(&format!("/topic/chat/{room}"))
        .await
        .expect("SUBSCRIBE on A");
    let notice = until(&mut events, "alice's join notice, on B", |v| {
        v["type"] == "join" && v["user"] == "alice"
    })
    .await;
    assert_eq!(notice["room"], room);
    let list = until(&mut members, "A's member list, on B", |v| {
        v["members"] == serde_json::json!(["alice"])
    })
    .await;
    assert!(list["instance"].is_string(), "tagged: {list}");
    on_a
}

/// A bad message gets its error reply on the sender's `/user/queue/errors`, whichever
/// instance it is on, and reaches nobody.
async fn an_empty_message_is_answered_with_an_error(session: &StompSession, room: &str) {
    let mut errors = session
        .subscribe("/user/queue/errors")
        .await
        .expect("SUBSCRIBE errors");
    session
        .send_json(
            &format!("/app/chat/{room}"),
            &serde_json::json!({ "content": " " }),
        )
        .await
        .expect("SEND");
    let reply = until(&mut errors, "the error reply", |v| v["error"].is_string()).await;
    assert!(
        reply["error"].as_str().is_some_and(|e| e.contains("empty")),
        "{reply}"
    );
}

fn artifacts() -> PathBuf {
    let dir = workspace_root().join("tests/artifacts");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_demo_instances_share_a_room_and_its_history_survives_restarting_both() {
    if !redis_or_skip("two_demo_instances_share_a_room_and_its_history_survives_restarting_both") {
        return;
    }
    init_logging();
    let exe = build(&workspace_root(), Target::Bin("demo-chat"));
    let room = format!("t{}", unique());
    let topic = format!("/topic/chat/{room}");
    let (log_a, log_b) = (
        artifacts().join("redis-demo-a.log"),
        artifacts().join("redis-demo-b.log"),
    );
    {
        let ((_a, addr_a), (_b, addr_b)) = (start(&exe, &log_a), start(&exe, &log_b));
        let (alice, bob) = (connect(addr_a, "alice").await, connect(addr_b, "bob").await);
        let mut on_a = a_join_on_a_is_seen_on_b(&alice, &bob, &room).await;
        let mut on_b = bob.subscribe(&topic).await.expect("SUBSCRIBE on B");
        poll_until(JOIN, || redis_subscribers(&format!("stomp:{topic}")) == 2)
            .await
            .expect("both instances subscribe the room's topic in Redis");
        post_and_see(&alice, &mut on_b, &room, "hello from A").await;
        let own = expect_message(&mut on_a, "alice's own message, on A").await;
        assert!(body(&own).contains("hello from A"), "{}", body(&own));
        post_and_see(&bob, &mut on_a, &room, "hello from B").await;
        an_empty_message_is_answered_with_an_error(&bob, &room).await;
        let both = ["hello from A", "hello from B"];
        assert_eq!(history(addr_a, &room).await, both, "complete on A");
        assert_eq!(history(addr_b, &room).await, both, "complete on B");
    } // Both processes are killed here.

    let ((_a, addr_a), (_b, addr_b)) = (start(&exe, &log_a), start(&exe, &log_b));
    assert_eq!(
        history(addr_b, &room).await,
        ["hello from A", "hello from B"],
        "the history outlives every instance"
    );
    assert_eq!(history(addr_a, &room).await.len(), 2);
    redis_cli(&["del", &format!("demo-chat:history:{room}")]).expect("DEL");
}

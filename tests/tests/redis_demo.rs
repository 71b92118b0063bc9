//! demo-chat `--redis` with a real redis-server: two demo processes share a room (a message
//! posted on one reaches the other), and the room's history, kept in a Redis Stream, is
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
        let mut on_a = alice.subscribe(&topic).await.expect("SUBSCRIBE on A");
        let mut on_b = bob.subscribe(&topic).await.expect("SUBSCRIBE on B");
        poll_until(JOIN, || redis_subscribers(&format!("stomp:{topic}")) == 2)
            .await
            .expect("both instances subscribe the room's topic in Redis");
        post_and_see(&alice, &mut on_b, &room, "hello from A").await;
        let own = expect_message(&mut on_a, "alice's own message, on A").await;
        assert!(body(&own).contains("hello from A"), "{}", body(&own));
        post_and_see(&bob, &mut on_a, &room, "hello from B").await;
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

//! Redis Streams (`stomp_server::redis::RedisStreams`) with a real redis-server: appending
//! and reading back, the `MAXLEN` bound, and a consumer group shared by two instances.
//!
//! ```text
//! bash tests/redis/start-redis.sh          # once: redis-server on 127.0.0.1:6379
//! cargo test -p tests --test redis_streams
//! ```
//!
//! Without Redis each test prints a loud `SKIPPED` line and passes, unless
//! `STOMP_REQUIRE_ALL=1`. Every test uses streams of its own, deleted at the end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod redis_common;
mod relay_common;

use std::collections::BTreeSet;
use std::time::Duration;

use redis_common::{redis_cli, redis_or_skip};
use relay_common::{body, expect_message, init_logging, unique, within};
use stomp_server::client::StompClient;
use stomp_server::redis::{ConsumerConfig, RedisConfig, RedisStreams, StreamEntry, StreamError};
use stomp_server::{message_mapping, send_to, Payload, State, StompServer};

/// A handler with the streams as state (Spring: a controller with a `RedisTemplate`):
/// appends the post to `stomp-test:handler:<tag>` and answers with the entry's id.
#[message_mapping("/streams/log/<tag>")]
#[send_to("/topic/streams/logged/<tag>")]
async fn log_post(
    tag: String,
    Payload(text): Payload<String>,
    streams: State<RedisStreams>,
) -> Result<String, StreamError> {
    let stream = format!("stomp-test:handler:{tag}");
    streams.append(&stream, &[("body", text)]).await
}

/// Redis' default `stream-node-max-entries`: `MAXLEN ~` trims whole nodes of this many.
const NODE_ENTRIES: usize = 100;

fn stream_name(what: &str) -> String {
    format!("stomp-test:{what}:{}", unique())
}

fn texts(entries: &[StreamEntry]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e.text("body").expect("a text body").to_owned())
        .collect()
}

async fn append_numbered(streams: &RedisStreams, stream: &str, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for n in 0..count {
        let body = format!("m{n}");
        let id = streams
            .append(stream, &[("body", body.as_bytes())])
            .await
            .expect("XADD");
        ids.push(id);
    }
    ids
}

#[tokio::test]
async fn appended_entries_read_back_as_the_last_n_and_as_ranges_in_order() {
    if !redis_or_skip("appended_entries_read_back_as_the_last_n_and_as_ranges_in_order") {
        return;
    }
    init_logging();
    let streams = RedisStreams::new(&RedisConfig::default());
    let stream = stream_name("read");
    assert!(streams
        .last(&stream, 5)
        .await
        .expect("XREVRANGE")
        .is_empty());
    let ids = append_numbered(&streams, &stream, 8).await;

    let last = streams.last(&stream, 3).await.expect("XREVRANGE");
    assert_eq!(texts(&last), ["m5", "m6", "m7"], "oldest first");
    assert_eq!(last[2].id, ids[7]);
    let range = streams
        .range(&stream, &ids[2], &ids[4], 100)
        .await
        .expect("XRANGE");
    assert_eq!(texts(&range), ["m2", "m3", "m4"]);
    let capped = streams.range(&stream, "-", "+", 2).await.expect("XRANGE");
    assert_eq!(texts(&capped), ["m0", "m1"], "COUNT bounds the read");
    let after = format!("({}", ids[6]);
    let rest = streams
        .range(&stream, &after, "+", 10)
        .await
        .expect("XRANGE");
    assert_eq!(texts(&rest), ["m7"], "an exclusive start");

    assert!(matches!(
        streams.last(&stream, 0).await,
        Err(StreamError::Invalid(_))
    ));
    let no_fields: [(&str, &[u8]); 0] = [];
    assert!(matches!(
        streams.append(&stream, &no_fields).await,
        Err(StreamError::Invalid(_))
    ));
    redis_cli(&["set", &format!("{stream}:plain"), "x"]).expect("SET");
    assert!(
        matches!(
            streams
                .append(&format!("{stream}:plain"), &[("body", "x")])
                .await,
            Err(StreamError::Refused(_))
        ),
        "a key of another type is refused, not a panic"
    );
    redis_cli(&["del", &stream, &format!("{stream}:plain")]).expect("DEL");
}

#[tokio::test]
async fn a_stream_stays_within_its_maxlen_bound() {
    if !redis_or_skip("a_stream_stays_within_its_maxlen_bound") {
        return;
    }
    let streams = RedisStreams::new(&RedisConfig::default()).with_max_len(10);
    let stream = stream_name("bounded");
    append_numbered(&streams, &stream, 1_000).await;
    let len = streams.len(&stream).await.expect("XLEN");
    assert!(
        (10..=10 + NODE_ENTRIES).contains(&len),
        "1,000 appended with MAXLEN ~ 10 left {len} entries"
    );
    let last = streams.last(&stream, 2).await.expect("XREVRANGE");
    assert_eq!(texts(&last), ["m998", "m999"], "trimming drops the oldest");
    redis_cli(&["del", &stream]).expect("DEL");
}

/// Reads with `consumer` until it returns nothing, acknowledging everything.
async fn drain(consumer: &stomp_server::redis::StreamConsumer, got: &mut Vec<String>) -> usize {
    let entries = consumer.read().await.expect("XREADGROUP");
    let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(consumer.ack(&ids).await.expect("XACK"), ids.len());
    got.extend(texts(&entries));
    entries.len()
}

#[tokio::test]
async fn two_instances_in_one_group_share_the_entries_each_processed_once() {
    if !redis_or_skip("two_instances_in_one_group_share_the_entries_each_processed_once") {
        return;
    }
    init_logging();
    let stream = stream_name("work");
    // Two instances: each its own `RedisStreams` (its own connections) and reader name.
    let (one, two) = (
        RedisStreams::new(&RedisConfig::default()),
        RedisStreams::new(&RedisConfig::default()),
    );
    let config = |name: &str| {
        ConsumerConfig::new("workers", name)
            .with_count(5)
            .with_block(Duration::from_millis(100))
    };
    let (a, b) = (
        one.consumer(&stream, config("a")),
        two.consumer(&stream, config("b")),
    );
    assert!(a.read().await.expect("creates the group").is_empty());
    append_numbered(&one, &stream, 40).await;

    let (mut by_a, mut by_b) = (Vec::new(), Vec::new());
    within(
        "the group drains the stream",
        Duration::from_secs(30),
        async {
            loop {
                let taken = drain(&a, &mut by_a).await + drain(&b, &mut by_b).await;
                if taken == 0 {
                    break;
                }
            }
        },
    )
    .await;
    assert!(
        !by_a.is_empty() && !by_b.is_empty(),
        "both share: {by_a:?} {by_b:?}"
    );
    let mut all: Vec<String> = by_a.iter().chain(&by_b).cloned().collect();
    let distinct: BTreeSet<String> = all.iter().cloned().collect();
    assert_eq!(distinct.len(), all.len(), "none twice: {all:?}");
    all.sort_by_key(|m| m[1..].parse::<u32>().expect("numbered"));
    let expected: Vec<String> = (0..40).map(|n| format!("m{n}")).collect();
    assert_eq!(all, expected, "every entry processed");
    redis_cli(&["del", &stream]).expect("DEL");
}

#[tokio::test]
async fn an_entry_left_unacknowledged_is_claimed_by_another_reader_after_the_idle_time() {
    if !redis_or_skip(
        "an_entry_left_unacknowledged_is_claimed_by_another_reader_after_the_idle_time",
    ) {
        return;
    }
    let stream = stream_name("claim");
    let streams = RedisStreams::new(&RedisConfig::default());
    let config = |name: &str, idle: Duration| {
        ConsumerConfig::new("workers", name)
            .with_block(Duration::from_millis(100))
            .with_claim_idle(idle)
    };
    let crashed = streams.consumer(&stream, config("crashed", Duration::from_secs(3600)));
    let patient = streams.consumer(&stream, config("patient", Duration::from_secs(3600)));
    let rescuer = streams.consumer(&stream, config("rescuer", Duration::from_millis(200)));
    assert!(crashed.read().await.expect("creates the group").is_empty());
    append_numbered(&streams, &stream, 2).await;
    let taken = crashed.read().await.expect("XREADGROUP");
    assert_eq!(texts(&taken), ["m0", "m1"]);
    // `crashed` never acknowledges. A reader with a long claim time does not take them.
    assert!(patient.read().await.expect("XREADGROUP").is_empty());
    // Past the idle time (a lower bound: waiting longer changes nothing) they move.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let claimed = rescuer.read().await.expect("XAUTOCLAIM");
    assert_eq!(texts(&claimed), ["m0", "m1"]);
    let ids: Vec<&str> = claimed.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(rescuer.ack(&ids).await.expect("XACK"), 2);
    assert_eq!(crashed.ack(&ids).await.expect("XACK"), 0, "already done");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        rescuer.read().await.expect("XREADGROUP").is_empty(),
        "acked: gone"
    );
    redis_cli(&["del", &stream]).expect("DEL");
}

#[tokio::test]
async fn a_dropped_connection_is_replaced_at_the_next_call() {
    if !redis_or_skip("a_dropped_connection_is_replaced_at_the_next_call") {
        return;
    }
    let streams = RedisStreams::new(&RedisConfig::default());
    let stream = stream_name("reconnect");
    streams
        .append(&stream, &[("body", "m0")])
        .await
        .expect("XADD");
    // `XLEN` is this test's own: the connection whose last command it was is this one.
    assert_eq!(streams.len(&stream).await.expect("XLEN"), 1);
    let list = redis_cli(&["client", "list"]).expect("CLIENT LIST");
    let ours: Vec<&str> = list
        .lines()
        .filter(|line| line.contains(" cmd=xlen "))
        .filter_map(|line| line.split(' ').find_map(|f| f.strip_prefix("id=")))
        .collect();
    assert!(!ours.is_empty(), "the streams connection is listed: {list}");
    for id in ours {
        redis_cli(&["client", "kill", "id", id]).expect("CLIENT KILL");
    }
    // The cached connection is dead; the call notices, connects again and answers.
    assert_eq!(streams.len(&stream).await.expect("XLEN after a kill"), 1);
    streams
        .append(&stream, &[("body", "m1")])
        .await
        .expect("XADD");
    assert_eq!(
        texts(&streams.last(&stream, 5).await.expect("XREVRANGE")),
        ["m0", "m1"]
    );
    redis_cli(&["del", &stream]).expect("DEL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_appends_through_the_streams_it_gets_as_state() {
    if !redis_or_skip("a_handler_appends_through_the_streams_it_gets_as_state") {
        return;
    }
    init_logging();
    let streams = RedisStreams::new(&RedisConfig::default()).with_max_len(100);
    let server = StompServer::builder()
        .state(streams.clone())
        .stats_log_interval(None)
        .build()
        .expect("the server builds");
    let listener = server.bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("local address").port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run(listener, async move {
        let _ = stopped.await;
    }));
    let tag = unique();
    let session = StompClient::new()
        .connect(&format!("ws://127.0.0.1:{port}/ws"))
        .await
        .expect("CONNECT");
    let mut answers = session
        .subscribe(&format!("/topic/streams/logged/{tag}"))
        .await
        .expect("SUBSCRIBE");
    session
        .send(&format!("/app/streams/log/{tag}"), "kept")
        .await
        .expect("SEND");
    let answer = body(&expect_message(&mut answers, "the handler's answer").await);
    let stream = format!("stomp-test:handler:{tag}");
    let last = streams.last(&stream, 5).await.expect("XREVRANGE");
    assert_eq!(texts(&last), ["kept"]);
    assert_eq!(answer, last[0].id, "the handler answers the id");
    let _ = stop.send(());
    redis_cli(&["del", &stream]).expect("DEL");
}

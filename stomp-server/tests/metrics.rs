//! The metrics endpoint (feature `metrics`) scraped over real HTTP after a known load: the
//! exposition is OpenMetrics, agrees with `Stats` and with the exact counts the load makes.
#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod raw;

use std::time::Duration;

use common::sockjs::{request, Stream};
use common::{no_handlers, subscribe_acking, TestServer, WAIT};
use futures_util::SinkExt;
use raw::{raw, read_text};
use stomp_server::config::{BrokerConfig, UnhandledErrors};
use stomp_server::handler::Handlers;
use stomp_server::stats::{MappingStats, SessionCloseCause, StatsSnapshot};
use stomp_server::{message_mapping, Command, Frame, StompServerBuilder};
use tokio_tungstenite::tungstenite::Message as WsMessage;

#[message_mapping("/metrics/ok")]
fn ok() {}

#[derive(Debug, thiserror::Error)]
#[error("this handler always fails")]
struct Boom;

#[message_mapping("/metrics/fail")]
fn fail() -> Result<(), Boom> {
    Err(Boom)
}

/// A server with this file's handlers and the endpoint at `/metrics`.
fn with_metrics() -> StompServerBuilder {
    stomp_server::StompServer::builder()
        .handlers(Handlers::collected_in(module_path!()))
        .unhandled_errors(UnhandledErrors::LogOnly)
        .metrics_endpoint("/metrics")
}

/// One scrape of `/metrics`: its status, content type and text.
async fn scrape(server: &TestServer) -> (u16, Option<String>, String) {
    let reply = request(server.port, "GET", "/metrics", "").await;
    let content_type = reply.header("content-type").map(str::to_owned);
    (reply.status, content_type, reply.body)
}

/// The exposition, checked to be OpenMetrics text: every sample of a declared family, a
/// number for each, and `# EOF` last.
async fn exposition(server: &TestServer) -> String {
    let (status, content_type, text) = scrape(server).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(
        content_type.as_deref(),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    assert!(text.ends_with("# EOF\n"), "no # EOF at the end:\n{text}");
    let families: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|line| line.split(' ').next())
        .collect();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').expect("a sample and its value");
        assert!(value.parse::<f64>().is_ok(), "not a number: {line}");
        let name = series.split('{').next().unwrap_or(series);
        assert!(
            families.iter().any(|f| name.starts_with(f)),
            "a sample of no declared family: {line}"
        );
    }
    text
}

/// The value of `series` (name and labels, exactly as exposed) in `text`.
fn value(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no `{series}` in:\n{text}"))
        .parse()
        .unwrap_or_else(|e| panic!("`{series}` is not an integer: {e}"))
}

fn frames(list: &[(Command, u64)], command: Command) -> u64 {
    list.iter()
        .find(|(c, _)| *c == command)
        .map_or(0, |(_, n)| *n)
}

fn closed(stats: &StatsSnapshot, cause: SessionCloseCause) -> u64 {
    stats
        .sessions_closed
        .iter()
        .find(|(c, _)| *c == cause)
        .map_or(0, |(_, n)| *n)
}

/// Polls `server`'s stats until `condition` holds (a safety net of 10 s, not a timing).
async fn eventually(server: &TestServer, condition: impl Fn(&StatsSnapshot) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !condition(&server.stats.snapshot()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "stats never got there: {:?}",
            server.stats.snapshot()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_known_load_shows_the_exact_counts_in_stats_and_in_the_scrape() {
    const SUBSCRIBERS: u64 = 3;
    const MESSAGES: u64 = 20;
    let server = TestServer::start(with_metrics()).await;
    let topic = "/topic/metrics/load";
    let mut readers = Vec::new();
    for _ in 0..SUBSCRIBERS {
        let session = server.connect_anonymous().await;
        let subscription = session.subscribe(topic).await.unwrap();
        readers.push((session, subscription));
    }
    let publisher = server.connect_anonymous().await;
    for i in 1..=MESSAGES {
        let frame = Frame::new(Command::Send)
            .header("destination", topic)
            .with_body(i.to_string());
        if i == MESSAGES {
            publisher.send_with_receipt(frame).await.unwrap();
        } else {
            publisher.send_frame(frame).await.unwrap();
        }
    }
    for (_, subscription) in &mut readers {
        for _ in 0..MESSAGES {
            subscription.next_timeout(WAIT).await.unwrap();
        }
    }
    let text = exposition(&server).await;
    let stats = server.stats.snapshot();

    let delivered = value(&text, "stomp_messages_delivered_total");
    assert_eq!(delivered, SUBSCRIBERS * MESSAGES);
    assert_eq!(delivered, stats.messages_delivered);
    assert_eq!(value(&text, "stomp_messages_published_total"), MESSAGES);
    assert_eq!(stats.messages_published, MESSAGES);
    assert_eq!(value(&text, "stomp_sessions_current"), SUBSCRIBERS + 1);
    for command in [
        Command::Connect,
        Command::Stomp,
        Command::Subscribe,
        Command::Send,
    ] {
        let series = format!("stomp_frames_in_total{{command=\"{command}\"}}");
        assert_eq!(value(&text, &series), frames(&stats.frames_in, command));
    }
    let connects =
        frames(&stats.frames_in, Command::Connect) + frames(&stats.frames_in, Command::Stomp);
    assert_eq!(connects, SUBSCRIBERS + 1);
    assert_eq!(frames(&stats.frames_in, Command::Subscribe), SUBSCRIBERS);
    assert_eq!(frames(&stats.frames_in, Command::Send), MESSAGES);
    let expected_out = [
        (Command::Connected, SUBSCRIBERS + 1),
        (Command::Message, SUBSCRIBERS * MESSAGES),
        // One per SUBSCRIBE (the client waits for it) and the last SEND's.
        (Command::Receipt, SUBSCRIBERS + 1),
        (Command::Error, 0),
    ];
    for (command, count) in expected_out {
        let series = format!("stomp_frames_out_total{{command=\"{command}\"}}");
        assert_eq!(value(&text, &series), count, "{command} out");
        assert_eq!(frames(&stats.frames_out, command), count, "{command} out");
    }

    // Two sessions end: one says DISCONNECT, one drops its socket.
    let (first, _) = readers.pop().unwrap();
    first.disconnect().await.unwrap();
    let (second, subscription) = readers.pop().unwrap();
    drop((second, subscription));
    eventually(&server, |s| {
        closed(s, SessionCloseCause::Disconnect) == 1
            && closed(s, SessionCloseCause::ClientClosed) == 1
    })
    .await;
    let text = exposition(&server).await;
    assert_eq!(
        value(&text, r#"stomp_sessions_closed_total{cause="disconnect"}"#),
        1
    );
    assert_eq!(
        value(
            &text,
            r#"stomp_sessions_closed_total{cause="client_closed"}"#
        ),
        1
    );
    assert_eq!(value(&text, "stomp_sessions_current"), SUBSCRIBERS - 1);
    // Each ended session is one observation of its outbound queue's peak.
    assert_eq!(value(&text, "stomp_outbound_queue_bytes_count"), 2);
}

#[tokio::test]
async fn handler_durations_and_errors_are_counted_per_mapping() {
    let server = TestServer::start(with_metrics()).await;
    let session = server.connect_anonymous().await;
    let send =
        |destination: &'static str| Frame::new(Command::Send).header("destination", destination);
    for _ in 0..5 {
        session
            .send_with_receipt(send("/app/metrics/ok"))
            .await
            .unwrap();
    }
    for _ in 0..2 {
        session
            .send_with_receipt(send("/app/metrics/fail"))
            .await
            .unwrap();
    }
    let text = exposition(&server).await;
    let ok = r#"{kind="message",mapping="/metrics/ok"}"#;
    let failing = r#"{kind="message",mapping="/metrics/fail"}"#;
    assert_eq!(
        value(&text, &format!("stomp_handler_duration_seconds_count{ok}")),
        5
    );
    assert_eq!(value(&text, &format!("stomp_handler_errors_total{ok}")), 0);
    assert_eq!(
        value(
            &text,
            &format!("stomp_handler_duration_seconds_count{failing}")
        ),
        2
    );
    assert_eq!(
        value(&text, &format!("stomp_handler_errors_total{failing}")),
        2
    );
    assert_eq!(value(&text, r#"stomp_errors_total{kind="handler"}"#), 2);
    // The encoder writes `le` before the family's labels.
    let infinite =
        r#"stomp_handler_duration_seconds_bucket{le="+Inf",kind="message",mapping="/metrics/ok"}"#;
    assert_eq!(value(&text, infinite), 5);
    let stats = server.stats.snapshot();
    let mapping = |pattern| mapping_stats(&stats, pattern);
    assert_eq!(mapping("/metrics/ok").duration_nanos.count(), 5);
    assert_eq!(mapping("/metrics/fail").errors, 2);
}

#[tokio::test]
async fn slow_consumer_and_heartbeat_closes_show_under_their_cause() {
    let config = BrokerConfig::default()
        .with_max_unacked_per_subscription(1)
        .with_max_pending_per_subscription(3);
    let builder = no_handlers()
        .broker_config(config)
        .heartbeat(100, 100)
        .metrics_endpoint("/metrics");
    let server = TestServer::start(builder).await;
    // A subscriber that never acknowledges: a slow consumer (its backlog).
    let slow = server.connect_anonymous().await;
    let _subscription = subscribe_acking(&slow, "/topic/metrics/backlog", "client", None).await;
    let publisher = server.connect_anonymous().await;
    for i in 0..5 {
        let frame = Frame::new(Command::Send)
            .header("destination", "/topic/metrics/backlog")
            .with_body(i.to_string());
        publisher.send_with_receipt(frame).await.unwrap();
    }
    // A client that promises a heart-beat every 100 ms and sends none.
    let mut silent = raw(&server).await;
    let connect = "CONNECT\naccept-version:1.2\nheart-beat:100,0\n\n\0";
    silent.send(WsMessage::text(connect)).await.unwrap();
    assert!(read_text(&mut silent)
        .await
        .unwrap()
        .starts_with("CONNECTED\n"));
    eventually(&server, |s| {
        closed(s, SessionCloseCause::AckBacklog) == 1
            && closed(s, SessionCloseCause::HeartBeat) == 1
    })
    .await;
    let text = exposition(&server).await;
    let stats = server.stats.snapshot();
    assert_eq!(
        value(&text, r#"stomp_sessions_closed_total{cause="ack_backlog"}"#),
        1
    );
    assert_eq!(
        value(&text, r#"stomp_sessions_closed_total{cause="heartbeat"}"#),
        1
    );
    assert_eq!(
        value(&text, "stomp_heartbeat_timeouts_total"),
        stats.heartbeat_timeouts
    );
    assert_eq!(value(&text, "stomp_slow_consumer_closes_total"), 1);
    drop(silent);
}

#[tokio::test]
async fn sockjs_sessions_show_by_transport() {
    let server = TestServer::start(with_metrics().with_sockjs()).await;
    let port = server.port;
    let poll = request(port, "POST", "/ws/000/metrics-poll/xhr", "").await;
    assert_eq!(poll.body, "o\n");
    let mut stream = Stream::open(port, "/ws/000/metrics-stream/xhr_streaming").await;
    assert_eq!(stream.frame().await.unwrap().len(), 2048, "the prelude");
    assert_eq!(stream.frame().await.as_deref(), Some("o"));
    let text = exposition(&server).await;
    for transport in ["xhr", "xhr_streaming"] {
        let current = format!("stomp_sockjs_sessions_current{{transport=\"{transport}\"}}");
        let opened = format!("stomp_sockjs_sessions_opened_total{{transport=\"{transport}\"}}");
        assert_eq!(
            (value(&text, &current), value(&text, &opened)),
            (1, 1),
            "{transport}"
        );
    }
    for transport in ["websocket", "eventsource", "htmlfile"] {
        let opened = format!("stomp_sockjs_sessions_opened_total{{transport=\"{transport}\"}}");
        assert_eq!(value(&text, &opened), 0, "{transport}");
    }
}

#[tokio::test]
async fn without_metrics_there_is_no_endpoint_and_handlers_are_not_timed() {
    let builder = stomp_server::StompServer::builder()
        .handlers(Handlers::collected_in(module_path!()))
        .unhandled_errors(UnhandledErrors::LogOnly);
    let server = TestServer::start(builder).await;
    let (status, _, _) = scrape(&server).await;
    assert_eq!(status, 404);
    let session = server.connect_anonymous().await;
    for destination in ["/app/metrics/ok", "/app/metrics/fail"] {
        let frame = Frame::new(Command::Send).header("destination", destination);
        session.send_with_receipt(frame).await.unwrap();
    }
    let stats = server.stats.snapshot();
    let mapping = |pattern| mapping_stats(&stats, pattern);
    assert_eq!(mapping("/metrics/ok").duration_nanos.count(), 0);
    assert_eq!(mapping("/metrics/fail").duration_nanos.count(), 0);
    // Errors are plain counters: kept either way.
    assert_eq!(mapping("/metrics/fail").errors, 1);
}

/// The counters of the mapping declared as `pattern`.
fn mapping_stats<'a>(stats: &'a StatsSnapshot, pattern: &str) -> &'a MappingStats {
    stats
        .mappings
        .iter()
        .find(|m| m.pattern == pattern)
        .unwrap_or_else(|| panic!("no mapping {pattern}"))
}

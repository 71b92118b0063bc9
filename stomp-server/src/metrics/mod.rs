//! Prometheus/OpenMetrics metrics (feature `metrics`): the server's [`Stats`] as an
//! OpenMetrics exposition, read from [`Stats::snapshot`] at each scrape, so that what a
//! scrape shows agrees with `Stats` by construction.
//!
//! Mount it in one line, on the server's own HTTP listener:
//!
//! ```no_run
//! # async fn run() -> Result<(), stomp_server::StartError> {
//! stomp_server::StompServer::builder()
//!     .endpoint("/ws")
//!     .metrics_endpoint("/metrics")
//!     .serve("0.0.0.0:8080")
//!     .await
//! # }
//! ```
//!
//! or, in an application that keeps its own `prometheus_client` registry (axum, next to
//! its own metrics; the gallery's `examples/axum.rs` serves one at `GET /metrics`), register
//! the server's collector there:
//!
//! ```
//! use prometheus_client::registry::Registry;
//!
//! let server = stomp_server::StompServer::builder()
//!     .handlers(stomp_server::handler::Handlers::new())
//!     .build()
//!     .expect("server");
//! let mut registry = Registry::default();
//! server.register_metrics(&mut registry);
//! let mut text = String::new();
//! prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
//! assert!(text.contains("stomp_sessions_current 0"));
//! assert!(text.ends_with("# EOF\n"));
//! ```
//!
//! Either way turns on handler timing ([`Stats::measure_handlers`]); without metrics a
//! handler call costs no clock read.
//!
//! | Metric | Type | Labels | What |
//! |---|---|---|---|
//! | `stomp_sessions_current` | gauge | | STOMP sessions open now |
//! | `stomp_sessions_opened_total` | counter | | STOMP sessions opened (`CONNECTED` sent) |
//! | `stomp_sessions_closed_total` | counter | `cause` | sessions ended: `disconnect`, `client_closed`, `connection_lost`, `error`, `send_buffer_limit`, `send_time_limit`, `ack_backlog`, `heartbeat`, `shutdown`, `ended` |
//! | `stomp_raw_sessions_current`, `stomp_raw_sessions_opened_total` | gauge, counter | | raw WebSocket sessions |
//! | `stomp_outbound_queue_bytes` | histogram | | each ended session's largest outbound queue (bytes waiting to be written at its worst moment), one observation per session at its end; buckets 1 KiB to 16 MiB |
//! | `stomp_frames_in_total` | counter | `command` | frames received |
//! | `stomp_frames_out_total` | counter | `command` | frames queued to clients: `CONNECTED` (one per session opened), `MESSAGE` (as `stomp_messages_delivered_total`), `RECEIPT`, `ERROR` |
//! | `stomp_messages_published_total` | counter | | `SEND`s to broker destinations accepted into the broker, relay, Redis backplane or a user's sessions |
//! | `stomp_messages_delivered_total` | counter | | `MESSAGE` frames queued to subscribers by this instance (simple broker, user destinations, the relay's and Redis's local fan-out); with the relay, a `SEND` RabbitMQ fans out itself (a queue, a non-shared destination) counts once, when handed over, and the `MESSAGE`s RabbitMQ then delivers on a session's own connection are not counted again |
//! | `stomp_errors_total` | counter | `kind` | `decode`, `handler`, `access_denied`, `rejected_handshake` |
//! | `stomp_slow_consumer_closes_total`, `stomp_heartbeat_timeouts_total` | counter | | as Spring's `WebSocketMessageBrokerStats` |
//! | `stomp_broker_up` | gauge | `backplane` | 1 while the `relay` or `redis` connection is up (only a configured one appears) |
//! | `stomp_broker_reconnects_total` | counter | `backplane` | connections re-established after a loss |
//! | `stomp_broker_queued_messages`, `stomp_broker_queued_bytes`, `stomp_broker_unacked_bytes` | gauge | | what the simple broker holds |
//! | `stomp_handler_duration_seconds` | histogram | `kind`, `mapping` | each `#[message_mapping]` (`kind="message"`) and `#[subscribe_mapping]` (`kind="subscribe"`) handler's duration, from the call to its return value; buckets 5 µs to 5 s |
//! | `stomp_handler_errors_total` | counter | `kind`, `mapping` | invocations that returned an error |
//! | `stomp_sockjs_sessions_current`, `stomp_sockjs_sessions_opened_total` | gauge, counter | `transport` | SockJS sessions: `websocket`, `xhr_streaming`, `xhr`, `eventsource`, `htmlfile` |

use std::sync::Arc;

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::Full;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Registry;

use crate::stats::Stats;
use crate::Server;

mod encode;

/// The content type of the exposition the endpoint serves.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A `prometheus_client` [`Collector`] of one server's [`Stats`]: each scrape encodes
/// [`Stats::snapshot`] taken at that moment.
#[derive(Debug, Clone)]
pub struct StompCollector {
    stats: Arc<Stats>,
}

impl StompCollector {
    /// A collector of `stats`; turns on handler timing ([`Stats::measure_handlers`]).
    pub fn new(stats: Arc<Stats>) -> StompCollector {
        stats.measure_handlers();
        StompCollector { stats }
    }
}

impl Collector for StompCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        encode::snapshot(&mut encoder, &self.stats.snapshot())
    }
}

/// The collector of `server`'s stats, to register in an application's own registry
/// (`registry.register_collector(Box::new(collector(&server)))`, or
/// [`Server::register_metrics`]).
pub fn collector(server: &Server) -> StompCollector {
    StompCollector::new(server.stats())
}

impl Server {
    /// Registers this server's metrics in `registry`, beside the application's own (see
    /// the [`metrics`](crate::metrics) module for their names); turns on handler timing.
    pub fn register_metrics(&self, registry: &mut Registry) {
        registry.register_collector(Box::new(collector(self)));
    }
}

/// The exposition of `collector` alone, as the endpoint serves it (ending with `# EOF`).
pub fn exposition(collector: &StompCollector) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(collector.clone()));
    let mut text = String::new();
    // Writing to a String does not fail; an encoder error would leave a partial text,
    // which the scraper rejects (no `# EOF`).
    if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &registry) {
        tracing::warn!(%error, "encoding the metrics failed");
    }
    text
}

/// The handler of `StompServerBuilder::metrics_endpoint`: `GET` (or `HEAD`) answers the
/// exposition of `stats`.
pub(crate) fn endpoint(
    stats: &Arc<Stats>,
) -> impl Fn(Request<Bytes>) -> Response<Full<Bytes>> + Send + Sync + 'static {
    let collector = StompCollector::new(Arc::clone(stats));
    move |request| {
        if request.method() != Method::GET && request.method() != Method::HEAD {
            return answer(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain",
                "GET only\n".into(),
            );
        }
        answer(StatusCode::OK, CONTENT_TYPE, exposition(&collector))
    }
}

fn answer(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_bounds_are_written_in_their_unit_and_short() {
        let stats = Arc::new(Stats::default());
        stats.send_buffer_peak(3000);
        let text = exposition(&StompCollector::new(stats));
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines.contains(&r#"stomp_outbound_queue_bytes_bucket{le="1024.0"} 0"#),
            "{text}"
        );
        assert!(
            lines.contains(&r#"stomp_outbound_queue_bytes_bucket{le="4096.0"} 1"#),
            "{text}"
        );
        assert!(
            lines.contains(&r#"stomp_outbound_queue_bytes_bucket{le="+Inf"} 1"#),
            "{text}"
        );
        assert!(
            lines.contains(&"stomp_outbound_queue_bytes_sum 3000.0"),
            "{text}"
        );
        assert!(
            lines.contains(&"# UNIT stomp_outbound_queue_bytes bytes"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn handler_buckets_are_in_seconds() {
        let label = crate::stats::MappingLabel {
            kind: "message",
            pattern: "/x",
        };
        let stats = Arc::new(Stats::with_mappings(vec![label]));
        let collector = StompCollector::new(Arc::clone(&stats));
        stats.handler_finished(0, stats.handler_started(), true);
        let text = exposition(&collector);
        let series =
            r#"stomp_handler_duration_seconds_bucket{le="0.000005",kind="message",mapping="/x"}"#;
        assert!(text.lines().any(|l| l.starts_with(series)), "{text}");
        let count = r#"stomp_handler_duration_seconds_count{kind="message",mapping="/x"} 1"#;
        assert!(text.lines().any(|l| l == count), "{text}");
        let errors = r#"stomp_handler_errors_total{kind="message",mapping="/x"} 1"#;
        assert!(text.lines().any(|l| l == errors), "{text}");
    }
}

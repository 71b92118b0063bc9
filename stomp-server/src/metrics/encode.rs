//! Writes one [`StatsSnapshot`] as OpenMetrics families: plain counters and gauges, the
//! families labelled by kind, and the histograms.

use std::fmt::Error;

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;

use crate::stats::{Histogram, StatsSnapshot};

/// Every family of `snapshot`.
pub(super) fn snapshot(
    encoder: &mut DescriptorEncoder<'_>,
    s: &StatsSnapshot,
) -> Result<(), Error> {
    sessions(encoder, s)?;
    frames(encoder, s)?;
    errors(encoder, s)?;
    broker(encoder, s)?;
    handlers(encoder, s)?;
    sockjs(encoder, s)
}

fn sessions(encoder: &mut DescriptorEncoder<'_>, s: &StatsSnapshot) -> Result<(), Error> {
    gauge(
        encoder,
        "stomp_sessions_current",
        "STOMP sessions open now.",
        s.sessions_current,
    )?;
    counter(
        encoder,
        "stomp_sessions_opened",
        "STOMP sessions opened (CONNECTED sent).",
        s.sessions_total,
    )?;
    let closed = s
        .sessions_closed
        .iter()
        .map(|(cause, n)| (cause.as_str(), *n));
    counter_family(
        encoder,
        "stomp_sessions_closed",
        "STOMP sessions ended, by cause.",
        "cause",
        closed,
    )?;
    let help = "Raw WebSocket sessions (raw_endpoint) open now.";
    gauge(
        encoder,
        "stomp_raw_sessions_current",
        help,
        s.raw_sessions_current,
    )?;
    let help = "Raw WebSocket sessions opened.";
    counter(
        encoder,
        "stomp_raw_sessions_opened",
        help,
        s.raw_sessions_total,
    )?;
    let help = "Each ended session's largest outbound queue (bytes waiting to be written at its worst moment), observed once per session at its end.";
    let name = ("stomp_outbound_queue", help, Unit::Bytes);
    histogram(encoder, name, &s.send_buffer_peaks, 1.0)
}

fn frames(encoder: &mut DescriptorEncoder<'_>, s: &StatsSnapshot) -> Result<(), Error> {
    let frames_in = s.frames_in.iter().map(|(c, n)| (c.as_str(), *n));
    counter_family(
        encoder,
        "stomp_frames_in",
        "Frames received, by command.",
        "command",
        frames_in,
    )?;
    let frames_out = s.frames_out.iter().map(|(c, n)| (c.as_str(), *n));
    counter_family(
        encoder,
        "stomp_frames_out",
        "Frames queued to clients, by command.",
        "command",
        frames_out,
    )?;
    let help = "SEND frames to broker destinations accepted into the broker, relay, backplane or a user's sessions.";
    counter(
        encoder,
        "stomp_messages_published",
        help,
        s.messages_published,
    )?;
    let help = "MESSAGE frames queued to subscribers.";
    counter(
        encoder,
        "stomp_messages_delivered",
        help,
        s.messages_delivered,
    )
}

fn errors(encoder: &mut DescriptorEncoder<'_>, s: &StatsSnapshot) -> Result<(), Error> {
    let kinds = [
        ("decode", s.decode_errors),
        ("handler", s.handler_errors),
        ("access_denied", s.access_denied),
        ("rejected_handshake", s.rejected_handshakes),
    ];
    counter_family(
        encoder,
        "stomp_errors",
        "Errors, by kind.",
        "kind",
        kinds.into_iter(),
    )?;
    let help = "Sessions (STOMP and raw WebSocket) closed as slow consumers.";
    counter(
        encoder,
        "stomp_slow_consumer_closes",
        help,
        s.slow_consumer_closes,
    )?;
    let help = "Sessions closed because the client went silent past the heart-beat window.";
    counter(
        encoder,
        "stomp_heartbeat_timeouts",
        help,
        s.heartbeat_timeouts,
    )
}

fn broker(encoder: &mut DescriptorEncoder<'_>, s: &StatsSnapshot) -> Result<(), Error> {
    let up = s
        .backplanes
        .iter()
        .map(|b| (b.backplane.as_str(), u64::from(b.available)));
    let help = "1 while the backplane's connection is up, 0 while it is down.";
    gauge_family(encoder, "stomp_broker_up", help, "backplane", up)?;
    let reconnects = s
        .backplanes
        .iter()
        .map(|b| (b.backplane.as_str(), b.reconnects));
    let help = "How often the backplane's connection was re-established after it was lost.";
    counter_family(
        encoder,
        "stomp_broker_reconnects",
        help,
        "backplane",
        reconnects,
    )?;
    let help = "Messages the simple broker's point-to-point destinations hold for a consumer.";
    gauge(
        encoder,
        "stomp_broker_queued_messages",
        help,
        s.queued_messages,
    )?;
    let help = "Bytes of the messages the simple broker's point-to-point destinations hold.";
    gauge(encoder, "stomp_broker_queued_bytes", help, s.queued_bytes)?;
    let help = "Bytes the simple broker holds for acknowledging subscriptions.";
    gauge(encoder, "stomp_broker_unacked_bytes", help, s.unacked_bytes)
}

fn handlers(encoder: &mut DescriptorEncoder<'_>, s: &StatsSnapshot) -> Result<(), Error> {
    let help = "How long each mapping's handler took (measured while metrics are on).";
    let mut family = encoder.encode_descriptor(
        "stomp_handler_duration",
        help,
        Some(&Unit::Seconds),
        MetricType::Histogram,
    )?;
    for mapping in &s.mappings {
        let labels = [("kind", mapping.kind), ("mapping", mapping.pattern)];
        let metric = family.encode_family(&labels)?;
        encode_histogram(metric, &mapping.duration_nanos, 1e9)?;
    }
    let help = "Invocations of each mapping's handler that returned an error.";
    let mut family =
        encoder.encode_descriptor("stomp_handler_errors", help, None, MetricType::Counter)?;
    for mapping in &s.mappings {
        let labels = [("kind", mapping.kind), ("mapping", mapping.pattern)];
        ConstCounter::new(mapping.errors).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

fn sockjs(encoder: &mut DescriptorEncoder<'_>, s: &StatsSnapshot) -> Result<(), Error> {
    let current = s
        .sockjs_sessions
        .iter()
        .map(|t| (t.transport.as_str(), t.current));
    let help = "SockJS sessions open now, by transport.";
    gauge_family(
        encoder,
        "stomp_sockjs_sessions_current",
        help,
        "transport",
        current,
    )?;
    let total = s
        .sockjs_sessions
        .iter()
        .map(|t| (t.transport.as_str(), t.total));
    let help = "SockJS sessions opened, by transport.";
    counter_family(
        encoder,
        "stomp_sockjs_sessions_opened",
        help,
        "transport",
        total,
    )
}

/// A counter without labels (`name` without `_total`: the encoder adds it).
fn counter(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), Error> {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn gauge(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), Error> {
    let metric = ConstGauge::new(i64::try_from(value).unwrap_or(i64::MAX));
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

fn counter_family<'a>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    key: &str,
    values: impl Iterator<Item = (&'a str, u64)>,
) -> Result<(), Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (label, value) in values {
        ConstCounter::new(value).encode(family.encode_family(&[(key, label)])?)?;
    }
    Ok(())
}

fn gauge_family<'a>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    key: &str,
    values: impl Iterator<Item = (&'a str, u64)>,
) -> Result<(), Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (label, value) in values {
        let value = i64::try_from(value).unwrap_or(i64::MAX);
        ConstGauge::new(value).encode(family.encode_family(&[(key, label)])?)?;
    }
    Ok(())
}

/// A histogram without labels, its observations divided by `per_unit` (1e9 for seconds
/// from nanoseconds).
fn histogram(
    encoder: &mut DescriptorEncoder<'_>,
    (name, help, unit): (&str, &str, Unit),
    histogram: &Histogram,
    per_unit: f64,
) -> Result<(), Error> {
    let metric = encoder.encode_descriptor(name, help, Some(&unit), MetricType::Histogram)?;
    encode_histogram(metric, histogram, per_unit)
}

/// Writes `histogram`'s buckets (each bound and the sum divided by `per_unit`: a division
/// of whole numbers rounds to the nearest `f64`, so `le="0.000005"` stays short) to `metric`.
fn encode_histogram(
    mut metric: prometheus_client::encoding::MetricEncoder<'_>,
    histogram: &Histogram,
    per_unit: f64,
) -> Result<(), Error> {
    // Bounds and sums are far below 2^53: the conversion to f64 is exact enough for a scrape.
    let buckets: Vec<(f64, u64)> = histogram
        .bounds
        .iter()
        .map(|bound| *bound as f64 / per_unit)
        .chain(std::iter::once(f64::INFINITY))
        .zip(histogram.counts.iter().copied())
        .collect();
    let sum = histogram.sum as f64 / per_unit;
    metric.encode_histogram::<NoLabelSet>(sum, histogram.count(), &buckets, None)
}

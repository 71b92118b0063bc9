//! Counters like Spring's `WebSocketMessageBrokerStats`, kept exact with atomics.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::time::Instant;

use stomp_core::Command;

mod histogram;
mod labels;
mod mappings;

pub use histogram::Histogram;
pub use labels::{Backplane, SessionCloseCause, SockJsTransport};
pub use mappings::MappingStats;

use histogram::{AtomicHistogram, QUEUE_BYTES_BOUNDS};
pub(crate) use mappings::MappingLabel;
use mappings::MappingSlot;

/// Live counters of one server. Read them with [`Stats::snapshot`].
#[derive(Debug, Default)]
pub struct Stats {
    sessions_current: AtomicU64,
    sessions_total: AtomicU64,
    raw_sessions_current: AtomicU64,
    raw_sessions_total: AtomicU64,
    /// The counters bumped on every frame, one shard per thread group (see [`Hot`]).
    hot: [Hot; SHARDS],
    errors_sent: AtomicU64,
    decode_errors: AtomicU64,
    handler_errors: AtomicU64,
    slow_consumer_closes: AtomicU64,
    heartbeat_timeouts: AtomicU64,
    rejected_handshakes: AtomicU64,
    access_denied: AtomicU64,
    /// 0: no relay; 1: relay up; 2: relay down.
    broker_state: std::sync::atomic::AtomicU8,
    broker_reconnects: AtomicU64,
    send_buffer_peak: AtomicU64,
    /// What the simple broker holds, once it is attached.
    broker_load: std::sync::OnceLock<std::sync::Arc<BrokerLoad>>,
    /// Sessions ended, by [`SessionCloseCause`] index.
    sessions_closed: [AtomicU64; SessionCloseCause::ALL.len()],
    /// Each ended session's largest send buffer, in bytes.
    send_buffer_peaks: AtomicHistogram,
    /// Whether handler durations are measured (metrics are on).
    measure_handlers: AtomicBool,
    /// The registered mappings, by registry index, and their counters.
    mapping_labels: Box<[MappingLabel]>,
    mappings: Box<[MappingSlot]>,
    /// Per [`Backplane`]: 0 not reported, 1 up, 2 down; and its reconnects.
    backplane_state: [AtomicU8; Backplane::ALL.len()],
    backplane_reconnects: [AtomicU64; Backplane::ALL.len()],
    /// SockJS sessions open now and since start, by [`SockJsTransport`] index.
    sockjs_current: [AtomicU64; SockJsTransport::ALL.len()],
    sockjs_total: [AtomicU64; SockJsTransport::ALL.len()],
}

/// What the simple broker holds in memory now, kept by the broker and read by
/// [`Stats::snapshot`].
#[derive(Debug, Default)]
pub(crate) struct BrokerLoad {
    /// Messages held by point-to-point destinations for a consumer.
    pub(crate) queued_messages: AtomicUsize,
    /// Their bytes (destination, headers and body).
    pub(crate) queued_bytes: AtomicUsize,
    /// Bytes of messages delivered and not acknowledged yet, or waiting behind a full
    /// prefetch window (`ack:client` and `ack:client-individual` subscriptions).
    pub(crate) unacked_bytes: AtomicUsize,
}

/// How many [`Hot`] shards a server keeps: threads take them in turn.
const SHARDS: usize = 16;

/// The counters that move with every frame. Bumping one shared counter from every worker
/// thread makes its cache line travel between the cores on each frame; each thread bumps
/// its own shard instead (a cache line apart from the others) and a snapshot adds them up,
/// so the counts stay exact.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Hot {
    frames_in: [AtomicU64; 15],
    messages_delivered: AtomicU64,
    receipts_sent: AtomicU64,
    messages_published: AtomicU64,
}

/// This thread's shard index.
fn shard_index() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static INDEX: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    INDEX.with(|index| *index)
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct StatsSnapshot {
    /// Sessions open now.
    pub sessions_current: u64,
    /// Sessions opened since start.
    pub sessions_total: u64,
    /// Raw WebSocket sessions (no STOMP, `StompServerBuilder::raw_endpoint`) open now.
    pub raw_sessions_current: u64,
    /// Raw WebSocket sessions opened since start.
    pub raw_sessions_total: u64,
    /// Frames received, by command.
    pub frames_in: Vec<(Command, u64)>,
    /// `MESSAGE` frames queued to subscribers.
    pub messages_delivered: u64,
    /// `ERROR` frames sent.
    pub errors_sent: u64,
    /// Frames that did not decode (malformed or over a limit).
    pub decode_errors: u64,
    /// Handler errors (handled or not).
    pub handler_errors: u64,
    /// Sessions closed for exceeding the send-buffer or send-time limit.
    pub slow_consumer_closes: u64,
    /// Sessions closed because the client went silent.
    pub heartbeat_timeouts: u64,
    /// WebSocket handshakes refused (origin, session limit).
    pub rejected_handshakes: u64,
    /// Whether the broker relay's system connection is up; `None` without a relay.
    pub broker_available: Option<bool>,
    /// How often the broker relay's system connection was re-established.
    pub broker_reconnects: u64,
    /// The largest send buffer any ended session ever had waiting, in bytes: never more
    /// than `Limits::send_buffer_size`.
    pub send_buffer_peak_bytes: u64,
    /// Messages point-to-point destinations of the simple broker hold for a consumer now.
    pub queued_messages: u64,
    /// Their bytes (bounded by `BrokerConfig::max_held_bytes_total`).
    pub queued_bytes: u64,
    /// Bytes the simple broker holds for acknowledging subscriptions now: delivered and not
    /// acknowledged, or waiting behind a full prefetch window (bounded per session by
    /// `BrokerConfig::max_unacked_bytes_per_session`).
    pub unacked_bytes: u64,
    /// Frames the authorization rules refused (each ended its session with an `ERROR`).
    pub access_denied: u64,
    /// Frames queued to clients, by command: `CONNECTED` (one per session opened),
    /// `MESSAGE` (as `messages_delivered`), `RECEIPT` and `ERROR` (as `errors_sent`).
    pub frames_out: Vec<(Command, u64)>,
    /// `SEND` frames to broker destinations (not application ones) accepted into the broker
    /// (the simple broker, the relay or the Redis backplane) or a user's sessions.
    pub messages_published: u64,
    /// Sessions ended, by why.
    pub sessions_closed: Vec<(SessionCloseCause, u64)>,
    /// Each ended session's largest send buffer, in bytes: the bytes waiting to be written
    /// at its worst moment (one observation per session, at its end).
    pub send_buffer_peaks: Histogram,
    /// Per registered mapping (in registration order): its handler's duration and errors.
    pub mappings: Vec<MappingStats>,
    /// Each backplane that reported its connection (the relay, Redis), with whether it is
    /// up and how often it was re-established.
    pub backplanes: Vec<BackplaneStats>,
    /// SockJS sessions by transport.
    pub sockjs_sessions: Vec<SockJsSessions>,
}

/// A backplane's connection, in [`StatsSnapshot::backplanes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct BackplaneStats {
    /// Which.
    pub backplane: Backplane,
    /// Whether it is connected now.
    pub available: bool,
    /// How often its connection was re-established after it was lost.
    pub reconnects: u64,
}

/// SockJS sessions of one transport, in [`StatsSnapshot::sockjs_sessions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SockJsSessions {
    /// Which.
    pub transport: SockJsTransport,
    /// Open now.
    pub current: u64,
    /// Opened since start.
    pub total: u64,
}

/// Holds a SockJS session's place in [`StatsSnapshot::sockjs_sessions`] while it lasts.
#[derive(Debug)]
pub(crate) struct SockJsSessionGuard {
    stats: std::sync::Arc<Stats>,
    transport: SockJsTransport,
}

impl Drop for SockJsSessionGuard {
    fn drop(&mut self) {
        self.stats.sockjs_current[self.transport.index()].fetch_sub(1, Ordering::Relaxed);
    }
}

fn command_index(command: Command) -> usize {
    Command::ALL.iter().position(|c| *c == command).unwrap_or(0)
}

impl Stats {
    /// Counters with one slot per mapping, in registry order.
    pub(crate) fn with_mappings(labels: Vec<MappingLabel>) -> Stats {
        Stats {
            mappings: labels.iter().map(|_| MappingSlot::default()).collect(),
            mapping_labels: labels.into_boxed_slice(),
            ..Stats::default()
        }
    }

    /// Measures every handler's duration from now on (two `Instant::now()` per call), for
    /// [`MappingStats::duration_nanos`]. The metrics endpoint and
    /// `Server::register_metrics` turn it on; without them it stays off and costs nothing.
    pub fn measure_handlers(&self) {
        self.measure_handlers.store(true, Ordering::Relaxed);
    }

    /// When a handler starts: the time, if handlers are measured.
    pub(crate) fn handler_started(&self) -> Option<Instant> {
        self.measure_handlers
            .load(Ordering::Relaxed)
            .then(Instant::now)
    }

    /// Counts the end of an invocation of the mapping at registry index `slot`.
    pub(crate) fn handler_finished(&self, slot: usize, started: Option<Instant>, failed: bool) {
        if let Some(mapping) = self.mappings.get(slot) {
            mapping.finished(started, failed);
        }
    }

    pub(crate) fn session_ended(&self, cause: SessionCloseCause) {
        self.sessions_closed[cause.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn receipt_sent(&self) {
        self.hot().receipts_sent.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn published(&self) {
        self.hot()
            .messages_published
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a SockJS session opened with `transport` until the guard is dropped.
    pub(crate) fn sockjs_opened(
        self: &std::sync::Arc<Self>,
        transport: SockJsTransport,
    ) -> SockJsSessionGuard {
        self.sockjs_current[transport.index()].fetch_add(1, Ordering::Relaxed);
        self.sockjs_total[transport.index()].fetch_add(1, Ordering::Relaxed);
        SockJsSessionGuard {
            stats: std::sync::Arc::clone(self),
            transport,
        }
    }

    /// Records whether `backplane`'s connection is up (also as `broker_available`).
    pub(crate) fn backplane_available(&self, backplane: Backplane, available: bool) {
        let index = backplane.index();
        let previous =
            self.backplane_state[index].swap(if available { 1 } else { 2 }, Ordering::Relaxed);
        if available && previous == 2 {
            self.backplane_reconnects[index].fetch_add(1, Ordering::Relaxed);
        }
        self.broker_available(available);
    }

    pub(crate) fn session_opened(&self) {
        self.sessions_current.fetch_add(1, Ordering::Relaxed);
        self.sessions_total.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn session_closed(&self) {
        self.sessions_current.fetch_sub(1, Ordering::Relaxed);
    }
    pub(crate) fn raw_session_opened(&self) {
        self.raw_sessions_current.fetch_add(1, Ordering::Relaxed);
        self.raw_sessions_total.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn raw_session_closed(&self) {
        self.raw_sessions_current.fetch_sub(1, Ordering::Relaxed);
    }
    fn hot(&self) -> &Hot {
        &self.hot[shard_index()]
    }
    pub(crate) fn frame_in(&self, command: Command) {
        self.hot().frames_in[command_index(command)].fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn delivered(&self, count: usize) {
        self.hot()
            .messages_delivered
            .fetch_add(count as u64, Ordering::Relaxed);
    }
    pub(crate) fn error_sent(&self) {
        self.errors_sent.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn decode_error(&self) {
        self.decode_errors.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn handler_error(&self) {
        self.handler_errors.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn slow_consumer(&self) {
        self.slow_consumer_closes.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn heartbeat_timeout(&self) {
        self.heartbeat_timeouts.fetch_add(1, Ordering::Relaxed);
    }
    fn broker_available(&self, available: bool) {
        let previous = self
            .broker_state
            .swap(if available { 1 } else { 2 }, Ordering::Relaxed);
        if available && previous == 2 {
            self.broker_reconnects.fetch_add(1, Ordering::Relaxed);
        }
    }
    pub(crate) fn send_buffer_peak(&self, bytes: usize) {
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        self.send_buffer_peak.fetch_max(bytes, Ordering::Relaxed);
        self.send_buffer_peaks.observe(QUEUE_BYTES_BOUNDS, bytes);
    }
    /// Reports what `load` holds in every snapshot from now on (the first one given stays).
    pub(crate) fn watch_broker(&self, load: std::sync::Arc<BrokerLoad>) {
        let _ = self.broker_load.set(load);
    }
    pub(crate) fn rejected_handshake(&self) {
        self.rejected_handshakes.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn access_denied(&self) {
        self.access_denied.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let frames_in =
            |index: usize| -> u64 { self.hot.iter().map(|h| get(&h.frames_in[index])).sum() };
        let load = |field: fn(&BrokerLoad) -> &AtomicUsize| -> u64 {
            self.broker_load.get().map_or(0, |l| {
                u64::try_from(field(l).load(Ordering::Relaxed)).unwrap_or(u64::MAX)
            })
        };
        StatsSnapshot {
            sessions_current: get(&self.sessions_current),
            sessions_total: get(&self.sessions_total),
            raw_sessions_current: get(&self.raw_sessions_current),
            raw_sessions_total: get(&self.raw_sessions_total),
            frames_in: Command::ALL
                .iter()
                .enumerate()
                .filter(|(_, c)| c.is_client())
                .map(|(index, c)| (*c, frames_in(index)))
                .collect(),
            messages_delivered: self.hot.iter().map(|h| get(&h.messages_delivered)).sum(),
            errors_sent: get(&self.errors_sent),
            decode_errors: get(&self.decode_errors),
            handler_errors: get(&self.handler_errors),
            slow_consumer_closes: get(&self.slow_consumer_closes),
            heartbeat_timeouts: get(&self.heartbeat_timeouts),
            rejected_handshakes: get(&self.rejected_handshakes),
            broker_available: match self.broker_state.load(Ordering::Relaxed) {
                0 => None,
                state => Some(state == 1),
            },
            broker_reconnects: get(&self.broker_reconnects),
            send_buffer_peak_bytes: get(&self.send_buffer_peak),
            queued_messages: load(|l| &l.queued_messages),
            queued_bytes: load(|l| &l.queued_bytes),
            unacked_bytes: load(|l| &l.unacked_bytes),
            access_denied: get(&self.access_denied),
            ..self.snapshot_by_kind()
        }
    }

    /// The counters kept by kind (command, cause, mapping, backplane, transport).
    fn snapshot_by_kind(&self) -> StatsSnapshot {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let hot =
            |field: fn(&Hot) -> &AtomicU64| -> u64 { self.hot.iter().map(|h| get(field(h))).sum() };
        let frames_out = vec![
            (Command::Connected, get(&self.sessions_total)),
            (Command::Message, hot(|h| &h.messages_delivered)),
            (Command::Receipt, hot(|h| &h.receipts_sent)),
            (Command::Error, get(&self.errors_sent)),
        ];
        StatsSnapshot {
            frames_out,
            messages_published: hot(|h| &h.messages_published),
            sessions_closed: SessionCloseCause::ALL
                .iter()
                .map(|cause| (*cause, get(&self.sessions_closed[cause.index()])))
                .collect(),
            send_buffer_peaks: self.send_buffer_peaks.snapshot(QUEUE_BYTES_BOUNDS),
            mappings: self
                .mappings
                .iter()
                .zip(self.mapping_labels.iter())
                .map(|(slot, label)| slot.snapshot(*label))
                .collect(),
            backplanes: self.backplanes(),
            sockjs_sessions: SockJsTransport::ALL
                .iter()
                .map(|transport| SockJsSessions {
                    transport: *transport,
                    current: get(&self.sockjs_current[transport.index()]),
                    total: get(&self.sockjs_total[transport.index()]),
                })
                .collect(),
            ..StatsSnapshot::default()
        }
    }

    fn backplanes(&self) -> Vec<BackplaneStats> {
        Backplane::ALL
            .iter()
            .filter_map(|backplane| {
                let state = self.backplane_state[backplane.index()].load(Ordering::Relaxed);
                (state != 0).then(|| BackplaneStats {
                    backplane: *backplane,
                    available: state == 1,
                    reconnects: self.backplane_reconnects[backplane.index()]
                        .load(Ordering::Relaxed),
                })
            })
            .collect()
    }
}

impl std::fmt::Display for StatsSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sessions {} current / {} total; delivered {}; errors sent {}; decode errors {}; handler errors {}; slow-consumer closes {}; heart-beat timeouts {}; rejected handshakes {}; queued {} messages / {} bytes; unacknowledged {} bytes",
            self.sessions_current,
            self.sessions_total,
            self.messages_delivered,
            self.errors_sent,
            self.decode_errors,
            self.handler_errors,
            self.slow_consumer_closes,
            self.heartbeat_timeouts,
            self.rejected_handshakes,
            self.queued_messages,
            self.queued_bytes,
            self.unacked_bytes
        )?;
        if self.raw_sessions_total > 0 {
            write!(
                f,
                "; raw WebSocket sessions {} current / {} total",
                self.raw_sessions_current, self.raw_sessions_total
            )?;
        }
        match self.broker_available {
            Some(up) => write!(
                f,
                "; broker relay {} ({} reconnects)",
                if up { "up" } else { "DOWN" },
                self.broker_reconnects
            ),
            None => Ok(()),
        }
    }
}

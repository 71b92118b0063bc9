//! Counters like Spring's `WebSocketMessageBrokerStats`, kept exact with atomics.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use stomp_core::Command;

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
}

fn command_index(command: Command) -> usize {
    Command::ALL.iter().position(|c| *c == command).unwrap_or(0)
}

impl Stats {
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
    pub(crate) fn broker_available(&self, available: bool) {
        let previous = self
            .broker_state
            .swap(if available { 1 } else { 2 }, Ordering::Relaxed);
        if available && previous == 2 {
            self.broker_reconnects.fetch_add(1, Ordering::Relaxed);
        }
    }
    pub(crate) fn send_buffer_peak(&self, bytes: usize) {
        self.send_buffer_peak
            .fetch_max(u64::try_from(bytes).unwrap_or(u64::MAX), Ordering::Relaxed);
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
        }
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

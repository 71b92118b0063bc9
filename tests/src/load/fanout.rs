//! `fanout`: N subscribers, M publishers, every message to every subscriber.
//!
//! Publishers send stamped bodies ([`super::stamp`]) to `--send-dest` at a fixed aggregate
//! `--rate`, or as fast as the in-flight `--window` allows (`--rate 0`). Subscribers listen
//! on `--sub-dest` (the same destination for a plain broker; `/topic/..` while publishers
//! send to an `/app/..` handler). Each delivery is checked against its publisher's
//! sequence and its latency recorded. The run ends `--duration` after the first send, plus
//! the time to drain what is still in flight.
//!
//! The window counts messages not yet received by every subscriber:
//! `sent - delivered / N`. A publisher waits while it is full, so a server that is slower
//! than the publishers is measured at its own pace instead of buffering without bound.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stomp_server::client::{StompSession, Subscription};
use tokio::sync::{watch, Notify};
use tokio::time::MissedTickBehavior;

use super::args::Args;
use super::common::{open_many, progress, round, thousands, ConnectOptions, FirstErrors, Readings};
use super::histogram::Histogram;
use super::sequence::SequenceTracker;
use super::stamp::{find_stamp, now_ns, BodyFormat, Stamp};

/// Attempts per subscriber connection before the run gives up.
const CONNECT_ATTEMPTS: u32 = 3;

/// The settings of a fan-out run.
#[derive(Debug, Clone)]
pub struct FanoutOptions {
    /// How to connect.
    pub connect: ConnectOptions,
    /// Subscribing sessions (one subscription each).
    pub subscribers: usize,
    /// Publishing sessions.
    pub publishers: usize,
    /// Aggregate messages per second over all publishers; 0: as fast as the window allows.
    pub rate: f64,
    /// Most messages in flight (sent, not yet received by every subscriber).
    pub window: u64,
    /// Body size in bytes (at least the stamp).
    pub body_size: usize,
    /// Raw or JSON bodies.
    pub format: BodyFormat,
    /// Where publishers send.
    pub send_dest: String,
    /// Where publishers connect, when not to `connect.url` (another server instance, to
    /// measure messages crossing a relayed broker).
    pub publish_url: Option<String>,
    /// What subscribers subscribe to.
    pub sub_dest: String,
    /// How long publishers send.
    pub duration: Duration,
    /// Messages per publisher; 0: no limit (send for `duration`).
    pub messages: u64,
    /// How long to wait for in-flight messages when deliveries stop progressing.
    pub drain: Duration,
    /// The server process, for CPU and memory readings.
    pub server_pid: Option<u32>,
    /// A name for the run, copied into the report.
    pub label: Option<String>,
    /// Print a progress line every second.
    pub progress: bool,
}

impl FanoutOptions {
    /// Reads the fan-out flags (see the tool's usage text).
    pub fn from_args(args: &mut Args) -> Result<FanoutOptions, String> {
        let connect = ConnectOptions::from_args(args, 0)?;
        let sub_dest = args.str("sub-dest", "/topic/bench");
        let send_dest = args
            .opt_str("send-dest")
            .unwrap_or_else(|| sub_dest.clone());
        let format = match args.str("body", "raw").as_str() {
            "raw" => BodyFormat::Raw,
            "json" => BodyFormat::Json,
            other => return Err(format!("--body `{other}`: expected raw or json")),
        };
        let options = FanoutOptions {
            connect,
            subscribers: args.get("subscribers", 10)?,
            publishers: args.get("publishers", 1)?,
            rate: args.get("rate", 0.0)?,
            window: args.get("window", 1_000)?,
            body_size: args.get("body-size", 64)?,
            format,
            send_dest,
            publish_url: args.opt_str("publish-url"),
            sub_dest,
            duration: args.secs("duration", 10.0)?,
            messages: args.get("messages", 0)?,
            drain: args.secs("drain", 5.0)?,
            server_pid: args.opt("server-pid")?,
            label: args.opt_str("label"),
            progress: !args.flag("quiet")?,
        };
        if options.publishers == 0 || options.publishers > usize::from(u16::MAX) {
            return Err("--publishers must be between 1 and 65535".into());
        }
        if options.window == 0 {
            return Err("--window must be at least 1".into());
        }
        Ok(options)
    }
}

/// A counter on its own cache line: subscribers on different threads update theirs without
/// contending.
#[derive(Default)]
#[repr(align(64))]
struct PaddedCounter(AtomicU64);

/// Counters shared by every task of the run.
struct Shared {
    window: u64,
    sent: AtomicU64,
    /// Messages received by each subscriber; `u64::MAX` once its connection ended, so that a
    /// dead subscriber does not hold the window shut.
    received: Vec<PaddedCounter>,
    /// The smallest `received` seen by the last publisher that looked.
    slowest: AtomicU64,
    errors: AtomicU64,
    closed: AtomicU64,
    /// Subscribers whose connection ended; when it is all of them, publishing stops.
    closed_subscribers: AtomicUsize,
    first_errors: FirstErrors,
    /// Publishers waiting for room in the window.
    waiters: AtomicUsize,
    room: Notify,
}

impl Shared {
    /// True when the slowest live subscriber is fewer than `window` messages behind.
    fn has_room(&self) -> bool {
        let sent = self.sent.load(Ordering::Acquire);
        // The cached minimum only grows, so it is enough when it already says yes.
        if sent
            < self
                .slowest
                .load(Ordering::Acquire)
                .saturating_add(self.window)
        {
            return true;
        }
        let slowest = self
            .received
            .iter()
            .map(|r| r.0.load(Ordering::Acquire))
            .min()
            .unwrap_or(u64::MAX);
        self.slowest.fetch_max(slowest, Ordering::AcqRel);
        sent < slowest.saturating_add(self.window)
    }

    /// Waits until the slowest subscriber is fewer than `window` messages behind.
    async fn wait_for_room(&self) {
        loop {
            if self.has_room() {
                return;
            }
            let notified = self.room.notified();
            tokio::pin!(notified);
            // Registered before the second look, so a delivery in between is not missed.
            notified.as_mut().enable();
            self.waiters.fetch_add(1, Ordering::SeqCst);
            if self.has_room() {
                self.waiters.fetch_sub(1, Ordering::SeqCst);
                return;
            }
            notified.await;
            self.waiters.fetch_sub(1, Ordering::SeqCst);
        }
    }

    fn received(&self, subscriber: usize, count: u64) {
        self.received[subscriber]
            .0
            .fetch_add(count, Ordering::AcqRel);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.room.notify_waiters();
        }
    }

    fn subscriber_closed(&self, subscriber: usize) {
        self.closed.fetch_add(1, Ordering::Relaxed);
        self.closed_subscribers.fetch_add(1, Ordering::AcqRel);
        self.received[subscriber]
            .0
            .store(u64::MAX, Ordering::Release);
        self.room.notify_waiters();
    }

    /// Messages delivered so far, all subscribers together (closed ones not counted).
    fn delivered(&self) -> u64 {
        self.received
            .iter()
            .map(|r| r.0.load(Ordering::Acquire))
            .filter(|&r| r != u64::MAX)
            .sum()
    }

    /// Deliveries still expected from live subscribers.
    fn outstanding(&self) -> u64 {
        let sent = self.sent.load(Ordering::Acquire);
        self.received
            .iter()
            .map(|r| r.0.load(Ordering::Acquire))
            .filter(|&r| r != u64::MAX)
            .map(|r| sent.saturating_sub(r))
            .sum()
    }
}

/// What one subscriber saw.
struct SubscriberStats {
    latency: Histogram,
    trackers: Vec<SequenceTracker>,
    /// Messages without a readable stamp, or from an unknown publisher.
    unstamped: u64,
    errors: u64,
}

impl SubscriberStats {
    fn on_message(&mut self, body: &[u8]) {
        match find_stamp(body) {
            Some(Stamp {
                publisher,
                sequence,
                sent_ns,
            }) if usize::from(publisher) < self.trackers.len() => {
                self.latency.record(now_ns().saturating_sub(sent_ns));
                self.trackers[usize::from(publisher)].record(sequence);
            }
            _ => self.unstamped += 1,
        }
    }
}

/// Reads one subscription until told to stop or the connection ends.
async fn run_subscriber(
    index: usize,
    mut subscription: Subscription,
    shared: Arc<Shared>,
    publishers: usize,
    mut stop: watch::Receiver<bool>,
) -> SubscriberStats {
    let mut stats = SubscriberStats {
        latency: Histogram::new(),
        trackers: vec![SequenceTracker::new(); publishers],
        unstamped: 0,
        errors: 0,
    };
    'outer: loop {
        let mut item = tokio::select! {
            biased;
            _ = stop.changed() => break,
            item = subscription.next() => item,
        };
        // Take everything already buffered before touching the shared counter.
        let mut batch = 0u64;
        loop {
            match item {
                None => {
                    shared.received(index, batch);
                    shared.subscriber_closed(index);
                    let reason = subscription.session().closed().await;
                    shared
                        .first_errors
                        .add(format!("subscriber closed: {reason}"));
                    break 'outer;
                }
                Some(Ok(frame)) => {
                    stats.on_message(&frame.body);
                    batch += 1;
                }
                Some(Err(error)) => {
                    stats.errors += 1;
                    shared.errors.fetch_add(1, Ordering::Relaxed);
                    shared.first_errors.add(error.to_string());
                }
            }
            if batch >= 256 {
                break;
            }
            item = match subscription.try_next() {
                Some(next) => Some(next),
                None => break,
            };
        }
        shared.received(index, batch);
    }
    stats
}

/// Sends until `end`; returns how many messages it sent.
async fn run_publisher(
    index: u16,
    session: StompSession,
    options: Arc<FanoutOptions>,
    shared: Arc<Shared>,
    start: tokio::time::Instant,
    end: tokio::time::Instant,
) -> u64 {
    let mut sequence = 0u64;
    let send = |sequence: u64| {
        let body = options.format.body(
            options.body_size,
            Stamp {
                publisher: index,
                sequence,
                sent_ns: now_ns(),
            },
        );
        session.send(&options.send_dest, body)
    };
    let per_publisher = options.rate / options.publishers as f64;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        let now = tokio::time::Instant::now();
        if now >= end || shared.closed_subscribers.load(Ordering::Acquire) == shared.received.len()
        {
            break;
        }
        // Rate mode: send what is due by now, then wait for the next millisecond.
        let mut due = if per_publisher > 0.0 {
            ((now - start).as_secs_f64() * per_publisher) as u64
        } else {
            sequence + 1
        };
        if options.messages > 0 {
            if sequence >= options.messages {
                break;
            }
            due = due.min(options.messages);
        }
        while sequence < due {
            if tokio::time::timeout_at(end, shared.wait_for_room())
                .await
                .is_err()
            {
                return sequence;
            }
            shared.sent.fetch_add(1, Ordering::AcqRel);
            if let Err(error) = send(sequence).await {
                shared.sent.fetch_sub(1, Ordering::AcqRel);
                shared.closed.fetch_add(1, Ordering::Relaxed);
                shared.first_errors.add(format!("publisher: {error}"));
                return sequence;
            }
            sequence += 1;
        }
        if per_publisher > 0.0 {
            tick.tick().await;
        }
    }
    sequence
}

/// Counts `ERROR` frames a publisher session receives, until `stop`.
async fn watch_errors(session: StompSession, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            frame = session.next_error() => match frame {
                Some(frame) => {
                    shared.errors.fetch_add(1, Ordering::Relaxed);
                    let message = frame.get("message").unwrap_or_default().to_owned();
                    shared.first_errors.add(format!("publisher got ERROR: {message}"));
                }
                None => return,
            },
        }
    }
}

/// Runs a fan-out and returns its report.
pub async fn run(options: FanoutOptions) -> Result<Value, String> {
    let options = Arc::new(options);
    let shared = Arc::new(Shared {
        window: options.window,
        sent: AtomicU64::new(0),
        received: (0..options.subscribers)
            .map(|_| PaddedCounter::default())
            .collect(),
        slowest: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        closed: AtomicU64::new(0),
        closed_subscribers: AtomicUsize::new(0),
        first_errors: FirstErrors::default(),
        waiters: AtomicUsize::new(0),
        room: Notify::new(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);

    // Subscribers first, each live (RECEIPT received) before anyone publishes.
    let connect_started = Instant::now();
    let connect = options.connect.clone();
    let sub_dest = options.sub_dest.clone();
    let retries = Arc::new(AtomicU64::new(0));
    let subscriptions = open_many(options.subscribers, connect.concurrency, |i| {
        let client = connect.client(i);
        let url = connect.url.clone();
        let dest = sub_dest.clone();
        let retries = Arc::clone(&retries);
        let receipts = connect.subscribe_receipts;
        async move {
            // A busy broker may time out a few of many simultaneous connections: try again.
            let mut attempt = 1;
            loop {
                let result = async {
                    let session = client.connect(&url).await?;
                    super::common::subscribe(&session, &dest, receipts).await
                }
                .await;
                match result {
                    Err(_) if attempt < CONNECT_ATTEMPTS => {
                        attempt += 1;
                        retries.fetch_add(1, Ordering::Relaxed);
                    }
                    other => return other,
                }
            }
        }
    })
    .await;
    let subscriptions = collect_all(subscriptions, "subscriber")?;
    if !options.connect.subscribe_receipts {
        tokio::time::sleep(super::common::SUBSCRIBE_SETTLE).await;
    }
    let publishers = open_many(options.publishers, connect.concurrency, |i| {
        let client = connect.client(options.subscribers + i);
        let url = options
            .publish_url
            .clone()
            .unwrap_or_else(|| connect.url.clone());
        async move { client.connect(&url).await }
    })
    .await;
    let publishers = collect_all(publishers, "publisher")?;
    let connect_s = connect_started.elapsed().as_secs_f64();

    let mut readers = Vec::with_capacity(subscriptions.len());
    for (index, subscription) in subscriptions.into_iter().enumerate() {
        readers.push(tokio::spawn(run_subscriber(
            index,
            subscription,
            Arc::clone(&shared),
            options.publishers,
            stop_rx.clone(),
        )));
    }
    let before = Readings::take(options.server_pid);
    let start = tokio::time::Instant::now();
    let end = start + options.duration;
    let mut writers = Vec::with_capacity(publishers.len());
    for (index, session) in publishers.into_iter().enumerate() {
        tokio::spawn(watch_errors(
            session.clone(),
            Arc::clone(&shared),
            stop_rx.clone(),
        ));
        writers.push(tokio::spawn(run_publisher(
            index as u16,
            session,
            Arc::clone(&options),
            Arc::clone(&shared),
            start,
            end,
        )));
    }

    let line_shared = Arc::clone(&shared);
    let label = options.label.clone().unwrap_or_else(|| "fanout".into());
    let last = std::sync::Mutex::new((Instant::now(), 0u64, 0u64));
    let _progress = progress(options.progress, Duration::from_secs(1), move || {
        let sent = line_shared.sent.load(Ordering::Relaxed);
        let delivered = line_shared.delivered();
        let mut last = last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let secs = last.0.elapsed().as_secs_f64().max(1e-9);
        let line = format!(
            "[{label}] {:>5.1}s sent {} ({}/s) delivered {} ({}/s) in flight {} errors {} closed {}",
            start.elapsed().as_secs_f64(),
            thousands(sent),
            thousands(((sent - last.1) as f64 / secs) as u64),
            thousands(delivered),
            thousands(((delivered - last.2) as f64 / secs) as u64),
            thousands(line_shared.outstanding()),
            line_shared.errors.load(Ordering::Relaxed),
            line_shared.closed.load(Ordering::Relaxed),
        );
        *last = (Instant::now(), sent, delivered);
        line
    });

    let mut sent_by = Vec::with_capacity(writers.len());
    for writer in writers {
        sent_by.push(writer.await.unwrap_or(0));
    }
    let send_s = start.elapsed().as_secs_f64();

    // Drain: wait while deliveries still progress.
    let mut last_count = shared.delivered();
    let mut last_change = Instant::now();
    let mut drained_at = Instant::now();
    loop {
        let delivered = shared.delivered();
        if shared.outstanding() == 0 {
            drained_at = Instant::now();
            break;
        }
        if delivered != last_count {
            last_count = delivered;
            last_change = Instant::now();
            drained_at = last_change;
        } else if last_change.elapsed() >= options.drain {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let after = Readings::take(options.server_pid);
    drop(_progress);
    let _ = stop_tx.send(true);

    let mut latency = Histogram::new();
    let (mut unique, mut duplicated, mut out_of_order, mut unstamped, mut lost) = (0, 0, 0, 0, 0);
    let mut delivered = 0;
    for reader in readers {
        let Ok(stats) = reader.await else { continue };
        delivered += stats.latency.count() + stats.unstamped;
        latency.merge(&stats.latency);
        unstamped += stats.unstamped;
        for (publisher, tracker) in stats.trackers.iter().enumerate() {
            unique += tracker.unique;
            duplicated += tracker.duplicated;
            out_of_order += tracker.out_of_order;
            lost += sent_by[publisher].saturating_sub(tracker.unique);
        }
    }
    let sent: u64 = sent_by.iter().sum();
    let elapsed = drained_at
        .saturating_duration_since(before.at)
        .as_secs_f64()
        .max(1e-9);
    let micros = |ns: u64| round(ns as f64 / 1_000.0, 1);
    let server = match (before.server, after.server) {
        (Some(b), Some(a)) => {
            let cpu = a.cpu_s - b.cpu_s;
            json!({
                "pid": options.server_pid,
                "cpu_s": round(cpu, 2),
                "cpu_s_per_million": round(cpu / (delivered.max(1) as f64 / 1e6), 3),
                "cpu_utilisation": round(cpu / elapsed, 2),
                "rss_kib": a.rss_kib,
            })
        }
        _ => Value::Null,
    };
    let load_cpu = match (before.load, after.load) {
        (Some(b), Some(a)) => round(a.cpu_s - b.cpu_s, 2),
        _ => 0.0,
    };
    Ok(json!({
        "mode": "fanout",
        "label": options.label,
        "url": options.connect.url,
        "publish_url": options.publish_url,
        "subscribers": options.subscribers,
        "publishers": options.publishers,
        "rate_target": options.rate,
        "window": options.window,
        "body_size": options.body_size.max(options.format.min_size()),
        "send_dest": options.send_dest,
        "sub_dest": options.sub_dest,
        "connect_s": round(connect_s, 2),
        "connect_retries": retries.load(Ordering::Acquire),
        "send_s": round(send_s, 2),
        "elapsed_s": round(elapsed, 3),
        "sent": sent,
        "sent_per_s": round(sent as f64 / elapsed, 0),
        "expected": sent * options.subscribers as u64,
        "delivered": delivered,
        "delivered_per_s": round(delivered as f64 / elapsed, 0),
        "unique": unique,
        "lost": lost,
        "duplicated": duplicated,
        "out_of_order": out_of_order,
        "unstamped": unstamped,
        "errors": shared.errors.load(Ordering::Acquire),
        "closed": shared.closed.load(Ordering::Acquire),
        "first_errors": shared.first_errors.list(),
        "latency_us": {
            "p50": micros(latency.quantile(0.5)),
            "p99": micros(latency.quantile(0.99)),
            "p999": micros(latency.quantile(0.999)),
            "max": micros(latency.max()),
            "mean": micros(latency.mean()),
        },
        "server": server,
        "load_cpu_s": load_cpu,
    }))
}

/// All results, or the first failure with how many failed.
fn collect_all<T>(results: Vec<Result<T, String>>, what: &str) -> Result<Vec<T>, String> {
    let total = results.len();
    let mut ok = Vec::with_capacity(total);
    let mut first_error = None;
    let mut failed = 0;
    for result in results {
        match result {
            Ok(value) => ok.push(value),
            Err(error) => {
                failed += 1;
                first_error.get_or_insert(error);
            }
        }
    }
    match first_error {
        None => Ok(ok),
        Some(error) => Err(format!(
            "{failed} of {total} {what} connections failed; first: {error}"
        )),
    }
}

//! `conns`: many idle sessions, each with one subscription, held for a while; then one
//! message to all of them proves every session still answers.
//!
//! Past `--per-ip` connections (default 20,000) the sessions are spread over source
//! addresses `127.0.0.1`, `127.0.0.2`, ... so that the client does not run out of ephemeral
//! ports (about 28,000 per source address). With `--server-pid` the report gives the
//! server's resident memory per session: its growth from before the first connection to
//! after the last one, divided by the sessions held.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stomp_server::client::Subscription;
use tokio::sync::watch;

use super::args::Args;
use super::common::{open_many, progress, round, thousands, ConnectOptions, FirstErrors, Readings};
use super::histogram::Histogram;

/// The settings of an idle-sessions run.
#[derive(Debug, Clone)]
pub struct ConnsOptions {
    /// How to connect.
    pub connect: ConnectOptions,
    /// Sessions to open.
    pub count: usize,
    /// What every session subscribes to.
    pub sub_dest: String,
    /// Where the final probe message is sent (default: `sub_dest`).
    pub probe_dest: String,
    /// How long the sessions are held once all are open.
    pub hold: Duration,
    /// Pause after connecting before memory is read, so the server settles.
    pub settle: Duration,
    /// How long every session has to receive the probe.
    pub probe_timeout: Duration,
    /// The server process, for CPU and memory readings.
    pub server_pid: Option<u32>,
    /// A name for the run, copied into the report.
    pub label: Option<String>,
    /// Print a progress line every second.
    pub progress: bool,
}

impl ConnsOptions {
    /// Reads the `conns` flags (see the tool's usage text).
    pub fn from_args(args: &mut Args) -> Result<ConnsOptions, String> {
        let connect = ConnectOptions::from_args(args, 20_000)?;
        let sub_dest = args.str("sub-dest", "/topic/idle");
        Ok(ConnsOptions {
            connect,
            count: args.get("count", 1_000)?,
            probe_dest: args
                .opt_str("probe-dest")
                .unwrap_or_else(|| sub_dest.clone()),
            sub_dest,
            hold: args.secs("hold", 10.0)?,
            settle: args.secs("settle", 2.0)?,
            probe_timeout: args.secs("probe-timeout", 30.0)?,
            server_pid: args.opt("server-pid")?,
            label: args.opt_str("label"),
            progress: !args.flag("quiet")?,
        })
    }
}

/// Counters shared with every session's task.
#[derive(Default)]
struct Shared {
    connected: AtomicU64,
    failed: AtomicU64,
    /// Sessions whose connection ended before the end of the run.
    closed: AtomicU64,
    /// Sessions that received the probe.
    answered: AtomicU64,
    errors: AtomicU64,
    first_errors: FirstErrors,
}

/// Holds one subscription until `stop`, counting the probe.
async fn hold(
    mut subscription: Subscription,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut answered = false;
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            item = subscription.next() => match item {
                Some(Ok(_)) => {
                    if !answered {
                        answered = true;
                        shared.answered.fetch_add(1, Ordering::AcqRel);
                    }
                }
                Some(Err(error)) => {
                    shared.errors.fetch_add(1, Ordering::Relaxed);
                    shared.first_errors.add(error.to_string());
                }
                None => {
                    shared.closed.fetch_add(1, Ordering::AcqRel);
                    shared
                        .first_errors
                        .add(format!("closed: {}", subscription.session().closed().await));
                    return;
                }
            },
        }
    }
}

/// Runs the idle-sessions scenario and returns its report.
pub async fn run(options: ConnsOptions) -> Result<Value, String> {
    let shared = Arc::new(Shared::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let before = Readings::take(options.server_pid);

    let line_shared = Arc::clone(&shared);
    let label = options.label.clone().unwrap_or_else(|| "conns".into());
    let started = Instant::now();
    let count = options.count as u64;
    let progress_line = progress(options.progress, Duration::from_secs(1), move || {
        let connected = line_shared.connected.load(Ordering::Relaxed);
        format!(
            "[{label}] {:>5.1}s connected {} / {} failed {} closed {} answered {}",
            started.elapsed().as_secs_f64(),
            thousands(connected),
            thousands(count),
            thousands(line_shared.failed.load(Ordering::Relaxed)),
            thousands(line_shared.closed.load(Ordering::Relaxed)),
            thousands(line_shared.answered.load(Ordering::Relaxed)),
        )
    });

    let connect = options.connect.clone();
    let results = open_many(options.count, connect.concurrency, |i| {
        let client = connect.client(i);
        let url = connect.url.clone();
        let dest = options.sub_dest.clone();
        let receipts = connect.subscribe_receipts;
        let shared = Arc::clone(&shared);
        let stop = stop_rx.clone();
        async move {
            let began = Instant::now();
            let attempt = async {
                let session = client.connect(&url).await?;
                super::common::subscribe(&session, &dest, receipts).await
            };
            match attempt.await {
                Ok(subscription) => {
                    let took = began.elapsed();
                    shared.connected.fetch_add(1, Ordering::AcqRel);
                    tokio::spawn(hold(subscription, Arc::clone(&shared), stop));
                    Ok(took)
                }
                Err(error) => {
                    shared.failed.fetch_add(1, Ordering::AcqRel);
                    shared.first_errors.add(error.to_string());
                    Err(error)
                }
            }
        }
    })
    .await;
    let connect_s = started.elapsed().as_secs_f64();
    let mut connect_latency = Histogram::new();
    for took in results.iter().flatten() {
        connect_latency.record(took.as_nanos() as u64);
    }
    let connected = shared.connected.load(Ordering::Acquire);

    tokio::time::sleep(options.settle).await;
    let held = Readings::take(options.server_pid);
    tokio::time::sleep(options.hold).await;

    // The probe: one message to the destination every session subscribes to.
    let probe_client = options.connect.client(options.count);
    let probe_started = Instant::now();
    let probe = async {
        let session = probe_client.connect(&options.connect.url).await?;
        session.send(&options.probe_dest, "probe").await?;
        Ok::<_, stomp_server::client::ClientError>(session)
    }
    .await;
    let probe_error = probe.as_ref().err().map(ToString::to_string);
    let deadline = Instant::now() + options.probe_timeout;
    while probe.is_ok() && Instant::now() < deadline {
        let alive = connected - shared.closed.load(Ordering::Acquire);
        if shared.answered.load(Ordering::Acquire) >= alive {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let probe_s = probe_started.elapsed().as_secs_f64();
    let end = Readings::take(options.server_pid);
    drop(progress_line);

    // Close everything and see what the server gives back.
    let _ = stop_tx.send(true);
    drop(probe);
    tokio::time::sleep(options.settle.max(Duration::from_secs(1))).await;
    let released = Readings::take(options.server_pid);

    let per_session = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (Some(a), Some(b)) if connected > 0 => {
            json!(round((b as f64 - a as f64) / connected as f64, 2))
        }
        _ => Value::Null,
    };
    let rss = |r: &Readings| r.server.map(|s| s.rss_kib);
    let server = json!({
        "pid": options.server_pid,
        "rss_before_kib": rss(&before),
        "rss_held_kib": rss(&held),
        "rss_after_close_kib": rss(&released),
        "rss_per_session_kib": per_session(rss(&before), rss(&held)),
        "cpu_s": match (before.server, end.server) {
            (Some(b), Some(e)) => json!(round(e.cpu_s - b.cpu_s, 2)),
            _ => Value::Null,
        },
    });
    let ms = |ns: u64| round(ns as f64 / 1e6, 2);
    Ok(json!({
        "mode": "conns",
        "label": options.label,
        "url": options.connect.url,
        "requested": options.count,
        "connected": connected,
        "failed": shared.failed.load(Ordering::Acquire),
        "source_addresses": options.connect.source_addr(options.count.saturating_sub(1))
            .map_or(1, |a| match a { std::net::IpAddr::V4(v4) => u64::from(v4.octets()[3]), std::net::IpAddr::V6(_) => 1 }),
        "connect_s": round(connect_s, 2),
        "connects_per_s": round(connected as f64 / connect_s.max(1e-9), 0),
        "connect_ms": {
            "p50": ms(connect_latency.quantile(0.5)),
            "p99": ms(connect_latency.quantile(0.99)),
            "max": ms(connect_latency.max()),
        },
        "hold_s": options.hold.as_secs_f64(),
        "closed_early": shared.closed.load(Ordering::Acquire),
        "answered": shared.answered.load(Ordering::Acquire),
        "probe_s": round(probe_s, 2),
        "probe_error": probe_error,
        "errors": shared.errors.load(Ordering::Acquire),
        "first_errors": shared.first_errors.list(),
        "server": server,
        "load_rss_per_session_kib": per_session(before.load.map(|l| l.rss_kib), held.load.map(|l| l.rss_kib)),
    }))
}

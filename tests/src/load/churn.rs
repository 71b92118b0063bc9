//! `churn`: sessions that connect, subscribe and leave, in a loop, from `--workers` tasks at
//! once; every `--abrupt-every`-th one leaves without `DISCONNECT` (the TCP connection just
//! closes). With `--server-pid` the report compares the server's resident memory after the
//! churn (and a pause to settle) with its baseline: what a leak would show.
//!
//! The baseline is read after a short warm-up churn, so that memory the allocator keeps for
//! reuse after the first sessions is not mistaken for a leak.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::args::Args;
use super::common::{progress, round, thousands, ConnectOptions, FirstErrors, Readings};
use super::procfs;

/// The settings of a churn run.
#[derive(Debug, Clone)]
pub struct ChurnOptions {
    /// How to connect.
    pub connect: ConnectOptions,
    /// Sessions cycling at once.
    pub workers: usize,
    /// How long the measured churn lasts.
    pub duration: Duration,
    /// How long the warm-up churn lasts, before the baseline.
    pub warmup: Duration,
    /// Pause before reading memory (after warm-up and after the churn).
    pub settle: Duration,
    /// What every session subscribes to.
    pub sub_dest: String,
    /// Every n-th session leaves without `DISCONNECT` (0: none).
    pub abrupt_every: u64,
    /// Growth over the baseline still counted as "returned".
    pub tolerance_kib: u64,
    /// The server process, for memory readings.
    pub server_pid: Option<u32>,
    /// A name for the run, copied into the report.
    pub label: Option<String>,
    /// Print a progress line every second.
    pub progress: bool,
}

impl ChurnOptions {
    /// Reads the `churn` flags (see the tool's usage text).
    pub fn from_args(args: &mut Args) -> Result<ChurnOptions, String> {
        Ok(ChurnOptions {
            // Each cycle uses a new port; spread early so TIME_WAIT never runs the ports out.
            connect: ConnectOptions::from_args(args, 10_000)?,
            workers: args.get::<usize>("workers", 50)?.max(1),
            duration: args.secs("duration", 10.0)?,
            warmup: args.secs("warmup", 2.0)?,
            settle: args.secs("settle", 3.0)?,
            sub_dest: args.str("sub-dest", "/topic/churn"),
            abrupt_every: args.get("abrupt-every", 4)?,
            tolerance_kib: args.get("tolerance-kib", 1024)?,
            server_pid: args.opt("server-pid")?,
            label: args.opt_str("label"),
            progress: !args.flag("quiet")?,
        })
    }
}

#[derive(Default)]
struct Shared {
    /// Connection number, for the source address.
    next: AtomicU64,
    cycles: AtomicU64,
    failed: AtomicU64,
    first_errors: FirstErrors,
}

/// One connect–subscribe–leave cycle.
async fn cycle(options: &ChurnOptions, shared: &Shared) {
    let index = shared.next.fetch_add(1, Ordering::Relaxed);
    let client = options.connect.client(index as usize);
    let result = async {
        let session = client.connect(&options.connect.url).await?;
        let subscription = super::common::subscribe(
            &session,
            &options.sub_dest,
            options.connect.subscribe_receipts,
        )
        .await?;
        if options.abrupt_every > 0 && index % options.abrupt_every == 0 {
            // Dropping every handle closes the WebSocket without DISCONNECT.
            drop(subscription);
            drop(session);
            Ok(())
        } else {
            drop(subscription);
            session.disconnect().await
        }
    }
    .await;
    match result {
        Ok(()) => shared.cycles.fetch_add(1, Ordering::Relaxed),
        Err(error) => {
            shared.first_errors.add(error.to_string());
            shared.failed.fetch_add(1, Ordering::Relaxed)
        }
    };
}

/// Churns from `workers` tasks until `duration` has passed.
async fn churn(options: &Arc<ChurnOptions>, shared: &Arc<Shared>, duration: Duration) {
    let end = Instant::now() + duration;
    let mut tasks = Vec::with_capacity(options.workers);
    for _ in 0..options.workers {
        let options = Arc::clone(options);
        let shared = Arc::clone(shared);
        tasks.push(tokio::spawn(async move {
            while Instant::now() < end {
                cycle(&options, &shared).await;
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}

/// Runs the churn scenario and returns its report.
pub async fn run(options: ChurnOptions) -> Result<Value, String> {
    let options = Arc::new(options);
    let shared = Arc::new(Shared::default());
    let fresh = Readings::take(options.server_pid);
    if !options.warmup.is_zero() {
        churn(&options, &shared, options.warmup).await;
        tokio::time::sleep(options.settle).await;
    }
    let warmup_cycles = shared.cycles.swap(0, Ordering::AcqRel);
    let warmup_failed = shared.failed.swap(0, Ordering::AcqRel);
    let baseline = Readings::take(options.server_pid);

    // The peak, sampled while churning.
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = options.server_pid.map(|pid| {
        let peak = Arc::clone(&peak);
        tokio::spawn(async move {
            loop {
                if let Some(sample) = procfs::sample(pid) {
                    peak.fetch_max(sample.rss_kib, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    });
    let line_shared = Arc::clone(&shared);
    let label = options.label.clone().unwrap_or_else(|| "churn".into());
    let started = Instant::now();
    let line_pid = options.server_pid;
    let progress_line = progress(options.progress, Duration::from_secs(1), move || {
        let rss = line_pid
            .and_then(procfs::sample)
            .map_or_else(String::new, |s| {
                format!(" server rss {} KiB", thousands(s.rss_kib))
            });
        format!(
            "[{label}] {:>5.1}s cycles {} failed {}{rss}",
            started.elapsed().as_secs_f64(),
            thousands(line_shared.cycles.load(Ordering::Relaxed)),
            thousands(line_shared.failed.load(Ordering::Relaxed)),
        )
    });
    churn(&options, &shared, options.duration).await;
    let churn_s = started.elapsed().as_secs_f64();
    drop(progress_line);
    if let Some(sampler) = sampler {
        sampler.abort();
    }
    let during = Readings::take(options.server_pid);
    tokio::time::sleep(options.settle).await;
    let after = Readings::take(options.server_pid);

    let cycles = shared.cycles.load(Ordering::Acquire);
    let rss = |r: &Readings| r.server.map(|s| s.rss_kib);
    let growth = match (rss(&baseline), rss(&after)) {
        (Some(b), Some(a)) => Some(a as i64 - b as i64),
        _ => None,
    };
    Ok(json!({
        "mode": "churn",
        "label": options.label,
        "url": options.connect.url,
        "workers": options.workers,
        "abrupt_every": options.abrupt_every,
        "warmup_cycles": warmup_cycles,
        "warmup_failed": warmup_failed,
        "cycles": cycles,
        "failed": shared.failed.load(Ordering::Acquire),
        "cycles_per_s": round(cycles as f64 / churn_s.max(1e-9), 0),
        "churn_s": round(churn_s, 2),
        "first_errors": shared.first_errors.list(),
        "server": {
            "pid": options.server_pid,
            "rss_fresh_kib": rss(&fresh),
            "rss_baseline_kib": rss(&baseline),
            "rss_peak_kib": options.server_pid.map(|_| peak.load(Ordering::Acquire).max(rss(&during).unwrap_or(0))),
            "rss_after_kib": rss(&after),
            "growth_kib": growth,
            "returned_to_baseline": growth.map(|g| g <= options.tolerance_kib as i64),
            "cpu_s": match (baseline.server, during.server) {
                (Some(b), Some(d)) => json!(round(d.cpu_s - b.cpu_s, 2)),
                _ => Value::Null,
            },
        },
    }))
}

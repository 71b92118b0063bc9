//! `sessions_in_memory`: many idle STOMP sessions in one process, over in-memory pipes.
//!
//! ```text
//! sessions_in_memory [--count 100000] [--hold 10] [--concurrency 256] [--probe-timeout 60]
//! ```
//!
//! Scenario (f) of the benchmarks asks for 100,000 sessions. Over TCP the server needs one
//! file descriptor per session, and a machine whose hard open-files limit is lower (20,000
//! on the benchmark machine, with no right to raise it) cannot get there. This tool takes
//! the descriptors out of the way: the framework's server ([`Server::serve_connection`])
//! and plain tokio-tungstenite clients run in this one process, joined by
//! `tokio::io::duplex` pipes. Each client upgrades to WebSocket, sends `CONNECT` (heart-beats
//! 10 s both ways, which it keeps sending), subscribes to one topic with a receipt, and
//! waits. After `--hold` seconds one message is published to the topic; every session must
//! receive it.
//!
//! The memory reported per session is the growth of this process's resident set divided
//! by the sessions: the server's session *and* its client and both pipe buffers, so an
//! upper bound for the server's share (over TCP the pipe buffers are the kernel's and not
//! resident). One JSON line at the end, like `stomp-load`.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use stomp_server::{handler::Handlers, Server, StompServer};
use tests::load::args::Args;
use tests::load::procfs;
use tokio::io::DuplexStream;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Bytes each direction of a pipe may hold before its writer waits.
const PIPE_BYTES: usize = 16 * 1024;

/// The topic every session subscribes to.
const TOPIC: &str = "/topic/idle.memory";

/// The heart-beat interval both sides ask for, as the TCP `conns` scenario does.
const HEART_BEAT: Duration = Duration::from_secs(10);

type Client = WebSocketStream<DuplexStream>;

struct Options {
    count: usize,
    hold: Duration,
    concurrency: usize,
    probe_timeout: Duration,
}

fn options() -> Result<Options, String> {
    let mut args = Args::parse(std::env::args().skip(1), &[])?;
    let options = Options {
        count: args.get("count", 100_000usize)?,
        hold: args.secs("hold", 10.0)?,
        concurrency: args.get("concurrency", 256usize)?.max(1),
        probe_timeout: args.secs("probe-timeout", 60.0)?,
    };
    args.finish()?;
    Ok(options)
}

/// Upgrades, connects and subscribes one session; returns the client once the `RECEIPT`
/// for its subscription arrived.
async fn open(server: &Server, index: usize) -> Result<Client, String> {
    let (client_io, server_io) = tokio::io::duplex(PIPE_BYTES);
    let remote = SocketAddr::from((Ipv4Addr::LOCALHOST, 1024 + (index % 60_000) as u16));
    tokio::spawn(server.serve_connection(server_io, remote));
    let mut config = WebSocketConfig::default();
    config.read_buffer_size = 4 * 1024;
    config.write_buffer_size = 0;
    let (mut ws, _) =
        tokio_tungstenite::client_async_with_config("ws://localhost/ws", client_io, Some(config))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
    let beat = HEART_BEAT.as_millis();
    let connect = format!(
        "CONNECT\naccept-version:1.2\nhost:localhost\nlogin:user{index}\nheart-beat:{beat},{beat}\n\n\0"
    );
    ws.send(Message::text(connect))
        .await
        .map_err(|e| format!("CONNECT: {e}"))?;
    expect(&mut ws, "CONNECTED").await?;
    let subscribe = format!("SUBSCRIBE\nid:0\ndestination:{TOPIC}\nreceipt:s\n\n\0");
    ws.send(Message::text(subscribe))
        .await
        .map_err(|e| format!("SUBSCRIBE: {e}"))?;
    expect(&mut ws, "RECEIPT").await?;
    Ok(ws)
}

/// Reads until a frame with `command` arrives (heart-beats are skipped).
async fn expect(ws: &mut Client, command: &str) -> Result<(), String> {
    loop {
        match tokio::time::timeout(Duration::from_secs(30), ws.next()).await {
            Ok(Some(Ok(Message::Text(text)))) if text.as_str() == "\n" => {}
            Ok(Some(Ok(Message::Text(text)))) if text.as_str().starts_with(command) => {
                return Ok(())
            }
            Ok(Some(Ok(Message::Text(text)))) => {
                let line = text.as_str().lines().next().unwrap_or("").to_owned();
                return Err(format!("expected {command}, got {line}"));
            }
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(e))) => return Err(format!("waiting for {command}: {e}")),
            Ok(None) => return Err(format!("closed while waiting for {command}")),
            Err(_) => return Err(format!("no {command} within 30 s")),
        }
    }
}

/// Counts of what the held sessions saw.
#[derive(Default)]
struct Tally {
    answered: AtomicUsize,
    closed_early: AtomicUsize,
}

/// Holds one session until the process ends: beats every [`HEART_BEAT`], counts the probe
/// and any close (the report is written while every session is still held).
async fn hold(mut ws: Client, tally: Arc<Tally>) {
    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + HEART_BEAT, HEART_BEAT);
    loop {
        tokio::select! {
            next = ws.next() => match next {
                Some(Ok(Message::Text(text))) if text.as_str().starts_with("MESSAGE") => {
                    tally.answered.fetch_add(1, Ordering::Relaxed);
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    tally.closed_early.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            },
            _ = beat.tick() => {
                if ws.send(Message::text("\n")).await.is_err() {
                    tally.closed_early.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
    }
}

fn rss_kib() -> u64 {
    procfs::sample(0).map_or(0, |s| s.rss_kib)
}

#[tokio::main]
async fn main() {
    let options = match options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("sessions_in_memory: {message}");
            std::process::exit(2);
        }
    };
    let server = match StompServer::builder().handlers(Handlers::new()).build() {
        Ok(server) => Arc::new(server),
        Err(error) => {
            eprintln!("sessions_in_memory: {error}");
            std::process::exit(1);
        }
    };
    let tally = Arc::new(Tally::default());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_before = rss_kib();

    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(options.concurrency));
    let failed = Arc::new(AtomicUsize::new(0));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let mut opening = Vec::with_capacity(options.count);
    for index in 0..options.count {
        let Ok(permit) = Arc::clone(&gate).acquire_owned().await else {
            break;
        };
        let (server, tally) = (Arc::clone(&server), Arc::clone(&tally));
        let (failures, errors) = (Arc::clone(&failed), Arc::clone(&first_error));
        opening.push(tokio::spawn(async move {
            let opened = open(&server, index).await;
            drop(permit);
            match opened {
                Ok(ws) => {
                    tokio::spawn(hold(ws, tally));
                }
                Err(error) => {
                    failures.fetch_add(1, Ordering::Relaxed);
                    let mut first = errors.lock().unwrap_or_else(|e| e.into_inner());
                    first.get_or_insert(error);
                }
            }
        }));
        if index % 10_000 == 9_999 {
            eprintln!(
                "[sessions_in_memory] {:5.1}s opened {} failed {}",
                started.elapsed().as_secs_f64(),
                index + 1 - failed.load(Ordering::Relaxed),
                failed.load(Ordering::Relaxed)
            );
        }
    }
    for task in opening {
        let _ = task.await;
    }
    let connect_s = started.elapsed().as_secs_f64();
    let failed = failed.load(Ordering::Relaxed);
    let connected = options.count - failed;
    eprintln!(
        "[sessions_in_memory] {connect_s:5.1}s all opened: {connected} held, {failed} failed"
    );

    tokio::time::sleep(options.hold).await;
    let rss_held = rss_kib();
    let stats = server.stats().snapshot();

    // The probe: one message to the topic every session subscribed to.
    let probe_started = Instant::now();
    let _ = server.template().convert_and_send(TOPIC, "probe");
    while tally.answered.load(Ordering::Relaxed) < connected
        && probe_started.elapsed() < options.probe_timeout
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let probe_s = probe_started.elapsed().as_secs_f64();
    let answered = tally.answered.load(Ordering::Relaxed);

    let per_session = (rss_held.saturating_sub(rss_before)) as f64 / connected.max(1) as f64;
    let first_error = first_error
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    let report = serde_json::json!({
        "mode": "conns",
        "transport": "in-memory",
        "requested": options.count,
        "connected": connected,
        "failed": failed,
        "answered": answered,
        "closed_early": tally.closed_early.load(Ordering::Relaxed),
        "connect_s": (connect_s * 10.0).round() / 10.0,
        "connects_per_s": (connected as f64 / connect_s.max(1e-9)).round(),
        "probe_s": (probe_s * 1000.0).round() / 1000.0,
        "hold_s": options.hold.as_secs_f64(),
        "sessions_seen_by_server": stats.sessions_current,
        "first_errors": first_error.into_iter().collect::<Vec<_>>(),
        "server": {
            "pid": std::process::id(),
            "rss_before_kib": rss_before,
            "rss_held_kib": rss_held,
            "rss_per_session_kib": (per_session * 100.0).round() / 100.0,
            "includes": "server session, client, and both pipe buffers",
        },
    });
    println!("{report}");
}

//! A small STOMP server for the real-client interop tests (`tests/tests/interop.rs`, and
//! the Node and Python scripts in `tests/interop/`).
//!
//! ```text
//! interop_server [--addr 127.0.0.1:0] [--relay 127.0.0.1:61613 [--relay-batch 64]]
//!                [--stomp-tcp 127.0.0.1:0] [--tls-cert FILE --tls-key FILE]
//! ```
//!
//! With `--tls-cert` and `--tls-key` (PEM files), the server serves `wss://` (and HTTPS),
//! and `--stomp-tcp` serves STOMP over TLS.
//!
//! With `--stomp-tcp`, the server also serves STOMP over plain TCP there, and prints
//! `STOMP_TCP <port>` as the second line of stdout.
//!
//! With `--relay`, the broker is RabbitMQ's STOMP plugin (the broker relay) instead of the
//! simple broker: the benchmarks measure scale-out with it.
//!
//! Prints `LISTENING <port>` as the first line of stdout, then serves until stdin reaches
//! EOF, or SIGTERM / Ctrl-C arrives.
//!
//! - `SEND /app/echo/<room>` with `{"content": ".."}` → `/topic/echo/<room>` receives
//!   `{"room": .., "content": .., "sender": ..}` (sender: the principal, or `anonymous`).
//! - A payload that does not deserialize → `/user/queue/errors` of the sending session only,
//!   `{"error": ".."}`; the session stays open.
//! - `SUBSCRIBE /app/history` → one JSON list, straight back to the subscriber.
//! - The `login` header of `CONNECT` / `STOMP`, when present, becomes the principal.
//! - Heart-beats `10000,10000`; any origin allowed; endpoint `/ws`.
//! - Logs to stderr, filtered by `RUST_LOG` (default `stomp_server=info`).
//! - With `STOMP_REDIS_URL` set (`redis://127.0.0.1:6379`), the simple broker joins the
//!   Redis backplane there: several instances share their topics (see BENCHMARKS.md).
//! - With `STOMP_METRICS=on`, Prometheus metrics are served at `/metrics` (and handlers
//!   timed): the benchmarks compare it with metrics off, the default here.

use std::io::{Read as _, Write as _};

use serde::{Deserialize, Serialize};
use stomp_server::redis::RedisConfig;
use stomp_server::{
    config::Limits, message_exception_handler, message_mapping, relay::RelayConfig, send_to,
    send_to_user, subscribe_mapping, tls::TlsConfig, Payload, PayloadError, Principal, StompServer,
};
use tests::server_support::{login_interceptor, parse_addr};

/// The body of `/app/echo/<room>`.
#[derive(Debug, Deserialize)]
struct EchoRequest {
    content: String,
}

/// What `/topic/echo/<room>` receives.
#[derive(Debug, Serialize)]
struct EchoReply {
    room: String,
    content: String,
    sender: String,
}

/// What `/user/queue/errors` receives.
#[derive(Debug, Serialize)]
struct ErrorReply {
    error: String,
}

/// One entry of `/app/history`.
#[derive(Debug, Serialize)]
struct HistoryEntry {
    room: String,
    content: String,
    sender: String,
}

#[message_mapping("/echo/<room>")]
#[send_to("/topic/echo/<room>")]
async fn echo(
    room: String,
    user: Option<Principal>,
    Payload(request): Payload<EchoRequest>,
) -> EchoReply {
    EchoReply {
        room,
        content: request.content,
        sender: user.map_or_else(|| "anonymous".to_owned(), |u| u.name().to_owned()),
    }
}

#[subscribe_mapping("/history")]
fn history() -> Vec<HistoryEntry> {
    vec![
        HistoryEntry {
            room: "r1".to_owned(),
            content: "first".to_owned(),
            sender: "system".to_owned(),
        },
        HistoryEntry {
            room: "r1".to_owned(),
            content: "second".to_owned(),
            sender: "system".to_owned(),
        },
    ]
}

#[message_exception_handler]
#[send_to_user("/queue/errors", broadcast = false)]
fn on_bad_payload(error: PayloadError) -> ErrorReply {
    ErrorReply {
        error: error.to_string(),
    }
}

/// Resolves on stdin EOF (the parent went away or closed the pipe), SIGTERM or Ctrl-C.
///
/// Everything is installed before this returns, so a signal that arrives right after
/// `LISTENING` is printed is handled rather than killing the process.
fn stop_signal() -> impl std::future::Future<Output = ()> {
    // A plain thread, not `tokio::io::stdin()`: tokio reads stdin on its blocking pool, and
    // runtime shutdown would wait for that read forever while the parent keeps the pipe open.
    let (eof_tx, eof_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 256];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        let _ = eof_tx.send(());
    });
    #[cfg(unix)]
    let (mut sigterm, mut sigint) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        let terminate = async {
            match sigterm.as_mut() {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(unix)]
        let interrupt = async {
            match sigint.as_mut() {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        #[cfg(not(unix))]
        let interrupt = stomp_server::shutdown_signal();
        tokio::select! {
            _ = eof_rx => eprintln!("interop_server: stdin closed; stopping"),
            () = terminate => eprintln!("interop_server: SIGTERM; stopping"),
            () = interrupt => eprintln!("interop_server: Ctrl-C; stopping"),
        }
    }
}

/// Takes `--stomp-tcp HOST:PORT` (serve STOMP over plain TCP there too) out of `args`.
fn take_stomp_tcp(args: impl Iterator<Item = String>) -> (Option<String>, Vec<String>) {
    let mut stomp_tcp = None;
    let mut rest = Vec::new();
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        if arg == "--stomp-tcp" {
            stomp_tcp = Some(args.next().unwrap_or_default());
        } else {
            rest.push(arg);
        }
    }
    (stomp_tcp, rest)
}

/// Takes `--tls-cert FILE` and `--tls-key FILE` (serve over TLS) out of `args`.
fn take_tls(args: impl Iterator<Item = String>) -> (Option<(String, String)>, Vec<String>) {
    let (mut cert, mut key) = (None, None);
    let mut rest = Vec::new();
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tls-cert" => cert = Some(args.next().unwrap_or_default()),
            "--tls-key" => key = Some(args.next().unwrap_or_default()),
            _ => rest.push(arg),
        }
    }
    (cert.zip(key), rest)
}

/// Takes `--relay HOST:PORT` (RabbitMQ's STOMP port, for the broker relay instead of the
/// simple broker) and `--relay-batch N` (its publish batch) out of `args`; the rest is for
/// `parse_addr`.
fn take_relay(args: impl Iterator<Item = String>) -> (Option<RelayConfig>, Vec<String>) {
    let mut relay: Option<(String, u16)> = None;
    let mut batch = 1;
    let mut rest = Vec::new();
    let mut args = args.peekable();
    while let Some(arg) = args.next() {
        if arg == "--relay-batch" {
            let value = args.next().unwrap_or_default();
            match value.parse() {
                Ok(n) => batch = n,
                Err(_) => rest.push(format!("--relay-batch {value}")),
            }
        } else if arg == "--relay" {
            let value = args.next().unwrap_or_default();
            relay = value
                .rsplit_once(':')
                .and_then(|(host, port)| Some((host.to_owned(), port.parse().ok()?)));
            if relay.is_none() {
                rest.push(format!("--relay {value}"));
            }
        } else {
            rest.push(arg);
        }
    }
    let config = relay.map(|(host, port)| {
        RelayConfig::default()
            .with_host(host)
            .with_port(port)
            .with_publish_batch(batch)
    });
    (config, rest)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> std::process::ExitCode {
    // Logs go to stderr; `RUST_LOG=stomp_server=debug` shows every session's life.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("stomp_server=info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
    let (stomp_tcp, rest) = take_stomp_tcp(std::env::args().skip(1));
    let (relay, rest) = take_relay(rest.into_iter());
    let (tls_files, rest) = take_tls(rest.into_iter());
    let tls = match tls_files.map(|(cert, key)| TlsConfig::from_pem_files(cert, key)) {
        None => None,
        Some(Ok(tls)) => Some(tls),
        Some(Err(error)) => {
            eprintln!("interop_server: --tls-cert/--tls-key: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    let addr = match parse_addr("interop_server", rest) {
        Ok(addr) => addr,
        Err(message) => {
            eprintln!("interop_server: {message} [--relay HOST:PORT]");
            return std::process::ExitCode::from(2);
        }
    };
    let mut builder = StompServer::builder().simple_broker(["/topic", "/queue"]);
    if let Some(relay) = relay {
        builder = builder.broker_relay(relay);
    }
    builder = match (&stomp_tcp, tls) {
        (None, None) => builder,
        (Some(addr), None) => builder.stomp_tcp(addr),
        (None, Some(tls)) => builder.tls(tls),
        (Some(addr), Some(tls)) => builder.tls(tls.clone()).stomp_tcp_tls(addr, tls),
    };
    if let Ok(url) = std::env::var("STOMP_REDIS_URL") {
        builder = builder.redis_backplane(RedisConfig::default().with_url(url));
    }
    if std::env::var("STOMP_METRICS").is_ok_and(|value| value == "on") {
        builder = builder.metrics_endpoint("/metrics");
    }
    let mut server = match builder
        .endpoint("/ws")
        .application_prefix("/app")
        .allowed_origins(["*"])
        .heartbeat(10_000, 10_000)
        .interceptor(login_interceptor)
        // The load tool opens thousands of connections from one address, as many at once
        // as --connect-concurrency says: no per-address cap on connections still in HTTP.
        .limits(Limits::default().with_max_pending_connections_per_address(0))
        .stats_log_interval(None)
        .build()
    {
        Ok(server) => server,
        Err(error) => {
            eprintln!("interop_server: cannot build the server: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let listener = match server.bind(&addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("interop_server: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let port = match listener.local_addr() {
        Ok(local) => local.port(),
        Err(error) => {
            eprintln!("interop_server: no local address: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let tcp_port = match server.bind_stomp_tcp().await {
        Ok(bound) => bound.map(|local| local.port()),
        Err(error) => {
            eprintln!("interop_server: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let stop = stop_signal();
    {
        let mut stdout = std::io::stdout().lock();
        let tcp_line = tcp_port.map_or(String::new(), |port| format!("\nSTOMP_TCP {port}"));
        if writeln!(stdout, "LISTENING {port}{tcp_line}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            return std::process::ExitCode::FAILURE;
        }
    }
    server.run(listener, stop).await;
    std::process::ExitCode::SUCCESS
}

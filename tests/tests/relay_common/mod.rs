//! Shared by the broker-relay tests (`relay.rs`, `relay_restart.rs`, `relay_backlog.rs`):
//! server instances on the relay, RabbitMQ checks, unique names and waiting helpers.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::net::{SocketAddr, TcpStream};
use std::process::{Command as Process, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use stomp_server::client::{StompClient, StompSession, Subscription};
use stomp_server::{
    config::Limits, event::SessionEvent, relay::RelayConfig, stats::Stats, Frame, StompServer,
    Template,
};
use tests::prerequisite::missing;
pub use tests::server_support::login_interceptor;

/// Where `RelayConfig::default()` connects.
pub const RABBIT_STOMP: &str = "127.0.0.1:61613";

/// How long a message may take to cross RabbitMQ from one instance to another.
pub const WAIT: Duration = Duration::from_secs(10);

/// How long to watch for a message that must not come.
pub const QUIET: Duration = Duration::from_millis(700);

/// How to get RabbitMQ running.
pub const INSTALL: &str = "bash tests/relay/start-rabbitmq.sh";

/// Logs to the test output with `RUST_LOG` (for example `RUST_LOG=stomp_server=debug`).
pub fn init_logging() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

/// True when something accepts TCP connections on 127.0.0.1:61613.
pub fn rabbit_reachable() -> bool {
    let addr: SocketAddr = RABBIT_STOMP.parse().expect("a socket address");
    TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
}

/// Applies the shared skip-or-fail rule when RabbitMQ's STOMP port is closed; true when the
/// test may go on.
pub fn rabbit_or_skip(test: &str) -> bool {
    if rabbit_reachable() {
        return true;
    }
    missing(
        test,
        &format!("RabbitMQ with its STOMP plugin does not accept connections on {RABBIT_STOMP}"),
        INSTALL,
    );
    false
}

/// [`rabbit_or_skip`], and also `rabbitmqctl` able to control the local node, for the tests
/// that stop or block the broker; true when the test may go on.
pub fn rabbit_and_rabbitmqctl_or_skip(test: &str) -> bool {
    if !rabbit_or_skip(test) {
        return false;
    }
    if rabbitmqctl_works() {
        return true;
    }
    missing(
        test,
        "`rabbitmqctl status` fails: rabbitmqctl is missing or cannot control the local node \
         (it needs root or the node's Erlang cookie)",
        "bash tests/relay/start-rabbitmq.sh, and run the tests as root",
    );
    false
}

/// A name no earlier run used (RabbitMQ is shared and keeps queues): time, process id and a
/// counter, in hex, without `.` or `/` so it is one word of a routing key.
pub fn unique() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{:x}{:x}{:x}",
        nanos & 0xffff_ffff_ffff,
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// One server instance on the relay, bound on 127.0.0.1:0 and run in the test's runtime;
/// stops when dropped.
pub struct Instance {
    pub name: &'static str,
    pub port: u16,
    pub template: Template,
    pub stats: Arc<Stats>,
    events: Arc<Mutex<Vec<SessionEvent>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Instance {
    /// Starts an instance relaying to RabbitMQ with `RelayConfig::default()`.
    pub async fn start(name: &'static str) -> Instance {
        Instance::start_with(name, RelayConfig::default()).await
    }

    /// Starts an instance relaying with `config`.
    pub async fn start_with(name: &'static str, config: RelayConfig) -> Instance {
        Instance::start_limited(name, config, Limits::default()).await
    }

    /// Starts an instance relaying with `config`, its sessions bounded by `limits`.
    pub async fn start_limited(
        name: &'static str,
        config: RelayConfig,
        limits: Limits,
    ) -> Instance {
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        let server = StompServer::builder()
            .broker_relay(config)
            .limits(limits)
            .interceptor(login_interceptor)
            .on_event(move |event, _| {
                sink.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(event.clone());
            })
            .stats_log_interval(None)
            .build()
            .unwrap_or_else(|e| panic!("instance {name} does not build: {e}"));
        let listener = server.bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local address").port();
        let template = server.template();
        let stats = server.stats();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run(listener, async move {
            let _ = stopped.await;
        }));
        Instance {
            name,
            port,
            template,
            stats,
            events,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    /// A session of user `login` (the principal, through [`login_interceptor`]).
    pub async fn connect(&self, login: &str) -> StompSession {
        StompClient::new()
            .login(login, "")
            .connect(&self.url())
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "{login} cannot connect to instance {} ({}): {e}",
                    self.name,
                    self.url()
                )
            })
    }

    /// Every event delivered to this instance's listener so far.
    pub fn events(&self) -> Vec<SessionEvent> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The broker/relay events only (`BrokerAvailable`, `BrokerUnavailable`), in order.
    pub fn broker_events(&self) -> Vec<SessionEvent> {
        self.events()
            .into_iter()
            .filter(|e| {
                matches!(
                    e,
                    SessionEvent::BrokerAvailable | SessionEvent::BrokerUnavailable { .. }
                )
            })
            .collect()
    }

    pub fn broker_available(&self) -> Option<bool> {
        self.stats.snapshot().broker_available
    }

    /// Waits (at most `limit`) until the relay's system connection is up.
    pub async fn wait_available(&self, limit: Duration) {
        let started = Instant::now();
        poll_until(limit, || self.broker_available() == Some(true))
            .await
            .unwrap_or_else(|()| {
                panic!(
                    "instance {}: broker_available is {:?} after {:?} (want Some(true)); broker events: {:?}",
                    self.name,
                    self.broker_available(),
                    started.elapsed(),
                    self.broker_events()
                )
            });
    }

    /// Stops the server and waits (at most 10 s) for it to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Polls `condition` every 50 ms for at most `limit`.
pub async fn poll_until(limit: Duration, mut condition: impl FnMut() -> bool) -> Result<(), ()> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if condition() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs `future` for at most `limit`, panicking with `what` on time-out.
pub async fn within<T>(what: &str, limit: Duration, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, future)
        .await
        .unwrap_or_else(|_| panic!("timed out after {limit:?} waiting for {what}"))
}

/// A frame as it would look on the wire (without the NUL), for failure messages.
pub fn show(frame: &Frame) -> String {
    let mut text = format!("{}\n", frame.command);
    for (name, value) in frame.headers.iter() {
        text.push_str(&format!("{name}:{value}\n"));
    }
    text.push('\n');
    text.push_str(&String::from_utf8_lossy(&frame.body));
    text
}

/// The body as text.
pub fn body(frame: &Frame) -> String {
    String::from_utf8_lossy(&frame.body).into_owned()
}

/// The next `MESSAGE` of `subscription` within [`WAIT`]; panics naming `what` and the
/// session's pending `ERROR` frames otherwise.
pub async fn expect_message(subscription: &mut Subscription, what: &str) -> Frame {
    match subscription.next_timeout(WAIT).await {
        Ok(frame) => frame,
        Err(error) => {
            let session = subscription.session().clone();
            let mut unrouted = Vec::new();
            while let Ok(Some(frame)) =
                tokio::time::timeout(Duration::from_millis(50), session.next_unrouted()).await
            {
                unrouted.push(show(&frame));
            }
            panic!(
                "{what}: no MESSAGE on subscription {} within {WAIT:?}: {error}\n\
                 unrouted frames of that session: {unrouted:#?}",
                subscription.id()
            )
        }
    }
}

/// Asserts that `subscription` gets no `MESSAGE` (nor `ERROR`) for [`QUIET`].
pub async fn expect_nothing(subscription: &mut Subscription, what: &str) {
    match tokio::time::timeout(QUIET, subscription.next()).await {
        Err(_) => {}
        Ok(Some(Ok(frame))) => panic!("{what}: got an unexpected MESSAGE:\n{}", show(&frame)),
        Ok(Some(Err(error))) => panic!("{what}: got an error instead of silence: {error}"),
        Ok(None) => panic!(
            "{what}: the session closed: {}",
            subscription.session().closed().await
        ),
    }
}

/// True when `rabbitmqctl` runs and can talk to the node (it needs root or the node's
/// Erlang cookie).
pub fn rabbitmqctl_works() -> bool {
    rabbitmqctl(&["status"]).is_ok()
}

/// Runs `rabbitmqctl` with `args` (at most 60 s); its stdout, or a text saying what failed.
pub fn rabbitmqctl(args: &[&str]) -> Result<String, String> {
    let program = std::env::var("RABBITMQCTL").unwrap_or_else(|_| "rabbitmqctl".to_owned());
    let mut child = Process::new(&program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run `{program}`: {e}"))?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() > Duration::from_secs(60) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "`{program} {}` took more than 60 s",
                    args.join(" ")
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("waiting for `{program}` failed: {e}")),
        }
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("reading `{program}`'s output failed: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "`{program} {}` failed ({}): {}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// [`rabbitmqctl`] on a blocking thread, for async tests.
pub async fn rabbitmqctl_async(args: &[&str]) -> Result<String, String> {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        rabbitmqctl(&args)
    })
    .await
    .unwrap_or_else(|e| Err(format!("rabbitmqctl task failed: {e}")))
}

/// Deletes a RabbitMQ queue this run created (best effort: the broker is shared and
/// persistent; a leftover empty queue is harmless).
pub async fn delete_queue(name: &str) {
    if let Err(error) = rabbitmqctl_async(&["delete_queue", name]).await {
        eprintln!("note: could not delete RabbitMQ queue `{name}`: {error}");
    }
}

/// RabbitMQ's client ports: STOMP, Web-STOMP, AMQP, AMQP over TLS.
const RABBIT_PORTS: [u16; 4] = [61613, 15674, 5672, 5671];

/// The established TCP connections to RabbitMQ's client ports on this host, one line each
/// (`peer -> :port`), read from `/proc/net/tcp` and `/proc/net/tcp6`: `rabbitmqctl
/// list_connections` shows neither STOMP nor Web-STOMP connections, and `ss` may be
/// missing.
pub fn rabbit_connections() -> Vec<String> {
    let mut found = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // sl, local_address, rem_address, st, ...; st 01 is ESTABLISHED.
            let [_, local, remote, state, ..] = fields[..] else {
                continue;
            };
            let port = |address: &str| {
                address
                    .rsplit_once(':')
                    .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
            };
            if state != "01" {
                continue;
            }
            if let Some(local_port) = port(local).filter(|p| RABBIT_PORTS.contains(p)) {
                found.push(format!(
                    "{} -> :{local_port}",
                    peer(remote).unwrap_or_else(|| remote.to_owned())
                ));
            }
        }
    }
    found
}

/// `0100007F:9C40` → `127.0.0.1:40000` (IPv4 and IPv4-mapped entries; others in hex).
fn peer(address: &str) -> Option<String> {
    let (ip, port) = address.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) of /proc/net/tcp6.
    let ip = ip.strip_prefix("0000000000000000FFFF0000").unwrap_or(ip);
    if ip.len() != 8 {
        return Some(format!("[{ip}]:{port}"));
    }
    let ip = u32::from_str_radix(ip, 16).ok()?;
    let ip = std::net::Ipv4Addr::from(ip.swap_bytes());
    Some(format!("{ip}:{port}"))
}

/// Waits until RabbitMQ has no client connection at all (nobody else uses it), at most
/// `RELAY_RESTART_WAIT_SECS` (default 120 s); goes on with a loud warning after that. For
/// the tests that disturb the shared broker (stopping it, blocking it).
pub async fn wait_until_nobody_else_uses_rabbitmq(test: &str) {
    let limit = Duration::from_secs(
        std::env::var("RELAY_RESTART_WAIT_SECS")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(120),
    );
    let started = Instant::now();
    let mut reported = false;
    loop {
        let connections = rabbit_connections();
        if connections.is_empty() {
            if reported {
                eprintln!(
                    "{test}: RabbitMQ is free after waiting {:.0} s",
                    started.elapsed().as_secs_f64()
                );
            }
            return;
        }
        if started.elapsed() >= limit {
            eprintln!(
                "\n{}\n{test}: WARNING: after {limit:?} RabbitMQ still has {} connection(s) of \
                 someone else; going ahead anyway:\n  {}\n{}\n",
                "!".repeat(78),
                connections.len(),
                connections.join("\n  "),
                "!".repeat(78)
            );
            return;
        }
        if !reported {
            eprintln!(
                "{test}: RabbitMQ is in use ({} connection(s)); waiting up to {limit:?} before going ahead:\n  {}",
                connections.len(),
                connections.join("\n  ")
            );
            reported = true;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

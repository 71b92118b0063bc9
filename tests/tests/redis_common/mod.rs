//! Shared by the Redis backplane tests (`redis.rs`, `redis_restart.rs`): server instances on
//! the backplane, the Redis checks, and `redis-cli`. The generic helpers (waiting, unique
//! names, expecting messages) are the relay tests' (`relay_common`).
#![allow(dead_code, unreachable_pub)]

use std::net::{SocketAddr, TcpStream};
use std::process::{Command as Process, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use stomp_server::client::{StompClient, StompSession};
use stomp_server::redis::RedisConfig;
use stomp_server::{event::SessionEvent, stats::Stats, StompServer, Template};
use tests::prerequisite::missing;
use tests::server_support::login_interceptor;

use crate::relay_common::poll_until;

/// Where `RedisConfig::default()` connects.
pub const REDIS: &str = "127.0.0.1:6379";

/// How to get Redis running.
pub const INSTALL: &str = "bash tests/redis/start-redis.sh";

/// True when something accepts TCP connections on 127.0.0.1:6379.
pub fn redis_reachable() -> bool {
    let addr: SocketAddr = REDIS.parse().expect("a socket address");
    TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok()
}

/// Applies the shared skip-or-fail rule when Redis (and `redis-cli`, which the tests ask
/// for Redis' own view) is missing; true when the test may go on.
pub fn redis_or_skip(test: &str) -> bool {
    if !redis_reachable() {
        missing(
            test,
            &format!("redis-server does not accept connections on {REDIS}"),
            INSTALL,
        );
        return false;
    }
    if let Err(error) = redis_cli(&["ping"]) {
        missing(test, &format!("redis-cli does not work: {error}"), INSTALL);
        return false;
    }
    true
}

/// Runs `redis-cli -h 127.0.0.1 -p 6379 args..`; its stdout, or what failed.
pub fn redis_cli(args: &[&str]) -> Result<String, String> {
    let output = Process::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", "6379"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run redis-cli: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(format!(
            "`redis-cli {}` failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// How many connections subscribe to `channel` in Redis (`PUBSUB NUMSUB`).
pub fn redis_subscribers(channel: &str) -> usize {
    let answer = redis_cli(&["pubsub", "numsub", channel]).expect("PUBSUB NUMSUB");
    // Two lines: the channel, then the count.
    answer
        .lines()
        .nth(1)
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("unexpected PUBSUB NUMSUB answer: {answer:?}"))
}

/// One server instance on the Redis backplane, bound on 127.0.0.1:0 and run in the test's
/// runtime; stops when dropped.
pub struct Instance {
    pub name: &'static str,
    pub port: u16,
    pub template: Template,
    pub stats: Arc<Stats>,
    events: Arc<Mutex<Vec<SessionEvent>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Instance {
    /// Starts an instance with `RedisConfig::default()`.
    pub async fn start(name: &'static str) -> Instance {
        Instance::start_with(name, RedisConfig::default()).await
    }

    /// Starts an instance on the backplane configured by `config`.
    pub async fn start_with(name: &'static str, config: RedisConfig) -> Instance {
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&events);
        let server = StompServer::builder()
            .redis_backplane(config)
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
        let (template, stats) = (server.template(), server.stats());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.run(listener, async move {
            let _ = stopped.await;
        }));
        Instance {
            name,
            port,
            template,
            stats,
            events,
            stop: Some(stop),
        }
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    /// A session of user `login`.
    pub async fn connect(&self, login: &str) -> StompSession {
        StompClient::new()
            .login(login, "")
            .connect(&self.url())
            .await
            .unwrap_or_else(|e| panic!("{login} cannot connect to instance {}: {e}", self.name))
    }

    pub fn broker_available(&self) -> Option<bool> {
        self.stats.snapshot().broker_available
    }

    /// The `BrokerAvailable`/`BrokerUnavailable` events so far, in order.
    pub fn broker_events(&self) -> Vec<SessionEvent> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    SessionEvent::BrokerAvailable | SessionEvent::BrokerUnavailable { .. }
                )
            })
            .cloned()
            .collect()
    }

    /// Waits (at most `limit`) until the backplane's connections are up (`true`) or down.
    pub async fn wait_available(&self, available: bool, limit: Duration) {
        let started = Instant::now();
        poll_until(limit, || self.broker_available() == Some(available))
            .await
            .unwrap_or_else(|()| {
                panic!(
                    "instance {}: broker_available is {:?} after {:?} (want Some({available})); events: {:?}",
                    self.name,
                    self.broker_available(),
                    started.elapsed(),
                    self.broker_events()
                )
            });
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

//! The broker relay's connection state and reconnects in the metrics: an instance relays
//! to RabbitMQ through a TCP proxy of the test's own, `/metrics` (scraped over HTTP) says
//! `stomp_broker_up{backplane="relay"} 1`; the proxy cuts the system connection, the relay
//! reconnects, and the scrape counts one reconnect and says up again. RabbitMQ itself is
//! never stopped (others use it).
//!
//! ```text
//! bash tests/relay/start-rabbitmq.sh
//! cargo test -p tests --test relay_metrics
//! ```
//!
//! Without RabbitMQ the test prints a loud `SKIPPED` line and passes, unless
//! `STOMP_REQUIRE_ALL=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod relay_common;

use std::net::SocketAddr;
use std::time::Duration;

use relay_common::{init_logging, poll_until, rabbit_or_skip, RABBIT_STOMP};
use std::sync::Arc;
use stomp_server::relay::RelayConfig;
use stomp_server::stats::Stats;
use stomp_server::StompServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, oneshot};

const TEST: &str = "relay_metrics";
/// A safety net for the relay to connect or reconnect, not a timing.
const LIMIT: Duration = Duration::from_secs(30);

/// Forwards every connection it accepts to RabbitMQ's STOMP port until told to cut them.
struct Proxy {
    addr: SocketAddr,
    cut: broadcast::Sender<()>,
}

impl Proxy {
    async fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cut, _) = broadcast::channel(1);
        let cuts = cut.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut cut = cuts.subscribe();
                tokio::spawn(async move {
                    let Ok(mut broker) = TcpStream::connect(RABBIT_STOMP).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut broker) => {}
                        _ = cut.recv() => {}
                    }
                });
            }
        });
        Proxy { addr, cut }
    }

    /// Drops every connection open now (new ones are forwarded again).
    fn cut(&self) {
        let _ = self.cut.send(());
    }
}

/// `GET /metrics` on `port`: the body.
async fn scrape(port: u16) -> String {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let request = "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200 "), "{response}");
    response
}

/// Scrapes until every line of `want` is in the exposition (at most [`LIMIT`]).
async fn scrape_until(port: u16, want: &[&str]) {
    let mut last = String::new();
    let deadline = tokio::time::Instant::now() + LIMIT;
    while tokio::time::Instant::now() < deadline {
        last = scrape(port).await;
        if want.iter().all(|w| last.lines().any(|l| l == *w)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{TEST}: never saw {want:?} in:\n{last}");
}

/// An instance relaying with `relay` and serving `/metrics`: its port, its stats, what
/// stops it and its task.
async fn start(
    relay: RelayConfig,
) -> (
    u16,
    Arc<Stats>,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let server = StompServer::builder()
        .broker_relay(relay)
        .metrics_endpoint("/metrics")
        .stats_log_interval(None)
        .build()
        .unwrap();
    let stats = server.stats();
    let listener = server.bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(listener, async move {
        let _ = stopped.await;
    }));
    (port, stats, stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_state_and_its_reconnects_are_in_the_metrics() {
    if !rabbit_or_skip(TEST) {
        return;
    }
    init_logging();
    let proxy = Proxy::start().await;
    let relay = RelayConfig::default()
        .with_host(proxy.addr.ip().to_string())
        .with_port(proxy.addr.port())
        .with_max_reconnect_delay(Duration::from_millis(500));
    let (port, stats, stop, task) = start(relay).await;

    let up = r#"stomp_broker_up{backplane="relay"} 1"#;
    scrape_until(
        port,
        &[up, r#"stomp_broker_reconnects_total{backplane="relay"} 0"#],
    )
    .await;
    proxy.cut();
    scrape_until(
        port,
        &[up, r#"stomp_broker_reconnects_total{backplane="relay"} 1"#],
    )
    .await;
    let snapshot = stats.snapshot();
    assert_eq!(snapshot.broker_reconnects, 1, "Stats agree");
    assert!(
        poll_until(LIMIT, || stats.snapshot().broker_available == Some(true))
            .await
            .is_ok()
    );
    assert!(
        !scrape(port).await.contains(r#"backplane="redis""#),
        "no Redis backplane here"
    );
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
}

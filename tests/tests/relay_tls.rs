//! The broker relay over TLS against a real RabbitMQ: instances whose relay reaches
//! RabbitMQ's TLS STOMP listener (127.0.0.1:61614, `RelayConfig::tls`) trusting the test CA
//! that `tests/relay/start-rabbitmq.sh` makes in `/tmp/stomp-rabbitmq-tls` (or
//! `$RABBITMQ_TLS_DIR`). Messages cross from one instance to the other through RabbitMQ over
//! the system connection, the shared subscriber connection and a session's own connection;
//! a relay that does not trust RabbitMQ's certificate never becomes available and says why.
//!
//! ```text
//! bash tests/relay/start-rabbitmq.sh                   # once: RabbitMQ with its TLS listener
//! cargo test -p tests --test relay_tls -- --nocapture
//! ```
//!
//! Without the TLS port open or the CA file, every test prints a loud `SKIPPED` line and
//! passes, unless `STOMP_REQUIRE_ALL=1`, which makes it fail (CI sets it).

mod relay_common;
mod tls_common;

use std::path::PathBuf;
use std::time::Duration;

use relay_common::{body, expect_message, init_logging, poll_until, unique, Instance, INSTALL};
use stomp_server::event::SessionEvent;
use stomp_server::relay::{RelayConfig, RelayTls};
use tests::prerequisite::missing;

/// RabbitMQ's STOMP-over-TLS port, as the start script opens it.
const TLS_PORT: u16 = 61614;

/// How long an instance may take to open its system connection to RabbitMQ.
const AVAILABLE: Duration = Duration::from_secs(30);

/// The test CA the start script made, when RabbitMQ's TLS port is open.
fn rabbit_tls_or_skip(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("RABBITMQ_TLS_DIR")
        .map_or_else(|| PathBuf::from("/tmp/stomp-rabbitmq-tls"), PathBuf::from);
    let ca = dir.join("ca.pem");
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], TLS_PORT));
    let open = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok();
    if open && ca.is_file() {
        return Some(ca);
    }
    let what = format!(
        "RabbitMQ's TLS STOMP listener on 127.0.0.1:{TLS_PORT} (open: {open}) and its test CA {} (present: {})",
        ca.display(),
        ca.is_file()
    );
    missing(test, &what, INSTALL);
    None
}

/// Relaying over TLS to RabbitMQ's TLS port, trusting `ca`, its certificate checked
/// against `localhost` while the address is 127.0.0.1.
fn over_tls(ca: PathBuf) -> RelayConfig {
    RelayConfig::default().with_port(TLS_PORT).with_tls(Some(
        RelayTls::with_ca_file(ca).with_server_name("localhost"),
    ))
}

#[tokio::test]
async fn messages_cross_instances_through_rabbitmq_over_tls() {
    let Some(ca) = rabbit_tls_or_skip("messages_cross_instances_through_rabbitmq_over_tls") else {
        return;
    };
    init_logging();
    let a = Instance::start_with("A", over_tls(ca.clone())).await;
    let b = Instance::start_with("B", over_tls(ca)).await;
    a.wait_available(AVAILABLE).await;
    b.wait_available(AVAILABLE).await;
    let tag = unique();
    let (alice, bob) = (
        a.connect(&format!("alice-{tag}")).await,
        b.connect(&format!("bob-{tag}")).await,
    );

    // A shared topic: the shared subscriber connection of A, B's system connection.
    let topic = format!("/topic/tls.{tag}");
    let mut on_topic = alice.subscribe(&topic).await.expect("SUBSCRIBE");
    // A queue: alice's own broker connection; bob's own one sends.
    let queue = format!("/queue/tls-{tag}");
    let mut on_queue = alice.subscribe(&queue).await.expect("SUBSCRIBE");
    // RabbitMQ binds the subscription as it arrives: B publishes again until one message
    // arrives (each wait a safety net, 10 s in all), so nothing depends on timing.
    let mut delivered = None;
    for attempt in 0..50 {
        b.template
            .convert_and_send(&topic, &format!("over TLS {attempt}"))
            .expect("publish from B");
        if let Ok(frame) = on_topic.next_timeout(Duration::from_millis(200)).await {
            delivered = Some(frame);
            break;
        }
    }
    let frame = delivered.expect("a message published on B reaches A's subscriber over TLS");
    assert!(body(&frame).contains("over TLS"), "{}", body(&frame));

    bob.send(&queue, "to the queue over TLS")
        .await
        .expect("SEND");
    let frame = expect_message(&mut on_queue, "queue message over TLS").await;
    assert_eq!(body(&frame), "to the queue over TLS");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn a_relay_that_does_not_trust_rabbitmq_certificate_is_unavailable_and_says_why() {
    let test = "a_relay_that_does_not_trust_rabbitmq_certificate_is_unavailable_and_says_why";
    if rabbit_tls_or_skip(test).is_none() {
        return;
    }
    init_logging();
    let stranger = tls_common::TestCa::new("not-rabbitmq");
    let instance = Instance::start_with("untrusting", over_tls(stranger.ca_file())).await;
    let said = poll_until(AVAILABLE, || {
        instance.broker_events().iter().any(|event| {
            matches!(event, SessionEvent::BrokerUnavailable { reason } if reason.contains("certificate"))
        })
    })
    .await;
    assert!(
        said.is_ok(),
        "broker events: {:?}",
        instance.broker_events()
    );
    assert_ne!(instance.broker_available(), Some(true));
    instance.shutdown().await;
}

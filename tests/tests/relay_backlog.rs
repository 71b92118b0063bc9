//! The broker relay against a RabbitMQ that stops reading. A memory alarm
//! (`rabbitmqctl set_vm_memory_high_watermark` set far below what the node uses) makes
//! RabbitMQ block every connection that publishes: it no longer reads their sockets.
//!
//! 1. A client that keeps sending to a RabbitMQ queue (on its own broker connection) must
//!    then get an `ERROR` saying the broker is not keeping up, once that connection's
//!    backlog passes `RelayConfig::client_send_buffer_size`, instead of the server queueing
//!    its messages without a bound. Once the alarm clears, the same instance relays again.
//! 2. A client that keeps sending to a topic (the shared system connection) is held back
//!    instead, once the system connection's backlog passes three quarters of its bound: its
//!    session stops reading for up to `publish_wait`. When the alarm clears within that
//!    time, every message it sent arrives at another instance, in order, and it never got
//!    an `ERROR`.
//!
//! ```text
//! bash tests/relay/start-rabbitmq.sh                   # once: RabbitMQ with rabbitmq_stomp
//! cargo test -p tests --test relay_backlog -- --nocapture
//! ```
//!
//! Its own test binary (one test), since the alarm blocks everyone who publishes to this
//! RabbitMQ; it first waits for nobody else to use it, as `relay_restart.rs` does (a check
//! at the start, not a lock: a client arriving during the test is blocked for a moment). It needs
//! `rabbitmqctl` able to control the local node (root, or the node's Erlang cookie); without
//! it, or without RabbitMQ, the test prints a loud `SKIPPED` line and passes unless
//! `STOMP_REQUIRE_ALL=1`. The watermark is always put back at the end, failure or not.

mod relay_common;

use std::time::{Duration, Instant};

use relay_common::{
    body, delete_queue, expect_message, init_logging, rabbit_and_rabbitmqctl_or_skip, rabbitmqctl,
    rabbitmqctl_async, show, unique, wait_until_nobody_else_uses_rabbitmq, within, Instance,
};
use stomp_server::{config::Limits, relay::RelayConfig, Command};

const TEST: &str = "a_client_sending_to_a_blocked_broker_gets_an_error";
/// The backlog each client session's broker connection may hold in this test.
const BACKLOG: usize = 256 * 1024;
/// The body of each `SEND`.
const BODY: usize = 32 * 1024;
/// How long the sends may take to fill the socket buffers and the backlog.
const TOLD_WITHIN: Duration = Duration::from_secs(60);

/// RabbitMQ's memory high watermark as `rabbitmqctl set_vm_memory_high_watermark` takes it:
/// `0.4`, or `absolute 1073741824`.
fn current_watermark() -> Result<Vec<String>, String> {
    let out = rabbitmqctl(&["eval", "vm_memory_monitor:get_vm_memory_high_watermark()."])?;
    let out = out.trim();
    if let Some(bytes) = out
        .strip_prefix("{absolute,")
        .and_then(|rest| rest.strip_suffix('}'))
    {
        return Ok(vec!["absolute".to_owned(), bytes.trim().to_owned()]);
    }
    match out.parse::<f64>() {
        Ok(_) => Ok(vec![out.to_owned()]),
        Err(_) => Err(format!("unexpected watermark `{out}`")),
    }
}

/// Puts the watermark back when dropped, so that a failing test does not leave the shared
/// broker blocking its publishers.
struct WatermarkGuard {
    restore: Vec<String>,
    lowered: bool,
}

impl WatermarkGuard {
    fn args(&self) -> Vec<&str> {
        let mut args = vec!["set_vm_memory_high_watermark"];
        args.extend(self.restore.iter().map(String::as_str));
        args
    }

    /// Puts the watermark back (blocking: for `Drop`).
    fn restore(&mut self) -> Result<(), String> {
        if self.lowered {
            rabbitmqctl(&self.args())?;
            self.lowered = false;
        }
        Ok(())
    }

    /// Puts the watermark back without blocking a runtime thread.
    async fn restore_async(&mut self) -> Result<(), String> {
        if self.lowered {
            rabbitmqctl_async(&self.args()).await?;
            self.lowered = false;
        }
        Ok(())
    }
}

impl Drop for WatermarkGuard {
    fn drop(&mut self) {
        if let Err(error) = self.restore() {
            eprintln!(
                "{TEST}: COULD NOT PUT RABBITMQ'S MEMORY WATERMARK BACK: {error}\n  run `rabbitmqctl set_vm_memory_high_watermark {}` by hand",
                self.restore.join(" ")
            );
        }
    }
}

/// Waits until RabbitMQ reports a memory alarm (`raised`) or none (`!raised`), at most
/// `limit`; true when it did.
async fn memory_alarm_within(raised: bool, limit: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        match rabbitmqctl_async(&["eval", "rabbit_alarm:get_alarms()."]).await {
            Ok(alarms) if alarms.contains("memory") == raised => return true,
            Ok(_) => {}
            Err(error) => eprintln!("{TEST}: reading the alarms failed: {error}"),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_sending_to_a_blocked_broker_gets_an_error() {
    if !rabbit_and_rabbitmqctl_or_skip(TEST) {
        return;
    }
    init_logging();
    wait_until_nobody_else_uses_rabbitmq(TEST).await;
    let restore = current_watermark().unwrap_or_else(|e| panic!("{TEST}: {e}"));

    let instance = Instance::start_with(
        "A",
        RelayConfig::default()
            .with_client_send_buffer_size(BACKLOG)
            // Long enough that the backlog, not the write timeout, is what answers.
            .with_send_time_limit(Duration::from_secs(120)),
    )
    .await;
    instance.wait_available(Duration::from_secs(30)).await;
    // A RabbitMQ queue: the session's own broker connection carries its SENDs.
    let queue = format!("relay-backlog-{}", unique());
    let topic = format!("/queue/{queue}");
    let sender = instance.connect(&format!("sender-{}", unique())).await;
    sender
        .send(&topic, "before the alarm")
        .await
        .expect("SEND before the alarm");

    // ---- RabbitMQ stops reading from publishers ----
    let mut guard = WatermarkGuard {
        restore,
        lowered: true,
    };
    rabbitmqctl_async(&["set_vm_memory_high_watermark", "0.000001"])
        .await
        .unwrap_or_else(|e| panic!("{TEST}: lowering the watermark failed: {e}"));
    assert!(
        memory_alarm_within(true, Duration::from_secs(20)).await,
        "{TEST}: RabbitMQ raised no memory alarm within 20 s of lowering the watermark"
    );

    let big = "x".repeat(BODY);
    let started = Instant::now();
    let mut sent = 0usize;
    let error = within("the ERROR for the blocked broker", TOLD_WITHIN, async {
        loop {
            tokio::select! {
                biased;
                error = sender.next_error() => break error,
                result = sender.send(&topic, big.clone()) => {
                    if result.is_err() {
                        // Closed: the ERROR, if any, is already queued.
                        break sender.next_error().await;
                    }
                    sent += 1;
                }
            }
        }
    })
    .await
    .unwrap_or_else(|| panic!("{TEST}: the session ended without an ERROR after {sent} SENDs"));
    let message = error.get("message").unwrap_or_default().to_owned();
    assert!(
        error.command == Command::Error && message.contains("not keeping up"),
        "{TEST}: the ERROR should say the broker is not keeping up:\n{}",
        show(&error)
    );
    println!(
        "{TEST}: ERROR after {sent} SENDs of {BODY} bytes ({:.1} s): {message}",
        started.elapsed().as_secs_f64()
    );
    // The server held at most the backlog plus what the sockets took, not all of it; and
    // at least the backlog (written frames stop counting).
    assert!(
        sent * BODY < 64 * 1024 * 1024,
        "{TEST}: {sent} SENDs were accepted before the ERROR"
    );
    assert!(
        sent * BODY > BACKLOG,
        "{TEST}: only {sent} SENDs before the ERROR: less than the backlog itself"
    );

    // ---- The alarm clears: the same instance relays again ----
    guard
        .restore_async()
        .await
        .unwrap_or_else(|e| panic!("{TEST}: putting the watermark back failed: {e}"));
    assert!(
        memory_alarm_within(false, Duration::from_secs(30)).await,
        "{TEST}: RabbitMQ's memory alarm did not clear within 30 s of restoring the watermark"
    );
    let reader = instance.connect(&format!("reader-{}", unique())).await;
    let again = format!("/topic/relay/backlog/{}", unique());
    let mut subscription = reader.subscribe(&again).await.expect("SUBSCRIBE after");
    let writer = instance.connect(&format!("writer-{}", unique())).await;
    writer
        .send(&again, "after the alarm")
        .await
        .expect("SEND after the alarm");
    let frame = expect_message(&mut subscription, "after the alarm").await;
    assert_eq!(body(&frame), "after the alarm", "{}", show(&frame));
    let _ = writer.disconnect().await;
    let _ = reader.disconnect().await;
    instance.shutdown().await;
    delete_queue(&queue).await;

    publishers_are_held_back_while_rabbitmq_blocks(&mut guard).await;
}

/// Messages a paced publisher sends: more than the system connection's bound and the
/// sockets' buffers hold.
const PACED: usize = 1_000;

/// Phase 2: a publisher to a topic is held back while RabbitMQ blocks, and loses nothing.
async fn publishers_are_held_back_while_rabbitmq_blocks(guard: &mut WatermarkGuard) {
    let system_bound = 1024 * 1024;
    let publishing = Instance::start_with(
        "P",
        RelayConfig::default()
            .with_system_send_buffer_size(system_bound)
            .with_publish_wait(Duration::from_secs(60)),
    )
    .await;
    // When the alarm clears, RabbitMQ releases at once what it held (megabytes): the
    // reader's session must have room for that burst, or it is closed as a slow consumer
    // (as Spring's would be); the test is about the publisher.
    let reading = Instance::start_limited(
        "R",
        RelayConfig::default(),
        Limits::default().with_send_buffer_size(64 * 1024 * 1024),
    )
    .await;
    publishing.wait_available(Duration::from_secs(30)).await;
    reading.wait_available(Duration::from_secs(30)).await;
    let topic = format!("/topic/relay/paced/{}", unique());
    let reader = reading.connect(&format!("reader-{}", unique())).await;
    let mut subscription = reader.subscribe(&topic).await.expect("SUBSCRIBE on R");
    let sender = publishing.connect(&format!("paced-{}", unique())).await;

    rabbitmqctl_async(&["set_vm_memory_high_watermark", "0.000001"])
        .await
        .unwrap_or_else(|e| panic!("{TEST}: lowering the watermark again failed: {e}"));
    guard.lowered = true;
    assert!(
        memory_alarm_within(true, Duration::from_secs(20)).await,
        "{TEST}: no memory alarm the second time"
    );
    // The reader reads all along, as a client does (one that stops reading is cut off as
    // a slow consumer, whatever the broker).
    let receiving = tokio::spawn(async move {
        for i in 0..PACED {
            let frame = expect_message(&mut subscription, "a paced message").await;
            let got = body(&frame);
            assert_eq!(&got[..6], format!("{i:06}"), "{TEST}: out of order or lost");
        }
        PACED
    });
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = std::sync::Arc::clone(&sent);
    let sending = tokio::spawn(async move {
        for i in 0..PACED {
            let body = format!("{i:06}{}", "x".repeat(BODY - 6));
            sender.send(&topic, body).await.expect("a paced SEND");
            counted.store(i + 1, std::sync::atomic::Ordering::Release);
        }
        sender
    });
    tokio::time::sleep(Duration::from_secs(3)).await;
    let held_at = sent.load(std::sync::atomic::Ordering::Acquire);
    println!("{TEST}: while RabbitMQ blocks, the publisher got {held_at} of {PACED} SENDs out");
    assert!(held_at < PACED, "{TEST}: the publisher was never held back");

    guard
        .restore_async()
        .await
        .unwrap_or_else(|e| panic!("{TEST}: putting the watermark back failed: {e}"));
    let sender = within("the paced publisher to finish", TOLD_WITHIN, sending)
        .await
        .expect("the sending task");
    assert!(
        !sender.is_closed(),
        "{TEST}: the paced publisher was closed"
    );
    let received = within(
        "the reader to get every paced message",
        TOLD_WITHIN,
        receiving,
    )
    .await
    .expect("the reading task");
    assert_eq!(received, PACED);
    let _ = sender.disconnect().await;
    let _ = reader.disconnect().await;
    publishing.shutdown().await;
    reading.shutdown().await;
}

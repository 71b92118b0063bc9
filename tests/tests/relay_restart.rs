//! The broker relay through a RabbitMQ outage: two instances with clients, then
//! `rabbitmqctl stop_app`: the clients with a broker connection of their own (a RabbitMQ
//! queue consumer) are told (`ERROR` "broker unavailable…", then the connection closes), so
//! is a client that sends meanwhile, and the stats and events say the broker is gone;
//! clients that only listen to topics and user queues (the instance's shared
//! subscriptions) stay. Then `rabbitmqctl start_app`: the system connections come back on
//! their own, new sessions exchange messages across the instances again, and the instance
//! subscribes its topics and user routes again, so the client that stayed hears the other
//! instance again.
//!
//! ```text
//! bash tests/relay/start-rabbitmq.sh                   # once: RabbitMQ with rabbitmq_stomp
//! cargo test -p tests --test relay_restart -- --nocapture
//! ```
//!
//! Its own test binary (one test), so that stopping RabbitMQ disturbs no other test. It
//! needs `rabbitmqctl` able to control the local node (root, or the node's Erlang cookie);
//! without it, or without RabbitMQ, the test prints a loud `SKIPPED` line and passes unless
//! `STOMP_REQUIRE_ALL=1`. RabbitMQ is always started again at the end, failure or not.
//!
//! Before it starts, the test waits (at most `RELAY_RESTART_WAIT_SECS`, default 120) for
//! RabbitMQ (when local) to have no client connection (a benchmark, another test run), and
//! warns loudly if it has to go ahead anyway.

mod relay_common;

use std::time::{Duration, Instant};

use relay_common::{
    body, delete_queue, expect_message, init_logging, poll_until, rabbit_and_rabbitmqctl_or_skip,
    rabbit_connections, rabbit_reachable, rabbitmqctl, rabbitmqctl_async, show, unique,
    wait_until_nobody_else_uses_rabbitmq, within, Instance,
};
use stomp_server::client::{ClientError, CloseReason, StompClient, StompSession, Subscription};
use stomp_server::{event::SessionEvent, Command};

const TEST: &str = "instances_recover_when_rabbitmq_restarts";
/// How long clients may take to learn that RabbitMQ is gone.
const TOLD_WITHIN: Duration = Duration::from_secs(15);
/// How long the system connections may take to come back after `start_app`.
const BACK_WITHIN: Duration = Duration::from_secs(60);

/// Starts the RabbitMQ application again when dropped, if it was stopped: a failing test
/// must not leave the shared broker down.
struct StartAppGuard {
    stopped: bool,
}

impl StartAppGuard {
    fn restart(&mut self) -> Result<(), String> {
        if !self.stopped {
            return Ok(());
        }
        rabbitmqctl(&["start_app"])?;
        self.stopped = false;
        let deadline = Instant::now() + Duration::from_secs(60);
        while !rabbit_reachable() {
            if Instant::now() > deadline {
                return Err("RabbitMQ's STOMP port stayed closed 60 s after start_app".into());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(())
    }
}

impl Drop for StartAppGuard {
    fn drop(&mut self) {
        if self.stopped {
            eprintln!("{TEST}: starting the RabbitMQ application again (rabbitmqctl start_app)");
            if let Err(error) = self.restart() {
                eprintln!(
                    "{TEST}: COULD NOT START RABBITMQ AGAIN: {error}\n  run `rabbitmqctl start_app` by hand"
                );
            }
        }
    }
}

/// Waits for `session` to be told that the broker went away: an `ERROR` whose `message`
/// starts with "broker unavailable", then the end of the connection.
async fn expect_told(name: &str, session: &StompSession, stopped_at: Instant) {
    let error = tokio::time::timeout(TOLD_WITHIN, session.next_error())
        .await
        .unwrap_or_else(|_| {
            panic!("{name}: no ERROR within {TOLD_WITHIN:?} of `rabbitmqctl stop_app`")
        })
        .unwrap_or_else(|| {
            panic!(
                "{name}: the connection ended without an ERROR frame after stop_app (closed: {})",
                if session.is_closed() { "yes" } else { "no" }
            )
        });
    let message = error.get("message").unwrap_or_default().to_owned();
    assert!(
        error.command == Command::Error
            && message
                .to_ascii_lowercase()
                .starts_with("broker unavailable"),
        "{name}: the ERROR should start with \"broker unavailable\":\n{}",
        show(&error)
    );
    let reason = within(
        &format!("{name}'s connection to close after its ERROR"),
        TOLD_WITHIN,
        session.closed(),
    )
    .await;
    assert!(
        matches!(
            &reason,
            CloseReason::Error { .. } | CloseReason::ServerClosed { .. }
        ),
        "{name}: closed for an unexpected reason: {reason}"
    );
    println!(
        "{TEST}: {name} told after {:.1} s: ERROR message:{message:?}; closed: {reason}",
        stopped_at.elapsed().as_secs_f64()
    );
}

fn unavailable_reasons(instance: &Instance) -> Vec<String> {
    instance
        .broker_events()
        .into_iter()
        .filter_map(|e| match e {
            SessionEvent::BrokerUnavailable { reason } => Some(reason),
            _ => None,
        })
        .collect()
}

/// Messages cross from A to B (a client `SEND` and the template) with fresh sessions.
async fn assert_messages_cross(a: &Instance, b: &Instance, when: &str) -> Vec<StompSession> {
    let topic = format!("/topic/relay/restart/{}", unique());
    let sender = a.connect(&format!("sender-{}", unique())).await;
    let reader_name = format!("reader-{}", unique());
    let reader = b.connect(&reader_name).await;
    let mut on_b = reader
        .subscribe(&topic)
        .await
        .unwrap_or_else(|e| panic!("{when}: SUBSCRIBE on B failed: {e}"));
    let mut inbox = reader
        .subscribe("/user/queue/inbox")
        .await
        .unwrap_or_else(|e| panic!("{when}: SUBSCRIBE /user/queue/inbox on B failed: {e}"));
    sender
        .send(&topic, "across")
        .await
        .unwrap_or_else(|e| panic!("{when}: SEND on A failed: {e}"));
    let frame = expect_message(&mut on_b, &format!("{when}: B's subscriber")).await;
    assert_eq!(
        (frame.destination(), body(&frame).as_str()),
        (Some(topic.as_str()), "across"),
        "{when}:\n{}",
        show(&frame)
    );
    a.template
        .convert_and_send_to_user(&reader_name, "/queue/inbox", "via A's template")
        .unwrap_or_else(|e| panic!("{when}: A's template refused a user message: {e}"));
    let frame = expect_message(&mut inbox, &format!("{when}: the reader's user queue")).await;
    assert_eq!(
        body(&frame),
        "via A's template",
        "{when}:\n{}",
        show(&frame)
    );
    vec![sender, reader]
}

/// The session that stayed through the outage hears A's template again, through `send`: B
/// subscribed its topic (or its user route) at RabbitMQ again once it was back (tried until
/// then: B's subscriber connection reconnects on its own schedule).
async fn hears_again(what: &str, kept: &mut Subscription, send: impl Fn(&str)) {
    let started = Instant::now();
    for attempt in 0.. {
        send(&format!("again {attempt}"));
        if let Ok(frame) = kept.next_timeout(Duration::from_millis(500)).await {
            println!(
                "{TEST}: the listener that stayed heard {:?} on its {what} {:.1} s after the restart",
                body(&frame),
                started.elapsed().as_secs_f64()
            );
            return;
        }
        assert!(
            started.elapsed() < BACK_WITHIN,
            "the listener that stayed heard nothing on its {what} within {BACK_WITHIN:?}: not subscribed again"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_recover_when_rabbitmq_restarts() {
    if !rabbit_and_rabbitmqctl_or_skip(TEST) {
        return;
    }
    init_logging();
    wait_until_nobody_else_uses_rabbitmq(TEST).await;

    let a = Instance::start("A").await;
    let b = Instance::start("B").await;
    a.wait_available(Duration::from_secs(30)).await;
    b.wait_available(Duration::from_secs(30)).await;
    let before = assert_messages_cross(&a, &b, "before the outage").await;
    let kept_topic = format!("/topic/relay/restart/kept/{}", unique());
    let listener_name = format!("listener-{}", unique());
    let listener = b.connect(&listener_name).await;
    let mut kept = listener
        .subscribe(&kept_topic)
        .await
        .expect("the listener's SUBSCRIBE");
    let mut kept_inbox = listener
        .subscribe("/user/queue/kept")
        .await
        .expect("the listener's SUBSCRIBE to its user queue");
    // A RabbitMQ queue: the session gets a broker connection of its own.
    let queue = format!("relay-restart-{}", unique());
    let consumer = b.connect(&format!("consumer-{}", unique())).await;
    let _consuming = consumer
        .subscribe(&format!("/queue/{queue}"))
        .await
        .expect("the consumer's SUBSCRIBE");
    println!(
        "{TEST}: RabbitMQ connections before the outage:\n  {}",
        rabbit_connections().join("\n  ")
    );

    // ---- RabbitMQ goes away ----
    let mut guard = StartAppGuard { stopped: true };
    let stopped_at = Instant::now();
    rabbitmqctl_async(&["stop_app"])
        .await
        .unwrap_or_else(|e| panic!("rabbitmqctl stop_app failed: {e}"));
    println!(
        "{TEST}: stop_app took {:.1} s",
        stopped_at.elapsed().as_secs_f64()
    );
    let [sender, reader] = &before[..] else {
        panic!("two sessions cross");
    };
    expect_told(
        "consumer on B (its queue is on its own connection)",
        &consumer,
        stopped_at,
    )
    .await;
    // The sender only sent to a topic (the system connection): it learns on its next SEND.
    let _ = sender
        .send(&format!("/topic/relay/restart/{}", unique()), "during")
        .await;
    expect_told("sender on A, sending during the outage", sender, stopped_at).await;
    for instance in [&a, &b] {
        poll_until(TOLD_WITHIN, || instance.broker_available() == Some(false))
            .await
            .unwrap_or_else(|()| {
                panic!(
                    "instance {}: broker_available is {:?} {:?} after stop_app (want Some(false)); broker events: {:?}",
                    instance.name,
                    instance.broker_available(),
                    stopped_at.elapsed(),
                    instance.broker_events()
                )
            });
        poll_until(TOLD_WITHIN, || !unavailable_reasons(instance).is_empty())
            .await
            .unwrap_or_else(|()| {
                panic!(
                    "instance {}: no SessionEvent::BrokerUnavailable delivered; events: {:?}",
                    instance.name,
                    instance.broker_events()
                )
            });
        println!(
            "{TEST}: instance {}: BrokerUnavailable reasons {:?}",
            instance.name,
            unavailable_reasons(instance)
        );
    }

    // While it is down: a new session is refused, either at once (an ERROR instead of
    // CONNECTED, as Spring's relay does) or right after CONNECTED, when its own broker
    // connection fails; either way with "broker unavailable".
    let attempt = StompClient::new()
        .login(format!("late-{}", unique()), "")
        .connect_timeout(Duration::from_secs(10))
        .connect(&a.url())
        .await;
    match attempt {
        Ok(session) => {
            println!(
                "{TEST}: CONNECT while RabbitMQ is down was answered with CONNECTED (session {:?}); waiting for its ERROR",
                session.session_id()
            );
            expect_told("a session opened during the outage", &session, stopped_at).await;
        }
        Err(ClientError::Refused { message, .. }) => {
            assert!(
                message
                    .to_ascii_lowercase()
                    .starts_with("broker unavailable"),
                "CONNECT during the outage refused with an unexpected message: {message:?}"
            );
            println!("{TEST}: CONNECT while RabbitMQ is down refused: {message:?}");
        }
        Err(error) => panic!("CONNECT during the outage failed oddly: {error}"),
    }
    match a
        .template
        .convert_and_send(&format!("/topic/relay/restart/{}", unique()), "lost")
    {
        Ok(n) => panic!(
            "A's template accepted a message while RabbitMQ is down (Ok({n})); it should fail as Spring's MessageDeliveryException"
        ),
        Err(error) => println!("{TEST}: template send while RabbitMQ is down: {error}"),
    }

    // ---- RabbitMQ comes back ----
    let restarted_at = Instant::now();
    tokio::task::spawn_blocking(move || {
        guard
            .restart()
            .unwrap_or_else(|e| panic!("rabbitmqctl start_app failed: {e}"));
    })
    .await
    .expect("start_app task");
    println!(
        "{TEST}: start_app (and STOMP port open) took {:.1} s",
        restarted_at.elapsed().as_secs_f64()
    );
    for instance in [&a, &b] {
        instance.wait_available(BACK_WITHIN).await;
        let events = instance.broker_events();
        let last_down = events
            .iter()
            .rposition(|e| matches!(e, SessionEvent::BrokerUnavailable { .. }));
        let last_up = events
            .iter()
            .rposition(|e| matches!(e, SessionEvent::BrokerAvailable));
        assert!(
            matches!((last_down, last_up), (Some(down), Some(up)) if up > down),
            "instance {}: a BrokerAvailable event must follow the BrokerUnavailable one: {events:?}",
            instance.name
        );
        let stats = instance.stats.snapshot();
        assert!(
            stats.broker_reconnects >= 1,
            "instance {}: broker_reconnects is {} after RabbitMQ came back",
            instance.name,
            stats.broker_reconnects
        );
        println!(
            "{TEST}: instance {} available again after {:.1} s (broker_reconnects {}); broker events {events:?}",
            instance.name,
            restarted_at.elapsed().as_secs_f64(),
            stats.broker_reconnects
        );
    }

    for (name, session) in [("listener", &listener), ("reader", reader)] {
        assert!(
            !session.is_closed(),
            "the {name} on B, which only listened to a topic and its user queue, was closed by the outage"
        );
    }
    hears_again("topic", &mut kept, |text| {
        a.template
            .convert_and_send(&kept_topic, text)
            .unwrap_or_else(|e| panic!("A's template after the outage: {e}"));
    })
    .await;
    hears_again("user queue", &mut kept_inbox, |text| {
        a.template
            .convert_and_send_to_user(&listener_name, "/queue/kept", text)
            .unwrap_or_else(|e| panic!("A's template after the outage: {e}"));
    })
    .await;
    let after = assert_messages_cross(&a, &b, "after the outage").await;
    let reverse = assert_messages_cross(&b, &a, "after the outage, B to A").await;
    let _ = listener.disconnect().await;
    delete_queue(&queue).await;
    for session in after.into_iter().chain(reverse) {
        let _ = session.disconnect().await;
    }
    a.shutdown().await;
    b.shutdown().await;
}

//! The broker SPI, used from outside the crate as a third broker would: an in-process
//! backplane (a tokio broadcast channel) joins the simple brokers of two servers. Each
//! server keeps its own subscriptions and fan-out ([`LocalBroker::deliver`]); the backplane
//! only carries messages between them and hears which destinations each server listens to.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};

use common::{error_message, next_body, no_handlers, nothing_more, TestServer};
use stomp_server::broker::{
    BrokerError, LocalBroker, PublishedMessage, Upstream, UpstreamSubscription,
};
use stomp_server::client::{StompSession, Subscription};
use stomp_server::{Command, Frame, StompServerBuilder};
use tokio::sync::broadcast;

/// A message on the bus, with the server it comes from.
type Envelope = (&'static str, Arc<PublishedMessage>);

/// What one server's backplane saw: its upstream calls, and what it delivered locally.
#[derive(Default)]
struct Seen {
    /// `+destination` for `subscribe`, `-destination` for `unsubscribe`.
    interest: Vec<String>,
    /// `(destination, body, local subscribers reached)` of each message from the other server.
    delivered: Vec<(String, String, usize)>,
}

/// The upstream of one server: publishes on the bus under its name.
struct Backplane {
    name: &'static str,
    bus: broadcast::Sender<Envelope>,
    seen: Arc<Mutex<Seen>>,
}

impl Upstream for Backplane {
    fn publish(&self, message: &Arc<PublishedMessage>) -> Result<(), BrokerError> {
        let _ = self.bus.send((self.name, Arc::clone(message)));
        Ok(())
    }

    fn subscribe(&self, subscription: UpstreamSubscription) {
        self.seen
            .lock()
            .unwrap()
            .interest
            .push(format!("+{}", subscription.destination()));
        subscription.live();
    }

    fn unsubscribe(&self, destination: &str) {
        self.seen
            .lock()
            .unwrap()
            .interest
            .push(format!("-{destination}"));
    }
}

/// Delivers what other servers publish on the bus to `local`, until the bus closes.
async fn receive(
    name: &'static str,
    mut bus: broadcast::Receiver<Envelope>,
    local: LocalBroker,
    seen: Arc<Mutex<Seen>>,
) {
    loop {
        let (from, message) = match bus.recv().await {
            Ok(envelope) => envelope,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if from == name {
            continue;
        }
        let reached = match local.deliver((*message).clone()) {
            Ok(reached) => reached,
            // The server stopped: nothing to deliver to any more.
            Err(BrokerError::Unavailable(_)) => return,
            Err(other) => panic!("a broker destination: {other}"),
        };
        let body = String::from_utf8_lossy(message.body()).into_owned();
        let entry = (message.destination().to_owned(), body, reached);
        seen.lock().unwrap().delivered.push(entry);
    }
}

/// A server named `name` on `bus`.
fn joined(
    name: &'static str,
    bus: &broadcast::Sender<Envelope>,
    seen: &Arc<Mutex<Seen>>,
) -> StompServerBuilder {
    let (bus, seen) = (bus.clone(), Arc::clone(seen));
    no_handlers().broker_upstream(move |local: LocalBroker| {
        tokio::spawn(receive(name, bus.subscribe(), local, Arc::clone(&seen)));
        Arc::new(Backplane { name, bus, seen })
    })
}

async fn subscribe(session: &StompSession, id: &str, destination: &str) -> Subscription {
    let frame = Frame::new(Command::Subscribe)
        .header("id", id)
        .header("destination", destination);
    session
        .subscribe_with(frame, true)
        .await
        .expect("subscribed")
}

async fn unsubscribe(session: &StompSession, id: &str) {
    let frame = Frame::new(Command::Unsubscribe).header("id", id);
    session
        .send_with_receipt(frame)
        .await
        .expect("unsubscribed");
}

async fn send(session: &StompSession, destination: &str, body: &str) {
    let frame = Frame::new(Command::Send)
        .header("destination", destination)
        .with_body(body.to_owned());
    session.send_with_receipt(frame).await.expect("sent");
}

#[tokio::test]
async fn a_backplane_joins_two_servers_through_their_local_fan_out() {
    let (bus, _) = broadcast::channel(64);
    let (seen_a, seen_b) = (Arc::default(), Arc::default());
    let a = TestServer::start(joined("a", &bus, &seen_a)).await;
    let b = TestServer::start(joined("b", &bus, &seen_b)).await;
    let (on_a, other_on_a, on_b) = (
        a.connect_anonymous().await,
        a.connect_anonymous().await,
        b.connect_anonymous().await,
    );
    let mut x = subscribe(&on_a, "x", "/topic/spi.x").await;
    let mut other_x = subscribe(&other_on_a, "x", "/topic/spi.x").await;
    let mut marker = subscribe(&on_a, "marker", "/topic/spi.marker").await;

    // B's SEND reaches both subscribers on A, once each: the bus keeps order, so a second
    // copy would come before the marker.
    send(&on_b, "/topic/spi.x", "hello").await;
    send(&on_b, "/topic/spi.marker", "m1").await;
    assert_eq!(next_body(&mut x).await.1, "hello");
    assert_eq!(next_body(&mut other_x).await.1, "hello");
    assert_eq!(next_body(&mut marker).await.1, "m1");
    send(&on_b, "/topic/spi.x", "second").await;
    assert_eq!(next_body(&mut x).await.1, "second");

    // Unsubscribing on A stops it: after the last subscription to /topic/spi.x on A ends,
    // A's local fan-out reaches nobody for it.
    unsubscribe(&on_a, "x").await;
    unsubscribe(&other_on_a, "x").await;
    send(&on_b, "/topic/spi.x", "after").await;
    send(&on_b, "/topic/spi.marker", "m2").await;
    assert_eq!(next_body(&mut marker).await.1, "m2");
    let seen = seen_a.lock().unwrap();
    let after = seen.delivered.iter().find(|(_, body, _)| body == "after");
    assert_eq!(after.map(|(_, _, reached)| *reached), Some(0));
    let hello = seen.delivered.iter().find(|(_, body, _)| body == "hello");
    assert_eq!(hello.map(|(_, _, reached)| *reached), Some(2));

    // The upstream heard each destination once per instance, not once per subscription.
    assert_eq!(
        seen.interest,
        ["+/topic/spi.x", "+/topic/spi.marker", "-/topic/spi.x"]
    );
    // B had no subscriber; A published nothing, so B delivered nothing.
    assert!(seen_b.lock().unwrap().interest.is_empty());
    assert!(seen_b.lock().unwrap().delivered.is_empty());
}

/// An upstream that, when this instance first subscribes to `/topic/spi.retained`, waits
/// until the test lets it go on and then replays a retained message through its
/// [`LocalBroker`], as a backplane with retained messages would.
struct Replaying {
    local: LocalBroker,
    entered: tokio::sync::mpsc::UnboundedSender<()>,
    proceed: Mutex<std::sync::mpsc::Receiver<()>>,
}

impl Upstream for Replaying {
    fn publish(&self, _message: &Arc<PublishedMessage>) -> Result<(), BrokerError> {
        Ok(())
    }

    fn subscribe(&self, subscription: UpstreamSubscription) {
        let destination = subscription.destination().to_owned();
        if destination != "/topic/spi.retained" {
            return subscription.live();
        }
        let _ = self.entered.send(());
        let go = self.proceed.lock().unwrap().recv_timeout(WAIT_FOR_TEST);
        go.expect("the test lets the upstream go on");
        let retained = PublishedMessage::new(
            destination,
            Vec::new(),
            stomp_server::Bytes::from_static(b"retained"),
        );
        self.local.deliver(retained).expect("a broker destination");
        subscription.live();
    }
}

/// How long the upstream waits for the test (a safety net, never reached when it works).
const WAIT_FOR_TEST: std::time::Duration = std::time::Duration::from_secs(20);

/// An upstream call that delivers through its `LocalBroker` while another session's
/// subscription changes the registry must not deadlock the broker: the other change used
/// to wait for the upstream's turn while still holding the registry's write lock, which
/// the delivery needs.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upstream_that_delivers_from_its_callback_does_not_block_other_subscriptions() {
    let (entered_tx, mut entered) = tokio::sync::mpsc::unbounded_channel();
    let (proceed, proceed_rx) = std::sync::mpsc::channel();
    let proceed_rx = Mutex::new(Some(proceed_rx));
    let server = TestServer::start(no_handlers().broker_upstream(move |local: LocalBroker| {
        let proceed = proceed_rx.lock().unwrap().take().expect("built once");
        Arc::new(Replaying {
            local,
            entered: entered_tx,
            proceed: Mutex::new(proceed),
        })
    }))
    .await;
    let (first, second) = (
        server.connect_anonymous().await,
        server.connect_anonymous().await,
    );
    let first_frame = Frame::new(Command::Subscribe)
        .header("id", "r")
        .header("destination", "/topic/spi.retained");
    let mut retained = first.subscribe_with(first_frame, false).await.unwrap();
    entered.recv().await.expect("the upstream is told");
    // While the upstream is busy with the first destination, another session subscribes
    // to a second one: its registry change has to be told to the upstream too. Its
    // receipt waits for the upstream, so it is taken in a task of its own; the template
    // sees the subscription in the registry before the upstream is let go.
    let other = tokio::spawn(async move { subscribe(&second, "o", "/topic/spi.other").await });
    let template = server.template.clone();
    let registered = tokio::time::timeout(WAIT_FOR_TEST, async move {
        while !matches!(
            template.convert_and_send("/topic/spi.other", "probe"),
            Ok(1)
        ) {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    });
    registered
        .await
        .expect("the second subscription is registered");
    proceed.send(()).expect("the upstream waits");
    assert_eq!(next_body(&mut retained).await.1, "retained");
    let mut other = other.await.expect("the second subscription is confirmed");
    send(&first, "/topic/spi.other", "after").await;
    loop {
        match next_body(&mut other).await.1.as_str() {
            "probe" => continue,
            body => break assert_eq!(body, "after"),
        }
    }
}

/// An upstream that keeps what it is asked to listen to until the test says, and refuses
/// to publish to `/topic/spi.refused`.
#[derive(Default)]
struct Deferring {
    asked: Mutex<Vec<UpstreamSubscription>>,
}

impl Upstream for Deferring {
    fn publish(&self, message: &Arc<PublishedMessage>) -> Result<(), BrokerError> {
        if message.destination() == "/topic/spi.refused" {
            return Err(BrokerError::Unavailable("the backplane is full".to_owned()));
        }
        Ok(())
    }

    fn subscribe(&self, subscription: UpstreamSubscription) {
        self.asked.lock().unwrap().push(subscription);
    }
}

impl Deferring {
    /// The subscription the upstream holds for `destination`, once it has it.
    async fn take(&self, destination: &str) -> UpstreamSubscription {
        for _ in 0..500 {
            let found = {
                let mut asked = self.asked.lock().unwrap();
                let at = asked.iter().position(|s| s.destination() == destination);
                at.map(|at| asked.remove(at))
            };
            if let Some(found) = found {
                return found;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the upstream was never asked to listen to {destination}");
    }

    fn asked(&self) -> Vec<String> {
        let asked = self.asked.lock().unwrap();
        asked.iter().map(|s| s.destination().to_owned()).collect()
    }
}

fn deferring() -> (Arc<Deferring>, StompServerBuilder) {
    let upstream = Arc::new(Deferring::default());
    let given = Arc::clone(&upstream);
    let builder =
        no_handlers().broker_upstream(move |_local: LocalBroker| given as Arc<dyn Upstream>);
    (upstream, builder)
}

/// A subscription's `RECEIPT` means live across the backplane: it waits until the upstream
/// listens to the destination, and so does a second session's subscription to it, while the
/// upstream is asked once. A destination the upstream cannot listen to is refused.
#[tokio::test]
async fn a_receipt_waits_until_the_upstream_listens() {
    let (upstream, builder) = deferring();
    let server = TestServer::start(builder).await;
    let (one, two) = (
        server.connect_anonymous().await,
        server.connect_anonymous().await,
    );
    let first = tokio::spawn(async move { (subscribe(&one, "l", "/topic/spi.live").await, one) });
    let pending = upstream.take("/topic/spi.live").await;
    let second = tokio::spawn(async move { (subscribe(&two, "l", "/topic/spi.live").await, two) });
    // The second subscription is in the registry (the template reaches it) and waits too.
    let template = server.template.clone();
    tokio::time::timeout(common::WAIT, async {
        while !matches!(template.convert_and_send("/topic/spi.live", "early"), Ok(2)) {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("both subscriptions registered");
    assert!(
        !first.is_finished() && !second.is_finished(),
        "a receipt before the upstream listens"
    );
    assert!(
        upstream.asked().is_empty(),
        "the upstream was asked twice: {:?}",
        upstream.asked()
    );
    pending.live();
    let (_first, one) = first.await.expect("the first receipt once live");
    let (_second, _two) = second.await.expect("the second receipt once live");

    // Refused: the subscriber gets an ERROR naming the upstream's reason.
    let refused = Frame::new(Command::Subscribe)
        .header("id", "r")
        .header("destination", "/topic/spi.nowhere")
        .header("receipt", "r-1");
    one.send_frame(refused).await.expect("sent");
    let pending = upstream.take("/topic/spi.nowhere").await;
    pending.failed(BrokerError::Unavailable(
        "no route to spi.nowhere".to_owned(),
    ));
    let error = error_message(&one).await;
    let message = error.get("message").unwrap_or_default().to_owned();
    assert!(message.contains("no route to spi.nowhere"), "{message}");
}

/// A message the upstream refuses reaches nobody, on this instance either; its sender gets
/// an `ERROR`.
#[tokio::test]
async fn a_message_the_upstream_refuses_reaches_nobody() {
    let (upstream, builder) = deferring();
    let server = TestServer::start(builder).await;
    let (sender, reader) = (
        server.connect_anonymous().await,
        server.connect_anonymous().await,
    );
    let reading = {
        let frame = Frame::new(Command::Subscribe)
            .header("id", "r")
            .header("destination", "/topic/spi.refused");
        reader
            .subscribe_with(frame, false)
            .await
            .expect("subscribed")
    };
    let mut reading = reading;
    upstream.take("/topic/spi.refused").await.live();
    let frame = Frame::new(Command::Send)
        .header("destination", "/topic/spi.refused")
        .with_body("never".to_owned());
    sender.send_frame(frame).await.expect("sent");
    let error = error_message(&sender).await;
    let message = error.get("message").unwrap_or_default().to_owned();
    assert!(message.contains("the backplane is full"), "{message}");
    nothing_more(&mut reading, "a refused message").await;
    assert!(server
        .template
        .convert_and_send("/topic/spi.refused", "x")
        .is_err());
}

/// A backplane that routes as RabbitMQ's topic exchange does: each instance listens once
/// per destination and per pattern, and gets a message once for each of them it matches.
struct Routed {
    name: &'static str,
    bus: broadcast::Sender<Envelope>,
    listening: Arc<Mutex<Vec<String>>>,
}

impl Upstream for Routed {
    fn publish(&self, message: &Arc<PublishedMessage>) -> Result<(), BrokerError> {
        let _ = self.bus.send((self.name, Arc::clone(message)));
        Ok(())
    }

    fn subscribe(&self, subscription: UpstreamSubscription) {
        let destination = subscription.destination().to_owned();
        self.listening.lock().unwrap().push(destination);
        subscription.live();
    }

    fn unsubscribe(&self, destination: &str) {
        self.listening.lock().unwrap().retain(|d| d != destination);
    }
}

/// `destination` matches `listened`: the same, or `listened` ends in `/*` and
/// `destination` has one more segment.
fn routes_to(listened: &str, destination: &str) -> bool {
    match listened.strip_suffix('*') {
        Some(prefix) => destination
            .strip_prefix(prefix)
            .is_some_and(|rest| !rest.is_empty() && !rest.contains('/')),
        None => listened == destination,
    }
}

/// A server named `name` on a [`Routed`] bus.
fn routed(name: &'static str, bus: &broadcast::Sender<Envelope>) -> StompServerBuilder {
    let bus = bus.clone();
    no_handlers().broker_upstream(move |local: LocalBroker| {
        let listening = Arc::new(Mutex::new(Vec::<String>::new()));
        let (mut inbox, routes) = (bus.subscribe(), Arc::clone(&listening));
        tokio::spawn(async move {
            while let Ok((from, message)) = inbox.recv().await {
                let matching: Vec<String> = routes.lock().unwrap().clone();
                for listened in matching
                    .iter()
                    .filter(|l| routes_to(l, message.destination()))
                {
                    if from != name {
                        let _ = local.deliver_to(listened, (*message).clone());
                    }
                }
            }
        });
        Arc::new(Routed {
            name,
            bus,
            listening,
        })
    })
}

/// An upstream that listens once per destination and per pattern receives a message once
/// for each of them that matches; [`LocalBroker::deliver_to`] hands each copy only to the
/// subscriptions made to what it listened to, so every subscription gets the message once.
#[tokio::test]
async fn a_message_matching_a_destination_and_a_pattern_reaches_each_subscription_once() {
    let (bus, _) = broadcast::channel(64);
    let a = TestServer::start(routed("a", &bus)).await;
    let b = TestServer::start(routed("b", &bus)).await;
    let (sender, both, pattern_only) = (
        a.connect_anonymous().await,
        b.connect_anonymous().await,
        b.connect_anonymous().await,
    );
    let mut exact = subscribe(&both, "exact", "/topic/spi/m/x").await;
    let mut pattern = subscribe(&both, "pattern", "/topic/spi/m/*").await;
    let mut other = subscribe(&pattern_only, "pattern", "/topic/spi/m/*").await;
    send(&sender, "/topic/spi/m/x", "x").await;
    // Matches the pattern only: it follows "x" on the pattern subscriptions, where a second
    // copy of "x" would come before it.
    send(&sender, "/topic/spi/m/y", "y").await;
    assert_eq!(next_body(&mut exact).await.1, "x");
    for subscription in [&mut pattern, &mut other] {
        assert_eq!(next_body(subscription).await.1, "x");
        assert_eq!(next_body(subscription).await.1, "y");
    }
    nothing_more(&mut exact, "a second copy on the exact subscription").await;
}

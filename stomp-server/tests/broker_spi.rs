//! The broker SPI, used from outside the crate as a third broker would: an in-process
//! backplane (a tokio broadcast channel) joins the simple brokers of two servers. Each
//! server keeps its own subscriptions and fan-out ([`LocalBroker::deliver`]); the backplane
//! only carries messages between them and hears which destinations each server listens to.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};

use common::{next_body, no_handlers, TestServer};
use stomp_server::broker::{BrokerError, LocalBroker, PublishedMessage, Upstream};
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
    fn publish(&self, message: &Arc<PublishedMessage>) {
        let _ = self.bus.send((self.name, Arc::clone(message)));
    }

    fn subscribe(&self, destination: &str) {
        self.seen
            .lock()
            .unwrap()
            .interest
            .push(format!("+{destination}"));
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
    fn publish(&self, _message: &Arc<PublishedMessage>) {}

    fn subscribe(&self, destination: &str) {
        if destination != "/topic/spi.retained" {
            return;
        }
        let _ = self.entered.send(());
        let go = self.proceed.lock().unwrap().recv_timeout(WAIT_FOR_TEST);
        go.expect("the test lets the upstream go on");
        let retained = PublishedMessage::new(
            destination.to_owned(),
            Vec::new(),
            stomp_server::Bytes::from_static(b"retained"),
        );
        self.local.deliver(retained).expect("a broker destination");
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
    // to a second one: its registry change has to be told to the upstream too.
    let mut other = subscribe(&second, "o", "/topic/spi.other").await;
    proceed.send(()).expect("the upstream waits");
    assert_eq!(next_body(&mut retained).await.1, "retained");
    send(&first, "/topic/spi.other", "after").await;
    assert_eq!(next_body(&mut other).await.1, "after");
}

//! The shared subscriber connection: one RabbitMQ subscription per destination (or pattern)
//! this instance's sessions listen to, its `MESSAGE` frames handed to the local fan-out.
//!
//! - A new destination is subscribed with a receipt; its [`UpstreamSubscription`] is live
//!   once RabbitMQ's `RECEIPT` arrives (the subscribing clients' receipts wait for that).
//! - A message this instance published comes back too (RabbitMQ has no "no local"): it
//!   carries this instance's [origin](super::upstream::ORIGIN) and is dropped, since the
//!   local fan-out already had it.
//! - The connection reconnects with back-off, as the system connection does, and subscribes
//!   every destination still listened to again. What is published while it is down does not
//!   reach this instance (topics keep nothing); the system connection refuses messages
//!   meanwhile when RabbitMQ itself is down.
//! - The local fan-out never waits (slow sessions are cut by their own bounds), so the
//!   connection is read as fast as RabbitMQ writes.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use stomp_core::{names, Command, Frame};
use tokio::sync::mpsc;

use super::batch::{unbatch, BATCH};
use super::connection::{connect, Backlog, BrokerConnection, BrokerSender};
use super::destination::{from_broker, to_broker};
use super::inbound::ReadAhead;
use super::system::Shared;
use super::upstream::ORIGIN;
use crate::broker::{BrokerError, LocalBroker, PublishedMessage, UpstreamSubscription};

/// What the relay's upstream asks of the listener.
pub(super) enum Listen {
    /// This instance's first subscription to a destination.
    Start(UpstreamSubscription),
    /// Its last one ended.
    Stop(String),
}

/// Headers RabbitMQ puts on a `MESSAGE` that the local fan-out sets itself (or that only
/// mean something on this connection).
const BROKER_ONLY: [&str; 8] = [
    names::DESTINATION,
    names::SUBSCRIPTION,
    names::MESSAGE_ID,
    names::CONTENT_LENGTH,
    names::ACK,
    "redelivered",
    ORIGIN,
    BATCH,
];

/// What the listener task is given.
pub(super) struct Listener {
    pub(super) shared: Weak<Shared>,
    pub(super) local: LocalBroker,
    pub(super) origin: Arc<str>,
}

/// The destinations listened to and the subscriptions on the current connection.
#[derive(Default)]
struct Listening {
    /// Every destination listened to (local form), with its broker subscription id on the
    /// current connection (`None` while disconnected).
    destinations: HashMap<String, Option<String>>,
    /// Broker subscription id → destination.
    by_id: HashMap<String, String>,
    /// Receipt id → the destination it subscribed, and the subscription waiting for it
    /// (none when it was subscribed again after a reconnect).
    receipts: HashMap<String, (String, Option<UpstreamSubscription>)>,
    next: u64,
}

impl Listening {
    /// Subscribes `destination` on `sender`, with a receipt.
    fn subscribe(
        &mut self,
        sender: &BrokerSender,
        destination: &str,
        waiting: Option<UpstreamSubscription>,
    ) {
        self.next += 1;
        let id = format!("l{}", self.next);
        let receipt = format!("listen-{}", self.next);
        let frame = Frame::new(Command::Subscribe)
            .header(names::ID, &id)
            .header(names::DESTINATION, &to_broker(destination))
            .header(names::ACK, "auto")
            .header(names::RECEIPT, &receipt);
        self.destinations
            .insert(destination.to_owned(), Some(id.clone()));
        self.by_id.insert(id, destination.to_owned());
        self.receipts
            .insert(receipt, (destination.to_owned(), waiting));
        let _ = sender.forward(frame, 0);
    }

    /// Stops listening to `destination`.
    fn unsubscribe(&mut self, sender: Option<&BrokerSender>, destination: &str) {
        let Some(id) = self.destinations.remove(destination).flatten() else {
            return;
        };
        self.by_id.remove(&id);
        if let Some(sender) = sender {
            let _ = sender.forward(Frame::new(Command::Unsubscribe).header(names::ID, &id), 0);
        }
    }

    /// The connection is gone: its subscription ids mean nothing any more, and what waited
    /// for a receipt is told so.
    fn disconnected(&mut self, reason: &str) {
        self.by_id.clear();
        for id in self.destinations.values_mut() {
            *id = None;
        }
        for (_, (_, waiting)) in self.receipts.drain() {
            if let Some(waiting) = waiting {
                waiting.failed(unavailable(reason));
            }
        }
    }
}

fn unavailable(reason: &str) -> BrokerError {
    BrokerError::Unavailable(reason.to_owned())
}

/// Runs the shared listener until the relay is gone.
pub(super) async fn run_listener(
    listener: Listener,
    mut requests: mpsc::UnboundedReceiver<Listen>,
) {
    let mut listening = Listening::default();
    let mut delay = Duration::from_millis(100);
    loop {
        let Some(shared) = listener.shared.upgrade() else {
            return;
        };
        let options = shared.options(true);
        let max_delay = shared.config.max_reconnect_delay;
        drop(shared);
        let attempt = tokio::select! {
            attempt = connect(&options, Backlog::default(), ReadAhead::default()) => attempt,
            () = refuse_while_connecting(&mut requests, &mut listening) => return,
        };
        match attempt {
            Ok(connection) => {
                delay = Duration::from_millis(100);
                let reason = serve(&listener, connection, &mut requests, &mut listening).await;
                let Some(reason) = reason else { return };
                tracing::warn!(reason = %crate::log::Escaped(&reason), "the relay's shared subscriptions lost their broker connection; reconnecting");
                listening.disconnected(&reason);
            }
            Err(error) => {
                tracing::debug!(%error, "the relay's shared subscriptions cannot connect yet");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = refuse_while_connecting(&mut requests, &mut listening) => return,
        }
        delay = (delay * 2).min(max_delay);
    }
}

/// While there is no connection: new destinations are recorded (and subscribed once it is
/// back) but refused now, and ended ones forgotten. Returns when the relay is gone.
async fn refuse_while_connecting(
    requests: &mut mpsc::UnboundedReceiver<Listen>,
    listening: &mut Listening,
) {
    while let Some(request) = requests.recv().await {
        match request {
            Listen::Start(subscription) => {
                listening
                    .destinations
                    .insert(subscription.destination().to_owned(), None);
                subscription.failed(unavailable(
                    "broker unavailable: the relay's subscriber connection is down",
                ));
            }
            Listen::Stop(destination) => listening.unsubscribe(None, &destination),
        }
    }
}

/// Serves one connection: subscribes what is listened to, then takes requests and frames.
/// `None` when the relay is gone; otherwise why the connection ended.
async fn serve(
    listener: &Listener,
    mut connection: BrokerConnection,
    requests: &mut mpsc::UnboundedReceiver<Listen>,
    listening: &mut Listening,
) -> Option<String> {
    let sender = connection.sender.clone();
    let again: Vec<String> = listening.destinations.keys().cloned().collect();
    for destination in again {
        listening.subscribe(&sender, &destination, None);
    }
    loop {
        tokio::select! {
            request = requests.recv() => match request? {
                Listen::Start(subscription) => {
                    let destination = subscription.destination().to_owned();
                    listening.subscribe(&sender, &destination, Some(subscription));
                }
                Listen::Stop(destination) => listening.unsubscribe(Some(&sender), &destination),
            },
            frame = connection.frames.recv() => match frame {
                Some(Ok(frame)) => {
                    if let Err(reason) = on_frame(listener, listening, frame) {
                        return Some(reason);
                    }
                }
                Some(Err(error)) => return Some(error.to_string()),
                None => return Some("connection closed".to_owned()),
            },
        }
    }
}

/// Handles one frame from the broker; an error ends the connection.
fn on_frame(listener: &Listener, listening: &mut Listening, frame: Frame) -> Result<(), String> {
    match frame.command {
        Command::Message => {
            deliver(listener, listening, frame);
            Ok(())
        }
        Command::Receipt => {
            let receipt = frame.get(names::RECEIPT_ID).unwrap_or("");
            if let Some((_, Some(waiting))) = listening.receipts.remove(receipt) {
                waiting.live();
            }
            Ok(())
        }
        Command::Error => {
            let message = frame
                .get(names::MESSAGE)
                .unwrap_or("(no message)")
                .to_owned();
            // A subscription RabbitMQ refused is not subscribed again on reconnecting: it
            // would end the next connection too.
            if let Some((destination, waiting)) = frame
                .get(names::RECEIPT_ID)
                .and_then(|r| listening.receipts.remove(r))
            {
                tracing::warn!(destination = %crate::log::Escaped(&destination), broker_message = %crate::log::Escaped(&message), "RabbitMQ refused a shared subscription");
                listening.unsubscribe(None, &destination);
                if let Some(waiting) = waiting {
                    waiting.failed(unavailable(&format!("broker error: {message}")));
                }
            }
            Err(format!("broker error: {message}"))
        }
        _ => Ok(()),
    }
}

/// Hands a `MESSAGE` (or each message of a batch) to the local subscriptions of the
/// destination it came for, unless this instance published it.
fn deliver(listener: &Listener, listening: &Listening, frame: Frame) {
    if frame.get(ORIGIN) == Some(&*listener.origin) {
        return;
    }
    let Some(subscribed) = frame
        .get(names::SUBSCRIPTION)
        .and_then(|id| listening.by_id.get(id))
    else {
        return;
    };
    // An exact subscription reports the name its clients used; a pattern's message the
    // destination it was published to, back in the clients' form.
    let destination = if subscribed.contains('*') {
        from_broker(frame.destination().unwrap_or(""))
    } else {
        subscribed.clone()
    };
    let batched = frame
        .get(BATCH)
        .is_some()
        .then(|| unbatch(&frame.body))
        .flatten();
    match batched {
        Some(messages) => {
            for message in messages {
                deliver_one(listener, subscribed, destination.clone(), message);
            }
        }
        None => deliver_one(listener, subscribed, destination, frame),
    }
}

/// Hands one message to the local subscriptions of `subscribed`.
fn deliver_one(listener: &Listener, subscribed: &str, destination: String, frame: Frame) {
    let headers = frame
        .headers
        .iter()
        .filter(|(name, _)| !BROKER_ONLY.contains(name))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    let message = PublishedMessage::new(destination, headers, frame.body);
    if let Err(error) = listener.local.deliver_to(subscribed, message) {
        tracing::debug!(%error, "a relayed message found no local broker");
    }
}

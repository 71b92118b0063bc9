//! The shared subscriber connection: one RabbitMQ subscription per destination (or pattern)
//! this instance's sessions listen to, its `MESSAGE` frames handed to the local fan-out.
//!
//! - A new destination is subscribed with a receipt; its [`UpstreamSubscription`] is live
//!   once RabbitMQ's `RECEIPT` arrives (the subscribing clients' receipts wait for that).
//! - A message this instance published comes back too (RabbitMQ has no "no local"): it
//!   carries this instance's [origin](super::wire::ORIGIN) and is dropped, since the
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

use super::batch::unbatch;
use super::connection::{connect, Backlog, BrokerConnection, BrokerSender};
use super::destination::{from_broker, to_broker};
use super::inbound::ReadAhead;
use super::system::Shared;
use super::users::UserRoutes;
use super::wire::{BATCH, ORIGIN};
use super::ROUTES;
use crate::broker::{BrokerError, LocalBroker, PublishedMessage, UpstreamSubscription};

/// What the relay asks of the listener.
pub(super) enum Listen {
    /// This instance's first subscription to a destination.
    Start(UpstreamSubscription),
    /// Its last one ended.
    Stop(String),
    /// The first session here listening on a user or session route (see `users`).
    Route(String),
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
    /// Who listens on each user and session route.
    pub(super) users: Arc<UserRoutes>,
}

/// True for a user or session route (not a topic a client named).
fn is_route(destination: &str) -> bool {
    destination.starts_with(ROUTES)
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
    fn disconnected(&mut self, users: &UserRoutes, reason: &str) {
        users.disconnected(reason);
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
            () = refuse_while_connecting(&mut requests, &mut listening, &listener.users) => return,
        };
        match attempt {
            Ok(connection) => {
                delay = Duration::from_millis(100);
                let reason = serve(&listener, connection, &mut requests, &mut listening).await;
                let Some(reason) = reason else { return };
                tracing::warn!(reason = %crate::log::Escaped(&reason), "the relay's shared subscriptions lost their broker connection; reconnecting");
                listening.disconnected(&listener.users, &reason);
            }
            Err(error) => {
                tracing::debug!(%error, "the relay's shared subscriptions cannot connect yet");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = refuse_while_connecting(&mut requests, &mut listening, &listener.users) => return,
        }
        delay = (delay * 2).min(max_delay);
    }
}

/// While there is no connection: new destinations are recorded (and subscribed once it is
/// back) but refused now, and ended ones forgotten. Returns when the relay is gone.
async fn refuse_while_connecting(
    requests: &mut mpsc::UnboundedReceiver<Listen>,
    listening: &mut Listening,
    users: &UserRoutes,
) {
    let down = "broker unavailable: the relay's subscriber connection is down";
    while let Some(request) = requests.recv().await {
        match request {
            Listen::Route(route) => {
                listening.destinations.insert(route.clone(), None);
                users.settle(&route, &Err(unavailable(down)));
            }
            Listen::Start(subscription) => {
                listening
                    .destinations
                    .insert(subscription.destination().to_owned(), None);
                subscription.failed(unavailable(down));
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
                Listen::Route(route) => listening.subscribe(&sender, &route, None),
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
            match listening.receipts.remove(receipt) {
                Some((_, Some(waiting))) => waiting.live(),
                Some((route, None)) if is_route(&route) => listener.users.settle(&route, &Ok(())),
                _ => {}
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
                let refused = unavailable(&format!("broker error: {message}"));
                if is_route(&destination) {
                    listener.users.settle(&destination, &Err(refused.clone()));
                }
                if let Some(waiting) = waiting {
                    waiting.failed(refused);
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
    if is_route(subscribed) {
        deliver_to_route(listener, subscribed, frame);
        return;
    }
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

/// The headers of a broker `MESSAGE` that the local fan-out passes on.
fn passed_on(frame: &Frame) -> Vec<(String, String)> {
    frame
        .headers
        .iter()
        .filter(|(name, _)| !BROKER_ONLY.contains(name))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

/// Hands a message on a user or session route to each local session listening on it.
fn deliver_to_route(listener: &Listener, route: &str, frame: Frame) {
    let headers = passed_on(&frame);
    for (session, local) in listener.users.listeners(route) {
        let message = PublishedMessage::new(local, headers.clone(), frame.body.clone());
        if let Err(error) = listener.local.deliver_for_session(&session, message) {
            tracing::debug!(%error, "a relayed user message found no local broker");
        }
    }
}

/// Hands one message to the local subscriptions of `subscribed`.
fn deliver_one(listener: &Listener, subscribed: &str, destination: String, frame: Frame) {
    let message = PublishedMessage::new(destination, passed_on(&frame), frame.body);
    if let Err(error) = listener.local.deliver_to(subscribed, message) {
        tracing::debug!(%error, "a relayed message found no local broker");
    }
}

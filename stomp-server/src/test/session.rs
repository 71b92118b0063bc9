//! [`TestSession`]: a connected in-memory session that sends, subscribes and asserts.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use stomp_core::{names, Command, Frame};

use super::message::{shown, TestError, TestMessage};
use crate::client::{CloseReason, StompSession, Subscription};

/// How many messages per destination a failure message lists.
const SHOWN_MESSAGES: usize = 3;

/// A session of a [`TestServer`](super::TestServer), connected through the real client.
///
/// Subscriptions are named by their destination: `subscribe("/topic/a")`, then
/// `expect_message("/topic/a")`. Every `expect_*` waits at most the harness's timeout and
/// panics with a message naming the destination and what the session received meanwhile;
/// sending panics when the connection is closed. Sending returns once the frame is queued:
/// what the server did with it shows in what arrives next (or use
/// [`send_with_receipt`](TestSession::send_with_receipt)).
pub struct TestSession {
    session: StompSession,
    /// How failure messages name the session.
    who: String,
    timeout: Duration,
    subscriptions: Vec<Subscribed>,
    /// `ERROR` frames taken while describing what arrived, still to be expected.
    errors: VecDeque<Frame>,
}

/// One subscription, by the destination it was made to.
struct Subscribed {
    destination: String,
    subscription: Subscription,
    /// Messages taken while describing what arrived, still to be expected.
    pending: VecDeque<Frame>,
}

impl TestSession {
    pub(super) fn new(session: StompSession, who: String, timeout: Duration) -> TestSession {
        TestSession {
            session,
            who,
            timeout,
            subscriptions: Vec::new(),
            errors: VecDeque::new(),
        }
    }

    /// The `user-name` header of `CONNECTED`: who the server says this session is.
    pub fn user_name(&self) -> Option<&str> {
        self.session.connected_frame().get(names::USER_NAME)
    }

    /// The session id the server gave (`session` header of `CONNECTED`).
    pub fn session_id(&self) -> Option<&str> {
        self.session.session_id()
    }

    /// The client session underneath, for anything the harness does not wrap (ACK, NACK,
    /// transactions).
    pub fn stomp_session(&self) -> &StompSession {
        &self.session
    }

    /// True once the connection has ended or is ending.
    pub fn is_closed(&self) -> bool {
        self.session.is_closed()
    }

    /// `SEND` of `body` (text or bytes) to `destination`.
    pub async fn send(&self, destination: &str, body: impl Into<Bytes>) {
        let sent = self.session.send(destination, body).await;
        sent.unwrap_or_else(|error| panic!("{}: SEND to `{destination}`: {error}", self.who));
    }

    /// `SEND` of `value` as JSON (`content-type:application/json`) to `destination`.
    pub async fn send_json<T: Serialize + ?Sized>(&self, destination: &str, value: &T) {
        let sent = self.session.send_json(destination, value).await;
        sent.unwrap_or_else(|error| panic!("{}: SEND to `{destination}`: {error}", self.who));
    }

    /// `SEND` to `destination` with headers of your own (`content-type`, an application's).
    pub async fn send_with_headers(
        &self,
        destination: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) {
        self.send_frame(send_frame(destination, headers, body))
            .await;
    }

    /// `SEND` to `destination` with a `receipt` header, and waits for the `RECEIPT`, which it
    /// returns: the server has taken the frame (its handler has run). Panics when an `ERROR`
    /// comes instead, or nothing in time.
    pub async fn send_with_receipt(&self, destination: &str, body: impl Into<Bytes>) -> Frame {
        let frame = send_frame(destination, &[], body);
        match self.session.send_with_receipt(frame).await {
            Ok(receipt) => receipt,
            Err(error) => panic!(
                "{}: SEND to `{destination}` with a receipt: {error}",
                self.who
            ),
        }
    }

    /// Sends any frame as it is.
    pub async fn send_frame(&self, frame: Frame) {
        let command = frame.command;
        if let Err(error) = self.session.send_frame(frame).await {
            panic!("{}: {command}: {error}", self.who);
        }
    }

    /// Subscribes to `destination` and waits for the server's `RECEIPT`, so that the
    /// subscription is live when this returns. Panics when the server refuses it (see
    /// [`try_subscribe`](TestSession::try_subscribe) to expect that).
    pub async fn subscribe(&mut self, destination: &str) {
        if let Err(error) = self.try_subscribe(destination).await {
            panic!("{}: SUBSCRIBE to `{destination}`: {error}", self.who);
        }
    }

    /// Subscribes to `destination` and waits for the `RECEIPT`, or says why not (the
    /// server's refusal is `ClientError::Error`; the `ERROR` is also kept for
    /// [`expect_error`](TestSession::expect_error)).
    pub async fn try_subscribe(
        &mut self,
        destination: &str,
    ) -> Result<(), crate::client::ClientError> {
        if self.position(destination).is_some() {
            return Err(crate::client::ClientError::InvalidFrame(format!(
                "this test session is already subscribed to `{destination}`"
            )));
        }
        let subscription = self.session.subscribe(destination).await?;
        self.subscriptions.push(Subscribed {
            destination: destination.to_owned(),
            subscription,
            pending: VecDeque::new(),
        });
        Ok(())
    }

    /// Unsubscribes from `destination` and waits for the server's `RECEIPT`.
    pub async fn unsubscribe(&mut self, destination: &str) {
        let index = self.subscribed(destination, "unsubscribe");
        let subscribed = self.subscriptions.remove(index);
        let frame =
            Frame::new(Command::Unsubscribe).header(names::ID, subscribed.subscription.id());
        drop(subscribed);
        if let Err(error) = self.session.send_with_receipt(frame).await {
            panic!("{}: UNSUBSCRIBE from `{destination}`: {error}", self.who);
        }
    }

    /// The next `MESSAGE` on `destination` (subscribed to before), within the harness's
    /// timeout. Panics when none comes in time, naming the destination and what the session
    /// received meanwhile, or when an `ERROR` or the end of the connection comes first.
    pub async fn expect_message(&mut self, destination: &str) -> TestMessage {
        self.expect_message_within(destination, self.timeout).await
    }

    /// [`expect_message`](TestSession::expect_message) with a timeout of its own.
    pub async fn expect_message_within(
        &mut self,
        destination: &str,
        timeout: Duration,
    ) -> TestMessage {
        let index = self.subscribed(destination, "expect_message");
        let subscribed = &mut self.subscriptions[index];
        if let Some(frame) = subscribed.pending.pop_front() {
            return TestMessage::new(destination.to_owned(), frame);
        }
        let who = &self.who;
        match tokio::time::timeout(timeout, subscribed.subscription.next()).await {
            Ok(Some(Ok(frame))) => TestMessage::new(destination.to_owned(), frame),
            Ok(Some(Err(error))) => {
                panic!("{who}: expected a MESSAGE on `{destination}`, got {error}")
            }
            Ok(None) => panic!(
                "{who}: expected a MESSAGE on `{destination}`, but the connection closed: {}",
                self.close_reason()
            ),
            Err(_) => {
                let arrived = self.what_arrived(Some(index));
                panic!(
                    "{}: no MESSAGE on `{destination}` within {timeout:?}; {arrived}",
                    self.who
                )
            }
        }
    }

    /// The next `MESSAGE` on `destination`, decoded from JSON (see [`TestMessage::json`]).
    pub async fn expect_json<T: DeserializeOwned>(&mut self, destination: &str) -> T {
        self.expect_message(destination).await.json()
    }

    /// Waits `window` and panics if a `MESSAGE` arrives on `destination` meanwhile (or an
    /// `ERROR`, or the connection ends). The only wait of the harness that always lasts its
    /// whole time: keep `window` short, it proves only that nothing came that fast.
    pub async fn expect_no_message(&mut self, destination: &str, window: Duration) {
        let index = self.subscribed(destination, "expect_no_message");
        let subscribed = &mut self.subscriptions[index];
        let who = &self.who;
        if let Some(frame) = subscribed.pending.front() {
            panic!(
                "{who}: expected no MESSAGE on `{destination}`, one had arrived: {}",
                shown(&frame.body)
            );
        }
        match tokio::time::timeout(window, subscribed.subscription.next()).await {
            Err(_) => {}
            Ok(Some(Ok(frame))) => panic!(
                "{who}: expected no MESSAGE on `{destination}` for {window:?}, got: {}",
                shown(&frame.body)
            ),
            Ok(Some(Err(error))) => {
                panic!("{who}: expected no MESSAGE on `{destination}` for {window:?}, got {error}")
            }
            Ok(None) => panic!(
                "{who}: expected no MESSAGE on `{destination}` for {window:?}, but the connection closed: {}",
                self.close_reason()
            ),
        }
    }

    /// The next `ERROR` frame the server sends this session, within the harness's timeout
    /// (its [`message`](TestError::message) says why). Panics when none comes.
    pub async fn expect_error(&mut self) -> TestError {
        if let Some(frame) = self.errors.pop_front() {
            return TestError::new(frame);
        }
        match tokio::time::timeout(self.timeout, self.session.next_error()).await {
            Ok(Some(frame)) => TestError::new(frame),
            Ok(None) => panic!(
                "{}: expected an ERROR, but the connection closed without one: {}",
                self.who,
                self.close_reason()
            ),
            Err(_) => {
                let arrived = self.what_arrived(None);
                panic!(
                    "{}: no ERROR within {:?}; {arrived}",
                    self.who, self.timeout
                )
            }
        }
    }

    /// Waits for the end of the connection (the server closes it after an `ERROR`, or when
    /// the application ends the session) and says why it ended; panics when it stays open.
    pub async fn expect_closed(&self) -> CloseReason {
        match tokio::time::timeout(self.timeout, self.session.closed()).await {
            Ok(reason) => reason,
            Err(_) => panic!(
                "{}: expected the connection to close, it is still open after {:?}",
                self.who, self.timeout
            ),
        }
    }

    /// `DISCONNECT`, waiting for its `RECEIPT`; panics when the connection had ended.
    pub async fn disconnect(self) {
        let who = self.who.clone();
        if let Err(error) = self.session.clone().disconnect().await {
            panic!("{who}: DISCONNECT: {error}");
        }
    }

    /// Where the subscription to `destination` is, if any.
    fn position(&self, destination: &str) -> Option<usize> {
        self.subscriptions
            .iter()
            .position(|s| s.destination == destination)
    }

    /// Where the subscription to `destination` is; panics when there is none.
    fn subscribed(&self, destination: &str, doing: &str) -> usize {
        self.position(destination).unwrap_or_else(|| {
            panic!(
                "{}: {doing}(`{destination}`): this session has no subscription to it ({}); subscribe first",
                self.who,
                self.destinations()
            )
        })
    }

    /// The subscribed destinations, for failure messages.
    fn destinations(&self) -> String {
        if self.subscriptions.is_empty() {
            return "it has none".to_owned();
        }
        let names: Vec<String> = self
            .subscriptions
            .iter()
            .map(|s| format!("`{}`", s.destination))
            .collect();
        format!("it has {}", names.join(", "))
    }

    /// Why the connection ended, when it has.
    fn close_reason(&self) -> String {
        match self.session.closed().now_or_never() {
            Some(reason) => reason.to_string(),
            None => "it is closing".to_owned(),
        }
    }

    /// What the session received that nobody expected yet (on every subscription but
    /// `except`, and `ERROR` frames), kept for later `expect_*`, described for a failure.
    fn what_arrived(&mut self, except: Option<usize>) -> String {
        while let Some(Some(frame)) = self.session.next_error().now_or_never() {
            self.errors.push_back(frame);
        }
        let mut seen = Vec::new();
        for (index, subscribed) in self.subscriptions.iter_mut().enumerate() {
            while let Some(delivery) = subscribed.subscription.try_next() {
                // An ERROR reaches every subscription too: it is listed once, below.
                if let Ok(frame) = delivery {
                    subscribed.pending.push_back(frame);
                }
            }
            if Some(index) != except && !subscribed.pending.is_empty() {
                seen.push(described(subscribed));
            }
        }
        for error in &self.errors {
            let message = error.get(names::MESSAGE).unwrap_or_default();
            seen.push(format!("ERROR `{message}`"));
        }
        if self.session.is_closed() {
            seen.push(format!("the connection closed ({})", self.close_reason()));
        }
        if seen.is_empty() {
            format!(
                "meanwhile nothing else arrived ({}; no ERROR)",
                self.destinations()
            )
        } else {
            format!("meanwhile this session received: {}", seen.join("; "))
        }
    }
}

/// The messages waiting on one subscription, as a failure message lists them.
fn described(subscribed: &Subscribed) -> String {
    let bodies: Vec<String> = subscribed
        .pending
        .iter()
        .take(SHOWN_MESSAGES)
        .map(|frame| shown(&frame.body))
        .collect();
    let more = subscribed.pending.len().saturating_sub(SHOWN_MESSAGES);
    let more = if more > 0 {
        format!(" and {more} more")
    } else {
        String::new()
    };
    format!(
        "{} MESSAGE(s) on `{}`: {}{more}",
        subscribed.pending.len(),
        subscribed.destination,
        bodies.join(" | ")
    )
}

/// A `SEND` frame to `destination` with `headers` and `body`.
fn send_frame(destination: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Frame {
    let mut frame = Frame::new(Command::Send).header(names::DESTINATION, destination);
    for (name, value) in headers {
        frame.headers.append(name, value);
    }
    frame.with_body(body)
}

impl std::fmt::Debug for TestSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestSession")
            .field("who", &self.who)
            .field("user_name", &self.user_name())
            .field("subscriptions", &self.destinations())
            .finish_non_exhaustive()
    }
}

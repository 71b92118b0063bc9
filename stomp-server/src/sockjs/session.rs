//! One SockJS session: the messages waiting for a receiving request, the channel of client
//! messages, and the adapter that `run_session_from` drives as its transport.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Deref;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use futures_util::{Sink, Stream};
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};

use crate::accept::PendingPlace;

/// How many client messages wait for the session task before senders wait.
const INBOUND_CAPACITY: usize = 64;

/// The state shared by the session task (through [`Transport`]) and the HTTP requests.
pub(crate) struct SockSession {
    state: Mutex<State>,
    /// Wakes receiving requests when messages are queued or the session closes.
    changed: Notify,
}

struct State {
    outbox: VecDeque<String>,
    /// Bytes of `outbox` and `returned`.
    outbox_bytes: usize,
    /// Messages handed out and given back unwritten, by hand-out: they go out again before
    /// the outbox.
    returned: BTreeMap<u64, Vec<String>>,
    /// Hand-outs neither written nor given back yet.
    in_hand: usize,
    /// The number of the next hand-out.
    next_hand_out: u64,
    opened: bool,
    closed: bool,
    receiving: bool,
    last_receive: Instant,
    writer: Option<Waker>,
    inbound: Option<mpsc::Sender<WsMessage>>,
}

/// What a receiving request takes from the session.
pub(crate) struct Taken {
    /// The queued messages (STOMP frames).
    pub(crate) messages: Delivery,
    /// True once the server ended the session.
    pub(crate) closed: bool,
}

impl SockSession {
    /// A new session and the transport its session task runs on.
    pub(crate) fn new(limit: usize) -> (Arc<Self>, Transport) {
        let (tx, rx) = mpsc::channel(INBOUND_CAPACITY);
        let session = Arc::new(SockSession {
            state: Mutex::new(State {
                outbox: VecDeque::new(),
                outbox_bytes: 0,
                returned: BTreeMap::new(),
                in_hand: 0,
                next_hand_out: 0,
                opened: false,
                closed: false,
                receiving: false,
                last_receive: Instant::now(),
                writer: None,
                inbound: Some(tx),
            }),
            changed: Notify::new(),
        });
        let transport = Transport {
            session: Arc::clone(&session),
            inbound: rx,
            limit: limit.max(1),
        };
        (session, transport)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// True the first time it is called: the caller sends the open frame.
    pub(crate) fn open(&self) -> bool {
        !std::mem::replace(&mut self.lock().opened, true)
    }

    /// Takes everything queued (what was given back first) and wakes a waiting session
    /// writer. The session's writer counts the messages as written only once the
    /// [`Delivery`] is [`written`](Delivery::written).
    pub(crate) fn take(self: &Arc<Self>) -> Taken {
        let mut state = self.lock();
        let mut messages: Vec<String> = std::mem::take(&mut state.returned)
            .into_values()
            .flatten()
            .collect();
        messages.extend(state.outbox.drain(..));
        state.outbox_bytes = 0;
        let session = (!messages.is_empty()).then(|| {
            state.in_hand += 1;
            Arc::clone(self)
        });
        let number = state.next_hand_out;
        state.next_hand_out += 1;
        if let Some(waker) = state.writer.take() {
            waker.wake();
        }
        Taken {
            messages: Delivery {
                session,
                number,
                messages,
            },
            closed: state.closed,
        }
    }

    /// Hand-out `number` was written: a writer waiting for it may count it.
    fn written(&self) {
        let mut state = self.lock();
        state.in_hand = state.in_hand.saturating_sub(1);
        if let Some(waker) = state.writer.take() {
            waker.wake();
        }
    }

    /// Puts `messages` of hand-out `number` (taken, then not written) back ahead of the
    /// outbox, in order, for the next receiving request. They count against the outbox's
    /// limit again, so a client that never reads still meets the session's send-buffer and
    /// send-time limits.
    fn give_back(&self, number: u64, messages: Vec<String>) {
        let mut state = self.lock();
        state.in_hand = state.in_hand.saturating_sub(1);
        state.outbox_bytes += messages.iter().map(String::len).sum::<usize>();
        state.returned.insert(number, messages);
        drop(state);
        self.changed.notify_waiters();
    }

    /// Waits until frames are queued or the session is closed, then takes them (see
    /// [`SockSession::take`]). Cancel-safe: nothing is taken unless it returns, so it can
    /// race a heart-beat timer or the client's own input in a `select!`.
    pub(crate) async fn next_batch(self: &Arc<Self>) -> Taken {
        loop {
            // Registered before looking, so a frame queued in between still wakes it.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let taken = self.take();
            if !taken.messages.is_empty() || taken.closed {
                return taken;
            }
            changed.await;
        }
    }

    /// Marks a receiving request as open; false when another one already is.
    pub(crate) fn start_receiving(&self) -> bool {
        let mut state = self.lock();
        !std::mem::replace(&mut state.receiving, true)
    }

    /// Marks the receiving request as ended; the disconnect delay counts from now.
    pub(crate) fn stop_receiving(&self) {
        let mut state = self.lock();
        state.receiving = false;
        state.last_receive = Instant::now();
    }

    /// True when no request received for longer than `delay`.
    pub(crate) fn abandoned(&self, delay: std::time::Duration) -> bool {
        let state = self.lock();
        !state.receiving && state.last_receive.elapsed() >= delay
    }

    /// Hands a client message to the session task; false when the session is gone.
    pub(crate) async fn deliver(&self, text: String) -> bool {
        let sender = self.lock().inbound.clone();
        match sender {
            Some(sender) => sender.send(WsMessage::text(text)).await.is_ok(),
            None => false,
        }
    }

    /// The client is gone: the session task sees its transport end, and a writer waiting
    /// for the outbox to be taken gives up.
    pub(crate) fn disconnect(&self) {
        let mut state = self.lock();
        state.inbound = None;
        if let Some(waker) = state.writer.take() {
            waker.wake();
        }
    }

    fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_waiters();
    }
}

/// Messages a receiving request took. Until [`written`](Self::written) the session's
/// writer does not count them as written; dropped unwritten, they are given back to the
/// session, ahead of what is queued, for the next receiving request.
pub(crate) struct Delivery {
    /// `None` once written or given back, and for an empty hand-out.
    session: Option<Arc<SockSession>>,
    number: u64,
    messages: Vec<String>,
}

impl Delivery {
    /// The client's connection took the messages (the write and its flush succeeded).
    pub(crate) fn written(mut self) {
        if let Some(session) = self.session.take() {
            session.written();
        }
    }
}

impl Deref for Delivery {
    type Target = [String];

    fn deref(&self) -> &[String] {
        &self.messages
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            session.give_back(self.number, std::mem::take(&mut self.messages));
        }
    }
}

/// The receiving request of a session, started: while it lasts its connection holds no
/// place among plain connections. Stops receiving, and takes the place back, when dropped
/// (also when hyper drops a request whose client went away).
pub(crate) struct Receiving {
    session: Arc<SockSession>,
    place: Option<PendingPlace>,
}

impl Receiving {
    /// For `session`, whose `start_receiving` succeeded; releases `place`.
    pub(crate) fn new(session: Arc<SockSession>, place: Option<PendingPlace>) -> Receiving {
        if let Some(place) = &place {
            place.release();
        }
        Receiving { session, place }
    }
}

impl Drop for Receiving {
    fn drop(&mut self) {
        self.session.stop_receiving();
        if let Some(place) = &self.place {
            place.reclaim();
        }
    }
}

/// The transport `run_session_from` drives: client messages in, STOMP frames into the outbox.
/// Writes wait while the outbox holds `limit` bytes, so a client that stops polling meets
/// the session's send-buffer and send-time limits as a slow WebSocket would. A flush waits
/// until a receiving request took the outbox and wrote it to the client's connection
/// ([`Delivery::written`]): only then does the session's writer count what it wrote as
/// handed to the client, so point-to-point `ack:auto` messages still in the outbox, or
/// taken and never written, when the client goes return to their queue instead of being
/// lost.
pub(crate) struct Transport {
    session: Arc<SockSession>,
    inbound: mpsc::Receiver<WsMessage>,
    limit: usize,
}

impl Stream for Transport {
    type Item = Result<WsMessage, WsError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inbound.poll_recv(cx).map(|message| message.map(Ok))
    }
}

impl Sink<WsMessage> for Transport {
    type Error = WsError;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        let mut state = self.session.lock();
        if state.closed {
            return Poll::Ready(Err(WsError::ConnectionClosed));
        }
        if state.outbox_bytes >= self.limit {
            state.writer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, message: WsMessage) -> Result<(), WsError> {
        let text = match message {
            WsMessage::Text(text) => text.as_str().to_owned(),
            WsMessage::Binary(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            WsMessage::Close(_) => {
                self.session.close();
                return Ok(());
            }
            _ => return Ok(()),
        };
        let mut state = self.session.lock();
        state.outbox_bytes += text.len();
        state.outbox.push_back(text);
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        self.session.changed.notify_waiters();
        let mut state = self.session.lock();
        if state.closed || state.inbound.is_none() {
            return Poll::Ready(Err(WsError::ConnectionClosed));
        }
        if state.outbox.is_empty() && state.returned.is_empty() && state.in_hand == 0 {
            return Poll::Ready(Ok(()));
        }
        // Woken by `take`, `written` (or `disconnect`).
        state.writer = Some(cx.waker().clone());
        Poll::Pending
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        self.session.close();
        Poll::Ready(Ok(()))
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        self.session.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::SinkExt;

    const WAIT: std::time::Duration = std::time::Duration::from_secs(10);

    #[tokio::test]
    async fn a_flush_waits_until_a_receiving_request_wrote_the_outbox() {
        let (session, mut transport) = SockSession::new(1024);
        transport.feed(WsMessage::text("one")).await.expect("queue");
        let mut flush = Box::pin(transport.flush());
        assert!(
            futures_util::FutureExt::now_or_never(flush.as_mut()).is_none(),
            "not taken yet"
        );
        let taken = session.take();
        assert_eq!(*taken.messages, ["one"]);
        assert!(
            futures_util::FutureExt::now_or_never(flush.as_mut()).is_none(),
            "taken, not written yet"
        );
        taken.messages.written();
        let flushed = tokio::time::timeout(WAIT, flush).await;
        assert!(matches!(flushed, Ok(Ok(()))), "written: flushed");
        transport.feed(WsMessage::text("two")).await.expect("queue");
        let mut flush = Box::pin(transport.flush());
        assert!(futures_util::FutureExt::now_or_never(flush.as_mut()).is_none());
        session.disconnect();
        let flushed = tokio::time::timeout(WAIT, flush).await;
        assert!(
            matches!(flushed, Ok(Err(_))),
            "the client went: not written"
        );
    }

    #[tokio::test]
    async fn messages_not_written_come_first_and_count_again() {
        let (session, mut transport) = SockSession::new(1024);
        transport.feed(WsMessage::text("one")).await.expect("queue");
        let first = session.take();
        transport.feed(WsMessage::text("two")).await.expect("queue");
        let second = session.take();
        transport
            .feed(WsMessage::text("three"))
            .await
            .expect("queue");
        // The receiving requests could not write what they took (given back in any order).
        drop(second);
        drop(first);
        assert_eq!(session.lock().outbox_bytes, "onetwothree".len());
        let mut flush = Box::pin(transport.flush());
        assert!(
            futures_util::FutureExt::now_or_never(flush.as_mut()).is_none(),
            "given back: not written"
        );
        let again = session.next_batch().await;
        assert_eq!(*again.messages, ["one", "two", "three"], "in order");
        assert!(!again.closed);
        again.messages.written();
        let flushed = tokio::time::timeout(WAIT, flush).await;
        assert!(matches!(flushed, Ok(Ok(()))), "written the second time");
    }
}

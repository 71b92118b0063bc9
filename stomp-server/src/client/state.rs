//! The state a connection's reader task shares with its session handles: where frames go
//! (subscriptions, receipt waiters, the error and unrouted queues) and how the connection
//! ended.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use stomp_core::Frame;
use tokio::sync::{mpsc, oneshot, Notify};

use super::error::{ClientError, CloseReason};

/// What a subscription's channel carries: a `MESSAGE`, or an `ERROR` surfaced to it.
pub(super) type Delivery = Result<Frame, ClientError>;

/// How many `ERROR` frames are kept for `next_error` (a server closes after the first).
const ERROR_QUEUE_LIMIT: usize = 16;

/// Shared between the reader task and every handle of one connection.
///
/// Why a `std::sync::Mutex`: every critical section is a map lookup or a queue push, never
/// held across an `.await`, so a blocking mutex is cheaper than an async one. Senders are
/// cloned out of the lock before the reader awaits on them.
#[derive(Debug)]
pub(super) struct Shared {
    state: Mutex<State>,
    /// Woken on every new error frame, unrouted frame and at the end of the connection.
    events: Notify,
    next_subscription: AtomicU64,
    next_receipt: AtomicU64,
    unrouted_capacity: usize,
}

#[derive(Debug, Default)]
struct State {
    subscriptions: HashMap<String, mpsc::Sender<Delivery>>,
    receipts: HashMap<String, oneshot::Sender<Delivery>>,
    errors: VecDeque<Frame>,
    unrouted: VecDeque<Frame>,
    /// The first reason recorded; final once `finished`.
    reason: Option<CloseReason>,
    /// The reader task has stopped: nothing more will be routed.
    finished: bool,
    /// The client asked to close, so a normal end is reported as `Disconnected`.
    client_closing: bool,
}

impl State {
    /// The recorded reason, or a generic one if none was recorded.
    fn reason_or_default(&self) -> CloseReason {
        self.reason
            .clone()
            .unwrap_or_else(|| CloseReason::Io("the connection task stopped".into()))
    }
}

impl Shared {
    pub(super) fn new(unrouted_capacity: usize) -> Shared {
        Shared {
            state: Mutex::new(State::default()),
            events: Notify::new(),
            next_subscription: AtomicU64::new(0),
            next_receipt: AtomicU64::new(0),
            unrouted_capacity,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; recover the data if something ever did.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `sub-0`, `sub-1`... (the ids stompjs uses, so a server can share encoded frames).
    pub(super) fn next_subscription_id(&self) -> String {
        format!(
            "sub-{}",
            self.next_subscription.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// `rcpt-0`, `rcpt-1`...
    pub(super) fn next_receipt_id(&self) -> String {
        format!("rcpt-{}", self.next_receipt.fetch_add(1, Ordering::Relaxed))
    }

    /// The reason so far, or a generic one if the writer stopped before anyone recorded it.
    pub(super) fn reason_or_default(&self) -> CloseReason {
        self.lock().reason_or_default()
    }

    /// True once a close reason is known (the reader may still be finishing).
    pub(super) fn is_closed(&self) -> bool {
        let state = self.lock();
        state.finished || state.reason.is_some()
    }

    /// Records why the connection ends, unless a reason is already known.
    pub(super) fn record(&self, reason: CloseReason) {
        let mut state = self.lock();
        if state.reason.is_none() {
            state.reason = Some(reason);
        }
    }

    /// Marks that the client is closing on purpose.
    pub(super) fn set_client_closing(&self) {
        self.lock().client_closing = true;
    }

    pub(super) fn client_closing(&self) -> bool {
        self.lock().client_closing
    }

    /// Routes `MESSAGE` frames with subscription `id` to `sender`.
    pub(super) fn add_subscription(
        &self,
        id: &str,
        sender: mpsc::Sender<Delivery>,
    ) -> Result<(), ClientError> {
        let mut state = self.lock();
        if state.finished {
            return Err(ClientError::Closed(state.reason_or_default()));
        }
        if state.subscriptions.get(id).is_some_and(|s| !s.is_closed()) {
            return Err(ClientError::InvalidFrame(format!(
                "subscription id `{id}` is already in use on this session"
            )));
        }
        state.subscriptions.insert(id.to_owned(), sender);
        Ok(())
    }

    /// Stops routing to subscription `id` if its receiver is gone (called from its `Drop`).
    pub(super) fn remove_closed_subscription(&self, id: &str) {
        let mut state = self.lock();
        if state.subscriptions.get(id).is_some_and(|s| s.is_closed()) {
            state.subscriptions.remove(id);
        }
    }

    /// The channel of subscription `id`.
    pub(super) fn subscription(&self, id: &str) -> Option<mpsc::Sender<Delivery>> {
        self.lock().subscriptions.get(id).cloned()
    }

    /// Every live subscription channel (to surface an `ERROR`).
    pub(super) fn all_subscriptions(&self) -> Vec<mpsc::Sender<Delivery>> {
        self.lock().subscriptions.values().cloned().collect()
    }

    /// Registers a waiter for `RECEIPT` `receipt-id:id`.
    pub(super) fn add_receipt(&self, id: &str) -> Result<oneshot::Receiver<Delivery>, ClientError> {
        let mut state = self.lock();
        if state.finished {
            return Err(ClientError::Closed(state.reason_or_default()));
        }
        let (sender, receiver) = oneshot::channel();
        state.receipts.insert(id.to_owned(), sender);
        Ok(receiver)
    }

    /// Takes the waiter for receipt `id`, if someone waits.
    pub(super) fn take_receipt(&self, id: &str) -> Option<oneshot::Sender<Delivery>> {
        self.lock().receipts.remove(id)
    }

    /// Queues an `ERROR` frame for `next_error`.
    pub(super) fn push_error(&self, frame: Frame) {
        {
            let mut state = self.lock();
            if state.errors.len() >= ERROR_QUEUE_LIMIT {
                state.errors.pop_front();
            }
            state.errors.push_back(frame);
        }
        self.events.notify_waiters();
    }

    /// Queues a frame nobody waits for, dropping the oldest beyond the capacity.
    pub(super) fn push_unrouted(&self, frame: Frame) {
        if self.unrouted_capacity == 0 {
            tracing::debug!(command = %frame.command, "STOMP client: discarding unrouted frame");
            return;
        }
        {
            let mut state = self.lock();
            if state.unrouted.len() >= self.unrouted_capacity {
                state.unrouted.pop_front();
                tracing::debug!("STOMP client: unrouted queue full, dropping the oldest frame");
            }
            state.unrouted.push_back(frame);
        }
        self.events.notify_waiters();
    }

    /// Ends the connection: fixes the reason, drops every subscription channel (their
    /// `next` returns `None`), fails every receipt waiter, wakes every waiter.
    pub(super) fn finish(&self, end: CloseReason) -> CloseReason {
        let (subscriptions, receipts, reason) = {
            let mut state = self.lock();
            let end = match end {
                CloseReason::ServerClosed { .. } if state.client_closing => {
                    CloseReason::Disconnected
                }
                other => other,
            };
            let reason = state.reason.get_or_insert(end).clone();
            state.finished = true;
            (
                std::mem::take(&mut state.subscriptions),
                std::mem::take(&mut state.receipts),
                reason,
            )
        };
        drop(subscriptions);
        for (_, waiter) in receipts {
            let _ = waiter.send(Err(ClientError::Closed(reason.clone())));
        }
        self.events.notify_waiters();
        reason
    }

    /// Waits until `take` finds something in the state.
    async fn wait<T>(&self, mut take: impl FnMut(&mut State) -> Option<T>) -> T {
        loop {
            let notified = self.events.notified();
            tokio::pin!(notified);
            // Registered before looking, so a notification between the look and the await
            // is not lost.
            notified.as_mut().enable();
            if let Some(value) = take(&mut self.lock()) {
                return value;
            }
            notified.await;
        }
    }

    /// The next queued `ERROR` frame; `None` once the connection ended and the queue is empty.
    pub(super) async fn next_error(&self) -> Option<Frame> {
        self.wait(|state| match state.errors.pop_front() {
            Some(frame) => Some(Some(frame)),
            None => state.finished.then_some(None),
        })
        .await
    }

    /// The next unrouted frame; `None` once the connection ended and the queue is empty.
    pub(super) async fn next_unrouted(&self) -> Option<Frame> {
        self.wait(|state| match state.unrouted.pop_front() {
            Some(frame) => Some(Some(frame)),
            None => state.finished.then_some(None),
        })
        .await
    }

    /// Waits for the end of the connection.
    pub(super) async fn closed(&self) -> CloseReason {
        self.wait(|state| {
            if state.finished {
                state.reason.clone()
            } else {
                None
            }
        })
        .await
    }
}

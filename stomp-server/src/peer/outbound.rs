//! The bounded outbound queue of one session.
//!
//! Publishing never waits for a slow client: frames are queued and the bytes waiting are
//! counted. When the count passes the send-buffer limit the session is marked as a slow
//! consumer and closed by its own task, and its queue is freed with it. The queue is
//! *bounded by bytes* rather than by a number of messages, because a bounded channel would
//! make the publisher wait (or drop silently) instead of cutting off the one client that
//! does not read.
//!
//! Point-to-point queues and the relay do not push blindly: [`Outbound::push_paced`] queues
//! only while less than half the limit waits (the session's credit), and the writer calls
//! the broker back (the drain listener) once it wrote the queue down to a quarter, so a
//! backlog reaches the client at the pace its connection drains and never trips the limit.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::Poll;

use stomp_core::{Frame, Version};

use futures_util::task::AtomicWaker;

use super::item::{encode_frame, to_ws_message, OutboundItem, Withdrawal};
use super::queue::{queue, Paced, Pushed, Receiver, Sender};
use super::status::CloseStatus;
use crate::interceptor::{OutboundContext, OutboundInterceptor};
use crate::principal::{Principal, SessionId};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// The stored status meaning "the custom close frame": not a [`CloseStatus`] value.
const CUSTOM_STATUS: u8 = u8::MAX;

/// Why a session is being closed by the server side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum CloseCause {
    /// Not closing.
    None = 0,
    /// The send-buffer limit was exceeded.
    SendBufferLimit = 1,
    /// A write took longer than the send-time limit.
    SendTimeLimit = 2,
    /// The server is shutting down.
    Shutdown = 3,
    /// Writing to the socket failed (the peer went away).
    WriteFailed = 4,
    /// Too many messages wait behind a subscription's prefetch window (the client does not
    /// acknowledge); an `ERROR` saying so is queued before this.
    AckBacklog = 5,
    /// The application closed the session (a raw WebSocket handler's `close`); its close
    /// frame is queued after what was queued before.
    Requested = 6,
    /// The application ended the session (`SessionControl`, expired credentials); an
    /// `ERROR` saying why is queued before this.
    Ended = 7,
}

impl CloseCause {
    fn from_u8(value: u8) -> CloseCause {
        match value {
            1 => CloseCause::SendBufferLimit,
            2 => CloseCause::SendTimeLimit,
            3 => CloseCause::Shutdown,
            4 => CloseCause::WriteFailed,
            5 => CloseCause::AckBacklog,
            6 => CloseCause::Requested,
            7 => CloseCause::Ended,
            _ => CloseCause::None,
        }
    }
}

/// The sending side of a session's queue. Cloning shares the queue.
#[derive(Debug, Clone)]
pub(crate) struct Outbound {
    tx: Sender,
    shared: Arc<Shared>,
    /// Outbound interceptors and what they need to know; `None` (the usual case) keeps the
    /// shared encodings untouched.
    hook: Option<Arc<OutboundHook>>,
}

/// The outbound interceptors of one session.
pub(crate) struct OutboundHook {
    pub(crate) interceptors: Vec<Arc<dyn OutboundInterceptor>>,
    pub(crate) session_id: SessionId,
    pub(crate) principal: Option<Principal>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("limit", &self.limit)
            .field("paced", &self.drained.get().is_some())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for OutboundHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundHook")
            .field("interceptors", &self.interceptors.len())
            .finish_non_exhaustive()
    }
}

/// Called by the writer when a session that ran out of credit drained (see
/// [`Outbound::push_paced`]): the broker hands the session's consumers more messages.
pub(crate) type DrainListener = Box<dyn Fn() + Send + Sync>;

struct Shared {
    limit: usize,
    /// Who paces deliveries to this session; set once, by the broker.
    drained: std::sync::OnceLock<DrainListener>,
    cause: AtomicU8,
    /// The [`CloseStatus`] of the close frame, 0 until one is given, [`CUSTOM_STATUS`] when
    /// `custom` holds the frame.
    status: AtomicU8,
    /// A close frame given by the application (any code), for raw WebSocket sessions.
    custom: std::sync::OnceLock<CloseFrame>,
    closing: AtomicBool,
    /// The session task, waiting in [`Outbound::close_requested`] (the only waiter).
    session_task: AtomicWaker,
}

impl Outbound {
    /// A queue that tolerates `limit` bytes waiting to be written.
    pub(crate) fn new(limit: usize) -> (Outbound, Receiver) {
        let (tx, rx) = queue();
        let shared = Arc::new(Shared {
            limit,
            drained: std::sync::OnceLock::new(),
            cause: AtomicU8::new(0),
            status: AtomicU8::new(0),
            custom: std::sync::OnceLock::new(),
            closing: AtomicBool::new(false),
            session_task: AtomicWaker::new(),
        });
        (
            Outbound {
                tx,
                shared,
                hook: None,
            },
            rx,
        )
    }

    /// Keeps `hook`'s interceptors for whoever builds this session's frames: the fan-out,
    /// the trackers, the queues and the relay ask [`Outbound::intercepts`] and run them on
    /// each frame before encoding it. The push methods take frames already encoded and do
    /// not intercept.
    pub(crate) fn set_hook(&mut self, hook: OutboundHook) {
        if !hook.interceptors.is_empty() {
            self.hook = Some(Arc::new(hook));
        }
    }

    /// True when outbound interceptors see this session's frames: who encodes a frame for it
    /// then calls [`Outbound::intercept`] first.
    pub(crate) fn intercepts(&self) -> bool {
        self.hook.is_some()
    }

    /// Runs the outbound interceptors on `frame`, once, before it is encoded; `None` when
    /// one dropped it. Without interceptors it only encodes.
    pub(crate) fn intercept(&self, mut frame: Frame, version: Version) -> Option<WsMessage> {
        if let Some(hook) = &self.hook {
            let context = OutboundContext {
                session_id: &hook.session_id,
                principal: hook.principal.as_ref(),
            };
            if !hook
                .interceptors
                .iter()
                .all(|i| i.pre_send(&mut frame, &context))
            {
                return None;
            }
        }
        Some(to_ws_message(encode_frame(&frame, version)))
    }

    /// Queues an encoded message (interceptors already ran, see [`Outbound::intercept`]).
    /// Returns false when the session is closing or just went over its send-buffer limit
    /// (it is then closed by its own task).
    pub(crate) fn push(&self, message: WsMessage) -> bool {
        if self.shared.closing.load(Ordering::Relaxed) {
            return false;
        }
        let len = message.len();
        match self
            .tx
            .push(OutboundItem::Frame(message, len), len, self.shared.limit)
        {
            Pushed::Queued => true,
            Pushed::Closed => false,
            Pushed::OverLimit => {
                self.close(CloseCause::SendBufferLimit);
                false
            }
        }
    }

    /// Queues an encoded message at the pace the connection drains: only while less than
    /// the credit (half the send-buffer limit) waits, so that a paced sender (a queue
    /// handing over its backlog) never meets the slow-consumer cut-off. Without credit,
    /// the drain listener ([`Outbound::on_drained`]) is called once a quarter of the limit
    /// or less waits. `Queued { end }` tells where the message ends in the session's stream
    /// (compare with [`Outbound::written_total`]); a message an interceptor dropped counts as
    /// written at once.
    pub(crate) fn push_paced(&self, message: WsMessage) -> Paced {
        self.push_paced_item(message, None)
    }

    /// [`Outbound::push_paced`] for a point-to-point delivery that `withdrawal` may take
    /// back before the writer reaches it.
    pub(crate) fn push_delivery(&self, message: WsMessage, withdrawal: &Withdrawal) -> Paced {
        self.push_paced_item(message, Some(withdrawal))
    }

    fn push_paced_item(&self, message: WsMessage, withdrawal: Option<&Withdrawal>) -> Paced {
        if self.shared.closing.load(Ordering::Relaxed) {
            return Paced::Closed;
        }
        let len = message.len();
        let item = match withdrawal {
            None => OutboundItem::Frame(message, len),
            Some(withdrawal) => OutboundItem::Delivery(message, len, withdrawal.clone()),
        };
        self.tx.push_paced(item, len, self.credit())
    }

    /// The bytes a paced push may leave waiting.
    fn credit(&self) -> usize {
        self.shared.limit / 2
    }

    /// Sets who hears that a paced session drained (the first listener set stays).
    pub(crate) fn on_drained(&self, listener: impl FnOnce() -> DrainListener) {
        let _ = self.shared.drained.get_or_init(listener);
    }

    /// Encodes and queues one frame, after the outbound interceptors (a frame one of them
    /// dropped counts as queued).
    pub(crate) fn push_frame(&self, frame: &Frame, version: Version) -> bool {
        if !self.intercepts() {
            return self.push(to_ws_message(encode_frame(frame, version)));
        }
        match self.intercept(frame.clone(), version) {
            Some(message) => self.push(message),
            None => true,
        }
    }

    /// Queues a close after everything already queued (DISCONNECT, ERROR), with `status`
    /// unless a status was given before (the first reason to close is the one told).
    pub(crate) fn close_after_flush(&self, status: CloseStatus) {
        let _ = self.shared.status.compare_exchange(
            0,
            status.as_u8(),
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
        self.shared.closing.store(true, Ordering::Relaxed);
        let _ = self.tx.push(OutboundItem::Close, 0, usize::MAX);
    }

    /// Like [`Outbound::close_after_flush`] with a close frame of any code and reason (a raw
    /// WebSocket handler's close status), unless a status was given before.
    pub(crate) fn close_after_flush_with(&self, frame: CloseFrame) {
        let given = self.shared.status.compare_exchange(
            0,
            CUSTOM_STATUS,
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
        if given.is_ok() {
            let _ = self.shared.custom.set(frame);
        }
        self.shared.closing.store(true, Ordering::Relaxed);
        let _ = self.tx.push(OutboundItem::Close, 0, usize::MAX);
    }

    /// The close frame the session's close carries: the one given to
    /// [`Outbound::close_after_flush_with`], else that of [`Outbound::close_status`].
    pub(crate) fn close_frame(&self) -> CloseFrame {
        if self.shared.status.load(Ordering::Acquire) == CUSTOM_STATUS {
            if let Some(frame) = self.shared.custom.get() {
                return frame.clone();
            }
        }
        self.close_status().frame()
    }

    /// True once a close was asked for (queued, or for the session task).
    pub(crate) fn is_closing(&self) -> bool {
        self.shared.closing.load(Ordering::Relaxed)
    }

    /// Asks the session task to close now, for `cause`.
    pub(crate) fn close(&self, cause: CloseCause) {
        let _ =
            self.shared
                .cause
                .compare_exchange(0, cause as u8, Ordering::AcqRel, Ordering::Relaxed);
        self.shared.closing.store(true, Ordering::Relaxed);
        self.shared.session_task.wake();
    }

    /// The status the session's close frame carries (1000 unless another was given).
    pub(crate) fn close_status(&self) -> CloseStatus {
        CloseStatus::from_u8(self.shared.status.load(Ordering::Acquire))
            .unwrap_or(CloseStatus::Normal)
    }

    /// Why the session was asked to close, if it was.
    pub(crate) fn close_cause(&self) -> CloseCause {
        CloseCause::from_u8(self.shared.cause.load(Ordering::Acquire))
    }

    /// Resolves when [`Outbound::close`] was called. Awaited by the session's own task only
    /// (one waiter), which polls it for every message it reads: a poll is one atomic
    /// exchange at most, no lock.
    pub(crate) async fn close_requested(&self) {
        std::future::poll_fn(|cx| {
            if self.close_cause() != CloseCause::None {
                return Poll::Ready(());
            }
            self.shared.session_task.register(cx.waker());
            // Again after registering: a close in between woke the old waker.
            if self.close_cause() == CloseCause::None {
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await;
    }

    /// Marks `len` bytes as written (handed to the transport), and tells the drain
    /// listener when a paced push waits for the credit this freed.
    pub(crate) fn written(&self, len: usize) {
        if self.tx.written(len, self.credit() / 2) {
            if let Some(listener) = self.shared.drained.get() {
                listener();
            }
        }
    }

    /// How far into the session's stream the writer got (see [`Outbound::push_paced`]).
    pub(crate) fn written_total(&self) -> u64 {
        self.tx.written_total()
    }

    /// The most bytes that ever waited at once.
    pub(crate) fn peak_bytes(&self) -> usize {
        self.tx.peak_bytes()
    }

    /// The bytes waiting to be written.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.tx.queued_bytes()
    }
}

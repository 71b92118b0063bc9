//! The writing side of every connection: batches of encoded frames, one flush per batch,
//! idle heart-beats and the send-time limit.
//!
//! [`run_writer`] is the one writer loop. What it writes to and takes from is an
//! [`Outgoing`]: the session's bounded outbound queue and WebSocket (or SockJS) sink, the
//! client's send queue and WebSocket, the relay's queue and TCP stream. Each takes all that
//! is queued at once and flushes once, so a burst costs one write system call; the loop
//! decides when to wait, when a heart-beat is due and how long a write may take.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::time::{Instant, Sleep};

use crate::config::FAR_FUTURE;

/// What writing a batch came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Batch {
    /// Written and flushed; the writer goes on.
    Written,
    /// A close was reached in the queue: nothing after it may be written.
    Closed,
}

/// Why [`run_writer`] returned.
#[derive(Debug)]
pub(crate) enum WriterEnd<E> {
    /// A close was reached in the queue; what was before it is written.
    Closed,
    /// Nothing more will be queued.
    Drained,
    /// A write failed.
    Failed(E),
    /// A write took longer than the send-time limit.
    Late,
}

/// A connection's outbound side: its queue and its transport.
pub(crate) trait Outgoing {
    /// How a write fails.
    type Error;

    /// True when something taken from the queue is not written yet.
    fn has_pending(&self) -> bool;

    /// Waits until there is something to write and takes it; false when nothing more
    /// will be queued. Cancel-safe: a heart-beat may become due meanwhile.
    fn wait(&mut self) -> impl Future<Output = bool> + Send;

    /// Writes what is pending (up to one batch) and flushes once.
    fn write_batch(&mut self) -> impl Future<Output = Result<Batch, Self::Error>> + Send;

    /// Writes one heart-beat (an EOL) and flushes.
    fn write_heartbeat(&mut self) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// Writes what `out` queues until a close, the end of its queue, a failed write, or a
/// write slower than `send_time`; a heart-beat goes out after `heartbeat` with nothing
/// written.
pub(crate) async fn run_writer<O: Outgoing>(
    out: &mut O,
    heartbeat: Option<Duration>,
    send_time: Option<Duration>,
) -> WriterEnd<O::Error> {
    // One timer for the whole connection. It waits for the next heart-beat and is moved
    // only when it fires (a batch just records when it was written), so busy connections
    // never touch the timer wheel; a write that has to wait borrows it for the send-time
    // limit. Without heart-beats its branch is disabled.
    let every = heartbeat.unwrap_or(FAR_FUTURE);
    let mut last_write = Instant::now();
    let timer = tokio::time::sleep_until(last_write + every);
    tokio::pin!(timer);
    loop {
        if !out.has_pending() {
            tokio::select! {
                biased;
                more = out.wait() => {
                    if !more {
                        return WriterEnd::Drained;
                    }
                }
                () = &mut timer, if heartbeat.is_some() => {
                    if last_write + every <= Instant::now() {
                        let beat = out.write_heartbeat();
                        if let Err(end) = within(beat, send_time, timer.as_mut()).await {
                            return end;
                        }
                        last_write = Instant::now();
                    }
                    timer.as_mut().reset(last_write + every);
                    continue;
                }
            }
        }
        // Boxed: the write's state exists only while a batch is written, so an idle
        // connection's task stays small (one allocation per batch, not per message).
        let write = Box::pin(out.write_batch());
        let (batch, timer_moved) = match within(write, send_time, timer.as_mut()).await {
            Ok(written) => written,
            Err(end) => return end,
        };
        last_write = Instant::now();
        if timer_moved {
            timer.as_mut().reset(last_write + every);
        }
        if batch == Batch::Closed {
            return WriterEnd::Closed;
        }
    }
}

/// Runs a write. Most finish at once (the transport has room): that is tried first, and
/// only a write that has to wait is given `send_time`, measured with `timer`. The second
/// value says the timer was moved for that.
async fn within<T, E>(
    write: impl Future<Output = Result<T, E>>,
    send_time: Option<Duration>,
    mut timer: Pin<&mut Sleep>,
) -> Result<(T, bool), WriterEnd<E>> {
    tokio::pin!(write);
    let (result, timer_moved) = match write.as_mut().now_or_never() {
        Some(result) => (Some(result), false),
        None => match send_time {
            None => (Some(write.await), false),
            Some(send_time) => {
                timer.as_mut().reset(Instant::now() + send_time);
                let result = tokio::select! {
                    biased;
                    result = &mut write => Some(result),
                    () = timer.as_mut() => None,
                };
                (result, true)
            }
        },
    };
    match result {
        Some(Ok(value)) => Ok((value, timer_moved)),
        Some(Err(error)) => Err(WriterEnd::Failed(error)),
        None => Err(WriterEnd::Late),
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::mpsc;

    use super::*;

    /// What the fake transport saw.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Event {
        /// One batch: these frames, then one flush.
        Flush(Vec<&'static str>),
        Beat,
    }

    /// A queue of frames (`None` is a close) and a transport that records its writes.
    struct Fake {
        rx: mpsc::UnboundedReceiver<Option<&'static str>>,
        pending: Vec<Option<&'static str>>,
        seen: Vec<Event>,
        /// Writes never finish (a peer that stopped reading).
        stalled: bool,
    }

    impl Outgoing for Fake {
        type Error = &'static str;

        fn has_pending(&self) -> bool {
            !self.pending.is_empty()
        }

        async fn wait(&mut self) -> bool {
            match self.rx.recv().await {
                Some(item) => {
                    self.pending.push(item);
                    true
                }
                None => false,
            }
        }

        async fn write_batch(&mut self) -> Result<Batch, &'static str> {
            if self.stalled {
                std::future::pending::<()>().await;
            }
            while let Ok(item) = self.rx.try_recv() {
                self.pending.push(item);
            }
            let mut frames = Vec::new();
            let mut batch = Batch::Written;
            for item in self.pending.drain(..) {
                match item {
                    Some(frame) => frames.push(frame),
                    None => {
                        batch = Batch::Closed;
                        break;
                    }
                }
            }
            self.seen.push(Event::Flush(frames));
            Ok(batch)
        }

        async fn write_heartbeat(&mut self) -> Result<(), &'static str> {
            self.seen.push(Event::Beat);
            Ok(())
        }
    }

    fn fake() -> (mpsc::UnboundedSender<Option<&'static str>>, Fake) {
        let (tx, rx) = mpsc::unbounded_channel();
        let fake = Fake {
            rx,
            pending: Vec::new(),
            seen: Vec::new(),
            stalled: false,
        };
        (tx, fake)
    }

    #[tokio::test]
    async fn what_is_queued_together_is_written_as_one_batch_with_one_flush() {
        let (tx, mut out) = fake();
        for frame in ["a", "b", "c"] {
            tx.send(Some(frame)).expect("queue");
        }
        drop(tx);
        let end = run_writer(&mut out, None, Some(Duration::from_secs(10))).await;
        assert!(matches!(end, WriterEnd::Drained), "{end:?}");
        assert_eq!(out.seen, [Event::Flush(vec!["a", "b", "c"])]);
    }

    #[tokio::test]
    async fn nothing_after_a_close_is_written() {
        let (tx, mut out) = fake();
        for item in [Some("a"), None, Some("after")] {
            tx.send(item).expect("queue");
        }
        let end = run_writer(&mut out, None, None).await;
        assert!(matches!(end, WriterEnd::Closed), "{end:?}");
        assert_eq!(out.seen, [Event::Flush(vec!["a"])]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_gets_a_heart_beat_each_interval_and_a_busy_one_none() {
        let (tx, mut out) = fake();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(3_500)).await;
            // Busy from here on: a frame every half interval.
            for frame in ["x", "y", "z", "w"] {
                tx.send(Some(frame)).expect("queue");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        let end = run_writer(&mut out, Some(Duration::from_secs(1)), None).await;
        assert!(matches!(end, WriterEnd::Drained), "{end:?}");
        let flush = |frame| Event::Flush(vec![frame]);
        assert_eq!(
            out.seen,
            [
                Event::Beat,
                Event::Beat,
                Event::Beat,
                flush("x"),
                flush("y"),
                flush("z"),
                flush("w"),
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_that_waits_past_the_send_time_ends_the_writer() {
        let (tx, mut out) = fake();
        out.stalled = true;
        tx.send(Some("a")).expect("queue");
        let started = Instant::now();
        let end = run_writer(&mut out, None, Some(Duration::from_secs(5))).await;
        assert!(matches!(end, WriterEnd::Late), "{end:?}");
        assert!(started.elapsed() >= Duration::from_secs(5));
    }
}

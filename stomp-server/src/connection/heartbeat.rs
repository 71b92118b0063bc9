//! The read side of STOMP heart-beats: how long a peer may stay silent.
//!
//! One timer per connection, not one per read: a read only records when it happened, and
//! the timer is moved only when it fires, so a busy connection never touches the timer
//! wheel for its heart-beats.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use crate::config::FAR_FUTURE;

/// How long a peer may stay silent, and when it last was not.
#[derive(Debug)]
pub(crate) struct ReadWindow {
    /// The window; `None` when the peer promised no heart-beats.
    window: Option<Duration>,
    last_read: Instant,
    /// The timer, made only for a window (boxed: `Sleep` cannot move, and the reader that
    /// owns this can), so that a connection without heart-beats has none.
    deadline: Option<Pin<Box<Sleep>>>,
}

impl ReadWindow {
    /// A window of `window` starting now; `None` never expires.
    pub(crate) fn new(window: Option<Duration>) -> ReadWindow {
        let mut read_window = ReadWindow {
            window: None,
            last_read: Instant::now(),
            deadline: None,
        };
        read_window.set(window);
        read_window
    }

    /// Changes the window (after the heart-beats were negotiated), counting from now.
    pub(crate) fn set(&mut self, window: Option<Duration>) {
        self.window = window;
        self.restart(Instant::now());
        let due = self.due();
        match (&mut self.deadline, window) {
            (_, None) => self.deadline = None,
            (Some(deadline), Some(_)) => deadline.as_mut().reset(due),
            (None, Some(_)) => self.deadline = Some(Box::pin(tokio::time::sleep_until(due))),
        }
    }

    /// Records that the peer sent something at `at`.
    pub(crate) fn restart(&mut self, at: Instant) {
        self.last_read = at;
    }

    fn due(&self) -> Instant {
        self.last_read + self.window.unwrap_or(FAR_FUTURE)
    }

    /// Waits until a whole window passed without a read; forever without a window.
    #[cfg(test)]
    pub(crate) async fn expired(&mut self) {
        std::future::poll_fn(|cx| self.poll_expired(cx)).await;
    }

    /// Polls the timer: ready once a whole window passed without a read. A timer that
    /// fires after a read is moved to the new deadline and polled again. Cancel-safe.
    pub(crate) fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let due = self.last_read + self.window.unwrap_or(FAR_FUTURE);
        let Some(deadline) = self.deadline.as_mut() else {
            return Poll::Pending;
        };
        loop {
            if deadline.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if due <= Instant::now() {
                return Poll::Ready(());
            }
            deadline.as_mut().reset(due);
        }
    }

    /// How long the peer has been silent.
    pub(crate) fn silent_for(&self) -> Duration {
        self.last_read.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_window_passes_only_after_a_whole_window_of_silence() {
        let mut window = ReadWindow::new(Some(Duration::from_secs(10)));
        tokio::time::advance(Duration::from_secs(6)).await;
        window.restart(Instant::now());
        // The timer fires at 10 s, finds a read at 6 s and moves to 16 s.
        let started = Instant::now();
        window.expired().await;
        assert_eq!(started.elapsed(), Duration::from_secs(10));
        assert!(window.silent_for() >= Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn no_window_never_expires_and_has_no_timer() {
        let mut window = ReadWindow::new(None);
        assert!(window.deadline.is_none());
        let waited = tokio::time::timeout(Duration::from_secs(3600 * 24), window.expired()).await;
        assert!(waited.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn a_window_set_later_counts_from_then() {
        let mut window = ReadWindow::new(None);
        tokio::time::advance(Duration::from_secs(60)).await;
        window.set(Some(Duration::from_secs(10)));
        let started = Instant::now();
        window.expired().await;
        assert_eq!(started.elapsed(), Duration::from_secs(10));
    }
}

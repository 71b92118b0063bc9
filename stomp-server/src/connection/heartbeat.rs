//! The read side of STOMP heart-beats: how long a peer may stay silent.
//!
//! One timer per connection, not one per read: a read only records when it happened, and
//! the timer is moved only when it fires, so a busy connection never touches the timer
//! wheel for its heart-beats.

use std::pin::Pin;
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use crate::config::FAR_FUTURE;

/// How long a peer may stay silent, and when it last was not.
#[derive(Debug)]
pub(crate) struct ReadWindow {
    /// The window; `None` when the peer promised no heart-beats.
    window: Option<Duration>,
    last_read: Instant,
    /// Boxed: `Sleep` cannot move, and the reader that owns this can.
    deadline: Pin<Box<Sleep>>,
}

/// What a fired timer meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// The peer read something since: the timer was moved to the new deadline.
    Moved,
    /// Nothing was read within the window.
    Silent,
}

impl ReadWindow {
    /// A window of `window` starting now; `None` never expires.
    pub(crate) fn new(window: Option<Duration>) -> ReadWindow {
        let last_read = Instant::now();
        ReadWindow {
            window,
            last_read,
            deadline: Box::pin(tokio::time::sleep_until(
                last_read + window.unwrap_or(FAR_FUTURE),
            )),
        }
    }

    /// Changes the window (after the heart-beats were negotiated), counting from now.
    pub(crate) fn set(&mut self, window: Option<Duration>) {
        self.window = window;
        self.restart(Instant::now());
        let due = self.due();
        self.deadline.as_mut().reset(due);
    }

    /// Records that the peer sent something at `at`.
    pub(crate) fn restart(&mut self, at: Instant) {
        self.last_read = at;
    }

    fn due(&self) -> Instant {
        self.last_read + self.window.unwrap_or(FAR_FUTURE)
    }

    /// Waits for the timer; pending forever without a window. Cancel-safe.
    pub(crate) async fn expired(&mut self) -> Expiry {
        if self.window.is_none() {
            return std::future::pending().await;
        }
        self.deadline.as_mut().await;
        let due = self.due();
        if due > Instant::now() {
            self.deadline.as_mut().reset(due);
            return Expiry::Moved;
        }
        Expiry::Silent
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
        assert_eq!(window.expired().await, Expiry::Moved);
        assert_eq!(window.expired().await, Expiry::Silent);
        assert!(window.silent_for() >= Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn no_window_never_expires() {
        let mut window = ReadWindow::new(None);
        let waited = tokio::time::timeout(Duration::from_secs(3600 * 24), window.expired()).await;
        assert!(waited.is_err());
    }
}

//! What guards the accept loop: a cap on connections that are still plain HTTP (not yet a
//! WebSocket session), and a growing back-off when accepting fails.
//!
//! A connection that trickles its request holds a descriptor and a task without counting as
//! a session; without a cap, a few hundred of them use up the descriptors and every later
//! `accept` fails. Each request is also held to a time limit (the HTTP layer's), so a place
//! is never held for long.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// The places for connections not yet upgraded.
#[derive(Debug, Clone)]
pub(crate) struct PendingConnections {
    places: Arc<Semaphore>,
}

impl PendingConnections {
    /// Room for `max` connections at once.
    pub(crate) fn new(max: usize) -> PendingConnections {
        PendingConnections {
            places: Arc::new(Semaphore::new(max.min(Semaphore::MAX_PERMITS))),
        }
    }

    /// A place for a new connection; `None` when all are taken.
    pub(crate) fn admit(&self) -> Option<PendingPlace> {
        let permit = Arc::clone(&self.places).try_acquire_owned().ok()?;
        Some(PendingPlace(Arc::new(Mutex::new(Some(permit)))))
    }
}

/// One connection's place; given back when the connection ends, is upgraded to a
/// WebSocket, or [`release`](Self::release)s it on becoming a SockJS session (which the
/// session limit counts instead). Clones share the place.
#[derive(Debug, Clone)]
pub(crate) struct PendingPlace(Arc<Mutex<Option<OwnedSemaphorePermit>>>);

impl PendingPlace {
    /// Gives the place back now.
    pub(crate) fn release(&self) {
        // Nothing panics under this lock.
        drop(self.0.lock().unwrap_or_else(PoisonError::into_inner).take());
    }
}

/// The shortest and longest waits after a failed `accept`.
const FIRST_DELAY: Duration = Duration::from_millis(10);
const MAX_DELAY: Duration = Duration::from_secs(1);

/// How the accept loop waits after failures: each consecutive failure doubles the wait, up
/// to [`MAX_DELAY`]; a success starts over.
#[derive(Debug, Default)]
pub(crate) struct AcceptBackoff {
    delay: Option<Duration>,
}

impl AcceptBackoff {
    /// A connection was accepted.
    pub(crate) fn succeeded(&mut self) {
        self.delay = None;
    }

    /// Accepting failed: how long to wait before the next try.
    pub(crate) fn failed(&mut self) -> Duration {
        let delay = self
            .delay
            .map_or(FIRST_DELAY, |last| (last * 2).min(MAX_DELAY));
        self.delay = Some(delay);
        delay
    }
}

/// A log line that is written at most once per interval, saying how often its event
/// happened in between.
#[derive(Debug)]
pub(crate) struct LogEvery {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl LogEvery {
    /// At most one line per `every`.
    pub(crate) fn new(every: Duration) -> LogEvery {
        LogEvery {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// Records one event at `now`; `Some(n)` when a line is due, `n` being the events not
    /// logged since the last line.
    pub(crate) fn due(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.duration_since(last) < self.every => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_back_off_doubles_up_to_its_cap_and_starts_over_after_a_success() {
        let mut backoff = AcceptBackoff::default();
        let delays: Vec<Duration> = (0..10).map(|_| backoff.failed()).collect();
        assert_eq!(delays[0], FIRST_DELAY);
        assert_eq!(delays[1], FIRST_DELAY * 2);
        assert!(delays.windows(2).all(|w| w[1] >= w[0]));
        assert_eq!(delays[9], MAX_DELAY);
        backoff.succeeded();
        assert_eq!(backoff.failed(), FIRST_DELAY);
    }

    #[test]
    fn a_rate_limited_log_line_counts_what_it_left_out() {
        let start = Instant::now();
        let mut log = LogEvery::new(Duration::from_secs(10));
        assert_eq!(log.due(start), Some(0));
        assert_eq!(log.due(start + Duration::from_secs(1)), None);
        assert_eq!(log.due(start + Duration::from_secs(2)), None);
        assert_eq!(log.due(start + Duration::from_secs(11)), Some(2));
    }

    #[test]
    fn places_come_back_when_released_or_dropped() {
        let pending = PendingConnections::new(1);
        let place = pending.admit().expect("a place");
        assert!(pending.admit().is_none());
        let shared = place.clone();
        shared.release();
        let again = pending.admit().expect("released");
        drop(place);
        assert!(
            pending.admit().is_none(),
            "a released place is not given back twice"
        );
        drop(again);
        assert!(pending.admit().is_some());
    }
}

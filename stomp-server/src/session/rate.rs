//! The inbound frame-rate limit of one session: a token bucket.

use std::time::Instant;

/// Allows `per_second` frames per second on average, in bursts of up to one second's worth.
#[derive(Debug)]
pub(crate) struct FrameRate {
    per_second: f64,
    tokens: f64,
    last: Instant,
}

impl FrameRate {
    /// A full bucket at `now` (on the clock the refills will use); `per_second == 0`
    /// allows everything.
    pub(crate) fn new(per_second: u32, now: Instant) -> FrameRate {
        FrameRate {
            per_second: f64::from(per_second),
            tokens: f64::from(per_second),
            last: now,
        }
    }

    /// Adds the tokens earned up to `now` since the last refill. Called once per WebSocket
    /// message read, not per frame, with the time the reader took anyway.
    pub(crate) fn refill(&mut self, now: Instant) {
        if self.per_second == 0.0 {
            return;
        }
        let earned = now.duration_since(self.last).as_secs_f64() * self.per_second;
        self.tokens = (self.tokens + earned).min(self.per_second);
        self.last = now;
    }

    /// Takes one frame's token; false when the session is over its rate.
    pub(crate) fn take(&mut self) -> bool {
        if self.per_second == 0.0 {
            return true;
        }
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The `ERROR` message for a connection past the frame rate.
pub(super) fn flood_message(per_second: u32) -> String {
    format!("more than {per_second} frames per second: the session is flooding the server")
}

#[cfg(test)]
mod tests {
    use super::FrameRate;
    use std::time::Instant;

    #[test]
    fn a_burst_of_one_second_then_refusals() {
        let mut rate = FrameRate::new(10, Instant::now());
        assert!((0..10).all(|_| rate.take()));
        assert!(!rate.take());
        let mut unlimited = FrameRate::new(0, Instant::now());
        assert!((0..1_000).all(|_| unlimited.take()));
    }
}

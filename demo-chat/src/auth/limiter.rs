//! Fixed-window rate limits for login attempts, in a table of bounded size.
//!
//! Each key (a client address, a user name) has a window of `window` length that opens on
//! its first counted attempt and holds at most `limit` attempts. The table holds at most
//! `capacity` keys: when a new key finds it full, windows that have ended are dropped, and
//! if none has, the window with the fewest attempts goes (of those, the one that opened
//! first). A client varying names or addresses therefore costs at most `capacity` entries,
//! about 100 bytes each, and flooding the table with fresh keys (one attempt each) pushes
//! out other fresh keys, never the counts of a name under attack: those are the highest in
//! the table.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The window of one key.
#[derive(Debug, Clone, Copy)]
struct Window {
    opened: Instant,
    count: u32,
}

/// Counts attempts per key; see the module documentation.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    limit: u32,
    window: Duration,
    capacity: usize,
    // A std mutex: held for a hash-map lookup, never across an await or a password hash.
    windows: Mutex<HashMap<String, Window>>,
}

impl RateLimiter {
    /// At most `limit` attempts per `window` per key, for at most `capacity` keys.
    pub(crate) fn new(limit: u32, window: Duration, capacity: usize) -> RateLimiter {
        RateLimiter {
            limit,
            window,
            capacity: capacity.max(1),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an attempt for `key` at `now`, or refuses it with how long until the key's
    /// window ends (a refused attempt is not counted). Checking and counting happen under
    /// one lock, so concurrent attempts cannot all pass.
    pub(crate) fn hit(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut windows = self.lock();
        if let Some(w) = windows.get(key) {
            if w.count >= self.limit && now < w.opened + self.window {
                return Err(w.opened + self.window - now);
            }
        }
        self.count(&mut windows, key, now);
        Ok(())
    }

    fn count(&self, windows: &mut HashMap<String, Window>, key: &str, now: Instant) {
        if let Some(window) = windows.get_mut(key) {
            if now < window.opened + self.window {
                window.count = window.count.saturating_add(1);
            } else {
                *window = Window {
                    opened: now,
                    count: 1,
                };
            }
            return;
        }
        if windows.len() >= self.capacity {
            self.make_room(windows, now);
        }
        windows.insert(
            key.to_owned(),
            Window {
                opened: now,
                count: 1,
            },
        );
    }

    /// Takes back one attempt of `key` (a login that turned out to succeed): counting
    /// first and forgiving after keeps concurrent attempts from all passing the check
    /// before any of them is counted.
    pub(crate) fn forgive(&self, key: &str) {
        if let Some(window) = self.lock().get_mut(key) {
            window.count = window.count.saturating_sub(1);
        }
    }

    /// How many keys the table holds.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn make_room(&self, windows: &mut HashMap<String, Window>, now: Instant) {
        windows.retain(|_, w| now < w.opened + self.window);
        if windows.len() < self.capacity {
            return;
        }
        // The fewest attempts first: evicting the oldest window would let a flood of fresh
        // keys reset exactly the count that matters, the one an attacker has been raising.
        let least = windows
            .iter()
            .min_by_key(|(_, w)| (w.count, w.opened))
            .map(|(key, _)| key.clone());
        if let Some(key) = least {
            windows.remove(&key);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Window>> {
        // A panic while holding the lock leaves consistent counts: keep using them.
        self.windows
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The rate-limit key of a client address: the IPv4 address, or the /64 prefix of an IPv6
/// address (one host usually owns a whole /64, and could otherwise count as 2^64 clients).
pub(crate) fn address_key(addr: Option<SocketAddr>) -> String {
    match addr.map(|a| a.ip().to_canonical()) {
        Some(IpAddr::V4(ip)) => ip.to_string(),
        Some(IpAddr::V6(ip)) => {
            let s = ip.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        // Only through the tower service without the peer address: one shared bucket.
        None => "unknown".to_owned(),
    }
}

/// Seconds for a `Retry-After` header: `left` rounded up, at least 1.
pub(crate) fn retry_after_secs(left: Duration) -> u64 {
    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn a_key_gets_limit_attempts_per_window() {
        let limiter = RateLimiter::new(3, MINUTE, 100);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.hit("a", t0), Ok(()));
        }
        let later = t0 + Duration::from_secs(20);
        assert_eq!(limiter.hit("a", later), Err(Duration::from_secs(40)));
        assert_eq!(limiter.hit("a", later), Err(Duration::from_secs(40)));
        assert_eq!(
            limiter.hit("b", later),
            Ok(()),
            "other keys are not affected"
        );
        assert_eq!(limiter.hit("a", t0 + MINUTE), Ok(()), "a new window");
    }

    #[test]
    fn a_forgiven_attempt_frees_its_place() {
        let limiter = RateLimiter::new(2, MINUTE, 100);
        let t0 = Instant::now();
        for _ in 0..10 {
            assert_eq!(limiter.hit("ok", t0), Ok(()));
            limiter.forgive("ok");
        }
        limiter.forgive("unknown");
        assert_eq!(limiter.len(), 1);
    }

    #[test]
    fn the_table_never_holds_more_than_its_capacity() {
        // One attempt each: a second is refused while the table still holds the key.
        let limiter = RateLimiter::new(1, MINUTE, 10);
        let t0 = Instant::now();
        for i in 0..1000u64 {
            assert!(limiter
                .hit(&format!("name{i}"), t0 + Duration::from_millis(i))
                .is_ok());
            assert!(limiter.len() <= 10);
        }
        // The newest keys survived, the oldest went first.
        let now = t0 + MINUTE / 2;
        assert!(limiter.hit("name999", now).is_err());
        assert!(limiter.hit("name990", now).is_err());
        assert!(limiter.len() == 10);
        assert!(limiter.hit("name0", now).is_ok(), "forgotten");
        // Ended windows are dropped before any live one.
        assert!(limiter.hit("late", t0 + MINUTE * 3).is_ok());
        assert_eq!(limiter.len(), 1);
    }

    #[test]
    fn a_flood_of_fresh_keys_does_not_reset_a_count_under_attack() {
        let limiter = RateLimiter::new(5, MINUTE, 10);
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(limiter.hit("bob", t0).is_ok());
        }
        // Many addresses each try a new name once, later in the same minute.
        for i in 0..1000u64 {
            let _ = limiter.hit(&format!("fresh{i}"), t0 + Duration::from_millis(1 + i));
            assert!(limiter.len() <= 10);
        }
        assert!(
            limiter.hit("bob", t0 + MINUTE / 2).is_err(),
            "bob's five failures must still count"
        );
    }

    #[test]
    fn addresses_are_keyed_by_host() {
        let v4: SocketAddr = "192.0.2.7:5000".parse().unwrap();
        assert_eq!(address_key(Some(v4)), "192.0.2.7");
        let mapped: SocketAddr = "[::ffff:192.0.2.7]:1".parse().unwrap();
        assert_eq!(address_key(Some(mapped)), "192.0.2.7");
        let a: SocketAddr = "[2001:db8:1:2:aaaa::1]:1".parse().unwrap();
        let b: SocketAddr = "[2001:db8:1:2:bbbb::9]:2".parse().unwrap();
        assert_eq!(address_key(Some(a)), address_key(Some(b)));
        assert_eq!(address_key(Some(a)), "2001:db8:1:2::/64");
        assert_eq!(address_key(None), "unknown");
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(40_001)), 41);
        assert_eq!(retry_after_secs(Duration::from_secs(40)), 40);
    }
}

//! What guards the accept loop: a cap on connections that are still plain HTTP (not yet a
//! WebSocket session), overall and per client address, and a growing back-off when
//! accepting fails.
//!
//! A connection that trickles its request holds a descriptor and a task without counting as
//! a session; without a cap, a few hundred of them use up the descriptors and every later
//! `accept` fails. Without a cap per address, one host holding the whole pool would lock
//! every other client out. Each request is also held to a time limit (the HTTP layer's), so
//! a place is never held for long.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// The places for connections not yet upgraded.
#[derive(Debug, Clone)]
pub(crate) struct PendingConnections {
    pool: Arc<Pool>,
}

#[derive(Debug)]
struct Pool {
    max: usize,
    /// 0: no cap per address.
    max_per_address: usize,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// Why a connection found no place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// All places are taken (`max_pending_connections`).
    Full,
    /// Its address holds all the places one address may
    /// (`max_pending_connections_per_address`).
    AddressFull,
}

impl Pool {
    fn counts(&self) -> MutexGuard<'_, Counts> {
        // Nothing panics under this lock.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one more place for `address`, whatever the caps.
    fn take(counts: &mut Counts, address: IpAddr) {
        counts.total += 1;
        *counts.by_address.entry(address).or_insert(0) += 1;
    }

    fn give_back(&self, address: IpAddr) {
        let mut counts = self.counts();
        counts.total = counts.total.saturating_sub(1);
        if let Some(count) = counts.by_address.get_mut(&address) {
            *count -= 1;
            if *count == 0 {
                counts.by_address.remove(&address);
            }
        }
    }
}

/// What the per-address cap counts: an IPv4 address, or an IPv6 /64 (one host usually
/// holds a whole /64); IPv4-mapped IPv6 addresses count as IPv4.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

impl PendingConnections {
    /// Room for `max` connections at once, at most `max_per_address` of them (0: any
    /// number) from one address.
    pub(crate) fn new(max: usize, max_per_address: usize) -> PendingConnections {
        PendingConnections {
            pool: Arc::new(Pool {
                max,
                max_per_address,
                counts: Mutex::new(Counts::default()),
            }),
        }
    }

    /// A place for a new connection from `remote`, or why there is none.
    pub(crate) fn admit(&self, remote: IpAddr) -> Result<PendingPlace, Refusal> {
        let address = address_key(remote);
        let mut counts = self.pool.counts();
        if counts.total >= self.pool.max {
            return Err(Refusal::Full);
        }
        let per_address = counts.by_address.get(&address).copied().unwrap_or(0);
        if self.pool.max_per_address > 0 && per_address >= self.pool.max_per_address {
            return Err(Refusal::AddressFull);
        }
        Pool::take(&mut counts, address);
        drop(counts);
        Ok(PendingPlace(Arc::new(Place {
            pool: Arc::clone(&self.pool),
            address,
            held: Mutex::new(true),
        })))
    }
}

/// One connection's place; given back when the connection ends, is upgraded to a
/// WebSocket, or [`release`](Self::release)s it while it serves a SockJS receiving request
/// (which the session limit counts instead). Clones share the place.
#[derive(Debug, Clone)]
pub(crate) struct PendingPlace(Arc<Place>);

#[derive(Debug)]
struct Place {
    pool: Arc<Pool>,
    address: IpAddr,
    held: Mutex<bool>,
}

impl Place {
    fn held(&self) -> MutexGuard<'_, bool> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl PendingPlace {
    /// Gives the place back until [`reclaim`](Self::reclaim).
    pub(crate) fn release(&self) {
        let mut held = self.0.held();
        if std::mem::replace(&mut *held, false) {
            self.0.pool.give_back(self.0.address);
        }
    }

    /// Counts the connection as plain HTTP again (its SockJS receiving request ended and it
    /// may stay open, kept alive). Taken even past the caps: the connection is already open,
    /// and new ones wait until it closes or is released again.
    pub(crate) fn reclaim(&self) {
        let mut held = self.0.held();
        if !std::mem::replace(&mut *held, true) {
            Pool::take(&mut self.0.pool.counts(), self.0.address);
        }
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if *self.held() {
            self.pool.give_back(self.address);
        }
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

/// How often an accept loop's warnings may be logged.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// One listener's accept loop: the pending-connection caps, the back-off after failed
/// accepts, and its warnings at most once per [`LOG_EVERY`] each. Shared by the HTTP
/// (WebSocket, SockJS) listener and the STOMP-over-TCP one.
pub(crate) struct Acceptor<'a> {
    pending: &'a PendingConnections,
    /// Names the listener in log lines (`HTTP`, `STOMP TCP`).
    what: &'static str,
    backoff: AcceptBackoff,
    failure_log: LogEvery,
    refusal_log: LogEvery,
}

impl<'a> Acceptor<'a> {
    /// An accept loop held to `pending`, logging as `what`.
    pub(crate) fn new(pending: &'a PendingConnections, what: &'static str) -> Acceptor<'a> {
        Acceptor {
            pending,
            what,
            backoff: AcceptBackoff::default(),
            failure_log: LogEvery::new(LOG_EVERY),
            refusal_log: LogEvery::new(LOG_EVERY),
        }
    }

    /// The next connection the pending caps admit, with its place; `None` once `stop`
    /// resolves. A failed accept (out of file descriptors) waits longer each time instead of
    /// spinning; a connection past the caps is answered by `refuse` and dropped.
    pub(crate) async fn next<S>(
        &mut self,
        listener: &tokio::net::TcpListener,
        stop: &mut S,
        refuse: impl Fn(&tokio::net::TcpStream),
    ) -> Option<(tokio::net::TcpStream, std::net::SocketAddr, PendingPlace)>
    where
        S: std::future::Future<Output = ()> + Unpin,
    {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = &mut *stop => return None,
            };
            let (tcp, remote) = match accepted {
                Ok(pair) => pair,
                Err(error) => {
                    let delay = self.backoff.failed();
                    if let Some(more) = self.failure_log.due(Instant::now()) {
                        tracing::warn!(%error, listener = self.what, failures_not_logged = more, ?delay, "accept failed; backing off");
                    }
                    tokio::select! {
                        () = tokio::time::sleep(delay) => continue,
                        () = &mut *stop => return None,
                    }
                }
            };
            self.backoff.succeeded();
            match self.pending.admit(remote.ip()) {
                Ok(place) => return Some((tcp, remote, place)),
                Err(refusal) => {
                    refuse(&tcp);
                    self.refused(remote, refusal);
                }
            }
        }
    }

    /// Logs a refusal now and then, naming the cap.
    fn refused(&mut self, remote: std::net::SocketAddr, refusal: Refusal) {
        if let Some(more) = self.refusal_log.due(Instant::now()) {
            let cap = match refusal {
                Refusal::Full => "max_pending_connections",
                Refusal::AddressFull => "max_pending_connections_per_address",
            };
            tracing::warn!(%remote, listener = self.what, refusals_not_logged = more, cap, "connection refused: too many connections not yet in a session");
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

    const HOST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn places_come_back_when_released_or_dropped() {
        let pending = PendingConnections::new(1, 0);
        let place = pending.admit(HOST).expect("a place");
        assert_eq!(pending.admit(HOST).err(), Some(Refusal::Full));
        let shared = place.clone();
        shared.release();
        let again = pending.admit(HOST).expect("released");
        shared.release();
        drop(place);
        assert!(
            pending.admit(HOST).is_err(),
            "a released place is not given back twice"
        );
        drop(again);
        assert!(pending.admit(HOST).is_ok());
    }

    #[test]
    fn a_reclaimed_place_counts_again_and_comes_back_once() {
        let pending = PendingConnections::new(1, 0);
        let place = pending.admit(HOST).expect("a place");
        place.release();
        let other = pending.admit(HOST).expect("released");
        // Over the cap for a moment: the connection is open already.
        place.reclaim();
        place.reclaim();
        drop(other);
        assert!(pending.admit(HOST).is_err(), "the reclaimed place counts");
        drop(place);
        assert!(pending.admit(HOST).is_ok(), "and comes back when it closes");
    }

    #[test]
    fn one_address_cannot_take_every_place() {
        let pending = PendingConnections::new(10, 2);
        let first = pending.admit(HOST).expect("one");
        let _second = pending.admit(HOST).expect("two");
        assert_eq!(pending.admit(HOST).err(), Some(Refusal::AddressFull));
        let other: IpAddr = "127.0.0.2".parse().expect("address");
        assert!(pending.admit(other).is_ok(), "another address is let in");
        drop(first);
        assert!(pending.admit(HOST).is_ok());
    }

    #[test]
    fn ipv6_addresses_count_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("address");
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("address");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("address");
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().expect("address");
        assert_eq!(address_key(mapped), HOST);
    }
}

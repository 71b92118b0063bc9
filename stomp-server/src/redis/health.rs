//! Whether the backplane can carry messages now: both of its connections to Redis (the
//! publishing one and the subscriber one) are up. Reported as the relay reports its broker:
//! `SessionEvent::BrokerAvailable`/`BrokerUnavailable` and `stats.broker_available`, on
//! transitions only.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

use crate::broker::BrokerError;
use crate::event::{Events, SessionEvent};
use crate::stats::{Backplane, Stats};

/// One of the backplane's two connections.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Link {
    /// The connection that `PUBLISH`es this instance's messages.
    Publisher,
    /// The connection that `SUBSCRIBE`s and receives the other instances' messages.
    Subscriber,
}

/// The state of both connections, and where changes are reported.
pub(crate) struct Health {
    // A std Mutex: held only to swap a link's state and compare, never across an await or a
    // call out (events are published after it is released).
    links: Mutex<Links>,
    events: Arc<Events>,
    stats: Arc<Stats>,
    /// The Redis URL without its password, for log lines.
    server: String,
    /// Counts the subscriber link's falls from up to down.
    subscriber_losses: AtomicU64,
    /// Told at each of those falls.
    subscriber_lost: Notify,
}

/// Why each link is down (`None`: up), and whether the last report said available.
struct Links {
    publisher: Option<String>,
    subscriber: Option<String>,
    reported: Option<bool>,
}

impl Health {
    /// Both links down ("connecting") until they report.
    pub(crate) fn new(events: Arc<Events>, stats: Arc<Stats>, server: String) -> Health {
        let connecting = Some(format!("connecting to Redis at {server}"));
        Health {
            links: Mutex::new(Links {
                publisher: connecting.clone(),
                subscriber: connecting,
                reported: None,
            }),
            events,
            stats,
            server,
            subscriber_losses: AtomicU64::new(0),
            subscriber_lost: Notify::new(),
        }
    }

    /// Records that `link` is up (`Ok`) or down and why; reports a change of the whole.
    pub(crate) fn set(&self, link: Link, state: Result<(), String>) {
        let change = {
            let mut links = self.links();
            let slot = match link {
                Link::Publisher => &mut links.publisher,
                Link::Subscriber => &mut links.subscriber,
            };
            let (fell, up) = (slot.is_none() && state.is_err(), state.is_ok());
            *slot = state.err();
            if fell && matches!(link, Link::Subscriber) {
                self.subscriber_losses.fetch_add(1, Ordering::AcqRel);
                self.subscriber_lost.notify_waiters();
            }
            let available = links.down_reason().is_none();
            // At start-up one link may be up before the other: not a fall worth reporting.
            let starting = links.reported.is_none() && up;
            if links.reported == Some(available) || (starting && !available) {
                return;
            }
            links.reported = Some(available);
            links.down_reason()
        };
        match change {
            None => {
                tracing::info!(server = %self.server, "Redis backplane connected");
                self.stats.backplane_available(Backplane::Redis, true);
                self.events.publish(&SessionEvent::BrokerAvailable);
            }
            Some(reason) => {
                tracing::warn!(server = %self.server, reason, "Redis backplane unavailable; retrying");
                self.stats.backplane_available(Backplane::Redis, false);
                self.events
                    .publish(&SessionEvent::BrokerUnavailable { reason });
            }
        }
    }

    /// Waits until the server that reports to `events` is built (at most a second: it
    /// takes microseconds, unless it was dropped half-built), so that the first change
    /// reaches the listeners.
    pub(crate) async fn server_built(&self) {
        for _ in 0..200 {
            if self.events.ready() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// `Ok` while both links are up; else why not, as the `ERROR` a `CONNECT` gets.
    pub(crate) fn available(&self) -> Result<(), BrokerError> {
        match self.links().down_reason() {
            None => Ok(()),
            Some(reason) => Err(BrokerError::Unavailable(reason)),
        }
    }

    /// How many times the subscriber link fell from up to down so far.
    pub(crate) fn subscriber_losses(&self) -> u64 {
        self.subscriber_losses.load(Ordering::Acquire)
    }

    /// Resolves at the subscriber link's next fall.
    pub(crate) async fn subscriber_lost(&self) {
        self.subscriber_lost.notified().await;
    }

    fn links(&self) -> std::sync::MutexGuard<'_, Links> {
        self.links.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Links {
    fn down_reason(&self) -> Option<String> {
        self.publisher.clone().or_else(|| self.subscriber.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn health() -> (Health, Arc<Stats>) {
        let stats = Arc::new(Stats::default());
        let events = Arc::new(Events::new(Vec::new(), std::sync::Weak::new()));
        let health = Health::new(events, Arc::clone(&stats), "redis://x".to_owned());
        (health, stats)
    }

    #[test]
    fn available_only_while_both_links_are_up_and_each_change_reported_once() {
        let (health, stats) = health();
        let reported = || stats.snapshot().broker_available;
        assert!(health.available().is_err());
        health.set(Link::Publisher, Ok(()));
        // One link up before the other at start-up is not a fall.
        assert_eq!(reported(), None);
        assert!(health.available().is_err());
        health.set(Link::Subscriber, Ok(()));
        assert_eq!((health.available(), reported()), (Ok(()), Some(true)));

        health.set(Link::Subscriber, Err("gone".to_owned()));
        let down = Err(BrokerError::Unavailable("gone".to_owned()));
        assert_eq!((health.available(), reported()), (down, Some(false)));
        health.set(Link::Subscriber, Err("still gone".to_owned()));
        health.set(Link::Publisher, Err("gone too".to_owned()));
        assert_eq!(
            health.subscriber_losses(),
            1,
            "one fall, however many failures"
        );

        health.set(Link::Subscriber, Ok(()));
        assert_eq!(reported(), Some(false), "the publisher is still down");
        health.set(Link::Publisher, Ok(()));
        assert_eq!(reported(), Some(true));
        assert_eq!(stats.snapshot().broker_reconnects, 1);
    }

    #[test]
    fn the_backplane_reports_its_state_and_reconnects_as_redis() {
        use crate::stats::BackplaneStats;
        let (health, stats) = health();
        let backplanes = || stats.snapshot().backplanes;
        health.set(Link::Publisher, Ok(()));
        health.set(Link::Subscriber, Ok(()));
        health.set(Link::Subscriber, Err("gone".to_owned()));
        let redis = |available, reconnects| BackplaneStats {
            backplane: Backplane::Redis,
            available,
            reconnects,
        };
        assert_eq!(backplanes(), vec![redis(false, 0)]);
        health.set(Link::Subscriber, Ok(()));
        assert_eq!(backplanes(), vec![redis(true, 1)]);
    }

    #[test]
    fn a_failure_at_start_up_is_reported() {
        let (health, stats) = health();
        health.set(Link::Publisher, Err("refused".to_owned()));
        assert_eq!(stats.snapshot().broker_available, Some(false));
        assert_eq!(health.subscriber_losses(), 0);
    }
}

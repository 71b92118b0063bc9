//! The shared system connection: application messages (`Template`, handler replies, client
//! SENDs) go to the broker through it. It reconnects with exponential back-off and reports
//! the broker's availability as events and stats.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use stomp_core::{names, Command, Frame, HeartBeat};
use tokio::sync::watch;

use super::config::RelayConfig;
use super::connection::{connect, Backlog, BrokerSender, ConnectOptions};
use super::inbound::ReadAhead;
use crate::broker::{BrokerError, Pace};
use crate::event::{Events, SessionEvent};
use crate::stats::{Backplane, Stats};

/// State shared by the relay and its system connection task.
pub(super) struct Shared {
    pub(super) config: RelayConfig,
    // A std RwLock: only swapped on (re)connect and read to clone the sender.
    sender: RwLock<Option<BrokerSender>>,
    /// Where availability changes are reported.
    events: Arc<Events>,
    stats: Arc<Stats>,
    /// 0: unknown, 1: up, 2: down (events only on transitions).
    state: AtomicU8,
    /// The same, for those waiting for the first answer.
    watch: watch::Sender<u8>,
}

/// [`Shared::state`]: not known yet.
const UNKNOWN: u8 = 0;
/// [`Shared::state`]: the system connection is open.
const UP: u8 = 1;

impl Shared {
    pub(super) fn new(config: RelayConfig, events: Arc<Events>, stats: Arc<Stats>) -> Shared {
        Shared {
            config,
            sender: RwLock::new(None),
            events,
            stats,
            state: AtomicU8::new(UNKNOWN),
            watch: watch::Sender::new(UNKNOWN),
        }
    }

    /// Whether the broker can be used now: refused while the system connection is down
    /// (or not open yet).
    pub(super) fn available(&self) -> Result<(), BrokerError> {
        if self.state.load(Ordering::Acquire) == UP {
            return Ok(());
        }
        Err(BrokerError::Unavailable(
            "the system connection to the broker is down".to_owned(),
        ))
    }

    /// Waits up to `limit` for the first connection attempt's outcome when it is not known
    /// yet (a server just started), then says whether the broker can be used.
    pub(super) async fn wait_known(&self, limit: Duration) -> Result<(), BrokerError> {
        let mut known = self.watch.subscribe();
        let _ = tokio::time::timeout(limit, known.wait_for(|state| *state != UNKNOWN)).await;
        self.available()
    }

    /// True until the first connection attempt's outcome is known.
    pub(super) fn unknown(&self) -> bool {
        self.state.load(Ordering::Acquire) == UNKNOWN
    }

    /// Sends a frame on the system connection.
    pub(super) fn send(&self, frame: Frame) -> Result<(), BrokerError> {
        let sender = self
            .sender
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match sender {
            Some(sender) => sender.send(frame),
            None => Err(BrokerError::Unavailable(
                "the system connection to the broker is down".to_owned(),
            )),
        }
    }

    /// A wait for the system connection to drain, when it holds three quarters of its bound
    /// (see [`RelayConfig::publish_wait`]).
    pub(super) fn pace(&self) -> Option<Pace> {
        let (backlog, limit) = {
            let sender = self.sender.read().unwrap_or_else(PoisonError::into_inner);
            let (backlog, limit) = sender.as_ref()?.backlog();
            if backlog.bytes() < limit / 4 * 3 {
                return None;
            }
            (backlog.clone(), limit)
        };
        let wait = self.config.publish_wait;
        Some(Box::pin(async move {
            match tokio::time::timeout(wait, backlog.drained_below(limit / 2)).await {
                Ok(()) => Ok(()),
                Err(_) => Err(BrokerError::Backlog {
                    queued: backlog.bytes(),
                    limit,
                }),
            }
        }))
    }

    fn set_sender(&self, sender: Option<BrokerSender>) {
        *self.sender.write().unwrap_or_else(PoisonError::into_inner) = sender;
    }

    /// Records availability and tells listeners on transitions.
    fn availability(&self, available: bool, reason: &str) {
        let new = if available { UP } else { 2 };
        if self.state.swap(new, Ordering::AcqRel) == new {
            return;
        }
        self.watch.send_replace(new);
        if available {
            tracing::info!(address = %self.config.address(), "broker relay connected");
        } else {
            tracing::warn!(address = %self.config.address(), reason, "broker relay unavailable; retrying");
        }
        self.stats.backplane_available(Backplane::Relay, available);
        self.events.publish(&if available {
            SessionEvent::BrokerAvailable
        } else {
            SessionEvent::BrokerUnavailable {
                reason: reason.to_owned(),
            }
        });
    }

    pub(super) fn options(&self, system: bool) -> ConnectOptions {
        let config = &self.config;
        let millis = |d: Duration| u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
        ConnectOptions {
            address: config.address(),
            virtual_host: config.virtual_host.clone(),
            login: if system {
                &config.system_login
            } else {
                &config.client_login
            }
            .clone(),
            passcode: if system {
                &config.system_passcode
            } else {
                &config.client_passcode
            }
            .clone(),
            // Client sessions rely on TCP and their own STOMP heart-beats with the client;
            // the long-lived system connection checks the broker itself, as in Spring.
            heartbeat: if system {
                HeartBeat {
                    outgoing_ms: millis(config.system_heartbeat_send_interval),
                    incoming_ms: millis(config.system_heartbeat_receive_interval),
                }
            } else {
                HeartBeat::default()
            },
            connect_timeout: config.connect_timeout,
            send_buffer_size: if system {
                config.system_send_buffer_size
            } else {
                config.client_send_buffer_size
            },
            send_time: config.send_time_limit,
            publish_batch: if system { config.publish_batch } else { 1 },
            #[cfg(feature = "tls")]
            tls: config.tls.clone(),
            #[cfg(not(feature = "tls"))]
            tls: None,
            host: config.host.clone(),
        }
    }
}

/// Keeps the system connection open until the relay is dropped.
pub(super) async fn run_system(shared: Weak<Shared>) {
    let mut delay = Duration::from_millis(100);
    loop {
        let Some(options) = shared.upgrade().map(|s| s.options(true)) else {
            return;
        };
        let max_delay = shared
            .upgrade()
            .map_or(Duration::from_secs(5), |s| s.config.max_reconnect_delay);
        // A fresh count for each connection: what a lost one held went with it.
        match connect(&options, Backlog::default(), ReadAhead::default()).await {
            Ok(mut connection) => {
                let Some(live) = shared.upgrade() else { return };
                live.set_sender(Some(connection.sender.clone()));
                live.availability(true, "");
                drop(live);
                delay = Duration::from_millis(100);
                let reason = loop {
                    // Wake up now and then to notice that the relay (the server) is gone.
                    let next = tokio::select! {
                        next = connection.frames.recv() => next,
                        () = tokio::time::sleep(Duration::from_secs(1)) => {
                            if shared.strong_count() == 0 {
                                return;
                            }
                            continue;
                        }
                    };
                    match next {
                        Some(Ok(frame)) if frame.command == Command::Error => {
                            let message = frame.get(names::MESSAGE).unwrap_or("(no message)");
                            tracing::warn!(
                                broker_message = %crate::log::Escaped(message),
                                "ERROR from the broker on the system connection"
                            );
                            break format!("broker error: {message}");
                        }
                        Some(Ok(_)) => {}
                        Some(Err(error)) => break error.to_string(),
                        None => break "connection closed".to_owned(),
                    }
                };
                let Some(live) = shared.upgrade() else { return };
                live.set_sender(None);
                live.availability(false, &reason);
            }
            Err(error) => {
                let Some(live) = shared.upgrade() else { return };
                live.availability(false, &error.to_string());
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(max_delay);
    }
}

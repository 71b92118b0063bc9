//! The open broker boundary (SPI): an [`Upstream`] connects this instance's
//! [`SimpleBroker`](super::SimpleBroker) — its subscription registry and its fan-out to this
//! instance's sessions, the "local part" — to other instances (a backplane: the RabbitMQ
//! relay, Redis pub/sub, a message bus, or a channel in a test).
//!
//! The local part stays the same for every backplane: it matches subscriptions, encodes a
//! `MESSAGE` once per distinct subscription id, paces slow consumers and tracks
//! acknowledgements. An upstream only carries messages between instances:
//!
//! - [`Upstream::publish`]: a message published on this instance (a client's `SEND`, a
//!   handler's reply, the template), before the local fan-out; send it to the other
//!   instances. An error refuses the message: nobody receives it, and its sender is told.
//! - [`LocalBroker::deliver_to`] (or [`LocalBroker::deliver`]): what came back from another
//!   instance; the local part fans it out to this instance's subscribers, and does not hand
//!   it to the upstream again.
//! - [`Upstream::subscribe`] / [`Upstream::unsubscribe`]: this instance's first subscription
//!   to a destination (or pattern) appeared, or its last one ended; a backplane that routes by
//!   destination listens to it, once per instance, however many sessions subscribe. The
//!   subscriptions waiting for it are confirmed (their `RECEIPT`) once the upstream says the
//!   destination is live ([`UpstreamSubscription::live`]).
//!
//! - User destinations, for an upstream whose [`Upstream::carries_users`] is true:
//!   [`Upstream::publish_to_user`] sends a message for every session of a user to the
//!   other instances, and [`Upstream::subscribe`] / [`Upstream::unsubscribe_user`] say when
//!   this instance's first session of a user subscribed to a user destination
//!   ([`UpstreamSubscription::user`]) and when its last one left;
//!   [`LocalBroker::deliver_to_user`] hands what arrives to that user's sessions here.
//!
//! Point-to-point queues stay local; so do user destinations unless the upstream carries
//! them.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use tokio::sync::oneshot;

use super::registry::Interest;
use super::{BrokerError, Confirmation, PublishedMessage, SimpleBroker};

/// The upstream part of a broker: what connects this instance to the others.
///
/// Its methods run on the publishing or subscribing task, with no lock of the broker held
/// (they may publish, or deliver through their [`LocalBroker`]): keep them short (hand the
/// work to a channel or a task), and do not block. `subscribe` and `unsubscribe` calls come
/// one at a time, in the order the subscriptions changed.
pub trait Upstream: Send + Sync + 'static {
    /// Sends a message published on this instance to the other instances; called before it
    /// is delivered to this instance's own subscribers. An error refuses the message
    /// everywhere: its sender gets it (an `ERROR` frame, or the template's `Err`).
    fn publish(&self, message: &Arc<PublishedMessage>) -> Result<(), BrokerError>;

    /// This instance's first subscription to [`subscription.destination()`](UpstreamSubscription::destination)
    /// (a destination or a pattern such as `/topic/chat/**`) appeared. Called again for the
    /// same destination only after [`unsubscribe`](Self::unsubscribe). The subscriptions
    /// waiting for it are confirmed when the upstream calls
    /// [`live`](UpstreamSubscription::live) (at once, by default) and refused with the
    /// error given to [`failed`](UpstreamSubscription::failed).
    fn subscribe(&self, subscription: UpstreamSubscription) {
        subscription.live();
    }

    /// This instance's last subscription to `destination` ended.
    fn unsubscribe(&self, destination: &str) {
        let _ = destination;
    }

    /// True when this upstream carries user destinations between instances: it is then
    /// also told of user listens (an [`UpstreamSubscription`] with a
    /// [`user`](UpstreamSubscription::user), ended by
    /// [`unsubscribe_user`](Self::unsubscribe_user)) and of messages for users
    /// ([`publish_to_user`](Self::publish_to_user)). Asked once, when the broker is built.
    fn carries_users(&self) -> bool {
        false
    }

    /// Sends a message for every session of `user` (its destination is the one under the
    /// user prefix, `/queue/x`) to the other instances; this instance's own sessions of
    /// the user get it from the local broker. An error refuses the message. Called only when
    /// [`carries_users`](Self::carries_users).
    fn publish_to_user(
        &self,
        user: &str,
        message: &Arc<PublishedMessage>,
    ) -> Result<(), BrokerError> {
        let _ = (user, message);
        Ok(())
    }

    /// This instance's last session of `user` subscribed to the user destination
    /// `destination` (`/queue/x`) left.
    fn unsubscribe_user(&self, user: &str, destination: &str) {
        let _ = (user, destination);
    }

    /// Whether a new session may connect now (asked at each `CONNECT`): an error answers
    /// the `CONNECT` with an `ERROR` carrying it, as Spring's relay does while its broker is
    /// down. Sessions already connected stay.
    fn available(&self) -> Result<(), BrokerError> {
        Ok(())
    }
}

/// This instance's first subscription to a destination, handed to [`Upstream::subscribe`]:
/// say when the upstream listens to it ([`live`](Self::live)) or why it cannot
/// ([`failed`](Self::failed)). Dropping it unsaid counts as failed. Saying it after the
/// destination lost its last subscriber (or after the server stopped) does nothing.
#[must_use = "the subscriptions waiting for it are confirmed only once it is live"]
pub struct UpstreamSubscription {
    destination: String,
    /// For a user listen: the user (see [`user`](Self::user)).
    user: Option<String>,
    generation: u64,
    readiness: Weak<Readiness>,
    settled: bool,
}

impl UpstreamSubscription {
    /// The destination or pattern (in this server's syntax, `/topic/chat/**`).
    pub fn destination(&self) -> &str {
        &self.destination
    }

    /// For a user destination (only when [`Upstream::carries_users`]): the user whose
    /// session of this instance is the first here to subscribe to its user destination
    /// [`destination`](Self::destination) (`/queue/x` for `/user/queue/x`). The user is a
    /// principal's name, or an anonymous session's id.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The upstream listens to the destination: the subscriptions waiting are confirmed.
    pub fn live(mut self) {
        self.settle(Ok(()));
    }

    /// The upstream cannot listen to the destination: the subscriptions waiting for it are
    /// refused with `error` (an `ERROR` frame), and so are new ones until every local
    /// subscription to it ended.
    pub fn failed(mut self, error: BrokerError) {
        self.settle(Err(error));
    }

    fn settle(&mut self, result: Result<(), BrokerError>) {
        self.settled = true;
        if let Some(readiness) = self.readiness.upgrade() {
            let key = state_key(self.user.as_deref(), &self.destination);
            readiness.settle(&key, self.generation, result);
        }
    }
}

impl Drop for UpstreamSubscription {
    fn drop(&mut self) {
        if !self.settled {
            self.settle(Err(BrokerError::Unavailable(
                "the upstream dropped the subscription before it was live".to_owned(),
            )));
        }
    }
}

impl std::fmt::Debug for UpstreamSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamSubscription")
            .field("destination", &self.destination)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// A handle to this instance's local part, given to an [`Upstream`] when it is built, for
/// delivering what comes from other instances. Cloning is a reference count; it does not
/// keep the broker alive: delivering before the broker is built (from inside the factory)
/// or after the server is gone is refused with [`BrokerError::Unavailable`].
#[derive(Clone, Debug)]
pub struct LocalBroker {
    pub(super) broker: Weak<SimpleBroker>,
}

impl LocalBroker {
    /// Fans `message` out to every matching subscription of this instance (not to the
    /// upstream); returns how many received it. For an upstream that hands each message to
    /// each instance once. A destination no broker prefix covers is refused, and so is any
    /// message while the broker is not running.
    pub fn deliver(&self, message: PublishedMessage) -> Result<usize, BrokerError> {
        self.broker()?.deliver_local(message, None)
    }

    /// Fans `message` out to this instance's subscriptions made to exactly `subscribed`, a
    /// destination or pattern the upstream was given in [`Upstream::subscribe`]. For an
    /// upstream that listens once per destination and pattern, and so receives a message
    /// once for each of them that matches: each subscriber still gets it once.
    pub fn deliver_to(
        &self,
        subscribed: &str,
        message: PublishedMessage,
    ) -> Result<usize, BrokerError> {
        self.broker()?.deliver_local(message, Some(subscribed))
    }

    /// Delivers `message` to the subscriptions of one session of this instance whose
    /// destination it names (a user destination's broker name, `/queue/x-user{session}`).
    pub(crate) fn deliver_for_session(
        &self,
        session: &crate::principal::SessionId,
        message: PublishedMessage,
    ) -> Result<usize, BrokerError> {
        use super::Broker as _;
        let destination = message.destination.clone();
        self.broker()?
            .publish_for_session(session, &destination, Arc::new(message))
    }

    /// Delivers `message` (its destination under the user prefix, `/queue/x`) to every
    /// session of `user` on this instance subscribed to that user destination; returns how
    /// many subscriptions received it. For an upstream that carries user destinations.
    pub fn deliver_to_user(
        &self,
        user: &str,
        message: PublishedMessage,
    ) -> Result<usize, BrokerError> {
        self.broker()?.deliver_to_user(user, message)
    }

    fn broker(&self) -> Result<Arc<SimpleBroker>, BrokerError> {
        self.broker.upgrade().ok_or_else(|| {
            BrokerError::Unavailable(
                "the local broker is not running (not built yet, or stopped)".to_owned(),
            )
        })
    }
}

/// Builds an [`Upstream`] for the broker whose local part it is given.
pub type UpstreamFactory = Box<dyn FnOnce(LocalBroker) -> Arc<dyn Upstream> + Send>;

/// Which destinations the upstream listens to, and the subscriptions waiting for it.
#[derive(Debug, Default)]
pub(super) struct Readiness {
    // A std Mutex: held to look up or change one destination's state, never across a call
    // into the upstream or an await.
    states: Mutex<HashMap<String, Upstate>>,
    next_generation: AtomicU64,
}

/// One destination's state upstream, for its `generation`-th first subscription.
#[derive(Debug)]
struct Upstate {
    generation: u64,
    ready: Ready,
}

#[derive(Debug)]
enum Ready {
    /// Told, or about to be told; these subscriptions wait.
    Pending(Vec<oneshot::Sender<Result<(), BrokerError>>>),
    Live,
    Failed(BrokerError),
}

impl Readiness {
    fn states(&self) -> MutexGuard<'_, HashMap<String, Upstate>> {
        self.states.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn settle(&self, destination: &str, generation: u64, result: Result<(), BrokerError>) {
        let mut states = self.states();
        let Some(state) = states.get_mut(destination) else {
            return;
        };
        if state.generation != generation {
            return;
        }
        let ready = match &result {
            Ok(()) => Ready::Live,
            Err(error) => Ready::Failed(error.clone()),
        };
        if let Ready::Pending(waiting) = std::mem::replace(&mut state.ready, ready) {
            for waiter in waiting {
                let _ = waiter.send(result.clone());
            }
        }
    }
}

/// The broker's upstream, the interest changes it has not been told yet (in the order the
/// registry made them), the lock held by whichever thread is telling it, and what it said.
pub(super) struct UpstreamLink {
    pub(super) upstream: Arc<dyn Upstream>,
    /// Filled while the registry's write lock is held, so its order is the registry's;
    /// a gained destination with the generation of its [`Readiness`] state.
    pending: Mutex<VecDeque<(Told, u64)>>,
    /// Held while the upstream is told, never together with the registry lock: a thread
    /// that finds it taken leaves its changes to the holder, which drains until `pending`
    /// is empty (so an upstream that publishes or delivers from its callbacks cannot
    /// deadlock the broker, and a nested change on the same thread is told after the one
    /// being told).
    telling: Mutex<()>,
    readiness: Arc<Readiness>,
    /// What the upstream said [`Upstream::carries_users`].
    carries_users: bool,
}

/// A change the upstream is told: a destination (or, with a user, a user destination)
/// gained its first or lost its last subscription here.
#[derive(Debug)]
struct Told {
    gained: bool,
    user: Option<String>,
    destination: String,
}

/// The key of a destination's state in [`Readiness`]: the destination itself, or for a
/// user destination one that no destination can be (it starts with a NUL).
fn state_key(user: Option<&str>, destination: &str) -> String {
    match user {
        None => destination.to_owned(),
        Some(user) => format!("\0{user}\0{destination}"),
    }
}

impl UpstreamLink {
    /// A link to `upstream`, which has been told nothing yet.
    pub(super) fn new(upstream: Arc<dyn Upstream>) -> UpstreamLink {
        let carries_users = upstream.carries_users();
        UpstreamLink {
            upstream,
            pending: Mutex::default(),
            telling: Mutex::new(()),
            readiness: Arc::default(),
            carries_users,
        }
    }

    /// True when the upstream carries user destinations.
    pub(super) fn carries_users(&self) -> bool {
        self.carries_users
    }

    /// Records interest changes, in order, to be told by [`tell`](Self::tell). Called with
    /// the registry's write lock held, so that a subscription added after a gain finds its
    /// destination pending.
    pub(super) fn record(&self, interest: Vec<Interest>) {
        self.record_all(interest.into_iter().map(|change| match change {
            Interest::Gained(destination) => (true, None, destination),
            Interest::Lost(destination) => (false, None, destination),
        }));
    }

    /// Records that `user`'s user destination `destination` gained its first (or lost its
    /// last) subscription here, to be told by [`tell`](Self::tell). Called with the
    /// broker's user listens locked, so that changes are recorded in their order.
    pub(super) fn record_user(&self, gained: bool, user: &str, destination: &str) {
        let change = (gained, Some(user.to_owned()), destination.to_owned());
        self.record_all(std::iter::once(change));
    }

    fn record_all(&self, changes: impl Iterator<Item = (bool, Option<String>, String)>) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let mut states = self.readiness.states();
        for (gained, user, destination) in changes {
            let key = state_key(user.as_deref(), &destination);
            let generation = if gained {
                let generation = self
                    .readiness
                    .next_generation
                    .fetch_add(1, Ordering::Relaxed);
                let ready = Ready::Pending(Vec::new());
                states.insert(key, Upstate { generation, ready });
                generation
            } else {
                states.remove(&key);
                0
            };
            let told = Told {
                gained,
                user,
                destination,
            };
            pending.push_back((told, generation));
        }
    }

    /// Tells the upstream every pending change, in order, unless another thread is at it.
    pub(super) fn tell(&self) {
        loop {
            let Ok(telling) = self.telling.try_lock() else {
                return;
            };
            while let Some((told, generation)) = self.next_pending() {
                match told {
                    Told {
                        gained: true,
                        user,
                        destination,
                    } => self.upstream.subscribe(UpstreamSubscription {
                        destination,
                        user,
                        generation,
                        readiness: Arc::downgrade(&self.readiness),
                        settled: false,
                    }),
                    Told {
                        user: Some(user),
                        destination,
                        ..
                    } => self.upstream.unsubscribe_user(&user, &destination),
                    Told { destination, .. } => self.upstream.unsubscribe(&destination),
                }
            }
            drop(telling);
            // A change queued after the last look but before the unlock found the lock
            // taken and left: look again now that it is free.
            if self.pending_is_empty() {
                return;
            }
        }
    }

    /// When a broadcast subscription to `destination` is live: now (`Ok(None)`), once the
    /// confirmation resolves, or never (the upstream failed it).
    pub(super) fn confirmation(
        &self,
        destination: &str,
    ) -> Result<Option<Confirmation>, BrokerError> {
        self.confirmation_of(destination.to_owned())
    }

    /// When a subscription to `user`'s user destination `destination` is live.
    pub(super) fn user_confirmation(
        &self,
        user: &str,
        destination: &str,
    ) -> Result<Option<Confirmation>, BrokerError> {
        self.confirmation_of(state_key(Some(user), destination))
    }

    fn confirmation_of(&self, key: String) -> Result<Option<Confirmation>, BrokerError> {
        let mut states = self.readiness.states();
        let Some(state) = states.get_mut(&key) else {
            return Ok(None);
        };
        match &mut state.ready {
            Ready::Live => Ok(None),
            Ready::Failed(error) => Err(error.clone()),
            Ready::Pending(waiting) => {
                let (tx, rx) = oneshot::channel();
                waiting.push(tx);
                Ok(Some(rx))
            }
        }
    }

    fn next_pending(&self) -> Option<(Told, u64)> {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front()
    }

    fn pending_is_empty(&self) -> bool {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }
}

impl std::fmt::Debug for UpstreamLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamLink").finish_non_exhaustive()
    }
}

//! The chat's shared state: rooms, their recent history and who is in them.
//!
//! [`Rooms`] is registered with the server builder (`State<Rooms>` in handlers) and also
//! held by the session-event listener; it is a cheap clone of one `Arc`.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use stomp_server::SessionId;

/// How many messages a room remembers for `/app/chat/{room}/history`.
pub(crate) const HISTORY_LIMIT: usize = 50;

/// Most rooms kept at once; past it, the least recently active room nobody is in is
/// forgotten, so that clients inventing room names cannot grow memory without bound.
pub(crate) const MAX_ROOMS: usize = 1_000;

/// The longest room name.
pub(crate) const ROOM_NAME_MAX: usize = 32;

/// True when `name` matches `^[A-Za-z0-9_-]{1,32}$`.
pub(crate) fn is_valid_room(name: &str) -> bool {
    (1..=ROOM_NAME_MAX).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// A chat message as broadcast on `/topic/chat/{room}` and kept in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ChatMessage {
    /// Unique for the life of the server (and, with the start time in it, across restarts).
    pub(crate) id: String,
    pub(crate) room: String,
    pub(crate) sender: String,
    pub(crate) content: String,
    /// Server time, ms since the Unix epoch.
    pub(crate) timestamp: u64,
}

/// One entry of the room list on `/topic/rooms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct RoomSummary {
    pub(crate) name: String,
    pub(crate) members: usize,
}

/// The member list published on `/topic/chat/{room}/members`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct MemberList {
    pub(crate) room: String,
    pub(crate) members: Vec<String>,
    /// With the broker relay: the instance whose local members these are (the page shows
    /// the union of every instance's latest list). Absent with the embedded broker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) instance: Option<String>,
}

/// The room list on `/topic/rooms` and `/app/rooms`: the rooms alone with the embedded
/// broker; with the relay, this instance's rooms tagged with its id (the page adds up the
/// counts of every instance).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub(crate) enum RoomList {
    /// `[{"name", "members"}]`.
    Plain(Vec<RoomSummary>),
    /// `{"instance", "rooms": [{"name", "members"}]}`.
    Tagged {
        instance: String,
        rooms: Vec<RoomSummary>,
    },
}

/// What a subscribe or unsubscribe changed in one room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MembershipChange {
    pub(crate) room: String,
    pub(crate) member: String,
    /// True when the member's first subscription to the room arrived (join) or their last
    /// one left (leave); false when another tab of the same user came or went.
    pub(crate) presence_changed: bool,
    /// The room's members after the change.
    pub(crate) members: MemberList,
}

/// The chat's rooms. Cloning shares them.
#[derive(Debug, Clone)]
pub(crate) struct Rooms {
    // A std Mutex, not tokio's: every critical section is a few map operations and nothing
    // is awaited while it is held, so an async mutex would only add overhead.
    inner: Arc<Mutex<Inner>>,
    /// Serialises "change membership, then publish the new member list" across sessions,
    /// so the last list published for a room is always the latest one. Kept apart from
    /// `inner` so that posting messages never waits for a publication.
    publish: Arc<Mutex<()>>,
    /// The prefix of message ids: the server's start time, in hex.
    id_prefix: Arc<str>,
    /// This instance's id when several instances share a broker (the relay).
    instance: Option<String>,
    /// Member and room lists waiting to be published.
    pending: Arc<Pending>,
}

/// Join and leave notices a room may carry per second (and in a burst): a client toggling
/// its subscription as fast as it may send frames must not flood everyone in the room.
pub(crate) const NOTICES_PER_SECOND: f64 = 20.0;

/// Member lists and the room list that changed and are not published yet. Publishing them
/// after a short pause ([`crate::presence::publish_changes`]) turns a burst of changes (a
/// page of users arriving, a client toggling a subscription) into one list per room and
/// one room list, instead of one list to every page per change.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    state: Mutex<PendingState>,
    wake: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct PendingState {
    rooms: BTreeSet<String>,
    room_list: bool,
}

impl Pending {
    fn lock(&self) -> MutexGuard<'_, PendingState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks `room`'s member list (when given) and, with `room_list`, the room list as
    /// changed.
    pub(crate) fn mark(&self, room: Option<&str>, room_list: bool) {
        let mut state = self.lock();
        let was_empty = state.rooms.is_empty() && !state.room_list;
        // Bounded like the rooms themselves; a room past it is published on its next change.
        if let Some(room) = room.filter(|_| state.rooms.len() < MAX_ROOMS) {
            state.rooms.insert(room.to_owned());
        }
        state.room_list |= room_list;
        drop(state);
        if was_empty {
            self.wake.notify_one();
        }
    }

    /// Waits until something is marked.
    pub(crate) async fn changed(&self) {
        self.wake.notified().await;
    }

    /// What was marked, cleared: the rooms whose member lists changed, and whether the room
    /// list did.
    pub(crate) fn take(&self) -> (Vec<String>, bool) {
        let mut state = self.lock();
        let rooms = std::mem::take(&mut state.rooms).into_iter().collect();
        (rooms, std::mem::take(&mut state.room_list))
    }
}

#[derive(Debug, Default)]
struct Inner {
    rooms: HashMap<String, Room>,
    /// For each session, its subscriptions to room topics: subscription id → (room, member).
    /// `Unsubscribe` events carry only the subscription id, and `Disconnected` none.
    sessions: HashMap<SessionId, HashMap<String, (String, String)>>,
    /// Increases on every change; orders rooms by recent activity for eviction.
    clock: u64,
    /// The number in the last message id handed out.
    next_id: u64,
}

#[derive(Debug, Default)]
struct Room {
    /// Shared with the reply being broadcast: recording a message copies nothing.
    history: VecDeque<Arc<ChatMessage>>,
    /// Member name → number of live subscriptions (several tabs of one user count once).
    members: BTreeMap<String, usize>,
    last_active: u64,
    /// Join/leave notices left in this second's budget, and when it was last refilled.
    notices: (f64, Option<Instant>),
}

impl Default for Rooms {
    fn default() -> Rooms {
        Rooms::new()
    }
}

impl Rooms {
    /// No rooms yet.
    pub(crate) fn new() -> Rooms {
        Rooms {
            inner: Arc::default(),
            publish: Arc::default(),
            id_prefix: Arc::from(format!("{:x}", now_ms())),
            instance: None,
            pending: Arc::default(),
        }
    }

    /// No rooms yet, for one of several instances sharing a broker: member and room lists
    /// carry `instance`, and message ids start with it.
    pub(crate) fn for_instance(instance: &str) -> Rooms {
        Rooms {
            id_prefix: Arc::from(instance),
            instance: Some(instance.to_owned()),
            ..Rooms::new()
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves maps that are still consistent (every
        // operation is a handful of inserts/removes), so keep serving rather than poison.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The lists waiting to be published.
    pub(crate) fn pending(&self) -> &Pending {
        &self.pending
    }

    /// Takes one join/leave notice from `room`'s budget ([`NOTICES_PER_SECOND`]); false
    /// when the room has had its share this second (the member list still says who is
    /// there).
    pub(crate) fn allow_notice(&self, room: &str) -> bool {
        self.allow_notice_at(room, Instant::now())
    }

    /// [`Rooms::allow_notice`] at `now`.
    fn allow_notice_at(&self, room: &str, now: Instant) -> bool {
        let mut inner = self.lock();
        let Some(entry) = inner.rooms.get_mut(room) else {
            return true;
        };
        let (tokens, at) = &mut entry.notices;
        let earned = at.map_or(NOTICES_PER_SECOND, |at| {
            now.duration_since(at).as_secs_f64() * NOTICES_PER_SECOND
        });
        *tokens = (*tokens + earned).min(NOTICES_PER_SECOND);
        *at = Some(now);
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Held while a membership change is applied and published (see `publish`).
    pub(crate) fn publication(&self) -> MutexGuard<'_, ()> {
        self.publish.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records a message in `room`'s history (the oldest beyond [`HISTORY_LIMIT`] is
    /// dropped). Returns it and whether the room is new. Owned strings are moved into the
    /// message rather than copied.
    pub(crate) fn post(
        &self,
        room: impl Into<String>,
        sender: impl Into<String>,
        content: impl Into<String>,
    ) -> (Arc<ChatMessage>, bool) {
        let (room, sender, content) = (room.into(), sender.into(), content.into());
        let timestamp = now_ms();
        let mut inner = self.lock();
        // The id counter lives under the lock this takes anyway: no second shared counter
        // for the cores to pass back and forth.
        inner.next_id += 1;
        // Sized up front: `format!` guesses short and grows the string.
        let mut id = String::with_capacity(self.id_prefix.len() + 21);
        let _ = write!(id, "{}-{}", self.id_prefix, inner.next_id);
        let message = Arc::new(ChatMessage {
            id,
            room,
            sender,
            content,
            timestamp,
        });
        let (entry, created) = inner.room(&message.room);
        if entry.history.len() == HISTORY_LIMIT {
            entry.history.pop_front();
        }
        entry.history.push_back(Arc::clone(&message));
        (message, created)
    }

    /// The last messages of `room`, oldest first.
    pub(crate) fn history(&self, room: &str) -> Vec<Arc<ChatMessage>> {
        self.lock()
            .rooms
            .get(room)
            .map(|r| r.history.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The members of `room`, sorted by name.
    pub(crate) fn members(&self, room: &str) -> MemberList {
        let inner = self.lock();
        self.tag(member_list(room, inner.rooms.get(room)))
    }

    /// The member lists of every room that has members here.
    pub(crate) fn occupied(&self) -> Vec<MemberList> {
        let inner = self.lock();
        let mut lists: Vec<MemberList> = inner
            .rooms
            .iter()
            .filter(|(_, room)| !room.members.is_empty())
            .map(|(name, room)| self.tag(member_list(name, Some(room))))
            .collect();
        lists.sort_by(|a, b| a.room.cmp(&b.room));
        lists
    }

    /// [`list`](Self::list), tagged with the instance when there is one.
    pub(crate) fn room_list(&self) -> RoomList {
        let rooms = self.list();
        match &self.instance {
            Some(instance) => RoomList::Tagged {
                instance: instance.clone(),
                rooms,
            },
            None => RoomList::Plain(rooms),
        }
    }

    fn tag(&self, mut list: MemberList) -> MemberList {
        list.instance.clone_from(&self.instance);
        list
    }

    fn tag_change(&self, mut change: MembershipChange) -> MembershipChange {
        change.members = self.tag(change.members);
        change
    }

    /// Every room that has members or history, sorted by name, with member counts.
    pub(crate) fn list(&self) -> Vec<RoomSummary> {
        let inner = self.lock();
        let mut list: Vec<RoomSummary> = inner
            .rooms
            .iter()
            .map(|(name, room)| RoomSummary {
                name: name.clone(),
                members: room.members.len(),
            })
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        list
    }

    /// `member` (of `session`) subscribed to `room` with `subscription`.
    pub(crate) fn join(
        &self,
        session: &SessionId,
        subscription: &str,
        room: &str,
        member: &str,
    ) -> MembershipChange {
        let mut inner = self.lock();
        let previous = inner.sessions.entry(session.clone()).or_default().insert(
            subscription.to_owned(),
            (room.to_owned(), member.to_owned()),
        );
        if let Some((old_room, old_member)) = previous {
            // A client reusing a live subscription id: the server would have refused it,
            // but keep the counts right whatever happens.
            inner.remove_member(&old_room, &old_member);
        }
        let (entry, _) = inner.room(room);
        let count = entry.members.entry(member.to_owned()).or_insert(0);
        *count += 1;
        let presence_changed = *count == 1;
        self.tag_change(MembershipChange {
            room: room.to_owned(),
            member: member.to_owned(),
            presence_changed,
            members: member_list(room, Some(entry)),
        })
    }

    /// `session` removed `subscription`; `None` when it was not a room subscription.
    pub(crate) fn leave(
        &self,
        session: &SessionId,
        subscription: &str,
    ) -> Option<MembershipChange> {
        let mut inner = self.lock();
        let subscriptions = inner.sessions.get_mut(session)?;
        let (room, member) = subscriptions.remove(subscription)?;
        if subscriptions.is_empty() {
            inner.sessions.remove(session);
        }
        Some(self.tag_change(inner.remove_member(&room, &member)))
    }

    /// `session` ended: every room it was in, one change per subscription.
    pub(crate) fn disconnect(&self, session: &SessionId) -> Vec<MembershipChange> {
        let mut inner = self.lock();
        let Some(subscriptions) = inner.sessions.remove(session) else {
            return Vec::new();
        };
        subscriptions
            .into_values()
            .map(|(room, member)| self.tag_change(inner.remove_member(&room, &member)))
            .collect()
    }
}

impl Inner {
    /// The room named `name`, created if needed (evicting an idle one past [`MAX_ROOMS`]).
    fn room(&mut self, name: &str) -> (&mut Room, bool) {
        self.clock += 1;
        let clock = self.clock;
        let created = !self.rooms.contains_key(name);
        if created {
            self.make_room(name);
        }
        // Looked up by `&str`: posting to an existing room allocates no key.
        let room = self
            .rooms
            .get_mut(name)
            .expect("the room exists or was just made");
        room.last_active = clock;
        (room, created)
    }

    /// Adds an empty room, first forgetting the least recently active empty one when
    /// [`MAX_ROOMS`] are kept.
    fn make_room(&mut self, name: &str) {
        if self.rooms.len() >= MAX_ROOMS {
            let idle = self
                .rooms
                .iter()
                .filter(|(_, r)| r.members.is_empty())
                .min_by_key(|(_, r)| r.last_active)
                .map(|(n, _)| n.clone());
            if let Some(idle) = idle {
                self.rooms.remove(&idle);
            }
        }
        self.rooms.insert(name.to_owned(), Room::default());
    }

    fn remove_member(&mut self, room: &str, member: &str) -> MembershipChange {
        let mut presence_changed = false;
        if let Some(entry) = self.rooms.get_mut(room) {
            if let Some(count) = entry.members.get_mut(member) {
                *count -= 1;
                if *count == 0 {
                    entry.members.remove(member);
                    presence_changed = true;
                }
            }
            if entry.members.is_empty() && entry.history.is_empty() {
                self.rooms.remove(room);
            }
        }
        MembershipChange {
            room: room.to_owned(),
            member: member.to_owned(),
            presence_changed,
            members: member_list(room, self.rooms.get(room)),
        }
    }
}

fn member_list(room: &str, entry: Option<&Room>) -> MemberList {
    MemberList {
        room: room.to_owned(),
        members: entry
            .map(|r| r.members.keys().cloned().collect())
            .unwrap_or_default(),
        instance: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid(id: &str) -> SessionId {
        SessionId::new(id)
    }

    #[test]
    fn room_names_follow_the_pattern() {
        for ok in ["a", "general", "Room_1", "x-y", &"z".repeat(32)] {
            assert!(is_valid_room(ok), "{ok}");
        }
        for bad in [
            "",
            "a b",
            "a/b",
            "caf\u{e9}",
            "dot.ted",
            "new\nline",
            &"z".repeat(33),
        ] {
            assert!(!is_valid_room(bad), "{bad:?}");
        }
    }

    #[test]
    fn history_keeps_the_last_fifty_in_order() {
        let rooms = Rooms::new();
        for i in 0..(HISTORY_LIMIT + 7) {
            rooms.post("r", "alice", format!("m{i}"));
        }
        let history = rooms.history("r");
        assert_eq!(history.len(), HISTORY_LIMIT);
        assert_eq!(history[0].content, "m7");
        assert_eq!(
            history[HISTORY_LIMIT - 1].content,
            format!("m{}", HISTORY_LIMIT + 6)
        );
        assert!(rooms.history("other").is_empty(), "rooms are isolated");
    }

    #[test]
    fn messages_get_unique_ids_and_timestamps() {
        let rooms = Rooms::new();
        let (a, created) = rooms.post("r", "alice", "one");
        let (b, again) = rooms.post("r", "bob", "two");
        assert!(created && !again);
        assert_ne!(a.id, b.id);
        assert!(a.timestamp > 1_600_000_000_000);
        assert_eq!((b.room.as_str(), b.sender.as_str()), ("r", "bob"));
    }

    #[test]
    fn members_join_and_leave_per_room() {
        let rooms = Rooms::new();
        let join = rooms.join(&sid("s1"), "sub-0", "r", "alice");
        assert!(join.presence_changed);
        assert_eq!(join.members.members, ["alice"]);
        let join = rooms.join(&sid("s2"), "sub-0", "r", "bob");
        assert_eq!(join.members.members, ["alice", "bob"]);
        rooms.join(&sid("s2"), "sub-1", "other", "bob");
        assert_eq!(
            rooms.list(),
            [
                RoomSummary {
                    name: "other".into(),
                    members: 1
                },
                RoomSummary {
                    name: "r".into(),
                    members: 2
                },
            ]
        );

        let leave = rooms
            .leave(&sid("s1"), "sub-0")
            .expect("a room subscription");
        assert!(leave.presence_changed);
        assert_eq!((leave.room.as_str(), leave.member.as_str()), ("r", "alice"));
        assert_eq!(leave.members.members, ["bob"]);
        assert!(rooms.leave(&sid("s1"), "sub-0").is_none(), "already gone");
        assert!(
            rooms.leave(&sid("s9"), "sub-0").is_none(),
            "unknown session"
        );

        let mut gone = rooms.disconnect(&sid("s2"));
        gone.sort_by(|a, b| a.room.cmp(&b.room));
        assert_eq!(gone.len(), 2);
        assert!(gone
            .iter()
            .all(|c| c.presence_changed && c.members.members.is_empty()));
        assert!(
            rooms.list().is_empty(),
            "empty rooms without history are forgotten"
        );
        assert!(rooms.disconnect(&sid("s2")).is_empty());
    }

    #[test]
    fn two_tabs_of_one_user_count_once() {
        let rooms = Rooms::new();
        assert!(rooms.join(&sid("s1"), "a", "r", "alice").presence_changed);
        let second = rooms.join(&sid("s2"), "a", "r", "alice");
        assert!(!second.presence_changed);
        assert_eq!(second.members.members, ["alice"]);
        assert!(
            !rooms
                .leave(&sid("s1"), "a")
                .expect("tracked")
                .presence_changed
        );
        assert_eq!(rooms.members("r").members, ["alice"]);
        assert!(rooms.disconnect(&sid("s2"))[0].presence_changed);
        assert!(rooms.members("r").members.is_empty());
    }

    #[test]
    fn lists_carry_the_instance_only_with_the_relay() {
        let plain = Rooms::new();
        plain.join(&sid("s1"), "a", "r", "alice");
        let json = serde_json::to_value(plain.members("r")).expect("serializes");
        assert_eq!(json, serde_json::json!({"room": "r", "members": ["alice"]}));
        assert_eq!(
            serde_json::to_value(plain.room_list()).expect("serializes"),
            serde_json::json!([{"name": "r", "members": 1}])
        );

        let tagged = Rooms::for_instance("i1");
        let change = tagged.join(&sid("s1"), "a", "r", "alice");
        assert_eq!(change.members.instance.as_deref(), Some("i1"));
        tagged.join(&sid("s2"), "a", "q", "bob");
        assert_eq!(
            serde_json::to_value(tagged.members("r")).expect("serializes"),
            serde_json::json!({"room": "r", "members": ["alice"], "instance": "i1"})
        );
        assert_eq!(
            serde_json::to_value(tagged.room_list()).expect("serializes"),
            serde_json::json!({"instance": "i1", "rooms": [
                {"name": "q", "members": 1}, {"name": "r", "members": 1}
            ]})
        );
        let occupied: Vec<String> = tagged.occupied().into_iter().map(|l| l.room).collect();
        assert_eq!(occupied, ["q", "r"]);
        let gone = tagged.disconnect(&sid("s1"));
        assert_eq!(gone[0].members.instance.as_deref(), Some("i1"));
        assert!(gone[0].members.members.is_empty());
        let (message, _) = tagged.post("r", "alice", "hi");
        assert!(message.id.starts_with("i1-"), "{}", message.id);
    }

    #[test]
    fn rooms_with_history_stay_listed_and_idle_ones_are_evicted() {
        let rooms = Rooms::new();
        rooms.post("kept", "alice", "hi");
        rooms.join(&sid("s1"), "a", "kept", "alice");
        rooms.disconnect(&sid("s1"));
        assert_eq!(
            rooms.list(),
            [RoomSummary {
                name: "kept".into(),
                members: 0
            }]
        );

        for i in 0..MAX_ROOMS + 5 {
            rooms.post(format!("r{i}"), "bot", "x");
        }
        assert_eq!(rooms.list().len(), MAX_ROOMS);
        assert!(
            rooms.history("kept").is_empty(),
            "the oldest idle room went first"
        );
    }

    #[tokio::test]
    async fn changes_gather_until_taken() {
        let rooms = Rooms::new();
        let pending = rooms.pending();
        pending.mark(Some("a"), true);
        pending.mark(Some("b"), false);
        pending.mark(Some("a"), true);
        // The first mark woke the publisher (a stored permit: no wait here).
        tokio::time::timeout(std::time::Duration::from_secs(5), pending.changed())
            .await
            .expect("a change wakes the publisher");
        assert_eq!(pending.take(), (vec!["a".to_owned(), "b".to_owned()], true));
        assert_eq!(pending.take(), (Vec::new(), false), "taken once");
        pending.mark(None, true);
        assert_eq!(pending.take(), (Vec::new(), true));
    }

    #[test]
    fn a_room_carries_a_bounded_number_of_notices() {
        let rooms = Rooms::new();
        let session = SessionId::new("s1");
        rooms.join(&session, "0", "lobby", "ann");
        let start = Instant::now();
        let burst = NOTICES_PER_SECOND as usize;
        let allowed = (0..1_000)
            .filter(|_| rooms.allow_notice_at("lobby", start))
            .count();
        assert_eq!(allowed, burst, "one second's worth at once");
        // A twentieth of a second later, one more.
        let later = start + std::time::Duration::from_millis(50);
        assert!(rooms.allow_notice_at("lobby", later));
        assert!(!rooms.allow_notice_at("lobby", later));
        assert!(rooms.allow_notice("unknown"), "no room, no budget to spend");
    }
}

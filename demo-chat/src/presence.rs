//! Presence from session events: who is in which room, join and leave notices.
//!
//! A room's members are the sessions subscribed to `/topic/chat/{room}`. On each change:
//! - `/topic/chat/{room}/events` gets `{"type": "join"|"leave", "room", "user", "timestamp"}`
//!   when a user's first subscription arrives or their last one goes (a second tab of the
//!   same user is not announced), at most [`NOTICES_PER_SECOND`](crate::rooms::NOTICES_PER_SECOND) per room. Notices have
//!   their own topic so that `/topic/chat/{room}` carries chat messages only, and are not
//!   kept in the history.
//! - `/topic/chat/{room}/members` gets `{"room", "members": [names, sorted]}`,
//! - `/topic/rooms` gets `[{"name", "members"}]`, every known room sorted by name;
//!   both [`GATHER`] after the change, once for all the changes of that moment
//!   ([`publish_changes`]): the room list goes to every open page, and one client toggling
//!   a subscription must not make it go out thousands of times a second.
//!
//! A client that wants to see its own join subscribes to the `events` and `members` topics
//! before the room topic (or asks `SUBSCRIBE /app/chat/{room}/members` once).
//!
//! With the broker relay or the Redis backplane several instances share the topics but each
//! knows only its own sessions. Member and room lists then carry the instance's id, each instance republishes
//! them every few seconds ([`republish_every`]) and when the broker comes back, and the page
//! merges the latest list of every instance it heard from recently.

use std::time::Duration;

use serde::Serialize;
use stomp_server::{event::SessionEvent, stats::Stats, Principal, SessionId, Template};

use crate::rooms::{is_valid_room, now_ms, MembershipChange, Rooms};

/// How long membership changes gather before their lists are published.
pub(crate) const GATHER: Duration = Duration::from_millis(100);

/// A join or leave notice.
#[derive(Debug, Serialize)]
struct Notice<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    room: &'a str,
    user: &'a str,
    timestamp: u64,
}

/// The session-event listener registered with `on_event`.
pub(crate) fn on_session_event(rooms: &Rooms, event: &SessionEvent, template: &Template) {
    match event {
        SessionEvent::Subscribe {
            session,
            principal,
            subscription,
            destination,
        } => {
            let Some(room) = room_topic(destination) else {
                return;
            };
            let member = member_name(principal.as_ref(), session);
            let _serial = rooms.publication();
            let change = rooms.join(session, subscription, room, &member);
            publish_change(rooms, template, &change, "join");
        }
        SessionEvent::Unsubscribe {
            session,
            subscription,
            ..
        } => {
            let _serial = rooms.publication();
            if let Some(change) = rooms.leave(session, subscription) {
                publish_change(rooms, template, &change, "leave");
            }
        }
        SessionEvent::Disconnected { session, .. } => {
            let _serial = rooms.publication();
            for change in rooms.disconnect(session) {
                publish_change(rooms, template, &change, "leave");
            }
        }
        SessionEvent::BrokerAvailable => {
            tracing::info!("broker available: publishing this instance's rooms");
            publish_all(rooms, template);
        }
        SessionEvent::BrokerUnavailable { reason } => {
            tracing::warn!(reason = %stomp_server::log::Escaped(&reason), "broker unavailable: sessions are closed until it is back");
        }
        // Connect/Connected do not change membership; new kinds of events may come.
        _ => {}
    }
}

/// Publishes the member list of every room with local members, then the room list.
pub(crate) fn publish_all(rooms: &Rooms, template: &Template) {
    let _serial = rooms.publication();
    for list in rooms.occupied() {
        send(
            template,
            &format!("/topic/chat/{}/members", list.room),
            &list,
        );
    }
    publish_room_list(rooms, template);
}

/// Relay and Redis modes: republishes this instance's lists every `period`, so that pages
/// connected to other instances learn (and keep) them. Skipped while the broker is
/// unavailable (the `BrokerAvailable` event publishes everything when it is back).
pub(crate) async fn republish_every(
    rooms: &Rooms,
    template: &Template,
    stats: &Stats,
    period: Duration,
) {
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if stats.snapshot().broker_available != Some(false) {
            publish_all(rooms, template);
        }
    }
}

/// The room of a `/topic/chat/{room}` destination with a valid room name.
fn room_topic(destination: &str) -> Option<&str> {
    let room = destination.strip_prefix("/topic/chat/")?;
    is_valid_room(room).then_some(room)
}

/// How a session appears in member lists: its user, or `guest-{session}` when anonymous.
fn member_name(principal: Option<&Principal>, session: &SessionId) -> String {
    principal.map_or_else(|| format!("guest-{session}"), |p| p.name().to_owned())
}

fn publish_change(
    rooms: &Rooms,
    template: &Template,
    change: &MembershipChange,
    kind: &'static str,
) {
    if change.presence_changed && rooms.allow_notice(&change.room) {
        let notice = Notice {
            kind,
            room: &change.room,
            user: &change.member,
            timestamp: now_ms(),
        };
        send(
            template,
            &format!("/topic/chat/{}/events", change.room),
            &notice,
        );
    }
    rooms.pending().mark(Some(&change.room), true);
}

/// Publishes the member lists and the room list that changed, [`GATHER`] after the first
/// change of a burst, until the server stops.
pub(crate) async fn publish_changes(rooms: &Rooms, template: &Template) {
    loop {
        rooms.pending().changed().await;
        tokio::time::sleep(GATHER).await;
        let (changed, room_list) = rooms.pending().take();
        let _serial = rooms.publication();
        for room in changed {
            send(
                template,
                &format!("/topic/chat/{room}/members"),
                &rooms.members(&room),
            );
        }
        if room_list {
            publish_room_list(rooms, template);
        }
    }
}

/// Publishes the room list on `/topic/rooms`.
pub(crate) fn publish_room_list(rooms: &Rooms, template: &Template) {
    send(template, "/topic/rooms", &rooms.room_list());
}

fn send<T: Serialize + ?Sized>(template: &Template, destination: &str, payload: &T) {
    if let Err(error) = template.convert_and_send(destination, payload) {
        tracing::warn!(destination, error = %stomp_server::log::Escaped(&error), "presence update not sent");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_room_topics_are_memberships() {
        assert_eq!(room_topic("/topic/chat/general"), Some("general"));
        assert_eq!(room_topic("/topic/chat/general/members"), None);
        assert_eq!(room_topic("/topic/chat/"), None);
        assert_eq!(room_topic("/topic/rooms"), None);
        assert_eq!(room_topic("/app/chat/general/history"), None);
    }

    #[test]
    fn anonymous_members_are_named_after_their_session() {
        let session = SessionId::new("s7");
        assert_eq!(member_name(None, &session), "guest-s7");
        assert_eq!(member_name(Some(&Principal::new("ann")), &session), "ann");
    }
}

//! The chat's message handlers.
//!
//! | frame | destination | answer |
//! | --- | --- | --- |
//! | `SEND` | `/app/chat/{room}` | the message to `/topic/chat/{room}` |
//! | `SUBSCRIBE` | `/app/chat/{room}/history` | the last 50 messages, once, to the subscriber (from the room's Redis Stream with `--redis`) |
//! | `SUBSCRIBE` | `/app/chat/{room}/members` | the member list, once, to the subscriber |
//! | `SUBSCRIBE` | `/app/rooms` | the room list with member counts, once |
//!
//! Messages to the room `raw` also reach the raw WebSocket clients of `/ws-raw`
//! ([`crate::raw_chat`]).
//!
//! Anything else under `/app/chat/` is answered with an error on `/user/queue/errors`
//! (see [`crate::errors`]) rather than with an `ERROR` frame that would close the session.

use std::sync::Arc;

use serde::Deserialize;
use stomp_server::websocket::RawSessions;
use stomp_server::{
    message_mapping, send_to, subscribe_mapping, Destination, Payload, Principal, State,
};

use crate::archive::Archive;
use crate::auth::validate_name;
use crate::errors::{ChatError, CONTENT_MAX};
use crate::raw_chat::{raw_text, RAW_ROOM};
use crate::rooms::{is_valid_room, ChatMessage, MemberList, RoomList, Rooms};

/// The body of `SEND /app/chat/{room}`.
#[derive(Debug, Deserialize)]
pub(crate) struct Post {
    /// Used only when the session has no principal (the principal's name wins).
    #[serde(default)]
    sender: Option<String>,
    content: String,
}

fn check_room(room: &str) -> Result<(), ChatError> {
    if is_valid_room(room) {
        Ok(())
    } else {
        Err(ChatError::InvalidRoom(room.to_owned()))
    }
}

pub(crate) fn check_content(content: &str) -> Result<(), ChatError> {
    if content.trim().is_empty() {
        return Err(ChatError::EmptyContent);
    }
    let chars = content.chars().count();
    if chars > CONTENT_MAX {
        return Err(ChatError::ContentTooLong(chars));
    }
    Ok(())
}

#[message_mapping("/chat/<room>")]
#[send_to("/topic/chat/<room>")]
async fn post(
    room: String,
    user: Option<Principal>,
    Payload(post): Payload<Post>,
    rooms: State<Rooms>,
    archive: State<Archive>,
    raw: State<RawSessions>,
) -> Result<Arc<ChatMessage>, ChatError> {
    check_room(&room)?;
    check_content(&post.content)?;
    let sender = match (&user, post.sender) {
        (Some(user), _) => user.name().to_owned(),
        (None, Some(sender)) => {
            validate_name(&sender).map_err(|why| ChatError::InvalidSender(why.to_owned()))?;
            sender
        }
        (None, None) => {
            return Err(ChatError::InvalidSender(
                "the message has no `sender`".to_owned(),
            ))
        }
    };
    let (message, created) = rooms.post(room, sender, post.content);
    if created {
        rooms.pending().mark(None, true);
    }
    archive.record(&message).await?;
    // The room of the raw WebSocket chat: its raw clients get the message as text too.
    if message.room == RAW_ROOM {
        raw.broadcast_text(raw_text(&message));
    }
    Ok(message)
}

/// Catches `SEND`s to `/app/chat/a/b` and `/app/chat/`, which `<room>` (one non-empty
/// segment) does not match, so they get the usual error reply instead of an `ERROR` frame.
#[message_mapping("/chat/**")]
fn post_elsewhere(destination: Destination) -> Result<(), ChatError> {
    // Everything after `/app/chat/` was meant as the room's name.
    let room = destination
        .strip_prefix("/app/chat/")
        .unwrap_or(&destination);
    Err(ChatError::InvalidRoom(room.to_owned()))
}

#[subscribe_mapping("/chat/<room>/history")]
async fn history(
    room: String,
    rooms: State<Rooms>,
    archive: State<Archive>,
) -> Result<Vec<Arc<ChatMessage>>, ChatError> {
    check_room(&room)?;
    archive.history(&room, &rooms).await
}

#[subscribe_mapping("/chat/<room>/members")]
fn members(room: String, rooms: State<Rooms>) -> Result<MemberList, ChatError> {
    check_room(&room)?;
    Ok(rooms.members(&room))
}

/// Like [`post_elsewhere`], for `SUBSCRIBE`.
#[subscribe_mapping("/chat/**")]
fn subscribe_elsewhere(destination: Destination) -> Result<(), ChatError> {
    Err(bad_subscription(&destination))
}

#[subscribe_mapping("/rooms")]
fn room_list(rooms: State<Rooms>) -> RoomList {
    rooms.room_list()
}

/// The error for a `SUBSCRIBE` under `/app/chat/` that no mapping above takes: an invalid
/// room when it ends like a known one (`/app/chat/a/b/history`), else an unknown destination.
fn bad_subscription(destination: &str) -> ChatError {
    let rest = destination
        .strip_prefix("/app/chat/")
        .unwrap_or(destination);
    match rest
        .strip_suffix("/history")
        .or_else(|| rest.strip_suffix("/members"))
    {
        Some(room) if !is_valid_room(room) => ChatError::InvalidRoom(room.to_owned()),
        _ => ChatError::UnknownDestination(destination.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_must_be_present_and_short() {
        assert_eq!(check_content(""), Err(ChatError::EmptyContent));
        assert_eq!(check_content(" \n\t"), Err(ChatError::EmptyContent));
        assert!(check_content("hi").is_ok());
        assert!(
            check_content(&"\u{e9}".repeat(CONTENT_MAX)).is_ok(),
            "counted in characters"
        );
        assert_eq!(
            check_content(&"x".repeat(CONTENT_MAX + 1)),
            Err(ChatError::ContentTooLong(CONTENT_MAX + 1))
        );
    }

    #[test]
    fn stray_chat_subscriptions_name_the_problem() {
        assert_eq!(
            bad_subscription("/app/chat/a/b/history"),
            ChatError::InvalidRoom("a/b".to_owned())
        );
        assert_eq!(
            bad_subscription("/app/chat//members"),
            ChatError::InvalidRoom(String::new())
        );
        assert!(matches!(
            bad_subscription("/app/chat/ok"),
            ChatError::UnknownDestination(_)
        ));
        assert!(matches!(
            bad_subscription("/app/chat/ok/extra"),
            ChatError::UnknownDestination(_)
        ));
    }
}

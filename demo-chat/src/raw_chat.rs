//! The seed's raw chat at `/ws-raw`: plain WebSocket text, no STOMP, bridged to the STOMP
//! room `raw`.
//!
//! A raw client connects to `ws://HOST/ws-raw?name=NAME` (a name as the page accepts:
//! letters, digits, `_`, `-`, `.`; without one it is `raw-` and the start of its session
//! id), sends plain text and receives plain text `name: text`:
//! - a text from a raw client reaches every raw client, and the STOMP room `raw` as an
//!   ordinary chat message from `name` (kept in the room's history);
//! - a message posted to the STOMP room `raw` reaches every raw client (`chat::post`).

use std::sync::Arc;

use stomp_server::websocket::{TextMessage, WebSocketHandler, WebSocketSession};

use crate::archive::Archive;
use crate::auth::validate_name;
use crate::chat::check_content;
use crate::rooms::{ChatMessage, Rooms};

/// The STOMP room raw clients talk in.
pub(crate) const RAW_ROOM: &str = "raw";

/// The text raw clients receive for `message`.
pub(crate) fn raw_text(message: &ChatMessage) -> String {
    format!("{}: {}", message.sender, message.content)
}

/// A raw client's name, kept in its session's attributes.
struct RawName(String);

/// The `/ws-raw` handler.
pub(crate) struct RawChat {
    pub(crate) rooms: Rooms,
    pub(crate) archive: Archive,
}

impl WebSocketHandler for RawChat {
    async fn after_connection_established(&self, session: &WebSocketSession) {
        let name = name_from_query(session.uri().query()).unwrap_or_else(|| {
            let id = session.id().as_str();
            format!("raw-{}", &id[..id.len().min(8)])
        });
        session.attributes().insert(RawName(name));
    }

    async fn handle_text_message(&self, session: &WebSocketSession, message: TextMessage) {
        if let Err(error) = check_content(message.as_str()) {
            let _ = session.send_text(format!("error: {error}"));
            return;
        }
        let name = session
            .attributes()
            .get::<RawName>()
            .map_or_else(|| "raw".to_owned(), |name| name.0.clone());
        let (posted, created) = self.rooms.post(RAW_ROOM, name, message.as_str());
        if created {
            self.rooms.pending().mark(None, true);
        }
        if let Err(error) = self.archive.record(&posted).await {
            let _ = session.send_text(format!("error: {error}"));
            return;
        }
        publish(session, &posted);
    }
}

/// Hands a raw client's message to the STOMP room and to every raw client.
fn publish(session: &WebSocketSession, posted: &Arc<ChatMessage>) {
    let destination = format!("/topic/chat/{RAW_ROOM}");
    if let Err(error) = session.template().convert_and_send(&destination, &**posted) {
        tracing::warn!(%error, "a raw chat message did not reach the STOMP room");
    }
    session.sessions().broadcast_text(raw_text(posted));
}

/// The `name` of a query string, when it is a valid chat name.
fn name_from_query(query: Option<&str>) -> Option<String> {
    let name = query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("name="))?;
    validate_name(name).ok()?;
    Some(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::name_from_query;

    #[test]
    fn the_name_comes_from_the_query_when_it_is_valid() {
        assert_eq!(
            name_from_query(Some("name=alice")).as_deref(),
            Some("alice")
        );
        assert_eq!(
            name_from_query(Some("x=1&name=bob.b")).as_deref(),
            Some("bob.b")
        );
        assert_eq!(name_from_query(Some("name=")), None);
        assert_eq!(name_from_query(Some("name=%3Cscript%3E")), None);
        assert_eq!(name_from_query(None), None);
    }
}

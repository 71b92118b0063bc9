//! Where a room's history comes from: this instance's memory ([`Rooms`]), or with `--redis`
//! a Redis Stream per room (`demo-chat:history:{room}`, bounded to about
//! [`HISTORY_LIMIT`] entries), so that the history is the same on every instance and
//! survives a restart of all of them.

use std::sync::Arc;

use stomp_server::redis::{RedisConfig, RedisStreams, StreamEntry};

use crate::errors::ChatError;
use crate::rooms::{ChatMessage, Rooms, HISTORY_LIMIT};

/// The stream field holding a message, as JSON.
const FIELD: &str = "message";

/// The chat's history store, registered as state (`State<Archive>`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Archive {
    /// `None`: the history is the instance's own, in [`Rooms`].
    streams: Option<RedisStreams>,
}

impl Archive {
    /// The history in the Redis at `url`.
    pub(crate) fn redis(url: &str) -> Archive {
        let config = RedisConfig::default().with_url(url.to_owned());
        Archive {
            streams: Some(RedisStreams::new(&config).with_max_len(HISTORY_LIMIT)),
        }
    }

    /// The stream of `room`.
    pub(crate) fn stream(room: &str) -> String {
        format!("demo-chat:history:{room}")
    }

    /// Keeps `message` in its room's stream (nothing to do without Redis: [`Rooms`] has it).
    pub(crate) async fn record(&self, message: &ChatMessage) -> Result<(), ChatError> {
        let Some(streams) = &self.streams else {
            return Ok(());
        };
        let json = serde_json::to_vec(message)
            .map_err(|error| ChatError::StoreUnavailable(error.to_string()))?;
        streams
            .append(&Archive::stream(&message.room), &[(FIELD, json)])
            .await
            .map_err(|error| ChatError::StoreUnavailable(error.to_string()))?;
        Ok(())
    }

    /// The last [`HISTORY_LIMIT`] messages of `room`, oldest first.
    pub(crate) async fn history(
        &self,
        room: &str,
        rooms: &Rooms,
    ) -> Result<Vec<Arc<ChatMessage>>, ChatError> {
        let Some(streams) = &self.streams else {
            return Ok(rooms.history(room));
        };
        let entries = streams
            .last(&Archive::stream(room), HISTORY_LIMIT)
            .await
            .map_err(|error| ChatError::StoreUnavailable(error.to_string()))?;
        Ok(entries.iter().filter_map(decode).collect())
    }
}

/// The message in `entry`; an entry that is not one (written by something else) is skipped.
fn decode(entry: &StreamEntry) -> Option<Arc<ChatMessage>> {
    let message = serde_json::from_slice(entry.field(FIELD)?);
    if let Err(error) = &message {
        tracing::warn!(id = %entry.id, %error, "a history entry is not a chat message; skipped");
    }
    message.ok().map(Arc::new)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn entries_decode_to_messages_and_others_are_skipped() {
        let message = ChatMessage {
            id: "i-1".into(),
            room: "r".into(),
            sender: "ann".into(),
            content: "hi".into(),
            timestamp: 5,
        };
        let json = serde_json::to_vec(&message).expect("serializes");
        let entry = |field: &str, value: Vec<u8>| StreamEntry {
            id: "1-0".into(),
            fields: BTreeMap::from([(field.to_owned(), value.into())]),
        };
        assert_eq!(decode(&entry(FIELD, json)), Some(Arc::new(message)));
        assert_eq!(decode(&entry(FIELD, b"{".to_vec())), None);
        assert_eq!(decode(&entry("other", b"{}".to_vec())), None);
        assert_eq!(Archive::stream("lobby"), "demo-chat:history:lobby");
    }
}

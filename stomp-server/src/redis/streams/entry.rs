//! [`StreamEntry`]: one entry of a stream as read back.

use std::collections::BTreeMap;

use bytes::Bytes;
use redis::streams::StreamId;

/// One entry of a Redis Stream (Spring's `MapRecord`): its id and its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry {
    /// The entry's id, `<ms>-<seq>`, ordered as the entries were appended.
    pub id: String,
    /// The fields by name; a value Redis returned as other than bytes is left out.
    pub fields: BTreeMap<String, Bytes>,
}

impl StreamEntry {
    /// The value of field `name`.
    pub fn field(&self, name: &str) -> Option<&[u8]> {
        self.fields.get(name).map(Bytes::as_ref)
    }

    /// The value of field `name` as UTF-8 text (`None` when absent or not UTF-8).
    pub fn text(&self, name: &str) -> Option<&str> {
        self.field(name).and_then(|v| std::str::from_utf8(v).ok())
    }
}

/// Entries from the client's parsed reply.
pub(super) fn from_ids(ids: Vec<StreamId>) -> Vec<StreamEntry> {
    ids.into_iter().map(from_id).collect()
}

fn from_id(id: StreamId) -> StreamEntry {
    let fields = id
        .map
        .into_iter()
        .filter_map(|(name, value)| {
            redis::from_redis_value::<Vec<u8>>(value)
                .ok()
                .map(|v| (name, Bytes::from(v)))
        })
        .collect();
    StreamEntry { id: id.id, fields }
}

//! The user registry across instances (Spring's `MultiServerUserRegistry`, fed as by its
//! `setUserRegistryBroadcast`): every `registry_refresh` each instance writes its users to
//! the key `<prefix>registry:<instance id>` with a time to live of three refreshes, and
//! reads the other instances' keys into its [`UserRegistry`]. An instance that stops
//! writing (it died) is forgotten once its key expires. Nothing per message: one `SET`, one
//! `SCAN` and one `MGET` per refresh, on a connection of its own.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;

use super::link::{Connector, RESPONSE_TIMEOUT};
use crate::event::Events;
use crate::principal::SessionId;
use crate::user::UserRegistry;

/// The most instances read per refresh; more are left out (with a log line).
const MAX_INSTANCES: usize = 1024;
/// The most bytes one instance's entry may have to be read; a larger one is left out.
const MAX_ENTRY: usize = 8 * 1024 * 1024;

/// The registry task's settings.
pub(crate) struct Registry {
    pub(crate) connector: Connector,
    /// `<prefix>registry:`, before each instance's id.
    pub(crate) key_prefix: String,
    /// This instance's id, as hex.
    pub(crate) instance: String,
    pub(crate) refresh: Duration,
    pub(crate) events: Arc<Events>,
}

impl Registry {
    /// Writes and reads every refresh until the server is gone.
    pub(crate) async fn run(self) {
        let mut connection: Option<MultiplexedConnection> = None;
        let mut ticks = tokio::time::interval(self.refresh.max(Duration::from_millis(10)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut built = false;
        loop {
            ticks.tick().await;
            let Some(users) = self.events.user_registry() else {
                if built {
                    return;
                }
                continue;
            };
            built = true;
            if connection.is_none() {
                connection = self.connector.multiplexed().await.ok();
            }
            let Some(open) = connection.as_mut() else {
                continue;
            };
            let exchanged = tokio::time::timeout(RESPONSE_TIMEOUT, self.exchange(open, &users));
            match exchanged.await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    tracing::debug!(%error, "the user registry could not be shared through Redis; trying again");
                    connection = None;
                }
                Err(_) => connection = None,
            }
        }
    }

    /// Writes this instance's users, then reads the others'.
    async fn exchange(
        &self,
        connection: &mut MultiplexedConnection,
        users: &UserRegistry,
    ) -> redis::RedisResult<()> {
        let own = format!("{}{}", self.key_prefix, self.instance);
        let ttl = u64::try_from(self.refresh.as_millis().saturating_mul(3)).unwrap_or(u64::MAX);
        redis::cmd("SET")
            .arg(&own)
            .arg(encode(users))
            .arg("PX")
            .arg(ttl.max(1))
            .query_async::<()>(connection)
            .await?;
        let keys = self.other_keys(connection, &own).await?;
        let mut others: BTreeMap<String, Vec<SessionId>> = BTreeMap::new();
        if !keys.is_empty() {
            let entries: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
                .arg(&keys)
                .query_async(connection)
                .await?;
            for entry in entries.into_iter().flatten() {
                decode_into(&entry, &mut others);
            }
        }
        users.set_others(others);
        Ok(())
    }

    /// The keys of the other instances (at most [`MAX_INSTANCES`]).
    async fn other_keys(
        &self,
        connection: &mut MultiplexedConnection,
        own: &str,
    ) -> redis::RedisResult<Vec<String>> {
        let pattern = format!("{}*", glob_escaped(&self.key_prefix));
        let mut keys = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query_async(connection)
                .await?;
            keys.extend(batch.into_iter().filter(|key| key != own));
            if keys.len() > MAX_INSTANCES {
                tracing::warn!(
                    limit = MAX_INSTANCES,
                    "more instances share the user registry than are read; some are left out"
                );
                keys.truncate(MAX_INSTANCES);
                return Ok(keys);
            }
            if next == 0 {
                return Ok(keys);
            }
            cursor = next;
        }
    }
}

/// This instance's users as JSON: `{"name": ["session id", ..], ..}`.
fn encode(users: &UserRegistry) -> Vec<u8> {
    let map: serde_json::Map<String, serde_json::Value> = users
        .local_users()
        .into_iter()
        .map(|user| {
            let sessions = user
                .sessions
                .iter()
                .map(|s| serde_json::Value::String(s.as_str().to_owned()))
                .collect();
            (user.name, serde_json::Value::Array(sessions))
        })
        .collect();
    serde_json::to_vec(&serde_json::Value::Object(map)).unwrap_or_default()
}

/// Adds the users of another instance's entry to `others`; an entry too large or not
/// ours is left out.
fn decode_into(entry: &[u8], others: &mut BTreeMap<String, Vec<SessionId>>) {
    if entry.len() > MAX_ENTRY {
        tracing::warn!(
            bytes = entry.len(),
            limit = MAX_ENTRY,
            "an instance's user registry entry is too large; left out"
        );
        return;
    }
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(entry) else {
        tracing::warn!("a user registry entry in Redis is not one of ours; left out");
        return;
    };
    for (name, sessions) in map {
        let serde_json::Value::Array(sessions) = sessions else {
            continue;
        };
        let ids = sessions
            .into_iter()
            .filter_map(|s| s.as_str().map(SessionId::new));
        others.entry(name).or_default().extend(ids);
    }
}

/// `literal` with Redis' glob characters escaped.
fn glob_escaped(literal: &str) -> String {
    let mut glob = String::with_capacity(literal.len());
    for c in literal.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            glob.push('\\');
        }
        glob.push(c);
    }
    glob
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_lists_users_and_sessions_and_a_foreign_one_is_left_out() {
        let mut others = BTreeMap::new();
        decode_into(
            br#"{"bob": ["s1-a", "s2-a"], "eve": ["s3-a"]}"#,
            &mut others,
        );
        decode_into(br#"{"bob": ["s9-b"]}"#, &mut others);
        decode_into(b"not json", &mut others);
        decode_into(br#"["a list"]"#, &mut others);
        let bob: Vec<&str> = others["bob"].iter().map(SessionId::as_str).collect();
        assert_eq!(bob, ["s1-a", "s2-a", "s9-b"]);
        assert_eq!(others.len(), 2);
        assert_eq!(glob_escaped("s[1]*:"), "s\\[1\\]\\*:");
    }
}

//! The user registry across instances (Spring's `MultiServerUserRegistry`, fed as by its
//! `setUserRegistryBroadcast`): every `registry_refresh` each instance writes its users to
//! the key `<prefix>registry:<instance id>` with a time to live of three refreshes, lists
//! itself in the set `<prefix>registry`, and reads the other instances' keys into its
//! [`UserRegistry`]. An instance that stops writing (it died) is forgotten once its key
//! expires, and then leaves the set. Nothing per message: per refresh one pipeline (`SET`,
//! `SADD`, `SRANDMEMBER`) and one `MGET`, on a connection of its own, whatever else the
//! Redis holds.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use redis::aio::MultiplexedConnection;

use super::health::Health;
use super::link::{Connector, RESPONSE_TIMEOUT};
use crate::event::Events;
use crate::principal::SessionId;
use crate::user::UserRegistry;

/// The most instances read per refresh; more are left out.
const MAX_INSTANCES: usize = 1024;
/// The most bytes one instance's entry may have to be read; a larger one is left out.
const MAX_ENTRY: usize = 8 * 1024 * 1024;
/// The most bytes of entries read per refresh, all instances together.
const MAX_TOTAL: usize = 64 * 1024 * 1024;

/// The registry task's settings.
pub(crate) struct Registry {
    pub(crate) connector: Connector,
    /// `<prefix>registry:`, before each instance's id.
    pub(crate) key_prefix: String,
    /// This instance's id, as hex.
    pub(crate) instance: String,
    pub(crate) refresh: Duration,
    pub(crate) events: Arc<Events>,
    /// Gone once the backplane and its connection tasks are: the task ends then too, even
    /// for a server that was never built.
    pub(crate) alive: Weak<Health>,
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
            if self.alive.strong_count() == 0 {
                return;
            }
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

    /// Writes this instance's users and lists itself in the set of instances, then reads
    /// the others' entries; an instance whose entry expired leaves the set.
    async fn exchange(
        &self,
        connection: &mut MultiplexedConnection,
        users: &UserRegistry,
    ) -> redis::RedisResult<()> {
        let set = self.key_prefix.trim_end_matches(':');
        let own = format!("{}{}", self.key_prefix, self.instance);
        let ttl = u64::try_from(self.refresh.as_millis().saturating_mul(3)).unwrap_or(u64::MAX);
        let (mut instances,): (Vec<String>,) = redis::pipe()
            .cmd("SET")
            .arg(&own)
            .arg(encode(users))
            .arg("PX")
            .arg(ttl.max(1))
            .ignore()
            .cmd("SADD")
            .arg(set)
            .arg(&self.instance)
            .ignore()
            .cmd("SRANDMEMBER")
            .arg(set)
            .arg(MAX_INSTANCES)
            .query_async(connection)
            .await?;
        instances.retain(|instance| *instance != self.instance);
        let mut others: BTreeMap<String, Vec<SessionId>> = BTreeMap::new();
        if !instances.is_empty() {
            let keys: Vec<String> = instances
                .iter()
                .map(|instance| format!("{}{instance}", self.key_prefix))
                .collect();
            let entries: Vec<Option<Vec<u8>>> = redis::cmd("MGET")
                .arg(&keys)
                .query_async(connection)
                .await?;
            let mut gone = Vec::new();
            let mut read = 0;
            for (instance, entry) in instances.iter().zip(entries) {
                match entry {
                    None => gone.push(instance),
                    Some(entry) if read + entry.len() <= MAX_TOTAL => {
                        read += entry.len();
                        decode_into(&entry, &mut others);
                    }
                    Some(_) => tracing::warn!(
                        limit = MAX_TOTAL,
                        "the other instances' user registry entries are too large together; some are left out"
                    ),
                }
            }
            if !gone.is_empty() {
                redis::cmd("SREM")
                    .arg(set)
                    .arg(gone)
                    .query_async::<()>(connection)
                    .await?;
            }
        }
        users.set_others(others);
        Ok(())
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
    }
}

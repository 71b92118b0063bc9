//! [`RedisConfig`]: where the Redis backplane connects and how much it may hold.

use std::time::Duration;

/// The Redis backplane's settings. Used with
/// `StompServer::builder().redis_backplane(RedisConfig::default())`, it joins this instance's
/// simple broker to every other instance on the same Redis: broadcast destinations
/// (`/topic/..`) reach the subscribers of all of them through Redis pub/sub. Start from
/// `default()` and chain the `with_*` setters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisConfig {
    /// The Redis server, as a `redis://[user:password@]host[:port][/db]` URL (default
    /// `redis://127.0.0.1:6379`).
    pub url: String,
    /// Put before a destination to name its Redis channel (default `stomp:`, so `/topic/a`
    /// is published on the channel `stomp:/topic/a`). Instances that should share topics use
    /// the same prefix; another prefix keeps a second cluster apart on one Redis.
    pub channel_prefix: String,
    /// Time allowed for a TCP connect and the Redis handshake (default 5 s).
    pub connect_timeout: Duration,
    /// Longest pause between reconnection attempts (default 5 s; attempts start at 100 ms
    /// and double).
    pub max_reconnect_delay: Duration,
    /// Most bytes of published messages that may wait to be written to Redis (default
    /// 16 MiB). Past it, publishing fails with
    /// [`BrokerError::Backlog`](crate::broker::BrokerError::Backlog) (a client's `SEND` gets
    /// an `ERROR`) until Redis has caught up.
    pub publish_backlog: usize,
    /// How often this instance writes its users to Redis and reads the other instances'
    /// (default 1 s), for a user registry that answers for the cluster. Its entry expires
    /// after three of these, so an instance that dies leaves every other's
    /// [`UserRegistry::users`](crate::user::UserRegistry::users) within four of them; a
    /// session that leaves, within two.
    pub registry_refresh: Duration,
}

impl Default for RedisConfig {
    fn default() -> RedisConfig {
        RedisConfig {
            url: "redis://127.0.0.1:6379".to_owned(),
            channel_prefix: "stomp:".to_owned(),
            connect_timeout: Duration::from_secs(5),
            max_reconnect_delay: Duration::from_secs(5),
            publish_backlog: 16 * 1024 * 1024,
            registry_refresh: Duration::from_secs(1),
        }
    }
}

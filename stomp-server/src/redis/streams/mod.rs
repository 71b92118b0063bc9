//! Redis Streams for durable history and for work processed once across instances: what
//! Spring Data Redis offers as `StreamOperations` (`redisTemplate.opsForStream()`) and
//! `StreamMessageListenerContainer` with a consumer group.
//!
//! [`RedisStreams`] appends entries (`XADD` with `MAXLEN ~ N`: no stream grows without
//! bound) and reads the last N or a range (`XREVRANGE`/`XRANGE`, always with `COUNT`).
//! [`StreamConsumer`] reads a stream as one member of a consumer group (`XREADGROUP`,
//! `XACK`), taking over entries another member left unacknowledged for longer than an idle
//! time (`XAUTOCLAIM`). Register a `RedisStreams` with
//! [`StompServerBuilder::state`](crate::StompServerBuilder::state) and handlers take it as
//! `State<RedisStreams>`.
//!
//! Connections come from the backplane's connector: opened on first use, and opened again
//! after a dropped connection (the failing call returns [`StreamError::Unavailable`], or
//! succeeds on a second attempt when the connection was merely stale).

mod command;
mod consumer;
mod entry;

use redis::streams::StreamRangeReply;

use self::command::{bounded, CommandLink};
pub use self::command::{StreamError, MAX_COUNT};
pub use self::consumer::{ConsumerConfig, StreamConsumer};
pub use self::entry::StreamEntry;

use super::config::RedisConfig;
use super::link::Connector;

/// The default bound of a stream's length (`MAXLEN ~ 10000`).
pub const DEFAULT_MAX_LEN: usize = 10_000;

/// Appends to and reads Redis Streams (Spring's `StreamOperations`). Cloning shares the
/// connection.
#[derive(Clone)]
pub struct RedisStreams {
    link: CommandLink,
    max_len: usize,
}

impl std::fmt::Debug for RedisStreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStreams")
            .field("max_len", &self.max_len)
            .finish_non_exhaustive()
    }
}

impl RedisStreams {
    /// Streams on the Redis of `config` (its URL and timeouts), each bounded to about
    /// [`DEFAULT_MAX_LEN`] entries. Connects at the first call.
    pub fn new(config: &RedisConfig) -> RedisStreams {
        RedisStreams {
            link: CommandLink::new(Connector::new(config)),
            max_len: DEFAULT_MAX_LEN,
        }
    }

    /// Bounds every stream appended to to about `max_len` entries (at least 1): `XADD ..
    /// MAXLEN ~ max_len`, so Redis trims whole nodes and may keep a few more.
    #[must_use]
    pub fn with_max_len(mut self, max_len: usize) -> RedisStreams {
        self.max_len = max_len.max(1);
        self
    }

    /// The bound given to `XADD`.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Appends an entry of `fields` to `stream` (created if needed) and returns its id
    /// (`XADD stream MAXLEN ~ N * field value ..`). Sent once: after a dropped connection
    /// the entry may or may not have been added, and the error says the call failed.
    pub async fn append<K, V>(&self, stream: &str, fields: &[(K, V)]) -> Result<String, StreamError>
    where
        K: AsRef<str>,
        V: AsRef<[u8]>,
    {
        if fields.is_empty() {
            return Err(StreamError::Invalid("an entry needs at least one field"));
        }
        let mut command = redis::cmd("XADD");
        command
            .arg(stream)
            .arg("MAXLEN")
            .arg("~")
            .arg(self.max_len)
            .arg("*");
        for (key, value) in fields {
            command.arg(key.as_ref()).arg(value.as_ref());
        }
        self.link.query_once(&command).await
    }

    /// The last `count` entries of `stream` (at most [`MAX_COUNT`]), oldest first; empty
    /// when the stream does not exist.
    pub async fn last(&self, stream: &str, count: usize) -> Result<Vec<StreamEntry>, StreamError> {
        let count = bounded(count)?;
        let mut command = redis::cmd("XREVRANGE");
        command
            .arg(stream)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(count);
        let reply: StreamRangeReply = self.link.query(&command).await?;
        let mut entries = entry::from_ids(reply.ids);
        entries.reverse();
        Ok(entries)
    }

    /// Up to `count` entries (at most [`MAX_COUNT`]) of `stream` with ids from `from` to
    /// `to` inclusive (`-` and `+` for either end; `(id` excludes `id`), oldest first.
    pub async fn range(
        &self,
        stream: &str,
        from: &str,
        to: &str,
        count: usize,
    ) -> Result<Vec<StreamEntry>, StreamError> {
        let count = bounded(count)?;
        let mut command = redis::cmd("XRANGE");
        command
            .arg(stream)
            .arg(from)
            .arg(to)
            .arg("COUNT")
            .arg(count);
        let reply: StreamRangeReply = self.link.query(&command).await?;
        Ok(entry::from_ids(reply.ids))
    }

    /// The number of entries in `stream` (`XLEN`; 0 when it does not exist).
    pub async fn len(&self, stream: &str) -> Result<usize, StreamError> {
        let mut command = redis::cmd("XLEN");
        command.arg(stream);
        self.link.query(&command).await
    }

    /// A reader of `stream` in consumer group `config.group` under the name
    /// `config.consumer` (Spring's `StreamMessageListenerContainer` with
    /// `Consumer.from(group, name)`); it has a connection of its own, since its reads block.
    pub fn consumer(&self, stream: &str, config: ConsumerConfig) -> StreamConsumer {
        StreamConsumer::new(self.link.fresh(), stream.to_owned(), config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_at_least_one_and_capped() {
        assert!(matches!(bounded(0), Err(StreamError::Invalid(_))));
        assert_eq!(bounded(5), Ok(5));
        assert_eq!(bounded(MAX_COUNT + 1), Ok(MAX_COUNT));
    }

    #[test]
    fn the_stream_bound_is_at_least_one() {
        let streams = RedisStreams::new(&RedisConfig::default());
        assert_eq!(streams.max_len(), DEFAULT_MAX_LEN);
        assert_eq!(streams.with_max_len(0).max_len(), 1);
    }
}

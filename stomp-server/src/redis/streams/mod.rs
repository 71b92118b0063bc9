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

mod consumer;
mod entry;

use std::sync::Arc;

use redis::aio::MultiplexedConnection;
use redis::streams::StreamRangeReply;
use redis::{Cmd, FromRedisValue};
use tokio::sync::Mutex;

pub use self::consumer::{ConsumerConfig, StreamConsumer};
pub use self::entry::StreamEntry;

use super::config::RedisConfig;
use super::link::Connector;

/// The default bound of a stream's length (`MAXLEN ~ 10000`).
pub const DEFAULT_MAX_LEN: usize = 10_000;

/// The most entries one read returns, whatever the caller asks for.
pub const MAX_COUNT: usize = 1_000;

/// Why a stream operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// Redis cannot be reached (or the connection dropped during the call); retry later.
    #[error("Redis streams unavailable: {0}")]
    Unavailable(String),
    /// Redis refused the command (a wrong key type, a malformed id, ...).
    #[error("Redis refused the stream command: {0}")]
    Refused(String),
    /// The arguments cannot make a command (an empty entry, a zero count).
    #[error("invalid stream request: {0}")]
    Invalid(&'static str),
}

impl StreamError {
    fn from_redis(error: &redis::RedisError) -> StreamError {
        if lost(error) {
            StreamError::Unavailable(error.to_string())
        } else {
            StreamError::Refused(error.to_string())
        }
    }
}

/// True when `error` means the connection is gone (open a new one) rather than a refusal.
fn lost(error: &redis::RedisError) -> bool {
    error.is_io_error()
        || error.is_connection_dropped()
        || error.is_connection_refusal()
        || error.is_timeout()
        || error.is_unrecoverable_error()
}

/// One lazily opened connection, opened again after it is lost.
#[derive(Clone)]
pub(crate) struct CommandLink {
    connector: Connector,
    /// The open connection, `None` before the first call and after one is lost. A tokio
    /// Mutex: it is held across the connect, so that callers arriving meanwhile wait for
    /// that one connection instead of each opening their own.
    connection: Arc<Mutex<Option<MultiplexedConnection>>>,
}

impl CommandLink {
    pub(crate) fn new(connector: Connector) -> CommandLink {
        CommandLink {
            connector,
            connection: Arc::default(),
        }
    }

    /// The open connection (a cheap clone: calls are pipelined on it), opened if needed.
    async fn connection(&self) -> Result<MultiplexedConnection, StreamError> {
        let mut slot = self.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        let connection = self
            .connector
            .multiplexed()
            .await
            .map_err(StreamError::Unavailable)?;
        *slot = Some(connection.clone());
        Ok(connection)
    }

    async fn forget(&self) {
        *self.connection.lock().await = None;
    }

    /// Runs `command`; a lost connection is dropped and the command tried once more on a
    /// new one (every command sent here is safe to repeat but `XADD`, which is sent only
    /// once: see [`CommandLink::query_once`]).
    pub(crate) async fn query<T: FromRedisValue>(&self, command: &Cmd) -> Result<T, StreamError> {
        match self.query_once(command).await {
            Err(StreamError::Unavailable(_)) => self.query_once(command).await,
            other => other,
        }
    }

    /// Runs `command` once; a lost connection is dropped, so the next call opens another.
    pub(crate) async fn query_once<T: FromRedisValue>(
        &self,
        command: &Cmd,
    ) -> Result<T, StreamError> {
        let mut connection = self.connection().await?;
        match command.query_async(&mut connection).await {
            Ok(value) => Ok(value),
            Err(error) => {
                if lost(&error) {
                    self.forget().await;
                }
                Err(StreamError::from_redis(&error))
            }
        }
    }
}

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
        StreamConsumer::new(
            CommandLink::new(self.link.connector.clone()),
            stream.to_owned(),
            config,
        )
    }
}

/// `count` checked (not 0) and capped at [`MAX_COUNT`].
fn bounded(count: usize) -> Result<usize, StreamError> {
    if count == 0 {
        return Err(StreamError::Invalid("a read needs a count of at least 1"));
    }
    Ok(count.min(MAX_COUNT))
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

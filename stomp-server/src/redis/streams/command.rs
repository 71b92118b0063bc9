//! The streams' command connection ([`CommandLink`]), their errors and the bound on reads.

use std::sync::Arc;

use redis::aio::MultiplexedConnection;
use redis::{Cmd, FromRedisValue};
use tokio::sync::Mutex;

use crate::redis::link::Connector;

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

    /// A link of its own to the same Redis, for a caller whose reads block.
    pub(crate) fn fresh(&self) -> CommandLink {
        CommandLink::new(self.connector.clone())
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

/// `count` checked (not 0) and capped at [`MAX_COUNT`].
pub(super) fn bounded(count: usize) -> Result<usize, StreamError> {
    if count == 0 {
        return Err(StreamError::Invalid("a read needs a count of at least 1"));
    }
    Ok(count.min(MAX_COUNT))
}

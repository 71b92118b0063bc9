//! [`StreamConsumer`]: one member of a consumer group, for work processed once across
//! instances.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::streams::{StreamAutoClaimReply, StreamReadReply};

use super::command::{bounded, CommandLink, StreamError};
use super::entry::{self, StreamEntry};

/// Longest a read blocks waiting for new entries: below the connection's response timeout.
const MAX_BLOCK: Duration = Duration::from_secs(5);

/// Who reads and how: the group, this reader's name in it, how many entries one read takes,
/// how long it waits for new ones, and after how long unacknowledged entries of another
/// reader are taken over.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerConfig {
    /// The consumer group (created at the start of the stream, with the stream if needed).
    pub group: String,
    /// This reader's name in the group; unique per instance (and per reader).
    pub consumer: String,
    /// Most entries one [`StreamConsumer::read`] returns (default 10, at most
    /// [`MAX_COUNT`](super::command::MAX_COUNT)).
    pub count: usize,
    /// How long a read waits for new entries (default 1 s, at most 5 s).
    pub block: Duration,
    /// An entry delivered to a reader and not acknowledged for this long is delivered
    /// again, to whichever reader reads next (default 30 s; `XAUTOCLAIM`'s min-idle-time).
    pub claim_idle: Duration,
}

impl ConsumerConfig {
    /// Reader `consumer` of `group`, with the default count, block and claim time.
    pub fn new(group: impl Into<String>, consumer: impl Into<String>) -> ConsumerConfig {
        ConsumerConfig {
            group: group.into(),
            consumer: consumer.into(),
            count: 10,
            block: Duration::from_secs(1),
            claim_idle: Duration::from_secs(30),
        }
    }

    /// Sets [`count`](Self::count).
    #[must_use]
    pub fn with_count(mut self, count: usize) -> ConsumerConfig {
        self.count = count;
        self
    }

    /// Sets [`block`](Self::block).
    #[must_use]
    pub fn with_block(mut self, block: Duration) -> ConsumerConfig {
        self.block = block;
        self
    }

    /// Sets [`claim_idle`](Self::claim_idle).
    #[must_use]
    pub fn with_claim_idle(mut self, idle: Duration) -> ConsumerConfig {
        self.claim_idle = idle;
        self
    }
}

/// Reads a stream as one member of a consumer group: each entry goes to one member, which
/// acknowledges it with [`ack`](Self::ack) once processed; an entry left unacknowledged
/// longer than [`ConsumerConfig::claim_idle`] (its reader died) goes to the next reader.
pub struct StreamConsumer {
    /// Its own connection: a blocking `XREADGROUP` would hold up every command pipelined
    /// behind it on a shared one.
    link: CommandLink,
    stream: String,
    config: ConsumerConfig,
    /// Set once the group is known to exist; cleared when Redis says it does not. Atomic:
    /// reads may run from several tasks, and a stale value costs one `XGROUP CREATE`.
    group_ready: AtomicBool,
}

impl std::fmt::Debug for StreamConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamConsumer")
            .field("stream", &self.stream)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl StreamConsumer {
    pub(super) fn new(link: CommandLink, stream: String, config: ConsumerConfig) -> StreamConsumer {
        StreamConsumer {
            link,
            stream,
            config,
            group_ready: AtomicBool::new(false),
        }
    }

    /// The stream read.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The next entries for this reader, oldest first: first those another reader (or this
    /// one) left unacknowledged past the claim time, else new ones, waiting up to
    /// [`ConsumerConfig::block`] for some; empty when there are none.
    pub async fn read(&self) -> Result<Vec<StreamEntry>, StreamError> {
        let count = bounded(self.config.count)?;
        self.ensure_group().await?;
        let claimed = self.claim(count).await?;
        if !claimed.is_empty() {
            return Ok(claimed);
        }
        let block = self.config.block.min(MAX_BLOCK);
        let mut command = redis::cmd("XREADGROUP");
        command
            .arg("GROUP")
            .arg(&self.config.group)
            .arg(&self.config.consumer)
            .arg("COUNT")
            .arg(count)
            .arg("BLOCK")
            .arg(block_ms(block))
            .arg("STREAMS")
            .arg(&self.stream)
            .arg(">");
        let reply: Option<StreamReadReply> = self.checked(self.link.query(&command).await)?;
        let ids = reply
            .into_iter()
            .flat_map(|r| r.keys)
            .flat_map(|key| key.ids)
            .collect();
        Ok(entry::from_ids(ids))
    }

    /// Acknowledges `ids` as processed (`XACK`); returns how many were pending.
    pub async fn ack<S: AsRef<str>>(&self, ids: &[S]) -> Result<usize, StreamError> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut command = redis::cmd("XACK");
        command.arg(&self.stream).arg(&self.config.group);
        for id in ids {
            command.arg(id.as_ref());
        }
        self.checked(self.link.query(&command).await)
    }

    /// Up to `count` entries idle past the claim time, now this reader's (`XAUTOCLAIM`).
    async fn claim(&self, count: usize) -> Result<Vec<StreamEntry>, StreamError> {
        let mut command = redis::cmd("XAUTOCLAIM");
        command
            .arg(&self.stream)
            .arg(&self.config.group)
            .arg(&self.config.consumer)
            .arg(block_ms(self.config.claim_idle))
            .arg("0-0")
            .arg("COUNT")
            .arg(count);
        let reply: StreamAutoClaimReply = self.checked(self.link.query(&command).await)?;
        Ok(entry::from_ids(reply.claimed))
    }

    /// Creates the group at the start of the stream (and the stream) unless it exists.
    async fn ensure_group(&self) -> Result<(), StreamError> {
        if self.group_ready.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut command = redis::cmd("XGROUP");
        command
            .arg("CREATE")
            .arg(&self.stream)
            .arg(&self.config.group)
            .arg("0")
            .arg("MKSTREAM");
        match self.link.query::<()>(&command).await {
            Ok(()) => {}
            Err(StreamError::Refused(why)) if why.contains("BUSYGROUP") => {}
            Err(error) => return Err(error),
        }
        self.group_ready.store(true, Ordering::Release);
        Ok(())
    }

    /// Passes `result` on; a missing group (deleted, or the stream with it) is created again
    /// on the next read.
    fn checked<T>(&self, result: Result<T, StreamError>) -> Result<T, StreamError> {
        if let Err(StreamError::Refused(why)) = &result {
            if why.contains("NOGROUP") {
                self.group_ready.store(false, Ordering::Release);
            }
        }
        result
    }
}

/// `duration` in whole milliseconds, for Redis' arguments.
fn block_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

//! Opening connections to Redis, and the back-off between attempts; shared by the
//! publishing and subscribing sides (and meant for anything else of this instance that talks
//! to the same Redis).

use std::future::Future;
use std::time::Duration;

use redis::aio::{MultiplexedConnection, PubSub};
use redis::AsyncConnectionConfig;

use super::config::RedisConfig;
use super::health::{Health, Link};

/// Longest Redis may take to answer a command (a pipeline of `PUBLISH`es, a `SUBSCRIBE`)
/// before the connection counts as lost.
pub(crate) const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// First pause between reconnection attempts; it doubles up to the configured maximum.
const FIRST_RETRY: Duration = Duration::from_millis(100);

/// Opens connections to the configured Redis.
#[derive(Clone)]
pub(crate) struct Connector {
    /// The client, or why the URL is unusable (then every attempt fails with it).
    client: Result<redis::Client, String>,
    connect_timeout: Duration,
    max_reconnect_delay: Duration,
    /// The URL without its password, for messages.
    server: String,
}

impl Connector {
    /// A connector for `config.url` (checked here; an unusable URL is reported by every
    /// attempt, so the backplane stays unavailable and says why).
    pub(crate) fn new(config: &RedisConfig) -> Connector {
        let server = without_password(&config.url);
        let client = redis::Client::open(config.url.as_str())
            .map_err(|error| format!("invalid Redis URL `{server}`: {error}"));
        if let Err(error) = &client {
            tracing::error!(%error, "the Redis backplane cannot connect");
        }
        Connector {
            client,
            connect_timeout: config.connect_timeout,
            max_reconnect_delay: config.max_reconnect_delay,
            server,
        }
    }

    /// The server, for log lines and messages (no password).
    pub(crate) fn server(&self) -> &str {
        &self.server
    }

    /// The configured longest pause between attempts.
    pub(crate) fn max_reconnect_delay(&self) -> Duration {
        self.max_reconnect_delay
    }

    /// A connection for commands (pipelined, shareable by clones).
    pub(crate) async fn multiplexed(&self) -> Result<MultiplexedConnection, String> {
        let client = self.client.as_ref().map_err(Clone::clone)?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|error| self.unreachable(&error))
    }

    /// A connection in subscriber mode.
    pub(crate) async fn pubsub(&self) -> Result<PubSub, String> {
        let client = self.client.as_ref().map_err(Clone::clone)?;
        match tokio::time::timeout(self.connect_timeout, client.get_async_pubsub()).await {
            Ok(Ok(pubsub)) => Ok(pubsub),
            Ok(Err(error)) => Err(self.unreachable(&error)),
            Err(_) => Err(format!(
                "Redis at {} did not answer within {:?}",
                self.server, self.connect_timeout
            )),
        }
    }

    fn unreachable(&self, error: &redis::RedisError) -> String {
        format!("cannot reach Redis at {}: {error}", self.server)
    }
}

/// `redis://user:secret@host:6379/0` → `redis://host:6379/0`.
fn without_password(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, _)), Some(at)) => format!("{scheme}://{}", &url[at + 1..]),
        _ => url.to_owned(),
    }
}

/// Exponential back-off between reconnection attempts.
pub(crate) struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    /// Starts at 100 ms and doubles up to `max`.
    pub(crate) fn new(max: Duration) -> Backoff {
        Backoff {
            next: FIRST_RETRY.min(max),
            max,
        }
    }

    /// The pause before the next attempt (and doubles the one after).
    pub(crate) fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    /// After a success: the next failure waits the shortest pause again.
    pub(crate) fn reset(&mut self) {
        self.next = FIRST_RETRY.min(self.max);
    }
}

/// Attempts `connect` until it succeeds (reporting each failure as `link` down), pausing by
/// `backoff` in between; `None` once `stopped` says to give up.
pub(crate) async fn connect_with_backoff<C, F>(
    mut connect: impl FnMut() -> F,
    backoff: &mut Backoff,
    health: &Health,
    link: Link,
    stopped: impl Fn() -> bool,
) -> Option<C>
where
    F: Future<Output = Result<C, String>>,
{
    loop {
        if stopped() {
            return None;
        }
        match connect().await {
            Ok(connection) => {
                backoff.reset();
                return Some(connection);
            }
            Err(reason) => health.set(link, Err(reason)),
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_stays_out_of_messages() {
        assert_eq!(
            without_password("redis://u:s3cret@host:6379/0"),
            "redis://host:6379/0"
        );
        assert_eq!(without_password("redis://host"), "redis://host");
    }

    #[test]
    fn backoff_doubles_to_its_maximum_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(300));
        let delays: Vec<_> = (0..4).map(|_| backoff.next_delay().as_millis()).collect();
        assert_eq!(delays, [100, 200, 300, 300]);
        backoff.reset();
        assert_eq!(backoff.next_delay().as_millis(), 100);
    }
}

//! The relay's topics as an [`Upstream`] of the instance's local broker: one RabbitMQ
//! subscription per destination (or pattern) per instance, whatever the number of local
//! subscribers, with the local fan-out doing the rest.
//!
//! - Publishing: a message goes out on the system connection, tagged with this instance's
//!   origin, before the local fan-out; a broker that is down or not keeping up refuses it.
//! - Listening: [`listener`](super::listener) holds the shared subscriber connection, and
//!   drops the copies of this instance's own messages RabbitMQ hands back.
//! - Which destinations qualify ([`shared_destination`]): broadcast ones under the relay's
//!   shared prefixes, in whole words, so that RabbitMQ routes them as the local broker
//!   matches them and cannot refuse them (which would end the shared connection).

use std::sync::Arc;

use stomp_core::{names, Command, Frame};
use tokio::sync::mpsc;

use super::destination::to_broker;
use super::listener::Listen;
use super::system::Shared;
use super::wire::{is_relay_header, ORIGIN};
use crate::broker::{has_prefix, BrokerError, PublishedMessage, Upstream, UpstreamSubscription};

/// Longest routing key RabbitMQ takes (AMQP's short string).
const MAX_ROUTING_KEY: usize = 255;

/// The relay's [`Upstream`]: the system connection out, the shared listener in.
pub(super) struct RelayUpstream {
    pub(super) shared: Arc<Shared>,
    /// This instance's origin tag.
    pub(super) origin: Arc<str>,
    /// To the shared listener's task.
    pub(super) listener: mpsc::UnboundedSender<Listen>,
}

impl Upstream for RelayUpstream {
    fn publish(&self, message: &Arc<PublishedMessage>) -> Result<(), BrokerError> {
        let mut frame =
            Frame::new(Command::Send).header(names::DESTINATION, &to_broker(message.destination()));
        for (name, value) in message.headers() {
            if !is_relay_header(name) {
                frame.headers.append(name, value);
            }
        }
        frame.headers.append(ORIGIN, &self.origin);
        frame.body = message.body().clone();
        self.shared.send(frame)
    }

    fn subscribe(&self, subscription: UpstreamSubscription) {
        if let Err(error) = self.listener.send(Listen::Start(subscription)) {
            if let Listen::Start(subscription) = error.0 {
                subscription.failed(BrokerError::Unavailable(
                    "the relay's listener stopped".to_owned(),
                ));
            }
        }
    }

    fn unsubscribe(&self, destination: &str) {
        let _ = self.listener.send(Listen::Stop(destination.to_owned()));
    }

    fn available(&self) -> Result<(), BrokerError> {
        self.shared.available()
    }
}

/// True when a subscription to `destination` (with `ack:auto`, for no user) is served by the
/// instance's shared subscription: under one of `prefixes`, and in RabbitMQ's words. An
/// error says why a destination under a shared prefix cannot be subscribed to at all.
pub(super) fn shared_destination(
    destination: &str,
    prefixes: &[String],
) -> Result<bool, BrokerError> {
    let Some(prefix) = prefixes.iter().find(|p| has_prefix(destination, p)) else {
        return Ok(false);
    };
    let invalid = |reason: &str| BrokerError::InvalidDestination {
        destination: destination.to_owned(),
        reason: reason.to_owned(),
    };
    // What `to_broker` makes of it, measured without building it (this runs for every
    // message published): slashes become dots, each `**` one `#`.
    let routing_key = destination.len() - destination.matches("**").count();
    if routing_key > MAX_ROUTING_KEY + "/topic/".len() {
        return Err(invalid("longer than RabbitMQ's 255-byte routing key"));
    }
    let rest = destination
        .get(prefix.trim_end_matches('/').len()..)
        .unwrap_or("");
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    for word in rest.split('/') {
        if word.is_empty() {
            return Err(invalid("an empty word between separators"));
        }
        if word.contains('*') && word != "*" && word != "**" {
            return Err(invalid(
                "wildcards match whole words at RabbitMQ: use `*` or `**` as a segment",
            ));
        }
        if word.contains('#') || word.chars().any(char::is_control) {
            return Err(invalid("`#` and control characters are not allowed"));
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics() -> Vec<String> {
        vec!["/topic".to_owned()]
    }

    #[test]
    fn topics_in_whole_words_are_shared_and_other_destinations_are_not() {
        assert_eq!(shared_destination("/topic/chat/room1", &topics()), Ok(true));
        assert_eq!(shared_destination("/topic/chat/*", &topics()), Ok(true));
        assert_eq!(shared_destination("/topic/chat/**", &topics()), Ok(true));
        assert_eq!(shared_destination("/topic/chat.room1", &topics()), Ok(true));
        assert_eq!(shared_destination("/queue/jobs", &topics()), Ok(false));
        assert_eq!(shared_destination("/exchange/x/y", &topics()), Ok(false));
    }

    #[test]
    fn what_rabbitmq_would_refuse_or_route_differently_is_refused_here() {
        for bad in [
            "/topic/chat/room*",
            "/topic/chat//x",
            "/topic/chat/#",
            "/topic/a\u{1}b",
            "/topic/",
        ] {
            assert!(
                matches!(
                    shared_destination(bad, &topics()),
                    Err(BrokerError::InvalidDestination { .. })
                ),
                "{bad:?}"
            );
        }
        let long = format!("/topic/{}", "x".repeat(256));
        assert!(shared_destination(&long, &topics()).is_err());
    }
}

//! Destination names between clients and RabbitMQ.
//!
//! Clients keep the destinations they use with the embedded broker (`/topic/chat/room1`);
//! RabbitMQ's STOMP plugin wants dots after `/topic/` (they become AMQP routing keys) and
//! takes a `/queue/` name as one real queue. Mapping happens here, both ways:
//!
//! - `/topic/chat/room1` ↔ `/topic/chat.room1`; in subscriptions `*` stays `*` (one word) and
//!   `**` becomes `#` (any number of words).
//! - `/queue/a/b` ↔ `/queue/a.b`.
//! - Every other destination (`/exchange/..`, `/amq/queue/..`, `/temp-queue/..`) passes
//!   through unchanged, for applications that use RabbitMQ's own names.
//!
//! A topic name that contains a `.` of its own cannot be told apart on the way back; the
//! relay reports the destination a client subscribed to whenever it can.

/// Maps a client destination to the broker's name.
pub(crate) fn to_broker(destination: &str) -> String {
    for prefix in ["/topic/", "/queue/"] {
        if let Some(rest) = destination.strip_prefix(prefix) {
            let words: Vec<&str> = rest
                .split('/')
                .map(|word| if word == "**" { "#" } else { word })
                .collect();
            return format!("{prefix}{}", words.join("."));
        }
    }
    destination.to_owned()
}

/// Maps a broker destination back to the client's form.
pub(crate) fn from_broker(destination: &str) -> String {
    for prefix in ["/topic/", "/queue/"] {
        if let Some(rest) = destination.strip_prefix(prefix) {
            return format!("{prefix}{}", rest.replace('.', "/"));
        }
    }
    destination.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_and_queues_use_dots_at_the_broker() {
        assert_eq!(to_broker("/topic/chat/room1"), "/topic/chat.room1");
        assert_eq!(to_broker("/topic/chat/*"), "/topic/chat.*");
        assert_eq!(to_broker("/topic/chat/**"), "/topic/chat.#");
        assert_eq!(to_broker("/queue/reply-users1"), "/queue/reply-users1");
        assert_eq!(to_broker("/queue/a/b"), "/queue/a.b");
        assert_eq!(
            to_broker("/exchange/amq.direct/x"),
            "/exchange/amq.direct/x"
        );
        assert_eq!(from_broker("/topic/chat.room1"), "/topic/chat/room1");
        assert_eq!(from_broker("/amq/queue/x"), "/amq/queue/x");
    }
}

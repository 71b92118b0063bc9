//! Reply routing: where a handler's return value goes (Spring's `SendToMethodReturnValueHandler`
//! and `SubscriptionMethodReturnValueHandler`), and `content-type` defaulting.

use std::sync::Arc;

use bytes::Bytes;
use stomp_core::{names, Command, Frame};

use super::Routing;
use crate::broker::{next_message_seq, PublishedMessage};
use crate::peer::SessionHandle;

/// Spring's default prefix of a `#[message_mapping]` reply without `#[send_to]`.
const DEFAULT_SEND_TO_PREFIX: &str = "/topic";
/// Spring's default prefix of a `#[send_to_user]` without a destination.
const DEFAULT_USER_PREFIX: &str = "/queue";

/// `headers` with `content-type: content_type` first, unless they name one themselves.
pub(crate) fn with_content_type(
    content_type: &str,
    headers: impl ExactSizeIterator<Item = (String, String)>,
    has_content_type: bool,
) -> Vec<(String, String)> {
    let mut all = Vec::with_capacity(headers.len() + 1);
    if !has_content_type {
        all.push((names::CONTENT_TYPE.to_owned(), content_type.to_owned()));
    }
    all.extend(headers);
    all
}

/// One piece of a compiled `#[send_to]` template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Text copied as it is.
    Literal(&'static str),
    /// A `<name>` or `{name}` placeholder, filled from the mapping's path variables.
    Variable(&'static str),
}

/// A `#[send_to]` destination template (`/topic/chat/<room>`), split once at start-up into
/// text and placeholders, so that a reply only copies the pieces.
#[derive(Debug, Clone)]
pub(crate) struct ReplyTemplate {
    source: &'static str,
    pieces: Vec<Piece>,
}

impl ReplyTemplate {
    /// Compiles `source`: `<name>` and `{name}` are placeholders; an opening `<` or `{`
    /// without its closing one is text.
    pub(crate) fn compile(source: &'static str) -> ReplyTemplate {
        let mut pieces = Vec::new();
        let mut rest = source;
        while let Some(start) = rest.find(['<', '{']) {
            let close = if rest.as_bytes()[start] == b'<' {
                '>'
            } else {
                '}'
            };
            let Some(len) = rest[start..].find(close) else {
                break;
            };
            if start > 0 {
                pieces.push(Piece::Literal(&rest[..start]));
            }
            pieces.push(Piece::Variable(&rest[start + 1..start + len]));
            rest = &rest[start + len + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Literal(rest));
        }
        ReplyTemplate { source, pieces }
    }

    /// The destination for these path variables, or the name of the first placeholder
    /// `variable` has no value for.
    pub(crate) fn expand<'v>(
        &self,
        variable: impl Fn(&str) -> Option<&'v str>,
    ) -> Result<String, &'static str> {
        let mut out = String::with_capacity(self.source.len() + 16);
        for piece in &self.pieces {
            match piece {
                Piece::Literal(text) => out.push_str(text),
                Piece::Variable(name) => out.push_str(variable(name).ok_or(*name)?),
            }
        }
        Ok(out)
    }
}

/// Where a mapping's (or exception handler's) replies go, compiled at start-up.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReplyRoute {
    send_to: Vec<ReplyTemplate>,
    /// `#[send_to_user]`: its destinations (none: the default) and whether every session
    /// of the user receives it (`broadcast`) or only the sending one.
    send_to_user: Option<(&'static [&'static str], bool)>,
}

impl ReplyRoute {
    /// Compiles `#[send_to]` templates and `#[send_to_user]` destinations.
    pub(crate) fn compile(
        send_to: &'static [&'static str],
        send_to_user: Option<(&'static [&'static str], bool)>,
    ) -> ReplyRoute {
        ReplyRoute {
            send_to: send_to.iter().map(|s| ReplyTemplate::compile(s)).collect(),
            send_to_user,
        }
    }
}

/// The handler call a reply answers.
pub(crate) struct ReplySource<'a> {
    /// The session that sent the frame.
    pub(crate) session: &'a Arc<SessionHandle>,
    /// The destination, application prefix included.
    pub(crate) destination: &'a str,
    /// The destination the mapping matched (`/chat/room1`).
    pub(crate) lookup_destination: &'a str,
    /// The subscription id of a `#[subscribe_mapping]`'s `SUBSCRIBE`; `None` for a `SEND`.
    pub(crate) subscription: Option<&'a str>,
    /// The mapping's path variables.
    pub(crate) variable: &'a dyn Fn(&str) -> Option<&'a str>,
}

/// A handler's converted return value.
pub(crate) struct Reply {
    /// Its headers, `content-type` included.
    pub(crate) headers: Vec<(String, String)>,
    /// Its body.
    pub(crate) body: Bytes,
}

/// A reply's headers and body, handed out once per destination: clones for all but the
/// last, which takes them (one destination, the usual case, copies nothing).
struct ReplyParts {
    reply: Reply,
    remaining: usize,
}

impl ReplyParts {
    fn message(&mut self, destination: String) -> PublishedMessage {
        self.remaining = self.remaining.saturating_sub(1);
        let (headers, body) = if self.remaining == 0 {
            (
                std::mem::take(&mut self.reply.headers),
                std::mem::take(&mut self.reply.body),
            )
        } else {
            (self.reply.headers.clone(), self.reply.body.clone())
        };
        PublishedMessage {
            destination,
            headers,
            body,
        }
    }
}

impl Routing {
    /// Sends a handler's reply where `route` says, or to Spring's default destination.
    pub(crate) fn route_reply(&self, source: &ReplySource<'_>, route: &ReplyRoute, reply: Reply) {
        let default_user;
        let user_destinations: &[&str] = match route.send_to_user {
            Some(([], _)) => {
                default_user = [format!(
                    "{DEFAULT_USER_PREFIX}{}",
                    source.lookup_destination
                )];
                &[default_user[0].as_str()]
            }
            Some((destinations, _)) => destinations,
            None => &[],
        };
        let remaining = route.send_to.len() + user_destinations.len();
        let mut parts = ReplyParts {
            reply,
            remaining: remaining.max(1),
        };
        if remaining == 0 {
            self.reply_by_default(source, parts);
            return;
        }
        for template in &route.send_to {
            match template.expand(source.variable) {
                Ok(destination) => self.publish_reply(parts.message(destination)),
                Err(name) => {
                    parts.remaining = parts.remaining.saturating_sub(1);
                    tracing::warn!(
                        template = template.source,
                        name,
                        "send_to placeholder has no value; reply dropped"
                    );
                }
            }
        }
        let broadcast = route.send_to_user.is_some_and(|(_, broadcast)| broadcast);
        for destination in user_destinations {
            let message = parts.message(String::new());
            let session = source.session;
            let delivered = match (&session.principal, broadcast) {
                (Some(principal), true) => {
                    self.publish_to_user(principal.name(), destination, message)
                }
                _ => self.publish_to_session(&session.id, destination, message),
            };
            self.stats.delivered(delivered);
        }
    }

    /// No `#[send_to]`/`#[send_to_user]`: a `SEND`'s reply goes to `/topic` + the mapping's
    /// destination, a `SUBSCRIBE`'s straight back to the subscriber.
    fn reply_by_default(&self, source: &ReplySource<'_>, mut parts: ReplyParts) {
        let Some(subscription) = source.subscription else {
            let destination = format!("{DEFAULT_SEND_TO_PREFIX}{}", source.lookup_destination);
            self.publish_reply(parts.message(destination));
            return;
        };
        let mut frame = Frame::new(Command::Message)
            .header(names::DESTINATION, source.destination)
            .header(names::SUBSCRIPTION, subscription)
            .header(names::MESSAGE_ID, &next_message_seq().to_string());
        let message = parts.message(String::new());
        for (name, value) in &message.headers {
            frame.headers.append(name, value);
        }
        frame.body = message.body;
        let session = source.session;
        session.outbound.push_frame(&frame, session.version);
    }

    fn publish_reply(&self, message: PublishedMessage) {
        match self.publish(message) {
            Ok(delivered) => self.stats.delivered(delivered),
            Err(error) => tracing::warn!(error = %crate::log::Escaped(&error), "reply dropped"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<&'static str> {
        match name {
            "room" => Some("lobby"),
            "id" => Some("7"),
            _ => None,
        }
    }

    #[test]
    fn templates_compile_once_and_expand_as_before() {
        let cases = [
            ("/topic/chat/<room>", "/topic/chat/lobby"),
            ("/topic/chat/{room}", "/topic/chat/lobby"),
            ("/topic/room-<id>.x", "/topic/room-7.x"),
            ("/topic.<room>.<id>", "/topic.lobby.7"),
            ("/topic/news", "/topic/news"),
            ("/topic/a<b", "/topic/a<b"),
            ("<room>", "lobby"),
        ];
        for (source, expected) in cases {
            assert_eq!(
                ReplyTemplate::compile(source).expand(vars),
                Ok(expected.to_owned())
            );
        }
        assert_eq!(
            ReplyTemplate::compile("/topic/<nope>").expand(vars),
            Err("nope")
        );
    }

    #[test]
    fn content_type_defaults_unless_named() {
        let given = vec![("x".to_owned(), "1".to_owned())];
        assert_eq!(
            with_content_type("text/plain", given.clone().into_iter(), false),
            vec![
                ("content-type".to_owned(), "text/plain".to_owned()),
                ("x".to_owned(), "1".to_owned())
            ]
        );
        assert_eq!(
            with_content_type("text/plain", given.clone().into_iter(), true),
            given
        );
    }
}

//! [`IntoReply`]: the open trait through which a handler's return value becomes a reply, as
//! axum's `IntoResponse` (Spring: a `HandlerMethodReturnValueHandler`), and its
//! implementations for what handlers return.
//!
//! | return value                         | reply                                           |
//! |--------------------------------------|-------------------------------------------------|
//! | `()`, `None`                         | nothing is sent                                 |
//! | `String`, `&'static str`             | the text, `text/plain;charset=UTF-8`            |
//! | `Bytes`, `Vec<u8>`                   | the bytes, `application/octet-stream`           |
//! | [`Json<T>`]                          | `T` as JSON, `application/json`                 |
//! | [`Message<T>`]                       | `T`'s reply plus the message's headers          |
//! | [`ReplyMessage`], [`Outcome`]        | as they are                                     |
//! | `Option<T>`                          | `T`'s reply, or nothing                         |
//! | `Result<T, E>`                       | `T`'s reply, or `E` to the exception handlers   |
//!
//! A plain `T: Serialize` that does not implement the trait still works: the generated code
//! falls back to the serde probe (`crate::converter`), which sends JSON (text and byte buffers as
//! above). A type that implements both is converted by its `IntoReply`.

use bytes::Bytes;
use serde::Serialize;

use super::error::HandlerError;
use super::reply::{Message, Outcome, ReplyMessage, APPLICATION_JSON, OCTET_STREAM, TEXT_PLAIN};
use crate::converter::to_json;

/// A value a handler can return: it says what is sent, if anything.
///
/// Implement it for your own types to choose their body, content type and headers:
///
/// ```
/// use stomp_server::{IntoReply, handler::{Outcome, ReplyMessage}};
///
/// /// Rows sent as CSV.
/// struct Csv(Vec<[String; 2]>);
///
/// impl IntoReply for Csv {
///     fn into_reply(self) -> Outcome {
///         let text: String = self.0.iter().map(|[a, b]| format!("{a},{b}\n")).collect();
///         Outcome::Reply(ReplyMessage::new(text, "text/csv"))
///     }
/// }
///
/// let Outcome::Reply(reply) = Csv(vec![["a".into(), "1".into()]]).into_reply() else {
///     panic!("a reply")
/// };
/// assert_eq!((&reply.body[..], reply.content_type), (&b"a,1\n"[..], "text/csv"));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned from a handler",
    note = "implement `stomp_server::IntoReply` for it, or `serde::Serialize` (sent as JSON)"
)]
pub trait IntoReply {
    /// Converts the value: a message to route, nothing, or an error for the exception
    /// handlers.
    fn into_reply(self) -> Outcome;
}

/// A value sent as JSON (`application/json`) whatever it is: `Json("hi")` sends `"hi"`, quotes
/// included, where a plain `String` would be text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoReply for Json<T> {
    fn into_reply(self) -> Outcome {
        match to_json(&self.0) {
            Ok(body) => Outcome::Reply(ReplyMessage::new(body, APPLICATION_JSON)),
            Err(error) => Outcome::Failed(error.into()),
        }
    }
}

impl IntoReply for Outcome {
    fn into_reply(self) -> Outcome {
        self
    }
}

impl IntoReply for ReplyMessage {
    fn into_reply(self) -> Outcome {
        Outcome::Reply(self)
    }
}

impl IntoReply for () {
    fn into_reply(self) -> Outcome {
        Outcome::Nothing
    }
}

impl IntoReply for String {
    fn into_reply(self) -> Outcome {
        Outcome::Reply(ReplyMessage::new(self, TEXT_PLAIN))
    }
}

impl IntoReply for &'static str {
    fn into_reply(self) -> Outcome {
        Outcome::Reply(ReplyMessage::new(self, TEXT_PLAIN))
    }
}

impl IntoReply for Bytes {
    fn into_reply(self) -> Outcome {
        Outcome::Reply(ReplyMessage::new(self, OCTET_STREAM))
    }
}

impl IntoReply for Vec<u8> {
    fn into_reply(self) -> Outcome {
        Outcome::Reply(ReplyMessage::new(self, OCTET_STREAM))
    }
}

impl<T: IntoReply> IntoReply for Option<T> {
    fn into_reply(self) -> Outcome {
        self.map_or(Outcome::Nothing, IntoReply::into_reply)
    }
}

impl<T: IntoReply, E: Into<HandlerError>> IntoReply for Result<T, E> {
    fn into_reply(self) -> Outcome {
        match self {
            Ok(value) => value.into_reply(),
            Err(error) => Outcome::Failed(error.into()),
        }
    }
}

impl<T: IntoReply> IntoReply for Message<T> {
    fn into_reply(self) -> Outcome {
        let (payload, headers) = self.into_parts();
        with_headers(payload.into_reply(), headers)
    }
}

/// Adds a [`Message<T>`]'s headers to the reply its payload became.
pub(crate) fn with_headers(outcome: Outcome, headers: Vec<(String, String)>) -> Outcome {
    match outcome {
        Outcome::Reply(mut reply) => {
            reply.headers.extend(headers);
            Outcome::Reply(reply)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("boom")]
    struct Boom;

    fn reply(outcome: Outcome) -> ReplyMessage {
        match outcome {
            Outcome::Reply(reply) => reply,
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    #[test]
    fn text_and_bytes_have_their_content_types() {
        assert_eq!(
            reply("hi".into_reply()),
            ReplyMessage::new("hi", TEXT_PLAIN)
        );
        assert_eq!(
            reply("hi".to_owned().into_reply()),
            ReplyMessage::new("hi", TEXT_PLAIN)
        );
        assert_eq!(
            reply(vec![1u8, 0, 255].into_reply()),
            ReplyMessage::new(vec![1u8, 0, 255], OCTET_STREAM)
        );
        assert_eq!(
            reply(Bytes::from_static(b"\0").into_reply()),
            ReplyMessage::new(&b"\0"[..], OCTET_STREAM)
        );
    }

    #[test]
    fn json_wraps_anything_serializable() {
        assert_eq!(
            reply(Json("hi").into_reply()),
            ReplyMessage::new("\"hi\"", APPLICATION_JSON)
        );
        assert_eq!(
            reply(Json(vec![1u8, 2]).into_reply()),
            ReplyMessage::new("[1,2]", APPLICATION_JSON)
        );
    }

    #[test]
    fn nothing_options_and_results() {
        assert!(matches!(().into_reply(), Outcome::Nothing));
        assert!(matches!(None::<String>.into_reply(), Outcome::Nothing));
        assert_eq!(reply(Some("x").into_reply()).body, "x");
        assert_eq!(reply(Ok::<_, Boom>("x").into_reply()).body, "x");
        match Err::<String, _>(Boom).into_reply() {
            Outcome::Failed(error) => assert!(error.is::<Boom>()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn message_headers_are_added_to_the_payload_reply() {
        let message =
            Message::new(ReplyMessage::new("x", TEXT_PLAIN).header("a", "1")).header("b", "2");
        let headers = reply(message.into_reply()).headers;
        let expected = [("a", "1"), ("b", "2")].map(|(n, v)| (n.to_owned(), v.to_owned()));
        assert_eq!(headers, expected);
        assert!(matches!(
            Message::new(()).header("a", "1").into_reply(),
            Outcome::Nothing
        ));
    }
}

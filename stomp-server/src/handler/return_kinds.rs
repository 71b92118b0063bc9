//! The compile-time choice the generated code makes for a handler's return value
//! ([`outcome!`](crate::__stomp_outcome)), by autoref specialisation.
//!
//! First the `Result` layer: `Result<T, E>` with `E: Into<HandlerError>` is split, the error
//! going to the exception handlers, whatever `T` is. Then the value: a type that implements
//! [`IntoReply`] is converted by it; else a [`Message<T>`] or a plain `T: Serialize` goes
//! through the serde probe ([`to_body`]), so existing serde return types keep working.

use serde::Serialize;
use std::marker::PhantomData;

use super::error::HandlerError;
use super::into_reply::{with_headers, IntoReply};
use super::reply::{Message, Outcome, ReplyMessage};
use crate::converter::to_body;

/// Marks a `Result` return value.
pub struct ResultTag;
/// Marks any other return value.
pub struct PlainTag;

/// Picked for `Result<T, E>`.
pub trait ResultKind {
    /// The tag.
    fn __stomp_result_kind(&self) -> ResultTag {
        ResultTag
    }
}
impl<T, E: Into<HandlerError>> ResultKind for Result<T, E> {}

/// Picked for every other value.
pub trait PlainKind {
    /// The tag.
    fn __stomp_result_kind(&self) -> PlainTag {
        PlainTag
    }
}
impl<T> PlainKind for &T {}

impl ResultTag {
    /// Splits the result.
    pub fn split<T, E: Into<HandlerError>>(self, value: Result<T, E>) -> Result<T, HandlerError> {
        value.map_err(Into::into)
    }
}

impl PlainTag {
    /// Wraps the value.
    pub fn split<T>(self, value: T) -> Result<T, HandlerError> {
        Ok(value)
    }
}

/// The type of a value, without the value: what the value kinds are implemented on, so that
/// serde's `Serialize` impls for references cannot make two kinds apply at once.
pub struct Probe<T>(PhantomData<fn() -> T>);

impl<T> Clone for Probe<T> {
    fn clone(&self) -> Probe<T> {
        *self
    }
}

impl<T> Copy for Probe<T> {}

/// The probe of `value`'s type.
pub fn probe<T>(_value: &T) -> Probe<T> {
    Probe(PhantomData)
}

/// Marks a value that implements [`IntoReply`].
pub struct IntoReplyTag;
/// Marks a [`Message<T>`] of a serializable payload.
pub struct MessageTag;
/// Marks a serializable value.
pub struct SerializeTag;

/// Picked first, for every [`IntoReply`] value.
pub trait IntoReplyKind: Sized {
    /// The tag.
    fn __stomp_value_kind(self) -> IntoReplyTag {
        IntoReplyTag
    }
}
impl<T: IntoReply> IntoReplyKind for &&Probe<T> {}

/// Picked next, for [`Message<T>`] with `T: Serialize`.
pub trait MessageKind: Sized {
    /// The tag.
    fn __stomp_value_kind(self) -> MessageTag {
        MessageTag
    }
}
impl<T: Serialize> MessageKind for &Probe<Message<T>> {}

/// Picked last, for every serializable value.
#[diagnostic::on_unimplemented(
    message = "`{T}` cannot be returned from a handler",
    note = "implement `stomp_server::IntoReply` for it, or `serde::Serialize` (sent as JSON)"
)]
pub trait SerializeKind<T>: Sized {
    /// The tag.
    fn __stomp_value_kind(self) -> SerializeTag {
        SerializeTag
    }
}
impl<T: Serialize> SerializeKind<T> for Probe<T> {}

impl IntoReplyTag {
    /// Converts the value by its [`IntoReply`].
    pub fn into_outcome<T: IntoReply>(self, value: T) -> Outcome {
        value.into_reply()
    }
}

impl MessageTag {
    /// Converts a [`Message<T>`] through the probe.
    pub fn into_outcome<T: Serialize>(self, message: Message<T>) -> Outcome {
        let (payload, headers) = message.into_parts();
        with_headers(SerializeTag.into_outcome(payload), headers)
    }
}

impl SerializeTag {
    /// Converts a serializable value through the probe.
    pub fn into_outcome<T: Serialize>(self, value: T) -> Outcome {
        match to_body(&value) {
            Ok(Some((body, content_type))) => Outcome::Reply(ReplyMessage::new(body, content_type)),
            Ok(None) => Outcome::Nothing,
            Err(error) => Outcome::Failed(error.into()),
        }
    }
}

/// Converts a handler's return value into an [`Outcome`] (used by the generated code).
#[doc(hidden)]
#[macro_export]
macro_rules! __stomp_outcome {
    ($out:expr) => {{
        #[allow(unused_imports)]
        use $crate::__private::kinds::{
            IntoReplyKind as _, MessageKind as _, PlainKind as _, ResultKind as _,
            SerializeKind as _,
        };
        let __stomp_out = $out;
        match (&__stomp_out).__stomp_result_kind().split(__stomp_out) {
            ::std::result::Result::Ok(__stomp_value) => {
                (&&$crate::__private::kinds::probe(&__stomp_value))
                    .__stomp_value_kind()
                    .into_outcome(__stomp_value)
            }
            ::std::result::Result::Err(__stomp_error) => {
                $crate::__private::Outcome::Failed(__stomp_error)
            }
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::into_reply::Json;
    use crate::handler::reply::{APPLICATION_JSON, OCTET_STREAM, TEXT_PLAIN};
    use bytes::Bytes;

    #[derive(serde::Serialize)]
    struct Greeting {
        content: &'static str,
    }

    #[derive(Debug, thiserror::Error)]
    #[error("boom")]
    struct Boom;

    fn body(outcome: Outcome) -> (String, &'static str) {
        match outcome {
            Outcome::Reply(r) => (String::from_utf8(r.body.to_vec()).unwrap(), r.content_type),
            other => panic!("expected a reply, got {other:?}"),
        }
    }

    #[test]
    fn values_convert_by_kind() {
        assert_eq!(
            body(crate::__stomp_outcome!(Greeting { content: "hi" })),
            (r#"{"content":"hi"}"#.to_owned(), APPLICATION_JSON)
        );
        assert_eq!(
            body(crate::__stomp_outcome!("hi".to_owned())),
            ("hi".to_owned(), TEXT_PLAIN)
        );
        assert_eq!(
            body(crate::__stomp_outcome!(Bytes::from_static(b"\0"))).1,
            OCTET_STREAM
        );
        assert_eq!(
            body(crate::__stomp_outcome!(Some(7u8))),
            ("7".to_owned(), APPLICATION_JSON)
        );
        assert!(matches!(crate::__stomp_outcome!(()), Outcome::Nothing));
        assert!(matches!(
            crate::__stomp_outcome!(None::<String>),
            Outcome::Nothing
        ));
    }

    #[test]
    fn vec_u8_is_binary_not_a_json_array() {
        assert_eq!(
            body(crate::__stomp_outcome!(vec![104u8, 105])),
            ("hi".to_owned(), OCTET_STREAM)
        );
        let message = Message::new(vec![0u8]).header("a", "1");
        let Outcome::Reply(reply) = crate::__stomp_outcome!(message) else {
            panic!()
        };
        assert_eq!(
            (&reply.body[..], reply.content_type),
            (&[0u8][..], OCTET_STREAM)
        );
        assert_eq!(reply.headers, vec![("a".to_owned(), "1".to_owned())]);
    }

    /// Serializable, and converted by its own `IntoReply`, which wins over the probe.
    #[derive(serde::Serialize)]
    struct Csv(&'static str);

    impl IntoReply for Csv {
        fn into_reply(self) -> Outcome {
            Outcome::Reply(ReplyMessage::new(self.0, "text/csv"))
        }
    }

    #[test]
    fn a_user_reply_type_wins_over_serialize() {
        assert_eq!(
            body(crate::__stomp_outcome!(Csv("a,b"))),
            ("a,b".to_owned(), "text/csv")
        );
        let ok: Result<Option<Csv>, Boom> = Ok(Some(Csv("x")));
        assert_eq!(body(crate::__stomp_outcome!(ok)).1, "text/csv");
        assert_eq!(
            body(crate::__stomp_outcome!(Json("x"))),
            ("\"x\"".to_owned(), APPLICATION_JSON)
        );
    }

    #[test]
    fn serializable_wrappers_use_the_probe() {
        assert!(matches!(
            crate::__stomp_outcome!(None::<Greeting>),
            Outcome::Nothing
        ));
        assert_eq!(
            body(crate::__stomp_outcome!(Some(Greeting { content: "o" }))),
            (r#"{"content":"o"}"#.to_owned(), APPLICATION_JSON)
        );
        let err: Result<Greeting, Boom> = Err(Boom);
        assert!(matches!(crate::__stomp_outcome!(err), Outcome::Failed(_)));
    }

    #[test]
    fn results_split_into_errors() {
        let ok: Result<String, Boom> = Ok("x".to_owned());
        assert_eq!(body(crate::__stomp_outcome!(ok)).0, "x");
        let err: Result<String, Boom> = Err(Boom);
        match crate::__stomp_outcome!(err) {
            Outcome::Failed(e) => assert!(e.is::<Boom>()),
            other => panic!("{other:?}"),
        }
        let message = Message::new(Greeting { content: "m" }).header("priority", "9");
        let Outcome::Reply(reply) = crate::__stomp_outcome!(message) else {
            panic!()
        };
        assert_eq!(reply.headers, vec![("priority".to_owned(), "9".to_owned())]);
    }
}

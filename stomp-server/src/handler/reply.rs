//! Return values: how whatever a handler returns becomes a message, nothing, or an error.
//!
//! - `T: Serialize` → JSON with `content-type:application/json`;
//! - `String`/`&str` → the text with `text/plain;charset=UTF-8`;
//! - `bytes::Bytes` → the bytes with `application/octet-stream`;
//! - `()` and `None` → nothing is sent;
//! - `Result<T, E>` → `Ok` as above, `Err` to the exception handlers;
//! - [`Message<T>`] → the payload as above plus headers of your choosing.
//!
//! Text and bytes are told apart from other serializable values at run time, by serializing
//! into a probe that only accepts a top-level string, byte buffer, unit or option; anything
//! else falls through to JSON. The `Result` layer is picked at compile time by the generated
//! code (autoref specialisation in [`outcome!`](crate::__stomp_outcome)).

use bytes::{BufMut, Bytes, BytesMut};
use serde::ser::{self, Impossible, Serialize, Serializer};
use std::fmt;

use super::error::HandlerError;

/// What a handler call produced.
#[derive(Debug)]
pub enum Outcome {
    /// Nothing to send (`()`, `None`).
    Nothing,
    /// A message to route (`send_to`, `send_to_user`, the default destination, or back to
    /// the subscriber).
    Reply(ReplyMessage),
    /// An error for the exception handlers.
    Failed(HandlerError),
}

/// A converted return value, ready to be published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyMessage {
    /// The body.
    pub body: Bytes,
    /// The `content-type` header.
    pub content_type: &'static str,
    /// Extra headers from a [`Message<T>`] return value.
    pub headers: Vec<(String, String)>,
}

/// A return value with headers, like returning Spring's `Message<T>`.
///
/// ```
/// use stomp_server::Message;
/// fn reply() -> Message<String> {
///     Message::new("hello".to_owned()).header("priority", "9")
/// }
/// # assert_eq!(reply().headers()[0], ("priority".to_owned(), "9".to_owned()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<T> {
    payload: T,
    headers: Vec<(String, String)>,
}

impl<T> Message<T> {
    /// A message with this payload and no extra header.
    pub fn new(payload: T) -> Message<T> {
        Message {
            payload,
            headers: Vec::new(),
        }
    }

    /// Adds a header (a `content-type` here overrides the converter's).
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Message<T> {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The payload.
    pub fn payload(&self) -> &T {
        &self.payload
    }

    /// The extra headers.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }
}

/// The JSON content type.
pub const APPLICATION_JSON: &str = "application/json";
/// The text content type.
pub const TEXT_PLAIN: &str = "text/plain;charset=UTF-8";
/// The binary content type.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// A return value could not be serialized.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the return value could not be serialized as JSON: {0}")]
pub struct SerializeError(pub String);

/// Converts a value to a message body, or `None` for `()`/`None`.
pub fn to_body<T: Serialize + ?Sized>(
    value: &T,
) -> Result<Option<(Bytes, &'static str)>, SerializeError> {
    match value.serialize(Probe) {
        Ok(Probed::Nothing) => Ok(None),
        Ok(Probed::Text(bytes)) => Ok(Some((bytes, TEXT_PLAIN))),
        Ok(Probed::Bytes(bytes)) => Ok(Some((bytes, OCTET_STREAM))),
        Err(NotPrimitive) => {
            // Most replies are small JSON documents; 512 bytes avoids growing the buffer for them.
            let mut writer = BytesMut::with_capacity(512).writer();
            serde_json::to_writer(&mut writer, value).map_err(|e| SerializeError(e.to_string()))?;
            Ok(Some((writer.into_inner().freeze(), APPLICATION_JSON)))
        }
    }
}

enum Probed {
    Nothing,
    Text(Bytes),
    Bytes(Bytes),
}

/// A serializer that accepts only a top-level string, bytes, unit or option.
struct Probe;

#[derive(Debug)]
struct NotPrimitive;

impl fmt::Display for NotPrimitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a text or byte value")
    }
}

impl std::error::Error for NotPrimitive {}

impl ser::Error for NotPrimitive {
    fn custom<M: fmt::Display>(_: M) -> NotPrimitive {
        NotPrimitive
    }
}

macro_rules! not_primitive {
    ($($method:ident($($ty:ty),*)),* $(,)?) => {$(
        fn $method(self, $(_: $ty),*) -> Result<Probed, NotPrimitive> {
            Err(NotPrimitive)
        }
    )*};
}

impl Serializer for Probe {
    type Ok = Probed;
    type Error = NotPrimitive;
    type SerializeSeq = Impossible<Probed, NotPrimitive>;
    type SerializeTuple = Impossible<Probed, NotPrimitive>;
    type SerializeTupleStruct = Impossible<Probed, NotPrimitive>;
    type SerializeTupleVariant = Impossible<Probed, NotPrimitive>;
    type SerializeMap = Impossible<Probed, NotPrimitive>;
    type SerializeStruct = Impossible<Probed, NotPrimitive>;
    type SerializeStructVariant = Impossible<Probed, NotPrimitive>;

    fn serialize_str(self, v: &str) -> Result<Probed, NotPrimitive> {
        Ok(Probed::Text(Bytes::copy_from_slice(v.as_bytes())))
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<Probed, NotPrimitive> {
        Ok(Probed::Bytes(Bytes::copy_from_slice(v)))
    }

    fn serialize_unit(self) -> Result<Probed, NotPrimitive> {
        Ok(Probed::Nothing)
    }

    fn serialize_none(self) -> Result<Probed, NotPrimitive> {
        Ok(Probed::Nothing)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Probed, NotPrimitive> {
        value.serialize(self)
    }

    not_primitive! {
        serialize_bool(bool), serialize_i8(i8), serialize_i16(i16), serialize_i32(i32),
        serialize_i64(i64), serialize_i128(i128), serialize_u8(u8), serialize_u16(u16),
        serialize_u32(u32), serialize_u64(u64), serialize_u128(u128), serialize_f32(f32),
        serialize_f64(f64), serialize_char(char), serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str),
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<Probed, NotPrimitive> {
        Err(NotPrimitive)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Probed, NotPrimitive> {
        Err(NotPrimitive)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotPrimitive> {
        Err(NotPrimitive)
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotPrimitive> {
        Err(NotPrimitive)
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, NotPrimitive> {
        Err(NotPrimitive)
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, NotPrimitive> {
        Err(NotPrimitive)
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotPrimitive> {
        Err(NotPrimitive)
    }

    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, NotPrimitive> {
        Err(NotPrimitive)
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, NotPrimitive> {
        Err(NotPrimitive)
    }
}

/// The autoref-specialisation traits used by [`outcome!`](crate::__stomp_outcome).
#[doc(hidden)]
pub mod kinds {
    use super::*;

    /// Marks a `Result` return value.
    pub struct ResultTag;
    /// Marks any other return value.
    pub struct PlainTag;
    /// Marks a [`Message<T>`] value.
    pub struct MessageTag;
    /// Marks a serializable value.
    pub struct SerializeTag;

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
        pub fn split<T, E: Into<HandlerError>>(
            self,
            value: Result<T, E>,
        ) -> Result<T, HandlerError> {
            value.map_err(Into::into)
        }
    }

    impl PlainTag {
        /// Wraps the value.
        pub fn split<T>(self, value: T) -> Result<T, HandlerError> {
            Ok(value)
        }
    }

    /// Picked for [`Message<T>`].
    pub trait MessageKind {
        /// The tag.
        fn __stomp_value_kind(&self) -> MessageTag {
            MessageTag
        }
    }
    impl<T: Serialize> MessageKind for Message<T> {}

    /// Picked for every serializable value.
    #[diagnostic::on_unimplemented(
        message = "`{Self}` cannot be returned from a handler",
        note = "return a `T: serde::Serialize` (sent as JSON), `String`, `bytes::Bytes`, `()`, `Option<T>`, `Message<T>` or `Result<T, E>` of those"
    )]
    pub trait SerializeKind {
        /// The tag.
        fn __stomp_value_kind(&self) -> SerializeTag {
            SerializeTag
        }
    }
    impl<T: Serialize> SerializeKind for &T {}

    impl MessageTag {
        /// Converts a [`Message<T>`].
        pub fn into_outcome<T: Serialize>(self, message: Message<T>) -> Outcome {
            match to_body(&message.payload) {
                Ok(Some((body, content_type))) => Outcome::Reply(ReplyMessage {
                    body,
                    content_type,
                    headers: message.headers,
                }),
                Ok(None) => Outcome::Nothing,
                Err(error) => Outcome::Failed(error.into()),
            }
        }
    }

    impl SerializeTag {
        /// Converts a serializable value.
        pub fn into_outcome<T: Serialize>(self, value: T) -> Outcome {
            match to_body(&value) {
                Ok(Some((body, content_type))) => Outcome::Reply(ReplyMessage {
                    body,
                    content_type,
                    headers: Vec::new(),
                }),
                Ok(None) => Outcome::Nothing,
                Err(error) => Outcome::Failed(error.into()),
            }
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
            MessageKind as _, PlainKind as _, ResultKind as _, SerializeKind as _,
        };
        let __stomp_out = $out;
        match (&__stomp_out).__stomp_result_kind().split(__stomp_out) {
            ::std::result::Result::Ok(__stomp_value) => (&__stomp_value)
                .__stomp_value_kind()
                .into_outcome(__stomp_value),
            ::std::result::Result::Err(__stomp_error) => {
                $crate::__private::Outcome::Failed(__stomp_error)
            }
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

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

//! [`Payload<T>`]: the message body converted by `content-type` (Spring's `@Payload`).

use std::any::type_name;
use std::cell::Cell;
use std::fmt;
use std::ops::{Deref, DerefMut};

use serde::de::{self, DeserializeOwned, Visitor};
use serde::Deserializer;

use super::error::HandlerError;
use super::extract::FromInvocation;
use super::invocation::Invocation;

/// The body of the frame, converted to `T`.
///
/// - `String` (and `Box<str>`, `Arc<str>`...) receives the raw body text, whatever the
///   content type, as Spring's `StringMessageConverter` does.
/// - `bytes::Bytes` and `serde_bytes`-style byte buffers receive the raw body.
/// - Every other `T: DeserializeOwned` is read as JSON when `content-type` is absent or a JSON
///   type (`application/json`, `application/*+json`); another content type is an error.
///
/// A body that does not convert is a [`PayloadError`] carrying serde's message; it reaches the
/// `#[message_exception_handler]` functions. Spring treats an empty body as missing; so does
/// this extractor, unless `T` is a text or byte type. Use `Option<Payload<T>>` to make it optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Payload<T>(pub T);

impl<T> Deref for Payload<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for Payload<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

/// The body could not be converted to the handler's payload type.
#[derive(Debug, Clone, thiserror::Error)]
#[error("payload could not be read as `{type_name}`: {reason}")]
#[non_exhaustive]
pub struct PayloadError {
    /// The payload type.
    pub type_name: &'static str,
    /// Why (serde's message, or the content-type problem).
    pub reason: String,
}

impl PayloadError {
    /// The error for a body that could not be read as `type_name` (for tests of exception
    /// handlers, and extractors of one's own).
    pub fn new(type_name: &'static str, reason: impl Into<String>) -> PayloadError {
        PayloadError {
            type_name,
            reason: reason.into(),
        }
    }
}

impl<T: DeserializeOwned + Send> FromInvocation for Payload<T> {
    fn from_invocation(invocation: &Invocation) -> Result<Payload<T>, HandlerError> {
        let frame = invocation.frame();
        decode_payload::<T>(&frame.body, frame.content_type())
            .map(Payload)
            .map_err(HandlerError::new)
    }
}

/// Converts a body to `T` following the rules of [`Payload`].
pub fn decode_payload<T: DeserializeOwned>(
    body: &[u8],
    content_type: Option<&str>,
) -> Result<T, PayloadError> {
    let error = |reason: String| PayloadError {
        type_name: type_name::<T>(),
        reason,
    };
    let json_allowed = content_type.is_none_or(is_json);
    let mut json = serde_json::Deserializer::from_slice(body);
    let used_json = Cell::new(false);
    let raw = RawOrJson {
        body,
        json: &mut json,
        json_allowed,
        content_type,
        used_json: &used_json,
    };
    let value = T::deserialize(raw).map_err(|e| {
        if body.is_empty() {
            error("the payload is empty".to_owned())
        } else {
            error(e.to_string())
        }
    })?;
    if used_json.get() {
        // Trailing garbage after a JSON value is an error, as in `serde_json::from_slice`.
        json.end().map_err(|e| error(e.to_string()))?;
    }
    Ok(value)
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// A deserializer that hands the raw body to text and byte targets and JSON to the rest.
struct RawOrJson<'a, 'de> {
    body: &'de [u8],
    json: &'a mut serde_json::Deserializer<serde_json::de::SliceRead<'de>>,
    json_allowed: bool,
    content_type: Option<&'a str>,
    used_json: &'a Cell<bool>,
}

/// The error of [`RawOrJson`].
#[derive(Debug)]
struct RawError(String);

impl fmt::Display for RawError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RawError {}

impl de::Error for RawError {
    fn custom<M: fmt::Display>(msg: M) -> RawError {
        RawError(msg.to_string())
    }
}

impl<'a, 'de> RawOrJson<'a, 'de> {
    fn text(&self) -> Result<&'de str, RawError> {
        std::str::from_utf8(self.body)
            .map_err(|e| RawError(format!("the body is not UTF-8 text: {e}")))
    }

    fn json(
        self,
    ) -> Result<&'a mut serde_json::Deserializer<serde_json::de::SliceRead<'de>>, RawError> {
        if !self.json_allowed {
            return Err(RawError(format!(
                "content-type `{}` cannot be converted; send `application/json` (or read the body as `String` or `Bytes`)",
                self.content_type.unwrap_or("")
            )));
        }
        if self.body.is_empty() {
            return Err(RawError("the payload is empty".to_owned()));
        }
        self.used_json.set(true);
        Ok(self.json)
    }
}

macro_rules! forward_to_json {
    ($($method:ident $(($($arg:ident: $ty:ty),*))?),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, $($($arg: $ty,)*)? visitor: V) -> Result<V::Value, RawError> {
            self.json()?.$method($($($arg,)*)? visitor).map_err(|e| RawError(e.to_string()))
        }
    )*};
}

impl<'de> Deserializer<'de> for RawOrJson<'_, 'de> {
    type Error = RawError;

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RawError> {
        visitor.visit_borrowed_str(self.text()?)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RawError> {
        visitor.visit_borrowed_str(self.text()?)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RawError> {
        visitor.visit_borrowed_bytes(self.body)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RawError> {
        visitor.visit_borrowed_bytes(self.body)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RawError> {
        if self.body.is_empty() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, RawError> {
        visitor.visit_unit()
    }

    forward_to_json! {
        deserialize_any, deserialize_bool, deserialize_i8, deserialize_i16, deserialize_i32,
        deserialize_i64, deserialize_i128, deserialize_u8, deserialize_u16, deserialize_u32,
        deserialize_u64, deserialize_u128, deserialize_f32, deserialize_f64, deserialize_char,
        deserialize_seq, deserialize_map, deserialize_identifier, deserialize_ignored_any,
        deserialize_unit_struct(name: &'static str),
        deserialize_newtype_struct(name: &'static str),
        deserialize_tuple(len: usize),
        deserialize_tuple_struct(name: &'static str, len: usize),
        deserialize_struct(name: &'static str, fields: &'static [&'static str]),
        deserialize_enum(name: &'static str, variants: &'static [&'static str]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Post {
        content: String,
    }

    #[test]
    fn json_structs_strings_and_bytes() {
        let post: Post = decode_payload(br#"{"content":"hi"}"#, Some("application/json")).unwrap();
        assert_eq!(post.content, "hi");
        let text: String = decode_payload(b"plain \"text\"", Some("text/plain")).unwrap();
        assert_eq!(text, "plain \"text\"");
        let raw: Bytes = decode_payload(b"\x00\x01", Some("application/octet-stream")).unwrap();
        assert_eq!(&raw[..], b"\x00\x01");
        let n: u32 = decode_payload(b"42", None).unwrap();
        assert_eq!(n, 42);
        assert!(decode_payload::<u32>(b"42 x", None).is_err());
    }

    #[test]
    fn errors_carry_serde_and_content_type_reasons() {
        let err = decode_payload::<Post>(br#"{"x":1}"#, None).unwrap_err();
        assert!(err.reason.contains("missing field `content`"), "{err}");
        let err = decode_payload::<Post>(b"<x/>", Some("application/xml")).unwrap_err();
        assert!(err.reason.contains("application/xml"), "{err}");
        let err = decode_payload::<Post>(b"", None).unwrap_err();
        assert_eq!(err.reason, "the payload is empty");
        let none: Option<Post> = decode_payload(b"", None).unwrap();
        assert_eq!(none, None);
    }
}

//! Message conversion (Spring's `MessageConverter`): the serde probe, by which a
//! serializable value becomes text, bytes, nothing or JSON, and the content types it sets.
//! Handlers and the template both convert through it.
//!
//! Text and bytes are told apart from other serializable values at run time, by serializing
//! into a probe that only accepts a top-level string, byte buffer, unit or option; anything
//! else falls through to JSON. It converts what [`Template::convert_and_send`] is given and
//! the return values that do not implement [`IntoReply`](crate::handler::IntoReply).
//!
//! [`Template::convert_and_send`]: crate::Template::convert_and_send

use bytes::{BufMut, Bytes, BytesMut};
use serde::ser::{self, Impossible, Serialize, Serializer};
use std::fmt;

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

/// Converts a value to a message body, or `None` for `()`/`None`: a top-level string is
/// text, a byte buffer (`serde_bytes`, [`Bytes`]) binary, anything else JSON.
pub fn to_body<T: Serialize + ?Sized>(
    value: &T,
) -> Result<Option<(Bytes, &'static str)>, SerializeError> {
    match value.serialize(Probe) {
        Ok(Probed::Nothing) => Ok(None),
        Ok(Probed::Text(bytes)) => Ok(Some((bytes, TEXT_PLAIN))),
        Ok(Probed::Bytes(bytes)) => Ok(Some((bytes, OCTET_STREAM))),
        Err(NotPrimitive) => Ok(Some((to_json(value)?, APPLICATION_JSON))),
    }
}

/// Serializes a value as JSON, whatever it is (a string becomes a JSON string).
pub(crate) fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Bytes, SerializeError> {
    // Most replies are small JSON documents; 512 bytes avoids growing the buffer for them.
    let mut writer = BytesMut::with_capacity(512).writer();
    serde_json::to_writer(&mut writer, value).map_err(|e| SerializeError(e.to_string()))?;
    Ok(writer.into_inner().freeze())
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

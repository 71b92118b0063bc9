//! How a message crosses Redis: one binary envelope per `PUBLISH`, with the instance it comes
//! from (so that instance can drop its own copy), the destination, the headers and the body,
//! each length-prefixed. No JSON and no escaping: the body is copied in as it is.
//!
//! ```text
//! version: u8 (1) | origin: [u8; 16] | destination: u16 len + bytes
//! | header count: u16 | per header: u16 name len + name, u32 value len + value | body
//! ```
//! Integers are big-endian; the body runs to the end.

use bytes::{BufMut, Bytes, BytesMut};

use crate::broker::PublishedMessage;

/// The envelope format this build writes and reads.
const VERSION: u8 = 1;

/// Which instance published a message: random, new for each backplane.
pub(crate) type Origin = [u8; ORIGIN_LEN];

const ORIGIN_LEN: usize = 16;

/// Why an envelope read from Redis was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum EnvelopeError {
    /// It ends before a length says it should.
    #[error("truncated envelope ({0})")]
    Truncated(&'static str),
    /// Another version of the format (another build of the server on the same prefix).
    #[error("unknown envelope version {0}")]
    Version(u8),
    /// A destination, header name or value that is not UTF-8.
    #[error("envelope text is not UTF-8 ({0})")]
    NotUtf8(&'static str),
    /// A destination, header or header count too long for its length prefix.
    #[error("message too large for an envelope ({0})")]
    TooLarge(&'static str),
}

/// Encodes `message` from `origin` as one envelope.
pub(crate) fn encode(origin: &Origin, message: &PublishedMessage) -> Result<Bytes, EnvelopeError> {
    let headers: usize = message
        .headers()
        .iter()
        .map(|(n, v)| 6 + n.len() + v.len())
        .sum();
    let size = 1 + origin.len() + 2 + message.destination().len() + 2 + headers;
    let mut out = BytesMut::with_capacity(size + message.body().len());
    out.put_u8(VERSION);
    out.put_slice(origin);
    put_u16_str(&mut out, message.destination(), "destination")?;
    let count = u16::try_from(message.headers().len())
        .map_err(|_| EnvelopeError::TooLarge("header count"))?;
    out.put_u16(count);
    for (name, value) in message.headers() {
        put_u16_str(&mut out, name, "header name")?;
        let len = u32::try_from(value.len()).map_err(|_| EnvelopeError::TooLarge("header"))?;
        out.put_u32(len);
        out.put_slice(value.as_bytes());
    }
    out.put_slice(message.body());
    Ok(out.freeze())
}

fn put_u16_str(out: &mut BytesMut, text: &str, what: &'static str) -> Result<(), EnvelopeError> {
    let len = u16::try_from(text.len()).map_err(|_| EnvelopeError::TooLarge(what))?;
    out.put_u16(len);
    out.put_slice(text.as_bytes());
    Ok(())
}

/// Decodes an envelope: the instance it comes from and the message (its body copied once).
pub(crate) fn decode(bytes: &[u8]) -> Result<(Origin, PublishedMessage), EnvelopeError> {
    let mut reader = Reader { rest: bytes };
    let version = reader.take(1, "version")?[0];
    if version != VERSION {
        return Err(EnvelopeError::Version(version));
    }
    let mut origin = Origin::default();
    origin.copy_from_slice(reader.take(ORIGIN_LEN, "origin")?);
    let destination = reader.text(2, "destination")?;
    let count = reader.length(2, "header count")?;
    // Each header takes at least 6 bytes: a count larger than that allows is a lie.
    let mut headers = Vec::with_capacity(count.min(reader.rest.len() / 6));
    for _ in 0..count {
        let name = reader.text(2, "header name")?;
        let value = reader.text(4, "header value")?;
        headers.push((name, value));
    }
    let body = Bytes::copy_from_slice(reader.rest);
    Ok((origin, PublishedMessage::new(destination, headers, body)))
}

/// A cursor over an envelope.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], EnvelopeError> {
        if self.rest.len() < len {
            return Err(EnvelopeError::Truncated(what));
        }
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(taken)
    }

    /// A big-endian length of `width` bytes (2 or 4).
    fn length(&mut self, width: usize, what: &'static str) -> Result<usize, EnvelopeError> {
        let raw = self.take(width, what)?;
        Ok(raw.iter().fold(0usize, |n, b| (n << 8) | usize::from(*b)))
    }

    fn text(&mut self, width: usize, what: &'static str) -> Result<String, EnvelopeError> {
        let len = self.length(width, what)?;
        let raw = self.take(len, what)?;
        let text = std::str::from_utf8(raw).map_err(|_| EnvelopeError::NotUtf8(what))?;
        Ok(text.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> PublishedMessage {
        let headers = vec![
            ("content-type".to_owned(), "text/plain".to_owned()),
            ("x-empty".to_owned(), String::new()),
        ];
        PublishedMessage::new(
            "/topic/a.b".to_owned(),
            headers,
            Bytes::from_static(b"\0hi\n"),
        )
    }

    #[test]
    fn a_message_comes_back_as_it_went_in() {
        let origin = [7u8; 16];
        let bytes = encode(&origin, &message()).unwrap();
        let (from, decoded) = decode(&bytes).unwrap();
        assert_eq!(from, origin);
        assert_eq!(decoded.destination(), "/topic/a.b");
        assert_eq!(decoded.headers(), message().headers());
        assert_eq!(decoded.body(), &Bytes::from_static(b"\0hi\n"));
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let bytes = encode(&[1; 16], &message()).unwrap();
        let body_starts = bytes.len() - 4;
        for len in 0..body_starts {
            assert!(decode(&bytes[..len]).is_err(), "{len} bytes decoded");
        }
        assert!(decode(&bytes[..body_starts]).is_ok());
    }

    #[test]
    fn another_version_and_bad_text_are_refused() {
        let mut bytes = encode(&[1; 16], &message()).unwrap().to_vec();
        bytes[0] = 9;
        assert_eq!(decode(&bytes).unwrap_err(), EnvelopeError::Version(9));
        let mut bytes = encode(&[1; 16], &message()).unwrap().to_vec();
        bytes[1 + 16 + 2] = 0xff;
        assert_eq!(
            decode(&bytes).unwrap_err(),
            EnvelopeError::NotUtf8("destination")
        );
    }

    #[test]
    fn a_lying_header_count_does_not_allocate_for_it() {
        let mut bytes = vec![VERSION];
        bytes.extend([0; 16]);
        bytes.extend([0, 1, b'/']);
        bytes.extend([0xff, 0xff]);
        assert_eq!(
            decode(&bytes).unwrap_err(),
            EnvelopeError::Truncated("header name")
        );
    }
}

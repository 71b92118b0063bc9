//! The encoder.
//!
//! Frames are written straight into the caller's `BytesMut`: one `reserve` of the exact
//! encoded length (escaping included), then `put_slice`. Nothing is allocated on the side,
//! not even for the `content-length` digits, and the buffer never grows twice.

use bytes::{BufMut, BytesMut};

use crate::escape::Escaping;
use crate::{names, Command, Frame, Version};

/// Encodes `frame` for `version` at the end of `dst`.
pub fn encode(frame: &Frame, version: Version, dst: &mut BytesMut) {
    let escaping = Escaping::for_frame(version, frame.command);
    write_frame(
        frame.command,
        frame.headers.iter(),
        headers_len(frame.headers.iter(), escaping),
        &frame.body,
        escaping,
        dst,
    );
}

/// Encodes a frame given as parts, so a caller can add headers without building a `Frame`.
///
/// Any `content-length` in `headers` is ignored; a correct one is written when `body` is not
/// empty. Headers are escaped per `version`, except for `CONNECT`, `STOMP` and `CONNECTED`.
pub fn encode_parts<'a, H>(
    command: Command,
    headers: H,
    body: &[u8],
    version: Version,
    dst: &mut BytesMut,
) where
    H: IntoIterator<Item = (&'a str, &'a str)>,
    H::IntoIter: Clone,
{
    let headers = headers.into_iter();
    let escaping = Escaping::for_frame(version, command);
    // A first pass over the (cloned, borrowed) headers sizes the buffer exactly.
    let len = headers_len(headers.clone(), escaping);
    write_frame(command, headers, len, body, escaping, dst);
}

/// The encoded length of a frame: what `dst` grows by.
///
/// Useful to size a buffer or to check a frame against a peer's limit before sending it.
pub fn encoded_len(frame: &Frame, version: Version) -> usize {
    let escaping = Escaping::for_frame(version, frame.command);
    frame.command.as_str().len()
        + 1
        + headers_len(frame.headers.iter(), escaping)
        + tail_len(frame.body.len())
}

fn write_frame<'a>(
    command: Command,
    headers: impl Iterator<Item = (&'a str, &'a str)>,
    headers_len: usize,
    body: &[u8],
    escaping: Escaping,
    dst: &mut BytesMut,
) {
    let command = command.as_str().as_bytes();
    let tail = tail_len(body.len());
    dst.reserve(command.len() + 1 + headers_len + tail);
    dst.put_slice(command);
    dst.put_u8(b'\n');
    for (name, value) in headers {
        if name == names::CONTENT_LENGTH {
            continue;
        }
        escaping.escape_name_into(name, dst);
        dst.put_u8(b':');
        escaping.escape_into(value, dst);
        dst.put_u8(b'\n');
    }
    if !body.is_empty() {
        dst.put_slice(names::CONTENT_LENGTH.as_bytes());
        dst.put_u8(b':');
        put_decimal(body.len(), dst);
        dst.put_u8(b'\n');
    }
    dst.put_u8(b'\n');
    dst.put_slice(body);
    dst.put_u8(0);
}

/// The encoded length of the header lines in `headers`, `content-length` left out.
fn headers_len<'a>(headers: impl Iterator<Item = (&'a str, &'a str)>, escaping: Escaping) -> usize {
    headers
        .filter(|(name, _)| *name != names::CONTENT_LENGTH)
        .map(|(name, value)| header_line_len(escaping, name, value))
        .sum()
}

fn header_line_len(escaping: Escaping, name: &str, value: &str) -> usize {
    escaping.escaped_name_len(name) + 1 + escaping.escaped_len(value) + 1
}

/// The `content-length` line (when there is a body), blank line, body and NUL.
fn tail_len(body: usize) -> usize {
    let content_length = match body {
        0 => 0,
        n => names::CONTENT_LENGTH.len() + 1 + decimal_len(n) + 1,
    };
    content_length + 1 + body + 1
}

fn decimal_len(mut n: usize) -> usize {
    let mut digits = 1;
    while n >= 10 {
        n /= 10;
        digits += 1;
    }
    digits
}

/// Writes `n` in decimal through a stack buffer.
fn put_decimal(n: usize, dst: &mut BytesMut) {
    dst.put_slice(Decimal::new(n as u64).as_str().as_bytes());
}

/// A `u64` written in decimal on the stack: a `content-length` or a `message-id` without
/// an allocation.
#[derive(Debug, Clone, Copy)]
pub struct Decimal {
    digits: [u8; 20],
    start: usize,
}

impl Decimal {
    /// `value`'s decimal digits (`u64::MAX` has 20).
    pub fn new(mut value: u64) -> Decimal {
        let mut digits = [b'0'; 20];
        let mut start = digits.len();
        loop {
            start -= 1;
            // A digit: `value % 10` is below 10.
            digits[start] = b'0' + (value % 10) as u8;
            value /= 10;
            if value == 0 {
                break;
            }
        }
        Decimal { digits, start }
    }

    /// The digits as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits were written.
        std::str::from_utf8(&self.digits[self.start..]).unwrap_or("0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(frame: &Frame, version: Version) -> String {
        let mut dst = BytesMut::new();
        encode(frame, version, &mut dst);
        assert_eq!(dst.len(), encoded_len(frame, version));
        String::from_utf8(dst.to_vec()).unwrap()
    }

    #[test]
    fn writes_the_spec_send_frame_with_a_content_length() {
        let frame = Frame::new(Command::Send)
            .header("destination", "/queue/a")
            .header("content-type", "text/plain")
            .with_body("hello queue a");
        assert_eq!(
            encoded(&frame, Version::V1_2),
            "SEND\ndestination:/queue/a\ncontent-type:text/plain\ncontent-length:13\n\nhello queue a\0"
        );
    }

    #[test]
    fn no_content_length_without_a_body_and_stale_ones_are_dropped() {
        let frame = Frame::new(Command::Subscribe)
            .header("id", "0")
            .header("content-length", "99")
            .header("destination", "/queue/foo");
        assert_eq!(
            encoded(&frame, Version::V1_2),
            "SUBSCRIBE\nid:0\ndestination:/queue/foo\n\n\0"
        );
        let frame = frame.with_body(vec![0u8; 1234]);
        assert!(encoded(&frame, Version::V1_2).contains("\ncontent-length:1234\n\n"));
    }

    #[test]
    fn escapes_per_version_but_never_the_connect_family() {
        let frame = Frame::new(Command::Message).header("a:b", "c\nd\\e\rf");
        assert_eq!(
            encoded(&frame, Version::V1_2),
            "MESSAGE\na\\cb:c\\nd\\\\e\\rf\n\n\0"
        );
        assert_eq!(
            encoded(&frame, Version::V1_1),
            "MESSAGE\na\\cb:c\\nd\\\\e\rf\n\n\0"
        );
        let frame = Frame::new(Command::Send).header("path", "C:\\dir");
        assert_eq!(encoded(&frame, Version::V1_0), "SEND\npath:C:\\dir\n\n\0");
        let frame = Frame::new(Command::Connected).header("server", "x:1\\2");
        assert_eq!(
            encoded(&frame, Version::V1_2),
            "CONNECTED\nserver:x:1\\2\n\n\0"
        );
    }

    #[test]
    fn encode_parts_appends_after_existing_bytes() {
        let mut dst = BytesMut::from(&b"\n"[..]);
        encode_parts(
            Command::Receipt,
            [("receipt-id", "77"), ("content-length", "5")],
            b"",
            Version::V1_2,
            &mut dst,
        );
        encode_parts(
            Command::Error,
            std::iter::empty(),
            b"oops",
            Version::V1_2,
            &mut dst,
        );
        assert_eq!(
            &dst[..],
            b"\nRECEIPT\nreceipt-id:77\n\n\0ERROR\ncontent-length:4\n\noops\0"
        );
    }

    #[test]
    fn encode_parts_reserves_exactly_once() {
        // Escaped headers, an ignored content-length and a body: the first reservation must
        // already be the whole frame, so the buffer is allocated once and never grown.
        let body = vec![b'x'; 300];
        let mut dst = BytesMut::new();
        encode_parts(
            Command::Message,
            [
                ("destination", "/topic/a:b\\c"),
                ("content-length", "1"),
                ("subscription", "sub-0"),
                ("message-id", "12345678"),
            ],
            &body,
            Version::V1_2,
            &mut dst,
        );
        let written = dst.len();
        assert_eq!(dst.capacity(), written);
        assert!(dst.starts_with(b"MESSAGE\ndestination:/topic/a\\cb\\\\c\n"));
    }

    #[test]
    fn a_colon_in_a_header_name_cannot_forge_a_header_where_nothing_is_escaped() {
        // What a 1.2 client sends as `content-length\c9:x` arrives as the name
        // `content-length:9`; written raw for a 1.0 subscriber it would read as a
        // `content-length` of `9:x`, ahead of the real one.
        let mut frame = Frame::new(Command::Message)
            .header("destination", "/topic/t")
            .header("content-length:9", "x");
        frame.body = bytes::Bytes::from_static(b"the whole body");
        for version in [Version::V1_0, Version::V1_1, Version::V1_2] {
            let mut wire = BytesMut::from(encoded(&frame, version).as_bytes());
            let mut decoder = crate::Decoder::new(crate::FrameLimits::default());
            decoder.set_version(version);
            let decoded = decoder
                .decode(&mut wire)
                .unwrap_or_else(|e| panic!("{version}: {e}"))
                .expect("a whole frame");
            assert_eq!(&decoded.body[..], b"the whole body", "{version}");
            let expected_name = if version == Version::V1_0 {
                "content-length 9"
            } else {
                "content-length:9"
            };
            assert_eq!(decoded.get(expected_name), Some("x"), "{version}");
        }
    }

    #[test]
    fn decimal_digits() {
        for n in [0, 7, 9, 10, 99, 100, 65536, usize::MAX] {
            let mut dst = BytesMut::new();
            put_decimal(n, &mut dst);
            assert_eq!(&dst[..], n.to_string().as_bytes());
            assert_eq!(decimal_len(n), dst.len());
        }
        for n in [0, 1_000_000_007, u64::MAX] {
            assert_eq!(Decimal::new(n).as_str(), n.to_string());
        }
    }
}

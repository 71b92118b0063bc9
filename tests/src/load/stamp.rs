//! The stamp every load message carries in its body: publisher, sequence number and send
//! time, so that a subscriber can measure latency and detect loss, duplicates and reordering
//! whatever the server wraps around the body.
//!
//! ```text
//! ~L<publisher: 4 hex>.<sequence: 16 hex>.<sent at, ns: 16 hex>;   (41 bytes)
//! ```
//!
//! A raw body is the stamp padded with `x` to the requested size. A JSON body is
//! `{"content":"<stamp>xxx…"}`: an `/app` handler that copies `content` into its reply (the
//! demo chat does) keeps the stamp, and the subscriber finds it anywhere in the body.

use std::sync::OnceLock;
use std::time::Instant;

/// The start of a stamp.
const MARKER: &[u8; 2] = b"~L";
/// The length of a stamp.
pub const STAMP_LEN: usize = 2 + 4 + 1 + 16 + 1 + 16 + 1;
const JSON_OPEN: &[u8] = b"{\"content\":\"";
const JSON_CLOSE: &[u8] = b"\"}";

/// Nanoseconds since the first call in this process: publishers and subscribers share the
/// clock because they run in the same process.
pub fn now_ns() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// What a stamp says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// The publisher's index.
    pub publisher: u16,
    /// The publisher's sequence number, from 0.
    pub sequence: u64,
    /// [`now_ns`] when the message was built.
    pub sent_ns: u64,
}

/// How bodies are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// The stamp padded with `x`.
    Raw,
    /// `{"content":"<stamp>xxx"}`, for `/app` handlers that take JSON.
    Json,
}

impl BodyFormat {
    /// The smallest body this format can carry a stamp in.
    pub fn min_size(self) -> usize {
        match self {
            BodyFormat::Raw => STAMP_LEN,
            BodyFormat::Json => JSON_OPEN.len() + STAMP_LEN + JSON_CLOSE.len(),
        }
    }

    /// A body of `size` bytes (at least [`min_size`](BodyFormat::min_size)) carrying `stamp`.
    pub fn body(self, size: usize, stamp: Stamp) -> Vec<u8> {
        let size = size.max(self.min_size());
        let mut body = Vec::with_capacity(size);
        if self == BodyFormat::Json {
            body.extend_from_slice(JSON_OPEN);
        }
        write_stamp(&mut body, stamp);
        let tail = if self == BodyFormat::Json {
            JSON_CLOSE
        } else {
            &[]
        };
        body.resize(size - tail.len(), b'x');
        body.extend_from_slice(tail);
        body
    }
}

fn write_stamp(out: &mut Vec<u8>, stamp: Stamp) {
    out.extend_from_slice(MARKER);
    push_hex(out, u64::from(stamp.publisher), 4);
    out.push(b'.');
    push_hex(out, stamp.sequence, 16);
    out.push(b'.');
    push_hex(out, stamp.sent_ns, 16);
    out.push(b';');
}

fn push_hex(out: &mut Vec<u8>, value: u64, digits: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for i in (0..digits).rev() {
        out.push(HEX[((value >> (i * 4)) & 0xf) as usize]);
    }
}

fn parse_hex(text: &[u8]) -> Option<u64> {
    text.iter().try_fold(0u64, |acc, &c| {
        let digit = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => return None,
        };
        Some(acc << 4 | u64::from(digit))
    })
}

/// Finds and parses the first stamp in `body`.
pub fn find_stamp(body: &[u8]) -> Option<Stamp> {
    let mut from = 0;
    while from + STAMP_LEN <= body.len() {
        let at = from + body[from..].iter().position(|&b| b == b'~')?;
        let candidate = body.get(at..at + STAMP_LEN)?;
        if let Some(stamp) = parse_stamp(candidate) {
            return Some(stamp);
        }
        from = at + 1;
    }
    None
}

fn parse_stamp(text: &[u8]) -> Option<Stamp> {
    if &text[..2] != MARKER || text[6] != b'.' || text[23] != b'.' || text[40] != b';' {
        return None;
    }
    Some(Stamp {
        publisher: u16::try_from(parse_hex(&text[2..6])?).ok()?,
        sequence: parse_hex(&text[7..23])?,
        sent_ns: parse_hex(&text[24..40])?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_survive_both_formats() {
        let stamp = Stamp {
            publisher: 7,
            sequence: 123_456_789,
            sent_ns: u64::MAX - 5,
        };
        let raw = BodyFormat::Raw.body(64, stamp);
        assert_eq!(raw.len(), 64);
        assert_eq!(find_stamp(&raw), Some(stamp));
        let json = BodyFormat::Json.body(256, stamp);
        assert_eq!(json.len(), 256);
        let value: serde_json::Value = serde_json::from_slice(&json).expect("valid JSON");
        let content = value["content"].as_str().expect("content");
        // As a handler would wrap it in its reply.
        let reply = format!(r#"{{"id":"x~y","room":"r","content":"{content}","sender":"s"}}"#);
        assert_eq!(find_stamp(reply.as_bytes()), Some(stamp));
        assert_eq!(BodyFormat::Raw.body(1, stamp).len(), STAMP_LEN);
        assert_eq!(find_stamp(b"~Lzz nothing here"), None);
    }
}

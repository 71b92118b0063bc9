//! The incremental decoder.
//!
//! [`Decoder::decode`] is sans-IO: the caller appends whatever bytes arrived to a
//! `BytesMut` and calls it until it returns `Ok(None)`. A frame is read in two steps: a
//! head scan finds the blank line that ends the head, remembering where it stopped so tiny
//! chunks cost no rescans; then the head is parsed at once and the body is awaited, by
//! `content-length` or up to the first NUL. [`FrameLimits`] are checked as the bytes
//! arrive, never after buffering a whole frame.
//!
//! Layout: `decode/head.rs` scans and parses heads, `decode/tests.rs` the unit tests (the
//! STOMP 1.2 specification's examples among them). [`DecodeError`] and [`FrameLimits`] live in
//! modules of their own (`error.rs`, `limits.rs`) because header unescaping
//! ([`Escaping`]) fails with the same error: the decoder and the escaping rules both import
//! them, and neither imports the other's dependants.

mod head;
#[cfg(test)]
mod tests;

use bytes::{Buf, Bytes, BytesMut};
use memchr::memchr;

use self::head::{parse_head, HeadScan};
pub use crate::error::DecodeError;
use crate::escape::Escaping;
pub use crate::limits::FrameLimits;
use crate::{Command, Frame, Headers, Version};

/// An incremental STOMP decoder.
///
/// It keeps offsets into the caller's buffer between calls, so one decoder must always be
/// given the same buffer, with new bytes appended at the end only.
#[derive(Debug, Clone)]
pub struct Decoder {
    limits: FrameLimits,
    version: Version,
    /// Progress on the head of the next frame.
    scan: HeadScan,
    /// A frame whose head is parsed and whose body has not fully arrived.
    pending: Option<PendingBody>,
}

impl Decoder {
    /// A decoder with these limits, unescaping as STOMP 1.2 until told otherwise.
    pub fn new(limits: FrameLimits) -> Decoder {
        Decoder {
            limits,
            version: Version::V1_2,
            scan: HeadScan::default(),
            pending: None,
        }
    }

    /// Sets the negotiated version, which decides header unescaping.
    pub fn set_version(&mut self, version: Version) {
        self.version = version;
    }

    /// The version used for unescaping.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The limits.
    pub fn limits(&self) -> FrameLimits {
        self.limits
    }

    /// The most bytes an unfinished frame can leave in the buffer.
    ///
    /// After [`decode`](Decoder::decode) returns `Ok(None)` the buffer holds fewer bytes
    /// than this, so a transport that appends at most `n` bytes per read never buffers more
    /// than `buffered_limit_hint() + n`.
    pub fn buffered_limit_hint(&self) -> usize {
        self.limits.max_frame_size
    }

    /// Decodes the next frame from `buf`, consuming its bytes.
    ///
    /// `Ok(None)`: not enough bytes yet (heart-beat EOLs are consumed). After an error the
    /// stream cannot be resynchronised; the caller sends `ERROR` and closes.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        let result = self.step(buf);
        if result.is_err() {
            self.scan = HeadScan::default();
            self.pending = None;
        }
        result
    }

    fn step(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        // The pending frame is updated in place: moving it in and out of `self` on every
        // call showed up in profiles.
        if self.pending.is_none() && !self.read_head(buf)? {
            return Ok(None);
        }
        let Some(pending) = self.pending.as_mut() else {
            return Ok(None);
        };
        let Some(nul) = pending.find_nul(buf, &self.limits)? else {
            return Ok(None);
        };
        let frame = pending.take_frame(buf, nul);
        self.pending = None;
        Ok(Some(frame))
    }

    /// Skips heart-beats, then finds and parses the head of the next frame into
    /// `self.pending`; false when the head is not complete yet.
    fn read_head(&mut self, buf: &mut BytesMut) -> Result<bool, DecodeError> {
        if self.scan.at_frame_start() {
            let skipped = heart_beat_len(buf);
            buf.advance(skipped);
            self.scan.consumed(skipped);
        }
        let Some(end) = self.scan.advance(buf, &self.limits)? else {
            return Ok(false);
        };
        let escaping = Escaping::for_frame(self.version, end.command);
        let pending = self.pending.insert(PendingBody {
            command: end.command,
            headers: Headers::new(),
            head_len: end.len,
            content_length: None,
            scanned: end.len,
        });
        let head = &buf[..end.len];
        pending.content_length =
            parse_head(head, &end, &mut pending.headers, escaping, &self.limits)?;
        if let Some(length) = pending.content_length {
            // Body and NUL must fit too: fail now rather than wait for the body.
            if end.len.saturating_add(length).saturating_add(1) > self.limits.max_frame_size {
                return Err(DecodeError::FrameTooLarge {
                    limit: self.limits.max_frame_size,
                });
            }
        }
        Ok(true)
    }
}

/// The length of the heart-beat EOLs (`\n` or `\r\n`) at the start of `buf`.
fn heart_beat_len(buf: &[u8]) -> usize {
    let mut at = 0;
    loop {
        match buf[at..] {
            [b'\n', ..] => at += 1,
            [b'\r', b'\n', ..] => at += 2,
            _ => return at,
        }
    }
}

/// A frame whose head is parsed, waiting for its body.
#[derive(Debug, Clone)]
struct PendingBody {
    command: Command,
    headers: Headers,
    /// Where the body starts in the buffer.
    head_len: usize,
    content_length: Option<usize>,
    /// Without `content-length`: bytes already searched for the NUL.
    scanned: usize,
}

impl PendingBody {
    /// Where the NUL that ends the frame is, once it has arrived.
    fn find_nul(&mut self, buf: &[u8], limits: &FrameLimits) -> Result<Option<usize>, DecodeError> {
        match self.content_length {
            Some(length) => {
                let nul = self.head_len + length;
                match buf.get(nul) {
                    None => Ok(None),
                    Some(0) => Ok(Some(nul)),
                    Some(_) => Err(DecodeError::MissingNulAfterBody {
                        content_length: length,
                    }),
                }
            }
            None => {
                let window = buf.len().min(limits.max_frame_size);
                let from = self.scanned.max(self.head_len);
                match buf.get(from..window).and_then(|bytes| memchr(0, bytes)) {
                    Some(at) => Ok(Some(from + at)),
                    None if buf.len() >= limits.max_frame_size => Err(DecodeError::FrameTooLarge {
                        limit: limits.max_frame_size,
                    }),
                    None => {
                        self.scanned = window.max(self.head_len);
                        Ok(None)
                    }
                }
            }
        }
    }

    /// Takes the frame that ends with the NUL at `nul` out of `buf`.
    fn take_frame(&mut self, buf: &mut BytesMut, nul: usize) -> Frame {
        let body = if nul == self.head_len {
            buf.advance(nul + 1);
            Bytes::new()
        } else {
            // The body shares the buffer's memory: no copy, one reference count increment.
            buf.advance(self.head_len);
            let body = buf.split_to(nul - self.head_len).freeze();
            buf.advance(1);
            body
        };
        Frame {
            command: self.command,
            headers: std::mem::take(&mut self.headers),
            body,
        }
    }
}

//! The incremental decoder.
//!
//! [`Decoder::decode`] is sans-IO: the caller appends whatever bytes arrived to a
//! `BytesMut` and calls it until it returns `Ok(None)`. A frame is read in two steps:
//! [`HeadScan`](head::HeadScan) finds the blank line that ends the head, remembering where it
//! stopped so tiny chunks cost no rescans; then the head is parsed at once and the body is
//! awaited, by `content-length` or up to the first NUL. [`FrameLimits`] are checked as the
//! bytes arrive, never after buffering a whole frame.

mod error;
mod head;
#[cfg(test)]
mod tests;

use bytes::{Buf, Bytes, BytesMut};
use memchr::memchr;

pub(crate) use self::error::quote;
pub use self::error::DecodeError;
use self::head::{parse_head, HeadScan};
use crate::escape::Escaping;
use crate::{Command, Frame, Headers, Version};

/// Limits the decoder enforces while bytes arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimits {
    /// Largest frame, command line to NUL included (default 65536, as Spring).
    pub max_frame_size: usize,
    /// Most headers in one frame (default 64).
    pub max_headers: usize,
    /// Longest header line or command line in bytes, before unescaping (default 8192).
    pub max_header_line: usize,
    /// Largest `content-length` accepted (default 65536).
    pub max_content_length: usize,
}

impl Default for FrameLimits {
    fn default() -> FrameLimits {
        FrameLimits {
            max_frame_size: 64 * 1024,
            max_headers: 64,
            max_header_line: 8 * 1024,
            max_content_length: 64 * 1024,
        }
    }
}

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
        let mut pending = match self.pending.take() {
            Some(pending) => pending,
            None => match self.read_head(buf)? {
                Some(pending) => pending,
                None => return Ok(None),
            },
        };
        match pending.finish(buf, &self.limits)? {
            Some(frame) => Ok(Some(frame)),
            None => {
                self.pending = Some(pending);
                Ok(None)
            }
        }
    }

    /// Skips heart-beats, then finds and parses the head of the next frame.
    fn read_head(&mut self, buf: &mut BytesMut) -> Result<Option<PendingBody>, DecodeError> {
        if self.scan.at_frame_start() {
            let skipped = heart_beat_len(buf);
            buf.advance(skipped);
            self.scan.consumed(skipped);
        }
        let Some(end) = self.scan.advance(buf, &self.limits)? else {
            return Ok(None);
        };
        let escaping = Escaping::for_frame(self.version, end.command);
        let head = parse_head(&buf[..end.len], &end, escaping, &self.limits)?;
        if let Some(length) = head.content_length {
            // Body and NUL must fit too: fail now rather than wait for the body.
            if end.len.saturating_add(length).saturating_add(1) > self.limits.max_frame_size {
                return Err(DecodeError::FrameTooLarge {
                    limit: self.limits.max_frame_size,
                });
            }
        }
        Ok(Some(PendingBody {
            command: end.command,
            headers: head.headers,
            head_len: end.len,
            content_length: head.content_length,
            scanned: end.len,
        }))
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
    /// Takes the frame out of `buf` once its body and NUL are there.
    fn finish(
        &mut self,
        buf: &mut BytesMut,
        limits: &FrameLimits,
    ) -> Result<Option<Frame>, DecodeError> {
        let nul = match self.content_length {
            Some(length) => {
                let nul = self.head_len + length;
                match buf.get(nul) {
                    None => return Ok(None),
                    Some(0) => nul,
                    Some(_) => {
                        return Err(DecodeError::MissingNulAfterBody {
                            content_length: length,
                        })
                    }
                }
            }
            None => {
                let window = buf.len().min(limits.max_frame_size);
                let from = self.scanned.max(self.head_len);
                match buf.get(from..window).and_then(|bytes| memchr(0, bytes)) {
                    Some(at) => from + at,
                    None if buf.len() >= limits.max_frame_size => {
                        return Err(DecodeError::FrameTooLarge {
                            limit: limits.max_frame_size,
                        })
                    }
                    None => {
                        self.scanned = window.max(self.head_len);
                        return Ok(None);
                    }
                }
            }
        };
        let body = if nul == self.head_len {
            buf.advance(nul + 1);
            Bytes::new()
        } else {
            // The body shares the buffer's memory: no copy.
            buf.split_to(nul + 1).freeze().slice(self.head_len..nul)
        };
        Ok(Some(Frame {
            command: self.command,
            headers: std::mem::take(&mut self.headers),
            body,
        }))
    }
}

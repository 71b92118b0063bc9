//! The incremental decoder. (API fixed; body being written.)

use bytes::BytesMut;

use crate::{Frame, Version};

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

/// Why bytes could not be decoded into a frame. The `Display` text is meant for the
/// `message` header of an `ERROR` frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The frame grew past [`FrameLimits::max_frame_size`].
    #[error("frame exceeds {limit} bytes")]
    FrameTooLarge {
        /// The configured limit.
        limit: usize,
    },
}

/// An incremental STOMP decoder.
#[derive(Debug, Clone)]
pub struct Decoder {
    limits: FrameLimits,
    version: Version,
}

impl Decoder {
    /// A decoder with these limits, unescaping as STOMP 1.2 until told otherwise.
    pub fn new(limits: FrameLimits) -> Decoder {
        Decoder {
            limits,
            version: Version::V1_2,
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

    /// Decodes the next frame from `buf`, consuming its bytes.
    ///
    /// `Ok(None)`: not enough bytes yet (heart-beat EOLs are consumed). After an error the
    /// stream cannot be resynchronised; the caller sends `ERROR` and closes.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, DecodeError> {
        let _ = buf;
        todo!("decoder")
    }
}

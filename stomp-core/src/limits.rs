//! [`FrameLimits`]: the bounds the decoder checks while bytes arrive.

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

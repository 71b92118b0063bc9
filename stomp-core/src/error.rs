//! [`DecodeError`]: why bytes could not become a frame, in words a client can read.

/// How many bytes of offending input an error message quotes.
pub(crate) const QUOTE_LIMIT: usize = 40;

/// Why bytes could not be decoded into a frame. The `Display` text is meant for the
/// `message` header of an `ERROR` frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The frame grew past [`FrameLimits::max_frame_size`](crate::FrameLimits::max_frame_size).
    #[error("frame exceeds {limit} bytes")]
    FrameTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// The frame has more headers than
    /// [`FrameLimits::max_headers`](crate::FrameLimits::max_headers).
    #[error("frame has more than {limit} headers")]
    TooManyHeaders {
        /// The configured limit.
        limit: usize,
    },
    /// A command or header line is longer than
    /// [`FrameLimits::max_header_line`](crate::FrameLimits::max_header_line).
    #[error("header line exceeds {limit} bytes")]
    HeaderLineTooLong {
        /// The configured limit.
        limit: usize,
    },
    /// The `content-length` header is above
    /// [`FrameLimits::max_content_length`](crate::FrameLimits::max_content_length).
    #[error("content-length {length} exceeds the limit of {limit} bytes")]
    ContentLengthTooLarge {
        /// The value the frame announced.
        length: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The command line is not a STOMP command (commands are case-sensitive).
    #[error("unknown command `{command}`")]
    UnknownCommand {
        /// The command line as received, truncated to about 40 bytes.
        command: String,
    },
    /// A header line without a colon, or with an empty name.
    #[error("malformed header `{line}`, expected `name:value`")]
    MalformedHeader {
        /// The line as received, truncated to about 40 bytes.
        line: String,
    },
    /// A backslash followed by something the frame's version does not define.
    #[error("undefined escape sequence `{sequence}` in header")]
    InvalidEscape {
        /// The sequence, backslash included (just `\` when it ends the text).
        sequence: String,
    },
    /// The header lines are not UTF-8.
    #[error("headers are not valid UTF-8")]
    InvalidUtf8,
    /// The `content-length` value is not a non-negative decimal number.
    #[error("invalid content-length `{value}`")]
    InvalidContentLength {
        /// The value as received, truncated to about 40 bytes.
        value: String,
    },
    /// The byte after the `content-length` bytes of body is not NUL.
    #[error("no NUL byte after the {content_length}-byte body announced by content-length")]
    MissingNulAfterBody {
        /// The announced body length.
        content_length: usize,
    },
}

/// Quotes offending input for an error message: at most [`QUOTE_LIMIT`] bytes, invalid UTF-8
/// replaced, control characters written as escapes (so the text is safe in a header value),
/// and `…` when truncated.
pub(crate) fn quote(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(QUOTE_LIMIT)];
    let mut text = String::with_capacity(shown.len() + 3);
    for c in String::from_utf8_lossy(shown).chars() {
        if c.is_control() {
            text.extend(c.escape_default());
        } else {
            text.push(c);
        }
    }
    if bytes.len() > QUOTE_LIMIT {
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_truncated_and_printable() {
        assert_eq!(quote(b"SEND"), "SEND");
        assert_eq!(quote(b"a\r\0\tb"), "a\\r\\u{0}\\tb");
        assert_eq!(quote(&[0xff, b'x']), "\u{fffd}x");
        let long = [b'x'; 50];
        assert_eq!(quote(&long), format!("{}…", "x".repeat(40)));
    }
}

//! The head of a frame (command line and header lines): finding where it ends while bytes
//! arrive ([`HeadScan`]), then parsing it in one pass ([`parse_head`]).

use memchr::memchr;

use crate::error::{quote, DecodeError, QUOTE_LIMIT};
use crate::escape::Escaping;
use crate::limits::FrameLimits;
use crate::{names, Command, Headers};

/// Scan state for the head of the frame at the start of the buffer.
///
/// Kept between calls so that every byte is searched once however the input is split, and
/// so that line and header limits fail as soon as they are crossed.
#[derive(Debug, Clone, Default)]
pub(super) struct HeadScan {
    /// Bytes already searched for `\n`.
    scanned: usize,
    /// Start of the line being read.
    line_start: usize,
    /// The command, once its line is complete.
    command: Option<Command>,
    /// Header lines seen so far.
    headers: usize,
}

/// A complete head at the start of the buffer.
#[derive(Debug)]
pub(super) struct HeadEnd {
    /// The parsed command line.
    pub(super) command: Command,
    /// Head length, blank line included: the body starts here.
    pub(super) len: usize,
    /// The number of header lines.
    pub(super) headers: usize,
}

impl HeadScan {
    /// True until the command line is complete; only then can EOLs be heart-beats.
    pub(super) fn at_frame_start(&self) -> bool {
        self.command.is_none()
    }

    /// Accounts for `n` heart-beat bytes removed from the front of the buffer.
    pub(super) fn consumed(&mut self, n: usize) {
        // Before the command line ends, the scanned bytes hold no `\n` and `line_start` is 0.
        self.scanned = self.scanned.saturating_sub(n);
    }

    /// Searches the new bytes of `buf` for the blank line that ends the head.
    pub(super) fn advance(
        &mut self,
        buf: &[u8],
        limits: &FrameLimits,
    ) -> Result<Option<HeadEnd>, DecodeError> {
        // Bytes past `max_frame_size` cannot belong to an acceptable frame.
        let window = &buf[..buf.len().min(limits.max_frame_size)];
        let mut from = self.scanned.min(window.len());
        while let Some(at) = memchr(b'\n', &window[from..]) {
            let eol = from + at;
            let line = trim_cr(&window[self.line_start.min(eol)..eol]);
            from = eol + 1;
            self.line_start = from;
            self.scanned = from;
            let Some(command) = self.command else {
                self.command = Some(parse_command(line)?);
                continue;
            };
            if line.len() > limits.max_header_line {
                return Err(DecodeError::HeaderLineTooLong {
                    limit: limits.max_header_line,
                });
            }
            if line.is_empty() {
                let end = HeadEnd {
                    command,
                    len: from,
                    headers: self.headers,
                };
                *self = HeadScan::default();
                return Ok(Some(end));
            }
            self.headers += 1;
            if self.headers > limits.max_headers {
                return Err(DecodeError::TooManyHeaders {
                    limit: limits.max_headers,
                });
            }
        }
        self.scanned = window.len();
        // The checks below see the same bytes whether the input came whole or in pieces, so
        // the error does not depend on how the input was split.
        let partial = &window[self.line_start.min(window.len())..];
        if self.command.is_none() {
            // No command is that long: reject garbage (HTTP, TLS) without waiting for an
            // EOL. One extra byte may be the `\r` of a `\r\n`; past it, the quote is the
            // same as for the complete line.
            if partial.len() > QUOTE_LIMIT + 1 {
                return Err(unknown_command(partial));
            }
        } else if partial.len() > limits.max_header_line.saturating_add(1) {
            return Err(DecodeError::HeaderLineTooLong {
                limit: limits.max_header_line,
            });
        }
        if buf.len() >= limits.max_frame_size {
            return Err(DecodeError::FrameTooLarge {
                limit: limits.max_frame_size,
            });
        }
        Ok(None)
    }
}

/// Parses the header lines of `head` (the bytes [`HeadScan::advance`] found) into `headers`,
/// unescaping them straight into its text buffer, and returns the first `content-length`,
/// already checked against the limit.
pub(super) fn parse_head(
    head: &[u8],
    end: &HeadEnd,
    headers: &mut Headers,
    escaping: Escaping,
    limits: &FrameLimits,
) -> Result<Option<usize>, DecodeError> {
    let lines = match memchr(b'\n', head) {
        Some(eol) => &head[eol + 1..],
        None => &[][..],
    };
    let text = std::str::from_utf8(lines).map_err(|_| DecodeError::InvalidUtf8)?;
    // Most heads hold no backslash at all: one scan instead of one per name and value.
    let escaping = match memchr(b'\\', lines) {
        Some(_) => escaping,
        None => Escaping::None,
    };
    // Unescaping only shrinks text, so this is the only allocation of each kind.
    *headers = Headers::with_capacity(end.headers, text.len());
    let mut content_length = None;
    let mut rest = text;
    while let Some(eol) = memchr(b'\n', rest.as_bytes()) {
        let line = rest[..eol].strip_suffix('\r').unwrap_or(&rest[..eol]);
        rest = &rest[eol + 1..];
        if line.is_empty() {
            break;
        }
        // Only the first colon splits: a value may hold more (1.0, CONNECT).
        // Names are short: a plain loop beats a vectorised search here.
        let (name, value) = match line.bytes().position(|b| b == b':') {
            Some(colon) if colon > 0 => (&line[..colon], &line[colon + 1..]),
            _ => {
                return Err(DecodeError::MalformedHeader {
                    line: quote(line.as_bytes()),
                })
            }
        };
        let out = headers.text_mut();
        let name_start = out.len();
        escaping.unescape_into(name, out)?;
        let name_end = out.len();
        escaping.unescape_into(value, out)?;
        let value_end = out.len();
        // The first occurrence of a repeated header is the one that counts.
        if content_length.is_none() && out[name_start..name_end] == *names::CONTENT_LENGTH {
            content_length = Some(parse_content_length(&out[name_end..value_end], limits)?);
        }
        headers.push_ranges(name_start..name_end, name_end..value_end);
    }
    Ok(content_length)
}

fn parse_command(line: &[u8]) -> Result<Command, DecodeError> {
    Command::from_bytes(line).ok_or_else(|| unknown_command(line))
}

fn unknown_command(line: &[u8]) -> DecodeError {
    DecodeError::UnknownCommand {
        command: quote(line),
    }
}

/// Parses a `content-length` value (blanks around the digits tolerated) and checks the limit.
fn parse_content_length(value: &str, limits: &FrameLimits) -> Result<usize, DecodeError> {
    let digits = value.trim_matches([' ', '\t']).as_bytes();
    let mut length = (!digits.is_empty()).then_some(0usize);
    for &digit in digits {
        length = match digit {
            b'0'..=b'9' => length
                .and_then(|n| n.checked_mul(10))
                .and_then(|n| n.checked_add(usize::from(digit - b'0'))),
            _ => None,
        };
    }
    let Some(length) = length else {
        return Err(DecodeError::InvalidContentLength {
            value: quote(value.as_bytes()),
        });
    };
    if length > limits.max_content_length {
        return Err(DecodeError::ContentLengthTooLarge {
            length,
            limit: limits.max_content_length,
        });
    }
    Ok(length)
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

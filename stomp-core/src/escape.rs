//! Header escaping per STOMP version.
//!
//! | version | escapes                     |
//! |---------|-----------------------------|
//! | 1.0     | none (a backslash is literal) |
//! | 1.1     | `\n` `\c` (colon) `\\`      |
//! | 1.2     | `\r` `\n` `\c` (colon) `\\` |
//!
//! `CONNECT`, `STOMP` and `CONNECTED` frames are never escaped, whatever the version, so that
//! a peer can read them before the version is negotiated. Decoding any other escape sequence
//! (`\t`, a trailing lone backslash, `\r` in 1.1) is an error.
//!
//! Bytes that no escape can carry are written as a space when encoding: NUL in every
//! version, and also LF and CR where nothing is escaped (1.0 and the `CONNECT` family), and
//! there a colon in a header *name* too. Written raw they would end the header line or the
//! frame, or move where the name ends, so a header received from one client (escaped, over
//! 1.2: `content-length\c9`) could forge headers or whole frames in what a 1.0 subscriber
//! reads.

use bytes::{BufMut, BytesMut};
use memchr::memchr;

use crate::error::{quote, DecodeError};
use crate::{Command, Version};

/// The bytes replaced where nothing is escaped (1.0, the `CONNECT` family): NUL, LF, CR.
const REPLACED_UNESCAPED: [bool; 256] = byte_set(&[0, b'\n', b'\r']);

/// The same in a header name, which also cannot hold a colon.
const REPLACED_UNESCAPED_NAME: [bool; 256] = byte_set(&[0, b'\n', b'\r', b':']);

/// The bytes STOMP 1.1 escapes in headers (`\n`, `:`, `\\`), and NUL, replaced.
const ESCAPED_1_1: [bool; 256] = byte_set(&[0, b'\n', b':', b'\\']);

/// The bytes STOMP 1.2 escapes in headers (those of 1.1 and `\r`), and NUL, replaced.
const ESCAPED_1_2: [bool; 256] = byte_set(&[0, b'\n', b':', b'\\', b'\r']);

const fn byte_set(bytes: &[u8]) -> [bool; 256] {
    let mut table = [false; 256];
    let mut i = 0;
    while i < bytes.len() {
        table[bytes[i] as usize] = true;
        i += 1;
    }
    table
}

/// The escape rules that apply to the headers of one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escaping {
    /// No escaping: STOMP 1.0, and `CONNECT`/`STOMP`/`CONNECTED` in every version.
    None,
    /// STOMP 1.1: `\n`, `\c` and `\\`.
    V1_1,
    /// STOMP 1.2: `\r`, `\n`, `\c` and `\\`.
    V1_2,
}

impl Escaping {
    /// The rules for a `command` frame sent under `version`.
    pub const fn for_frame(version: Version, command: Command) -> Escaping {
        if command.is_connect_family() {
            return Escaping::None;
        }
        match version {
            Version::V1_0 => Escaping::None,
            Version::V1_1 => Escaping::V1_1,
            Version::V1_2 => Escaping::V1_2,
        }
    }

    /// What replaces `byte` when it is written in a header name (`name`) or value, if it
    /// cannot be written as it is.
    const fn escape_of(self, byte: u8, name: bool) -> Option<&'static [u8]> {
        match (self, byte) {
            (_, 0) | (Escaping::None, b'\n' | b'\r') => Some(b" "),
            (Escaping::None, b':') if name => Some(b" "),
            (Escaping::None, _) => None,
            (_, b'\n') => Some(b"\\n"),
            (_, b':') => Some(b"\\c"),
            (_, b'\\') => Some(b"\\\\"),
            (Escaping::V1_2, b'\r') => Some(b"\\r"),
            _ => None,
        }
    }

    /// The character that `\` followed by `c` stands for, if the sequence is defined.
    const fn unescape_of(self, c: char) -> Option<char> {
        match (self, c) {
            (Escaping::None, _) => None,
            (_, 'n') => Some('\n'),
            (_, 'c') => Some(':'),
            (_, '\\') => Some('\\'),
            (Escaping::V1_2, 'r') => Some('\r'),
            _ => None,
        }
    }

    /// The length of the header value `text` once escaped.
    pub fn escaped_len(self, text: &str) -> usize {
        self.escaped_len_of(text, false)
    }

    /// The length of the header name `text` once escaped.
    pub fn escaped_name_len(self, text: &str) -> usize {
        self.escaped_len_of(text, true)
    }

    fn escaped_len_of(self, text: &str, name: bool) -> usize {
        let bytes = text.as_bytes();
        let Some(first) = self.first_to_escape(bytes, name) else {
            return bytes.len();
        };
        let extra: usize = bytes[first..]
            .iter()
            .filter_map(|&b| self.escape_of(b, name))
            .map(|sequence| sequence.len() - 1)
            .sum();
        bytes.len() + extra
    }

    /// Where the first byte that needs an escape sequence is. Header names and values are
    /// short, so a table lookup per byte beats setting up a `memchr` search; nearly every
    /// value needs no escape and is then measured and copied whole.
    fn first_to_escape(self, bytes: &[u8], name: bool) -> Option<usize> {
        let table = match self {
            Escaping::None if name => &REPLACED_UNESCAPED_NAME,
            Escaping::None => &REPLACED_UNESCAPED,
            Escaping::V1_1 => &ESCAPED_1_1,
            Escaping::V1_2 => &ESCAPED_1_2,
        };
        bytes.iter().position(|&b| table[usize::from(b)])
    }

    /// Appends the header value `text`, escaped, to `dst`.
    pub fn escape_into(self, text: &str, dst: &mut BytesMut) {
        self.escape_into_of(text, false, dst);
    }

    /// Appends the header name `text`, escaped, to `dst`.
    pub fn escape_name_into(self, text: &str, dst: &mut BytesMut) {
        self.escape_into_of(text, true, dst);
    }

    fn escape_into_of(self, text: &str, name: bool, dst: &mut BytesMut) {
        let bytes = text.as_bytes();
        let Some(first) = self.first_to_escape(bytes, name) else {
            dst.put_slice(bytes);
            return;
        };
        let mut start = 0;
        for (i, &byte) in bytes.iter().enumerate().skip(first) {
            if let Some(sequence) = self.escape_of(byte, name) {
                dst.put_slice(&bytes[start..i]);
                dst.put_slice(sequence);
                start = i + 1;
            }
        }
        dst.put_slice(&bytes[start..]);
    }

    /// Appends `text`, unescaped, to `out`.
    ///
    /// Fails with [`DecodeError::InvalidEscape`] on an undefined sequence, including a
    /// backslash at the end of `text`. `out` may hold part of `text` after a failure.
    pub fn unescape_into(self, text: &str, out: &mut String) -> Result<(), DecodeError> {
        if self == Escaping::None {
            out.push_str(text);
            return Ok(());
        }
        let mut rest = text;
        while let Some(at) = memchr(b'\\', rest.as_bytes()) {
            // `at` is the index of an ASCII byte, so both slices fall on char boundaries.
            out.push_str(&rest[..at]);
            let mut after = rest[at + 1..].chars();
            let escaped = after.next();
            match escaped.and_then(|c| self.unescape_of(c)) {
                Some(c) => out.push(c),
                None => return Err(invalid_escape(escaped)),
            }
            rest = after.as_str();
        }
        out.push_str(rest);
        Ok(())
    }
}

fn invalid_escape(escaped: Option<char>) -> DecodeError {
    let mut sequence = String::from("\\");
    if let Some(c) = escaped {
        let mut utf8 = [0u8; 4];
        sequence.push_str(&quote(c.encode_utf8(&mut utf8).as_bytes()));
    }
    DecodeError::InvalidEscape { sequence }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(escaping: Escaping, text: &str) -> String {
        let mut dst = BytesMut::new();
        escaping.escape_into(text, &mut dst);
        assert_eq!(dst.len(), escaping.escaped_len(text));
        String::from_utf8(dst.to_vec()).unwrap()
    }

    fn unescaped(escaping: Escaping, text: &str) -> Result<String, DecodeError> {
        let mut out = String::new();
        escaping.unescape_into(text, &mut out).map(|()| out)
    }

    #[test]
    fn rules_follow_version_and_command() {
        assert_eq!(
            Escaping::for_frame(Version::V1_2, Command::Send),
            Escaping::V1_2
        );
        assert_eq!(
            Escaping::for_frame(Version::V1_1, Command::Message),
            Escaping::V1_1
        );
        assert_eq!(
            Escaping::for_frame(Version::V1_0, Command::Send),
            Escaping::None
        );
        for command in [Command::Connect, Command::Stomp, Command::Connected] {
            assert_eq!(Escaping::for_frame(Version::V1_2, command), Escaping::None);
        }
    }

    #[test]
    fn escapes_per_version() {
        let text = "a:b\nc\\d\re";
        assert_eq!(escaped(Escaping::V1_2, text), "a\\cb\\nc\\\\d\\re");
        assert_eq!(escaped(Escaping::V1_1, text), "a\\cb\\nc\\\\d\re");
        assert_eq!(escaped(Escaping::None, text), "a:b c\\d e");
        assert_eq!(escaped(Escaping::V1_2, "nul\0here"), "nul here");
        assert_eq!(escaped(Escaping::V1_2, "plain ünïcode"), "plain ünïcode");
    }

    #[test]
    fn unescapes_per_version() {
        assert_eq!(
            unescaped(Escaping::V1_2, "a\\cb\\nc\\\\d\\re").unwrap(),
            "a:b\nc\\d\re"
        );
        assert_eq!(
            unescaped(Escaping::V1_1, "a\\cb\\nc\\\\d").unwrap(),
            "a:b\nc\\d"
        );
        assert_eq!(unescaped(Escaping::None, "a\\tb\\").unwrap(), "a\\tb\\");
        assert_eq!(unescaped(Escaping::V1_2, "ü\\cü").unwrap(), "ü:ü");
    }

    /// The rules of the table at the top of this module, one character at a time.
    fn reference(escaping: Escaping, text: &str) -> String {
        text.chars()
            .map(|c| match (escaping, c) {
                (_, '\0') | (Escaping::None, '\n' | '\r') => " ".to_owned(),
                (Escaping::None, c) => c.to_string(),
                (_, '\n') => "\\n".to_owned(),
                (_, ':') => "\\c".to_owned(),
                (_, '\\') => "\\\\".to_owned(),
                (Escaping::V1_2, '\r') => "\\r".to_owned(),
                (_, c) => c.to_string(),
            })
            .collect()
    }

    proptest::proptest! {
        #[test]
        fn escaping_follows_the_rules_wherever_the_specials_are(
            text in "[a-z:\\\\\n\r\0 é]{0,40}"
        ) {
            for escaping in [Escaping::None, Escaping::V1_1, Escaping::V1_2] {
                proptest::prop_assert_eq!(escaped(escaping, &text), reference(escaping, &text));
                if escaping != Escaping::None && !text.contains('\0') {
                    let back = unescaped(escaping, &escaped(escaping, &text));
                    proptest::prop_assert_eq!(back, Ok(text.clone()));
                }
            }
        }
    }

    #[test]
    fn undefined_sequences_are_errors() {
        let err = unescaped(Escaping::V1_2, "a\\tb").unwrap_err();
        assert_eq!(err.to_string(), "undefined escape sequence `\\t` in header");
        let err = unescaped(Escaping::V1_1, "a\\rb").unwrap_err();
        assert_eq!(err.to_string(), "undefined escape sequence `\\r` in header");
        let err = unescaped(Escaping::V1_2, "trailing\\").unwrap_err();
        assert_eq!(err.to_string(), "undefined escape sequence `\\` in header");
        let err = unescaped(Escaping::V1_2, "x\\é").unwrap_err();
        assert_eq!(err.to_string(), "undefined escape sequence `\\é` in header");
    }
}

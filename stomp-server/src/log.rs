//! Client-controlled text in log lines.
//!
//! Destinations, user names, header values and the error texts that quote them come from
//! clients. Written raw, a STOMP-escaped newline in a destination forges a whole log line
//! (`/topic/x\n2026-12-05T08:00:00Z  INFO demo_chat: admin logged in`), and NUL or CR bytes
//! reach the terminal or the log shipper. Every such value is logged through [`Escaped`],
//! which writes control characters as escapes (`\n`, `\r`, `\t`, `\0`, `\u{1}`).
//!
//! tracing's own `?` (Debug) formatting escapes a `&str` field too; [`Escaped`] is for
//! values whose `Display` text is what the log should show (errors, frames' headers).
//!
//! The spans sessions and handler calls run in (`stomp_session`, `websocket_session`,
//! `stomp_handler`), their fields and what each level shows are on the crate's front page,
//! under "Logging and tracing"; their user names and destinations go through [`Escaped`].

use std::fmt::{self, Display, Write};

/// Displays a value with every control character escaped, so that it cannot end or forge a
/// log line. Allocates nothing: the text is escaped as it is written.
pub struct Escaped<T>(pub T);

impl<T: Display> Display for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(EscapingWriter(f), "{}", self.0)
    }
}

impl<T: Display> fmt::Debug for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Display::fmt(self, f)
    }
}

/// Passes text on with control characters escaped.
struct EscapingWriter<'a, 'b>(&'a mut fmt::Formatter<'b>);

impl Write for EscapingWriter<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let mut plain = 0;
        for (at, c) in text.char_indices() {
            if !needs_escape(c) {
                continue;
            }
            self.0.write_str(&text[plain..at])?;
            match c {
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                '\0' => self.0.write_str("\\0")?,
                other => write!(self.0, "\\u{{{:x}}}", u32::from(other))?,
            }
            plain = at + c.len_utf8();
        }
        self.0.write_str(&text[plain..])
    }
}

/// Control characters, and the Unicode line and paragraph separators and bidirectional
/// overrides, which can also make a line read as something it is not.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}')
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::Escaped;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        let forged = "/topic/x\n2026-12-05T08:00:00Z  INFO demo_chat: FAKE\r\0\u{1}\t";
        assert_eq!(
            Escaped(forged).to_string(),
            "/topic/x\\n2026-12-05T08:00:00Z  INFO demo_chat: FAKE\\r\\0\\u{1}\\t"
        );
        assert_eq!(Escaped("héllo wörld/ok").to_string(), "héllo wörld/ok");
        assert_eq!(
            Escaped("a\u{202e}b\u{2028}").to_string(),
            "a\\u{202e}b\\u{2028}"
        );
        assert_eq!(format!("{:?}", Escaped("x\ny")), "x\\ny");
    }
}

//! SockJS framing: `o`, `h`, `a[...]`, `c[code,"reason"]`, and the client's JSON arrays.

use serde_json::Value;

/// The open frame.
pub(crate) const OPEN: &str = "o";
/// The heartbeat frame.
pub(crate) const HEARTBEAT: &str = "h";
/// The close frame sent when the server ends a session.
pub(crate) const GO_AWAY: &str = "c[3000,\"Go away!\"]";
/// The close frame for a second receiving request on a session that has one open.
pub(crate) const ANOTHER_CONNECTION: &str = "c[2010,\"Another connection still open\"]";

/// Encodes `messages` as one `a[...]` frame: a JSON array of strings, with the characters
/// SockJS escapes beyond JSON (`\u2028`, `\u2029`; control characters JSON escapes itself).
pub(crate) fn message_frame(messages: &[String]) -> String {
    let json = serde_json::to_string(messages).unwrap_or_else(|_| "[]".to_owned());
    let mut out = String::with_capacity(json.len() + 1);
    out.push('a');
    for c in json.chars() {
        match c {
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            '\u{200c}'..='\u{200f}' | '\u{fff0}'..='\u{ffff}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// Why a client message could not be read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// The body was empty.
    Empty,
    /// Not a JSON string or array of strings.
    Broken,
}

/// Decodes what a client sends: a JSON array of strings, or a single JSON string.
pub(crate) fn decode_messages(body: &[u8]) -> Result<Vec<String>, DecodeError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(DecodeError::Empty);
    }
    match serde_json::from_slice::<Value>(body).map_err(|_| DecodeError::Broken)? {
        Value::String(one) => Ok(vec![one]),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Ok(s),
                _ => Err(DecodeError::Broken),
            })
            .collect(),
        _ => Err(DecodeError::Broken),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        let frame = message_frame(&[
            "CONNECTED\nversion:1.2\n\n\0".to_owned(),
            "a\u{2028}".to_owned(),
        ]);
        assert_eq!(
            frame,
            "a[\"CONNECTED\\nversion:1.2\\n\\n\\u0000\",\"a\\u2028\"]"
        );
        assert_eq!(
            decode_messages(b"[\"x\",\"y\"]"),
            Ok(vec!["x".into(), "y".into()])
        );
        assert_eq!(decode_messages(b"\"x\""), Ok(vec!["x".into()]));
        assert_eq!(decode_messages(b""), Err(DecodeError::Empty));
        assert_eq!(decode_messages(b"[1]"), Err(DecodeError::Broken));
        assert_eq!(decode_messages(b"[\"x\""), Err(DecodeError::Broken));
    }
}

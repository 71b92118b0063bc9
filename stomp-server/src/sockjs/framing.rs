//! How each streaming transport writes SockJS frames into its response body:
//! `xhr_streaming` (a line per frame), `eventsource` (Server-Sent Events) and `htmlfile`
//! (a page that never ends, with a `<script>` call per frame).

use std::fmt::Write;

use bytes::Bytes;

/// The `h` bytes that open an `xhr_streaming` response, so that browsers hand the body to
/// the page as it arrives.
const XHR_PRELUDE_BYTES: usize = 2048;

/// The size the `htmlfile` page's head is padded to, so that browsers start running its
/// scripts before the page ends.
const HTMLFILE_PRELUDE_BYTES: usize = 1024;

/// The longest `c` callback name accepted (sockjs-client's are a dozen bytes).
const MAX_CALLBACK: usize = 256;

/// The framing of one streaming transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `xhr_streaming`: `<frame>\n`.
    XhrStreaming,
    /// `eventsource`: `data: <frame>\r\n\r\n`, `%`, CR, LF and NUL percent-encoded (the
    /// client reads each event through `decodeURI`).
    EventSource,
    /// `htmlfile`: `<script>\np("<frame>");\n</script>\r\n` inside a page that calls
    /// `parent.<callback>`.
    HtmlFile {
        /// The validated `c` parameter.
        callback: String,
    },
}

/// Why an `htmlfile` request has no usable callback.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CallbackError {
    /// No `c` parameter.
    Missing,
    /// A `c` parameter with a character outside `[a-zA-Z0-9_.]`, or too long.
    Invalid,
}

impl CallbackError {
    /// The text of the 500 response, as the SockJS protocol words it.
    pub(crate) fn text(&self) -> &'static str {
        match self {
            CallbackError::Missing => "\"callback\" parameter required",
            CallbackError::Invalid => "invalid \"callback\" parameter",
        }
    }
}

impl Framing {
    /// The response's `Content-Type`.
    pub(crate) fn content_type(&self) -> &'static str {
        match self {
            Framing::XhrStreaming => "application/javascript;charset=UTF-8",
            Framing::EventSource => "text/event-stream;charset=UTF-8",
            Framing::HtmlFile { .. } => "text/html;charset=UTF-8",
        }
    }

    /// What the response starts with, before the first frame.
    pub(crate) fn prelude(&self) -> Bytes {
        match self {
            Framing::XhrStreaming => {
                let mut prelude = vec![b'h'; XHR_PRELUDE_BYTES + 1];
                prelude[XHR_PRELUDE_BYTES] = b'\n';
                Bytes::from(prelude)
            }
            Framing::EventSource => Bytes::from_static(b"\r\n"),
            Framing::HtmlFile { callback } => Bytes::from(htmlfile_head(callback)),
        }
    }

    /// `frame` (`o`, `h`, `a[...]`, `c[...]`) as this transport writes it.
    pub(crate) fn frame(&self, frame: &str) -> Bytes {
        match self {
            Framing::XhrStreaming => Bytes::from(format!("{frame}\n")),
            Framing::EventSource => Bytes::from(format!("data: {}\r\n\r\n", event_data(frame))),
            Framing::HtmlFile { .. } => Bytes::from(format!(
                "<script>\np(\"{}\");\n</script>\r\n",
                script_string(frame)
            )),
        }
    }
}

/// The `c` parameter of `query`, percent-decoded and checked against `^[a-zA-Z0-9_.]+$`.
pub(crate) fn callback(query: Option<&str>) -> Result<String, CallbackError> {
    let raw = query
        .unwrap_or("")
        .split('&')
        .find_map(|pair| pair.strip_prefix("c="))
        .ok_or(CallbackError::Missing)?;
    if raw.len() > MAX_CALLBACK * 3 {
        return Err(CallbackError::Invalid);
    }
    let decoded = percent_decode(raw).ok_or(CallbackError::Invalid)?;
    let valid = !decoded.is_empty()
        && decoded.len() <= MAX_CALLBACK
        && decoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
    if valid {
        Ok(decoded)
    } else {
        Err(CallbackError::Invalid)
    }
}

/// `%XX` decoded (`+` stays `+`); `None` for a broken escape or bytes that are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The head of the `htmlfile` page, padded past 1 KiB.
fn htmlfile_head(callback: &str) -> String {
    let mut head = format!(
        "<!doctype html>\n<html><head>\n  \
         <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />\n  \
         <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n\
         </head><body><h2>Don't panic!</h2>\n  <script>\n    \
         document.domain = document.domain;\n    var c = parent.{callback};\n    \
         c.start();\n    function p(d) {{c.message(d);}};\n    \
         window.onload = function() {{c.stop();}};\n  </script>"
    );
    while head.len() < HTMLFILE_PRELUDE_BYTES {
        head.push(' ');
    }
    head.push_str("\r\n\r\n");
    head
}

/// `frame` with `%`, CR, LF and NUL percent-encoded, for one `data:` line.
fn event_data(frame: &str) -> String {
    let mut out = String::with_capacity(frame.len());
    for c in frame.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            '\0' => out.push_str("%00"),
            c => out.push(c),
        }
    }
    out
}

/// `frame` as the inside of a double-quoted JavaScript string in an HTML `<script>`: no
/// quote, backslash, line terminator or `<`/`>`/`&` left as is, so a message can neither
/// end the string nor the script element.
fn script_string(frame: &str) -> String {
    let mut out = String::with_capacity(frame.len() + 16);
    for c in frame.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\'' => out.push_str("\\'"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' | '\0'..='\u{1f}' | '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_transport_frames_as_the_protocol_says() {
        assert_eq!(Framing::XhrStreaming.frame("o"), "o\n");
        assert_eq!(Framing::EventSource.frame("o"), "data: o\r\n\r\n");
        assert_eq!(
            Framing::EventSource.frame("a[\"50%\\n\"]\r\n\0"),
            "data: a[\"50%25\\n\"]%0D%0A%00\r\n\r\n"
        );
        let html = Framing::HtmlFile {
            callback: "cb".into(),
        };
        assert_eq!(
            html.frame("a[\"x\"]"),
            "<script>\np(\"a[\\\"x\\\"]\");\n</script>\r\n"
        );
        assert_eq!(
            html.frame("a[\"</script><b>\\\\\"]"),
            "<script>\np(\"a[\\\"\\u003c/script\\u003e\\u003cb\\u003e\\\\\\\\\\\"]\");\n</script>\r\n"
        );
        assert_eq!(Framing::EventSource.prelude(), "\r\n");
        let xhr = Framing::XhrStreaming.prelude();
        assert_eq!((xhr.len(), xhr[0], xhr[2048]), (2049, b'h', b'\n'));
    }

    #[test]
    fn the_htmlfile_page_calls_the_callback_and_is_padded_past_one_kib() {
        let head = Framing::HtmlFile {
            callback: "_jp.a1b2".into(),
        }
        .prelude();
        let text = std::str::from_utf8(&head).unwrap_or_default();
        assert!(text.len() > 1024, "{}", text.len());
        assert!(text.starts_with("<!doctype html>\n"));
        assert!(text.contains("var c = parent._jp.a1b2;\n"));
        assert!(text.trim_end().ends_with("</script>"));
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn callbacks_are_checked_after_decoding() {
        assert_eq!(callback(Some("c=%63allback")), Ok("callback".into()));
        assert_eq!(callback(Some("t=1&c=_jp.a12_B")), Ok("_jp.a12_B".into()));
        assert_eq!(callback(None), Err(CallbackError::Missing));
        assert_eq!(callback(Some("d=x")), Err(CallbackError::Missing));
        for bad in ["%20", "*", "abc(", "abc%28", "", "%zz", "%e2%80", "a-b"] {
            assert_eq!(
                callback(Some(&format!("c={bad}"))),
                Err(CallbackError::Invalid),
                "{bad}"
            );
        }
        let long = "a".repeat(MAX_CALLBACK + 1);
        assert_eq!(
            callback(Some(&format!("c={long}"))),
            Err(CallbackError::Invalid)
        );
    }
}

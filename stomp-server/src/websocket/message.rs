//! What a raw WebSocket handler is given and gives: [`TextMessage`], [`BinaryMessage`],
//! [`CloseStatus`] (Spring's names and codes) and [`TransportError`].

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Utf8Bytes;

/// A text message from a client (Spring's `TextMessage`). Cloning is a reference count.
#[derive(Clone, PartialEq, Eq)]
pub struct TextMessage(pub(crate) Utf8Bytes);

impl TextMessage {
    /// The text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for an empty message.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for TextMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TextMessage({:?})", self.as_str())
    }
}

/// A binary message from a client (Spring's `BinaryMessage`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryMessage(pub(crate) Bytes);

impl BinaryMessage {
    /// The bytes (a reference count).
    pub fn payload(&self) -> &Bytes {
        &self.0
    }
}

/// How a WebSocket closes (Spring's `CloseStatus`): a code of RFC 6455 section 7.4 and a
/// short reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseStatus {
    code: u16,
    reason: Cow<'static, str>,
}

impl CloseStatus {
    /// 1000: the purpose of the connection was fulfilled.
    pub const NORMAL: CloseStatus = CloseStatus::fixed(1000);
    /// 1001: the server is shutting down (or the browser leaves the page).
    pub const GOING_AWAY: CloseStatus = CloseStatus::fixed(1001);
    /// 1002: a protocol error.
    pub const PROTOCOL_ERROR: CloseStatus = CloseStatus::fixed(1002);
    /// 1003: a kind of message the endpoint does not accept (binary for a text handler).
    pub const NOT_ACCEPTABLE: CloseStatus = CloseStatus::fixed(1003);
    /// 1005: the peer's close frame carried no code (never sent, only reported).
    pub const NO_STATUS_CODE: CloseStatus = CloseStatus::fixed(1005);
    /// 1006: the connection ended without a close frame (never sent, only reported).
    pub const NO_CLOSE_FRAME: CloseStatus = CloseStatus::fixed(1006);
    /// 1007: a text message that is not UTF-8.
    pub const BAD_DATA: CloseStatus = CloseStatus::fixed(1007);
    /// 1008: the peer broke a policy (it floods, or went silent).
    pub const POLICY_VIOLATION: CloseStatus = CloseStatus::fixed(1008);
    /// 1009: a message over the size limit.
    pub const TOO_BIG_TO_PROCESS: CloseStatus = CloseStatus::fixed(1009);
    /// 1011: the server met an error it cannot go on after (a handler panicked).
    pub const SERVER_ERROR: CloseStatus = CloseStatus::fixed(1011);
    /// 4500: the session does not keep up (Spring's `SESSION_NOT_RELIABLE`; reported for a
    /// slow consumer, whose connection is cut without a close frame).
    pub const SESSION_NOT_RELIABLE: CloseStatus = CloseStatus::fixed(4500);

    const fn fixed(code: u16) -> CloseStatus {
        CloseStatus {
            code,
            reason: Cow::Borrowed(""),
        }
    }

    /// A status with `code` (for example an application's own 4000-4999).
    pub fn new(code: u16) -> CloseStatus {
        CloseStatus::fixed(code)
    }

    /// This status with a reason (cut to the 123 bytes a close frame holds).
    #[must_use]
    pub fn with_reason(self, reason: impl Into<Cow<'static, str>>) -> CloseStatus {
        let mut reason = reason.into();
        if reason.len() > 123 {
            let mut end = 123;
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            reason = Cow::Owned(reason[..end].to_owned());
        }
        CloseStatus {
            code: self.code,
            reason,
        }
    }

    /// The code.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The reason (may be empty).
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// True when both have the same code, whatever their reasons (Spring's `equalsCode`).
    pub fn equals_code(&self, other: &CloseStatus) -> bool {
        self.code == other.code
    }

    /// True for a code a close frame may carry (RFC 6455 section 7.4): not 1005, 1006 or
    /// 1015 (reports only), nor one of the unassigned or reserved ranges.
    fn sendable(code: u16) -> bool {
        matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }

    /// The close frame carrying this status; a code no frame may carry (1005, 1006, 1015,
    /// reserved ranges) becomes 1000 with the same reason.
    pub(crate) fn frame(&self) -> CloseFrame {
        let code = if CloseStatus::sendable(self.code) {
            self.code
        } else {
            1000
        };
        CloseFrame {
            code: CloseCode::from(code),
            reason: Utf8Bytes::from(self.reason.to_string()),
        }
    }

    /// The status a peer's close frame carried; 1005 when it carried none.
    pub(crate) fn from_frame(frame: Option<&CloseFrame>) -> CloseStatus {
        match frame {
            Some(frame) => CloseStatus::new(u16::from(frame.code))
                .with_reason(Cow::Owned(frame.reason.as_str().to_owned())),
            None => CloseStatus::NO_STATUS_CODE,
        }
    }
}

impl fmt::Display for CloseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reason.is_empty() {
            write!(f, "{}", self.code)
        } else {
            write!(f, "{} ({})", self.code, crate::log::Escaped(&self.reason))
        }
    }
}

/// Why reading a raw session failed on the client's input (Spring's `handleTransportError`
/// exception): a message that is not UTF-8, too big, or breaks the WebSocket protocol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TransportError {
    pub(crate) message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_carry_spring_codes_and_short_reasons() {
        assert_eq!(CloseStatus::NOT_ACCEPTABLE.code(), 1003);
        assert_eq!(CloseStatus::SESSION_NOT_RELIABLE.code(), 4500);
        let long = CloseStatus::new(4000).with_reason("\u{e9}".repeat(100));
        assert!(long.reason().len() <= 123);
        assert!(long.equals_code(&CloseStatus::new(4000)));
        let frame = CloseStatus::GOING_AWAY.with_reason("bye").frame();
        assert_eq!(u16::from(frame.code), 1001);
        assert_eq!(
            CloseStatus::from_frame(Some(&frame)),
            CloseStatus::GOING_AWAY.with_reason("bye")
        );
        assert_eq!(CloseStatus::from_frame(None).code(), 1005);
        for reported_only in [0, 999, 1005, 1006, 1015, 2999, 5000] {
            let frame = CloseStatus::new(reported_only).frame();
            assert_eq!(u16::from(frame.code), 1000, "{reported_only}");
        }
        assert_eq!(u16::from(CloseStatus::new(4999).frame().code), 4999);
    }
}

//! [`CloseStatus`]: why the server closes a WebSocket (RFC 6455 section 7.4.1), as the
//! client sees it in the close frame.

use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

/// Why the server closes a WebSocket, as the client sees it in the close frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum CloseStatus {
    /// 1000: the session is over (`DISCONNECT`, or the client closed first).
    Normal = 1,
    /// 1001: the server is shutting down.
    GoingAway = 2,
    /// 1002: the client broke the protocol; an `ERROR` frame said how (Spring closes with
    /// this after every `ERROR`).
    Protocol = 3,
    /// 1007: a text message that is not UTF-8.
    InvalidData = 4,
    /// 1008: the client broke a policy: it floods, was refused at `CONNECT`, or does not
    /// keep up.
    Policy = 5,
    /// 1009: a message or frame over the size limit.
    TooBig = 6,
    /// 1011: the server cannot go on with the session (the broker is unavailable).
    Internal = 7,
}

impl CloseStatus {
    /// The status stored as `value` by [`CloseStatus::as_u8`]; `None` for 0 (none yet).
    pub(crate) fn from_u8(value: u8) -> Option<CloseStatus> {
        Some(match value {
            1 => CloseStatus::Normal,
            2 => CloseStatus::GoingAway,
            3 => CloseStatus::Protocol,
            4 => CloseStatus::InvalidData,
            5 => CloseStatus::Policy,
            6 => CloseStatus::TooBig,
            7 => CloseStatus::Internal,
            _ => return None,
        })
    }

    /// The status as stored in an atomic (never 0).
    pub(crate) fn as_u8(self) -> u8 {
        self as u8
    }

    /// The close frame: the code and a short reason.
    pub(crate) fn frame(self) -> CloseFrame {
        let (code, reason) = match self {
            CloseStatus::Normal => (CloseCode::Normal, "session ended"),
            CloseStatus::GoingAway => (CloseCode::Away, "server shutting down"),
            CloseStatus::Protocol => (CloseCode::Protocol, "STOMP protocol error"),
            CloseStatus::InvalidData => (CloseCode::Invalid, "invalid UTF-8 in a text message"),
            CloseStatus::Policy => (CloseCode::Policy, "policy violation"),
            CloseStatus::TooBig => (CloseCode::Size, "message too big"),
            CloseStatus::Internal => (CloseCode::Error, "internal error"),
        };
        CloseFrame {
            code,
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CloseStatus;

    #[test]
    fn every_status_round_trips_and_has_its_rfc_code() {
        let all = [
            (CloseStatus::Normal, 1000),
            (CloseStatus::GoingAway, 1001),
            (CloseStatus::Protocol, 1002),
            (CloseStatus::InvalidData, 1007),
            (CloseStatus::Policy, 1008),
            (CloseStatus::TooBig, 1009),
            (CloseStatus::Internal, 1011),
        ];
        for (status, code) in all {
            assert_eq!(CloseStatus::from_u8(status.as_u8()), Some(status));
            assert_eq!(u16::from(status.frame().code), code);
            assert!(
                status.frame().reason.len() < 123,
                "a close reason fits a control frame"
            );
        }
        assert_eq!(CloseStatus::from_u8(0), None);
    }
}

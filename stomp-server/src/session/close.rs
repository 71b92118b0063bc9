//! How a session's WebSocket is closed: the close status the client sees (RFC 6455 section
//! 7.4.1), the `ERROR` before it, and reading on until the client's close.

use std::time::Duration;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use stomp_core::{DecodeError, Frame, Version};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};

use super::context::SessionContext;
use super::item::{encode_frame, to_ws_message};

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

/// The status for a frame the decoder refused: too big (1009) or malformed (1002).
pub(super) fn decode_status(error: &DecodeError) -> CloseStatus {
    match error {
        DecodeError::FrameTooLarge { .. } | DecodeError::ContentLengthTooLarge { .. } => {
            CloseStatus::TooBig
        }
        _ => CloseStatus::Protocol,
    }
}

/// What to tell a client whose WebSocket read failed on its own input, and the status to
/// close with; `None` when the connection is simply gone.
pub(super) fn read_failure(error: &WsError) -> Option<(String, CloseStatus)> {
    match error {
        WsError::Utf8(_) => Some((
            "invalid UTF-8 in a text message".to_owned(),
            CloseStatus::InvalidData,
        )),
        WsError::Capacity(error) => Some((
            format!("WebSocket message too big: {error}"),
            CloseStatus::TooBig,
        )),
        WsError::Protocol(error) => Some((
            format!("WebSocket protocol error: {error}"),
            CloseStatus::Protocol,
        )),
        _ => None,
    }
}

/// Sends the close frame for `status` and closes, within `send_time`.
pub(super) async fn close<S>(sink: &mut S, status: CloseStatus, send_time: Duration)
where
    S: Sink<WsMessage, Error = WsError> + Unpin,
{
    let _ = timeout(send_time, async {
        if sink
            .send(WsMessage::Close(Some(status.frame())))
            .await
            .is_ok()
        {
            let _ = sink.close().await;
        }
    })
    .await;
}

/// Answers a session that never started (a bad first frame, a refused `CONNECT`) with
/// `frame` and closes the socket with `status`; counted as an `ERROR` sent.
pub(super) async fn refuse<S, R>(
    context: &SessionContext,
    (sink, stream): (&mut S, &mut R),
    frame: &Frame,
    version: Version,
    status: CloseStatus,
) where
    S: Sink<WsMessage, Error = WsError> + Unpin,
    R: Stream<Item = Result<WsMessage, WsError>> + Unpin,
{
    context.stats.error_sent();
    let send_time = context.limits.send_time;
    let message = to_ws_message(encode_frame(frame, version));
    // Bounded: a client that does not read must not hold the task (and its slot).
    if let Ok(Ok(())) = timeout(send_time, sink.send(message)).await {
        close(sink, status, send_time).await;
        linger(stream).await;
    }
}

/// How long a closing connection keeps reading (and dropping) what its client still sends.
const LINGER: Duration = Duration::from_secs(1);

/// After the server's close: reads until the client's close (or [`LINGER`]). Closing a
/// socket that still has unread input resets the connection, and the reset destroys what
/// the client has not read yet, the `ERROR` saying why among it.
pub(super) async fn linger<R>(stream: &mut R)
where
    R: Stream<Item = Result<WsMessage, WsError>> + Unpin,
{
    let _ = timeout(LINGER, async {
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await;
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

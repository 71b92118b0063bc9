//! How a session's WebSocket is closed: the close status the client sees (RFC 6455 section
//! 7.4.1), the `ERROR` before it, and reading on until the client's close.

use std::time::Duration;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use stomp_core::{DecodeError, Frame, Version};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};

use super::context::SessionContext;
use crate::peer::{encode_frame, to_ws_message, CloseStatus};

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
    close_with(sink, status.frame(), send_time).await;
}

/// Sends `frame` and closes, within `send_time`.
pub(super) async fn close_with<S>(sink: &mut S, frame: CloseFrame, send_time: Duration)
where
    S: Sink<WsMessage, Error = WsError> + Unpin,
{
    let _ = timeout(send_time, async {
        if sink.send(WsMessage::Close(Some(frame))).await.is_ok() {
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
pub(crate) async fn linger<R>(stream: &mut R)
where
    R: Stream<Item = Result<WsMessage, WsError>> + Unpin,
{
    let _ = timeout(LINGER, async {
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await;
}

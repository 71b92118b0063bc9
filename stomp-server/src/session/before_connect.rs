//! A session's first moments: from the WebSocket handshake to its first STOMP frame.

use std::net::SocketAddr;

use futures_util::{Sink, Stream};
use stomp_core::{Frame, Version};
use tokio::sync::watch;
use tokio::time::{timeout_at, Instant};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};

use super::close::{close, decode_status, read_failure, refuse};
use super::context::SessionContext;
use super::rate::{flood_message, FrameRate};
use crate::connection::{Fill, FrameReader, Messages, Received};
use crate::peer::error_frame;
use crate::peer::CloseStatus;

/// What the wait for `CONNECT` ended with.
pub(super) enum FirstFrame {
    /// The client's first frame, to be checked as its `CONNECT`.
    Frame(Frame),
    /// The connection ended, or was refused and answered here, before a whole frame came.
    Closed,
}

/// Reads until the first frame and returns it, or [`FirstFrame::Closed`] when the
/// connection ended first (it was then answered and closed here). Errors are answered directly: there is no writer
/// task yet. The time to the first frame is one deadline for the whole wait, so pings or
/// stray heart-beats cannot stretch it, and every WebSocket message takes a token from
/// `rate`, so a flood of empty ones is stopped too.
pub(super) async fn await_connect<S, R>(
    context: &SessionContext,
    remote: SocketAddr,
    sink: &mut S,
    reader: &mut FrameReader<Messages<R>>,
    rate: &mut FrameRate,
    shutdown: &mut watch::Receiver<bool>,
) -> FirstFrame
where
    S: Sink<WsMessage, Error = WsError> + Unpin,
    R: Stream<Item = Result<WsMessage, WsError>> + Unpin + Send,
{
    let limits = context.limits;
    let deadline = Instant::now() + limits.time_to_first_frame;
    loop {
        match reader.next_buffered() {
            Ok(Some(frame)) => return FirstFrame::Frame(frame),
            Ok(None) => {}
            Err(error) => {
                context.stats.decode_error();
                tracing::debug!(%remote, error = %crate::log::Escaped(&error), "malformed frame before CONNECT");
                let frame = error_frame(&error.to_string(), None);
                let status = decode_status(&error);
                let stream = reader.transport_mut().get_mut();
                refuse(context, (sink, stream), &frame, Version::V1_2, status).await;
                return FirstFrame::Closed;
            }
        }
        let next = tokio::select! {
            next = timeout_at(deadline, reader.fill()) => next,
            _ = shutdown.changed() => return FirstFrame::Closed,
        };
        let failure = match next {
            // A message (a close frame too: reading on answers it) takes a token.
            Ok(Fill::Received(Received::Data | Received::Control | Received::Closing(_), at)) => {
                rate.refill(at.into_std());
                if rate.take() {
                    None
                } else {
                    tracing::warn!(%remote, "closing a connection flooding the server before CONNECT");
                    let message = flood_message(limits.max_frames_per_second);
                    Some((message, CloseStatus::Policy))
                }
            }
            Ok(Fill::Received(Received::Failed(WsError::WriteBufferFull(_)), _)) => {
                context.stats.slow_consumer();
                tracing::warn!(%remote, "closing a connection that does not read what it is sent (pongs) before CONNECT");
                return FirstFrame::Closed;
            }
            // A read error on the client's input is answered; any other means it is gone.
            Ok(Fill::Received(Received::Failed(error), _)) => match read_failure(&error) {
                Some(failure) => Some(failure),
                None => return FirstFrame::Closed,
            },
            // No heart-beat window before CONNECT: only the end of the stream is left.
            Ok(Fill::Received(Received::Ended, _) | Fill::Silent) => return FirstFrame::Closed,
            Err(_) => {
                tracing::debug!(%remote, "no CONNECT within {:?}; closing", limits.time_to_first_frame);
                close(sink, CloseStatus::Policy, limits.send_time).await;
                return FirstFrame::Closed;
            }
        };
        if let Some((message, status)) = failure {
            tracing::debug!(%remote, reason = %crate::log::Escaped(&message), "refused before CONNECT");
            let frame = error_frame(&message, None);
            let stream = reader.transport_mut().get_mut();
            refuse(context, (sink, stream), &frame, Version::V1_2, status).await;
            return FirstFrame::Closed;
        }
    }
}

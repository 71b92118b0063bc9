//! The SockJS `websocket` transport: SockJS frames inside WebSocket text messages.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};

use super::frame::{decode_messages, message_frame, GO_AWAY, HEARTBEAT, OPEN};
use super::session::SockSession;

/// Moves frames between the WebSocket and the session until either side ends: `o` first,
/// `a[...]` for queued frames, `h` after `heartbeat` of silence, `c[3000,...]` on close.
/// A write that takes longer than `send_time` (a client that stopped reading) ends it.
pub(crate) async fn pump<T>(
    ws: T,
    session: Arc<SockSession>,
    heartbeat: Duration,
    send_time: Duration,
) where
    T: Stream<Item = Result<WsMessage, WsError>> + Sink<WsMessage, Error = WsError>,
    T: Unpin + Send + 'static,
{
    let (mut sink, mut stream) = ws.split();
    session.open();
    if !send_within(&mut sink, WsMessage::text(OPEN), send_time).await {
        session.disconnect();
        return;
    }
    let mut last_write = Instant::now();
    loop {
        tokio::select! {
            taken = session.next_batch() => {
                if !taken.messages.is_empty() {
                    let frame = WsMessage::text(message_frame(&taken.messages));
                    if !send_within(&mut sink, frame, send_time).await {
                        // Dropped unwritten: given back to the session.
                        break;
                    }
                    taken.messages.written();
                    last_write = Instant::now();
                }
                if taken.closed {
                    let _ = send_within(&mut sink, WsMessage::text(GO_AWAY), send_time).await;
                    let _ = timeout(send_time, sink.close()).await;
                    break;
                }
            }
            next = stream.next() => match next {
                Some(Ok(WsMessage::Text(text))) => {
                    let Ok(messages) = decode_messages(text.as_bytes()) else {
                        tracing::debug!("SockJS websocket: broken JSON from client; closing");
                        break;
                    };
                    for message in messages {
                        if !session.deliver(message).await {
                            break;
                        }
                    }
                }
                Some(Ok(WsMessage::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            () = tokio::time::sleep_until(last_write + heartbeat) => {
                if !send_within(&mut sink, WsMessage::text(HEARTBEAT), send_time).await {
                    break;
                }
                last_write = Instant::now();
            }
        }
    }
    session.disconnect();
}

/// Sends `message`, giving up (false) when it fails or takes longer than `send_time`.
async fn send_within<K>(sink: &mut K, message: WsMessage, send_time: Duration) -> bool
where
    K: Sink<WsMessage> + Unpin,
{
    matches!(timeout(send_time, sink.send(message)).await, Ok(Ok(())))
}

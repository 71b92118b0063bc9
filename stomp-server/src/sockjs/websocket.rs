//! The SockJS `websocket` transport: SockJS frames inside WebSocket text messages.
//!
//! Writing goes through the connection layer's one writer loop
//! ([`run_writer`](crate::connection::run_writer)): `a[...]` for what the session queued,
//! `h` after `heartbeat` of silence, `c[3000,...]` on close, each within `send_time`.
//! Reading (the client's `["..."]` arrays) runs beside it in the same task.

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};

use super::frame::{decode_messages, message_frame, GO_AWAY, HEARTBEAT, OPEN};
use super::session::{SockSession, Taken};
use crate::connection::{run_writer, Batch, Outgoing};

/// Moves frames between the WebSocket and the session until either side ends: `o` first,
/// then the writer loop and the client's input side by side. A write that takes longer than
/// `send_time` (a client that stopped reading) ends it.
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
    if !matches!(
        timeout(send_time, sink.send(WsMessage::text(OPEN))).await,
        Ok(Ok(()))
    ) {
        session.disconnect();
        return;
    }
    let mut out = SockOutgoing {
        sink,
        session: Arc::clone(&session),
        taken: None,
    };
    tokio::select! {
        // However the writer ends (closed, failed, too slow), the session ends with it;
        // what it took and did not write goes back to the session.
        _ = run_writer(&mut out, Some(heartbeat), Some(send_time)) => {}
        () = read_client(&mut stream, &session) => {}
    }
    session.disconnect();
}

/// Hands the client's messages to the session until the WebSocket ends or sends broken
/// JSON.
async fn read_client<T>(stream: &mut SplitStream<T>, session: &SockSession)
where
    T: Stream<Item = Result<WsMessage, WsError>> + Unpin,
{
    while let Some(next) = stream.next().await {
        match next {
            Ok(WsMessage::Text(text)) => {
                let Ok(messages) = decode_messages(text.as_bytes()) else {
                    tracing::debug!("SockJS websocket: broken JSON from client; closing");
                    return;
                };
                for message in messages {
                    if !session.deliver(message).await {
                        break;
                    }
                }
            }
            Ok(WsMessage::Close(_)) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// The writing side: the session's queued frames out as `a[...]`, its close as `c[..]`.
struct SockOutgoing<T> {
    sink: SplitSink<T, WsMessage>,
    session: Arc<SockSession>,
    /// What was taken from the session and is not written yet.
    taken: Option<Taken>,
}

impl<T> Outgoing for SockOutgoing<T>
where
    T: Stream<Item = Result<WsMessage, WsError>> + Sink<WsMessage, Error = WsError>,
    T: Unpin + Send + 'static,
{
    type Error = WsError;

    fn has_pending(&self) -> bool {
        self.taken.is_some()
    }

    async fn wait(&mut self) -> bool {
        // Cancel-safe: `next_batch` takes nothing unless it returns.
        self.taken = Some(self.session.next_batch().await);
        true
    }

    async fn write_batch(&mut self) -> Result<Batch, WsError> {
        let Some(taken) = self.taken.take() else {
            return Ok(Batch::Written);
        };
        if !taken.messages.is_empty() {
            // Dropped unwritten on an error: given back to the session.
            let frame = WsMessage::text(message_frame(&taken.messages));
            self.sink.send(frame).await?;
            taken.messages.written();
        }
        if !taken.closed {
            return Ok(Batch::Written);
        }
        self.sink.send(WsMessage::text(GO_AWAY)).await?;
        self.sink.close().await?;
        Ok(Batch::Closed)
    }

    async fn write_heartbeat(&mut self) -> Result<(), WsError> {
        self.sink.send(WsMessage::text(HEARTBEAT)).await
    }
}

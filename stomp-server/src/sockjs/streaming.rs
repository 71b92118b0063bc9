//! The streaming transports' one response: `xhr_streaming`, `eventsource` and `htmlfile`
//! differ only in their [`Framing`]. A chunked response opens with the framing's prelude,
//! then carries `o`, `a[...]` and `h` frames until the session closes or the response
//! carried `stream_bytes_limit` bytes of messages, when it ends and the client opens the
//! next one.

use std::sync::Arc;

use http::Response;
use tokio::sync::mpsc;

use super::frame::{message_frame, ANOTHER_CONNECTION, GO_AWAY, HEARTBEAT, OPEN};
use super::framing::Framing;
use super::receive::Client;
use super::response::{channel_response, Chunk};
use super::service::SockJs;
use super::session::{Delivery, Receiving, SockSession};
use crate::web::ResponseBody;

/// How many chunks wait for hyper to take them before the stream's writer waits.
const CHANNEL_CHUNKS: usize = 16;

/// A streaming response for session `id` framed by `framing`, ended after
/// `stream_bytes_limit` bytes of messages so that the client opens the next one.
pub(crate) async fn stream(
    sockjs: &Arc<SockJs>,
    id: &str,
    mut client: Client,
    framing: Framing,
) -> Response<ResponseBody> {
    let send_time = client.app.limits().send_time;
    let session = match client.session(sockjs, id) {
        Ok(session) => session,
        Err(busy) => return busy,
    };
    // A client that stops reading the stream fills the channel: past `send_time` the
    // response ends instead of holding the task and the frame forever.
    let content_type = framing.content_type();
    let (tx, rx) = mpsc::channel::<Chunk>(CHANNEL_CHUNKS);
    let _ = tx.try_send((framing.prelude(), None));
    if !session.start_receiving() {
        let _ = tx.try_send((framing.frame(ANOTHER_CONNECTION), None));
        drop(tx);
        return channel_response(rx, client.flushes, content_type);
    }
    let writer = StreamWriter {
        tx,
        framing,
        send_time,
        heartbeat: sockjs.options.heartbeat,
        limit: sockjs.options.stream_bytes_limit,
    };
    let receiving = Receiving::new(Arc::clone(&session), client.place);
    tokio::spawn(async move {
        let _receiving = receiving;
        writer.run(&session).await;
    });
    channel_response(rx, client.flushes, content_type)
}

/// The task that moves a session's frames into one streaming response.
struct StreamWriter {
    tx: mpsc::Sender<Chunk>,
    framing: Framing,
    send_time: std::time::Duration,
    heartbeat: std::time::Duration,
    limit: usize,
}

impl StreamWriter {
    /// `frame` into the response within `send_time`; false when the response is gone or
    /// its client stopped reading.
    async fn send(&self, frame: &str, delivery: Option<Delivery>) -> bool {
        let chunk = (self.framing.frame(frame), delivery);
        self.tx.send_timeout(chunk, self.send_time).await.is_ok()
    }

    /// `o` for a new session, then messages and heartbeats until the session closes, the
    /// client goes, or the bytes limit is reached.
    async fn run(&self, session: &Arc<SockSession>) {
        if session.open() && !self.send(OPEN, None).await {
            return;
        }
        let mut sent = 0;
        loop {
            let taken = tokio::select! {
                taken = session.next_batch() => taken,
                () = self.tx.closed() => return,
                () = tokio::time::sleep(self.heartbeat) => {
                    if !self.send(HEARTBEAT, None).await {
                        return;
                    }
                    continue;
                }
            };
            if !taken.messages.is_empty() {
                let frame = message_frame(&taken.messages);
                sent += frame.len();
                // Written once the connection flushed it. Not taken in time (a client that
                // stopped reading, or went away), it is dropped and the next receiving
                // request gets these first, rather than a gap.
                if !self.send(&frame, Some(taken.messages)).await || sent >= self.limit {
                    return;
                }
            }
            if taken.closed {
                self.send(GO_AWAY, None).await;
                return;
            }
        }
    }
}

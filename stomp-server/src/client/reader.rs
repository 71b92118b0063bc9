//! The reader task: decodes frames from WebSocket messages and routes them: `MESSAGE` to its
//! subscription, `RECEIPT` to its waiter, `ERROR` to everyone. It also watches the server's
//! heart-beats.

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::SplitStream;
use stomp_core::{names, Command, Frame};
use tokio::sync::oneshot;
use tokio::time::{sleep_until, Instant};
use tokio_tungstenite::tungstenite;

use super::error::{ClientError, CloseReason};
use super::state::Shared;
use super::writer::FAR_FUTURE;
use crate::connection::{Fill, FrameReader, Messages, Received};

/// The read half of a client WebSocket.
pub(super) type WsStream = SplitStream<super::transport::ClientTransport>;

/// What the reader task reads frames with.
pub(super) type ClientReader = FrameReader<Messages<WsStream>>;

/// How long the reader waits for the server's side of the close handshake once the writer
/// has stopped (after sending a close frame, or after a write error).
const CLOSE_LINGER: Duration = Duration::from_secs(5);

/// How long the reader waits for the server to close TCP once it has received the server's
/// close frame (reading on also flushes tungstenite's reply to it).
const EOF_LINGER: Duration = Duration::from_secs(1);

/// Everything the reader task owns.
pub(super) struct Reader {
    /// The server's side of the WebSocket, its read buffer and decoder, and the window
    /// (twice the interval the server promised) past which its silence ends the connection.
    pub(super) reader: ClientReader,
    pub(super) shared: Arc<Shared>,
    /// Resolves (with an error) when the writer stops.
    pub(super) writer_done: oneshot::Receiver<()>,
    /// Dropped when the reader stops, which stops the writer.
    pub(super) reader_done: oneshot::Sender<()>,
    /// The `message` of the last `ERROR` frame, to explain the close that follows it.
    pub(super) last_error: Option<String>,
}

impl Reader {
    /// Runs until the connection ends, then records why and releases every waiter.
    pub(super) async fn run(mut self) {
        let end = self.read_loop().await;
        let reason = self.shared.finish(end);
        tracing::debug!(reason = %crate::log::Escaped(&reason), "STOMP client connection ended");
        // Stop the writer only now, so that anyone who sees a failed send finds the reason.
        drop(self.reader_done);
    }

    async fn read_loop(&mut self) -> CloseReason {
        let linger = sleep_until(Instant::now() + FAR_FUTURE);
        tokio::pin!(linger);
        let mut writer_alive = true;
        // Waiting, bounded by `linger`, for the end of a close handshake.
        let mut lingering = false;
        // A close frame from the server; the stream ends right after.
        let mut server_close: Option<CloseReason> = None;
        loop {
            if let Err(error) = self.drain().await {
                return CloseReason::Decode(error);
            }
            // Biased: socket data first (the reader polls it before the heart-beat window),
            // so a reader that was held up by a full subscription reads what is waiting
            // before it judges the server's silence.
            tokio::select! {
                biased;
                fill = self.reader.fill() => {
                    let Fill::Received(received, at) = fill else {
                        let silent_for = self.reader.window_mut().silent_for();
                        return CloseReason::HeartBeatTimeout { silent_for };
                    };
                    // Any message shows the server alive, pings too.
                    self.reader.window_mut().restart(at);
                    match received {
                        // tungstenite answers pings itself; pongs need nothing.
                        Received::Data | Received::Control => {}
                        Received::Closing(frame) => {
                            server_close = Some(CloseReason::ServerClosed {
                                code: frame.as_ref().map(|f| f.code),
                                reason: frame.map(|f| f.reason).unwrap_or_default(),
                            });
                            let deadline = Instant::now() + EOF_LINGER;
                            if !lingering || deadline < linger.deadline() {
                                lingering = true;
                                linger.as_mut().reset(deadline);
                            }
                        }
                        Received::Failed(error) => return self.ended(server_close, Some(error)),
                        Received::Ended => return self.ended(server_close, None),
                    }
                }
                _ = &mut self.writer_done, if writer_alive => {
                    writer_alive = false;
                    if !lingering {
                        lingering = true;
                        linger.as_mut().reset(Instant::now() + CLOSE_LINGER);
                    }
                }
                () = &mut linger, if lingering => {
                    return self.ended(server_close, None);
                }
            }
        }
    }

    /// The reason for an ended stream: an `ERROR` just before explains it best.
    fn ended(
        &mut self,
        server_close: Option<CloseReason>,
        error: Option<tungstenite::Error>,
    ) -> CloseReason {
        if let Some(message) = self.last_error.take() {
            return CloseReason::Error { message };
        }
        if let Some(close) = server_close {
            return close;
        }
        match error {
            None
            | Some(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                CloseReason::ServerClosed {
                    code: None,
                    reason: String::new(),
                }
            }
            Some(tungstenite::Error::Protocol(
                tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
            )) if self.shared.client_closing() => CloseReason::Disconnected,
            Some(tungstenite::Error::Protocol(
                tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
            )) => CloseReason::ServerClosed {
                code: None,
                reason: "reset without closing handshake".into(),
            },
            Some(other) => CloseReason::Io(other.to_string()),
        }
    }

    /// Decodes and routes every complete frame in the buffer.
    async fn drain(&mut self) -> Result<(), stomp_core::DecodeError> {
        while let Some(frame) = self.reader.next_buffered()? {
            self.route(frame).await;
        }
        Ok(())
    }

    async fn route(&mut self, frame: Frame) {
        tracing::trace!(command = %frame.command, "STOMP client received a frame");
        match frame.command {
            Command::Message => {
                let target = frame
                    .get(names::SUBSCRIPTION)
                    .and_then(|id| self.shared.subscription(id));
                match target {
                    // Awaiting here is the backpressure: a full subscription holds the socket.
                    Some(target) => {
                        if let Err(returned) = target.send(Ok(frame)).await {
                            // The subscription was dropped while we looked it up.
                            if let Ok(frame) = returned.0 {
                                self.shared.push_unrouted(frame);
                            }
                        }
                    }
                    None => self.shared.push_unrouted(frame),
                }
            }
            Command::Receipt => {
                let waiter = frame
                    .get(names::RECEIPT_ID)
                    .and_then(|id| self.shared.take_receipt(id));
                match waiter {
                    Some(waiter) => {
                        if let Err(Ok(frame)) = waiter.send(Ok(frame)) {
                            self.shared.push_unrouted(frame);
                        }
                    }
                    None => self.shared.push_unrouted(frame),
                }
            }
            Command::Error => self.route_error(frame).await,
            _ => self.shared.push_unrouted(frame),
        }
    }

    /// An `ERROR` goes to its receipt waiter (when it names one), to every subscription and
    /// to `next_error`.
    async fn route_error(&mut self, frame: Frame) {
        let message = frame.get(names::MESSAGE).unwrap_or_default().to_owned();
        tracing::debug!(message = %crate::log::Escaped(&message), "STOMP client received ERROR");
        let error = |frame: &Frame| ClientError::Error {
            message: message.clone(),
            frame: Box::new(frame.clone()),
        };
        if let Some(waiter) = frame
            .get(names::RECEIPT_ID)
            .and_then(|id| self.shared.take_receipt(id))
        {
            let _ = waiter.send(Err(error(&frame)));
        }
        for subscription in self.shared.all_subscriptions() {
            let _ = subscription.send(Err(error(&frame))).await;
        }
        self.last_error = Some(message.clone());
        self.shared.push_error(frame);
    }
}

//! One STOMP connection over TCP to the broker (RabbitMQ's STOMP plugin), built on the
//! stomp-core codec: connect, then a reader task and a writer task.
//!
//! The writer drains a queue of frames, encodes them into one buffer and writes once per
//! batch; it sends a heart-beat EOL when idle. The reader decodes frames into a channel and
//! treats silence past twice the broker's promised heart-beat as a dead connection.
//!
//! What waits to be written is bounded in bytes ([`Backlog`]): a broker that stops reading
//! (RabbitMQ's flow control, a stalled host) makes further `SEND`s fail with
//! [`BrokerError::Backlog`] instead of piling up in memory, and a write that takes longer
//! than the send-time limit ends the connection as lost.

use std::time::Duration;

use bytes::BytesMut;
use stomp_core::{encode, names, Command, Decoder, Frame, FrameLimits, HeartBeat, Version};
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};

pub(crate) use super::backlog::Backlog;
use super::batch;
use super::inbound::{inbound, Inbound, InboundSender, ReadAhead};
pub(crate) use super::wire::{frame_size, RelayError};
use crate::broker::BrokerError;
use crate::connection::{
    run_writer, Batch, ByteStream, Fill, FrameReader, Next, Outgoing, Received, WriterEnd,
};

/// Frames are gathered for one write to the broker until they reach this many bytes (a
/// soft bound: the frame that crosses it is included, and a larger frame goes alone).
const WRITE_CHUNK: usize = 64 * 1024;

/// Most bytes one read from the broker takes: what the reader passes its read-ahead bound
/// by is at most this and one frame.
pub(crate) const READ_CHUNK: usize = 64 * 1024;

/// How to reach and log in to the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConnectOptions {
    pub(crate) address: String,
    pub(crate) virtual_host: String,
    pub(crate) login: String,
    pub(crate) passcode: String,
    pub(crate) heartbeat: HeartBeat,
    pub(crate) connect_timeout: Duration,
    /// Most bytes waiting to be written to the broker before sends are refused.
    pub(crate) send_buffer_size: usize,
    /// Longest a write to the broker may take before the connection counts as lost.
    pub(crate) send_time: Duration,
    /// Most of this instance's messages to one topic written as one `SEND` when they wait
    /// together (1: each alone); see `batch`.
    pub(crate) publish_batch: usize,
    /// TLS to the broker, when configured; `host` is the name its certificate must carry
    /// unless the settings name another.
    pub(crate) tls: Option<crate::tls::RelayTls>,
    pub(crate) host: String,
}

/// The read half of a broker connection (plain TCP or TLS).
type BrokerRead = ReadHalf<crate::tls::ClientIo>;
/// The write half of a broker connection.
type BrokerWrite = WriteHalf<crate::tls::ClientIo>;

/// Queues frames for a broker connection's writer.
#[derive(Debug, Clone)]
pub(crate) struct BrokerSender {
    queue: mpsc::UnboundedSender<(Frame, usize)>,
    backlog: Backlog,
    limit: usize,
}

impl BrokerSender {
    /// What waits to be written, and the most that may.
    pub(crate) fn backlog(&self) -> (&Backlog, usize) {
        (&self.backlog, self.limit)
    }

    /// Counts and queues `frame`; refused when the broker is not keeping up or the
    /// connection is gone.
    pub(crate) fn send(&self, frame: Frame) -> Result<(), BrokerError> {
        if self.queue.is_closed() {
            return Err(closed());
        }
        let size = frame_size(&frame);
        self.backlog.reserve(size, self.limit)?;
        self.forward(frame, size)
    }

    /// Queues `frame` whose `size` bytes were already counted in this connection's backlog
    /// (or 0 for the small control frames that are never refused).
    pub(crate) fn forward(&self, frame: Frame, size: usize) -> Result<(), BrokerError> {
        self.queue.send((frame, size)).map_err(|_| {
            self.backlog.release(size);
            closed()
        })
    }
}

/// The error for a request to a broker connection that is gone.
pub(crate) fn closed() -> BrokerError {
    BrokerError::Unavailable("the broker connection closed".to_owned())
}

/// An open broker connection: send frames with `sender`, receive them from `frames`.
pub(crate) struct BrokerConnection {
    pub(crate) sender: BrokerSender,
    pub(crate) frames: Inbound,
}

/// Connects, sends `CONNECT` and waits for `CONNECTED`. What is queued for the connection
/// is counted in `backlog`, what it read and its owner holds in `read_ahead`.
pub(crate) async fn connect(
    options: &ConnectOptions,
    backlog: Backlog,
    read_ahead: ReadAhead,
) -> Result<BrokerConnection, RelayError> {
    let (read, write) = send_connect(options).await?;
    let decoder = Decoder::new(FrameLimits {
        max_frame_size: 16 * 1024 * 1024,
        max_content_length: 16 * 1024 * 1024,
        ..FrameLimits::default()
    });
    let mut reader =
        FrameReader::with_capacity(ByteStream::new(read, READ_CHUNK), decoder, 8 * 1024, None);
    let connected = await_connected(options, &mut reader).await?;
    let negotiated = HeartBeat::negotiate(
        options.heartbeat,
        connected
            .get(names::HEART_BEAT)
            .and_then(HeartBeat::parse)
            .unwrap_or_default(),
    );
    let (sender, outgoing) = mpsc::unbounded_channel();
    let (inbound, frames) = inbound(read_ahead);
    tokio::spawn(write_loop(
        write,
        outgoing,
        Writing {
            heartbeat: negotiated.send_every,
            send_time: options.send_time,
            backlog: backlog.clone(),
            lost: inbound.clone(),
            publish_batch: options.publish_batch,
        },
    ));
    reader
        .window_mut()
        .set(negotiated.expect_every.map(|e| e * 2));
    tokio::spawn(read_loop(reader, inbound));
    tracing::debug!(
        address = %options.address,
        server = connected.get(names::SERVER).unwrap_or(""),
        "broker connection open"
    );
    Ok(BrokerConnection {
        sender: BrokerSender {
            queue: sender,
            backlog,
            limit: options.send_buffer_size,
        },
        frames,
    })
}

/// The broker cannot be reached at `options.address`, for `reason`.
fn unreachable(options: &ConnectOptions, reason: String) -> RelayError {
    RelayError::Unreachable {
        address: options.address.clone(),
        reason,
    }
}

/// Opens the TCP connection, runs the TLS handshake when configured (both within the
/// connect timeout) and sends `CONNECT`.
async fn send_connect(options: &ConnectOptions) -> Result<(BrokerRead, BrokerWrite), RelayError> {
    let stream = timeout(options.connect_timeout, open(options))
        .await
        .map_err(|_| unreachable(options, "connect timed out".to_owned()))??;
    // Why `tokio::io::split` rather than `TcpStream::into_split`: a TLS stream has one
    // state for both directions; the lock it takes per read or write is uncontended but
    // for the moments the reader and the writer run at once.
    let (read, mut write) = tokio::io::split(stream);
    let connect = Frame::new(Command::Connect)
        .header(names::ACCEPT_VERSION, "1.2")
        .header(names::HOST, &options.virtual_host)
        .header(names::LOGIN, &options.login)
        .header(names::PASSCODE, &options.passcode)
        .header(names::HEART_BEAT, &options.heartbeat.to_string());
    let mut out = BytesMut::new();
    encode(&connect, Version::V1_2, &mut out);
    write
        .write_all(&out)
        .await
        .map_err(|e| unreachable(options, e.to_string()))?;
    Ok((read, write))
}

/// The TCP connection to the broker, inside TLS when configured.
async fn open(options: &ConnectOptions) -> Result<crate::tls::ClientIo, RelayError> {
    let tcp = TcpStream::connect(&options.address)
        .await
        .map_err(|e| unreachable(options, e.to_string()))?;
    let _ = tcp.set_nodelay(true);
    match &options.tls {
        None => crate::tls::connect(tcp, None, &options.host)
            .await
            .map_err(|e| unreachable(options, e.to_string())),
        Some(tls) => crate::tls::connect_relay(tcp, tls, &options.host)
            .await
            .map_err(|reason| unreachable(options, reason)),
    }
}

/// Reads the broker's answer to `CONNECT`: `CONNECTED`, or why the connection failed.
async fn await_connected(
    options: &ConnectOptions,
    reader: &mut BrokerReader,
) -> Result<Frame, RelayError> {
    let connected = match timeout(options.connect_timeout, reader.read_frame()).await {
        Err(_) => {
            return Err(unreachable(
                options,
                "no CONNECTED within the connect timeout".to_owned(),
            ))
        }
        Ok(Next::Frame(frame)) => frame,
        Ok(Next::Malformed(e)) => return Err(RelayError::Lost(e.to_string())),
        Ok(Next::Closed(_) | Next::Silent) => {
            return Err(RelayError::Lost("closed during CONNECT".to_owned()))
        }
        Ok(Next::Failed(e)) => return Err(unreachable(options, e.to_string())),
    };
    match connected.command {
        Command::Connected => Ok(connected),
        Command::Error => Err(RelayError::Refused(
            connected
                .get(names::MESSAGE)
                .unwrap_or("(no message)")
                .to_owned(),
        )),
        other => Err(RelayError::Lost(format!("expected CONNECTED, got {other}"))),
    }
}

/// What the writer needs besides its socket and queue.
struct Writing {
    heartbeat: Option<Duration>,
    send_time: Duration,
    backlog: Backlog,
    /// Where a late or failed write is reported, as the reader reports a lost connection.
    lost: InboundSender,
    publish_batch: usize,
}

async fn write_loop(
    write: BrokerWrite,
    outgoing: mpsc::UnboundedReceiver<(Frame, usize)>,
    writing: Writing,
) {
    let mut out = BrokerOutgoing {
        write,
        outgoing,
        next: None,
        buffer: BytesMut::with_capacity(8 * 1024),
        backlog: writing.backlog,
        publish_batch: writing.publish_batch,
    };
    let end = match run_writer(&mut out, writing.heartbeat, Some(writing.send_time)).await {
        WriterEnd::Closed | WriterEnd::Drained => return,
        WriterEnd::Failed(error) => error.to_string(),
        WriterEnd::Late => late(writing.send_time),
    };
    tracing::warn!(reason = %crate::log::Escaped(&end), "write to the broker failed; closing the connection");
    writing.lost.end(RelayError::Lost(end));
}

/// The queue of frames for the broker and the write half of its TCP stream.
struct BrokerOutgoing {
    write: BrokerWrite,
    outgoing: mpsc::UnboundedReceiver<(Frame, usize)>,
    /// Taken from the queue and not written yet, with its counted size.
    next: Option<(Frame, usize)>,
    /// The frames of one batch, encoded.
    buffer: BytesMut,
    backlog: Backlog,
    /// See [`ConnectOptions::publish_batch`].
    publish_batch: usize,
}

/// Releases its bytes from the backlog when dropped: when the write finished, failed or
/// was abandoned as late alike.
struct Release<'a>(&'a Backlog, usize);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.release(self.1);
    }
}

impl Outgoing for BrokerOutgoing {
    type Error = std::io::Error;

    fn has_pending(&self) -> bool {
        self.next.is_some()
    }

    async fn wait(&mut self) -> bool {
        match self.outgoing.recv().await {
            Some(next) => {
                self.next = Some(next);
                true
            }
            None => {
                // Every sender is gone: the connection is done with.
                let _ = self.write.shutdown().await;
                false
            }
        }
    }

    /// Encodes what was taken and what is queued, up to [`WRITE_CHUNK`] bytes, into one
    /// buffer and writes it at once.
    async fn write_batch(&mut self) -> Result<Batch, std::io::Error> {
        self.buffer.clear();
        let mut written = 0;
        let mut next = self.next.take();
        while let Some((frame, size)) = next {
            written += size;
            next = self.outgoing.try_recv().ok();
            let frame = self.coalesce(frame, &mut next, &mut written);
            encode(&frame, Version::V1_2, &mut self.buffer);
            if self.buffer.len() >= WRITE_CHUNK {
                break;
            }
        }
        // What was looked at and not taken goes first next time.
        self.next = next;
        let _release = Release(&self.backlog, written);
        self.write.write_all(&self.buffer).await?;
        // A burst made the buffer large: give it back rather than keep it for the session.
        if self.buffer.capacity() > 4 * WRITE_CHUNK {
            self.buffer = BytesMut::with_capacity(8 * 1024);
        }
        Ok(Batch::Written)
    }

    async fn write_heartbeat(&mut self) -> Result<(), std::io::Error> {
        self.write.write_all(b"\n").await
    }
}

impl BrokerOutgoing {
    /// `first`, or a batch of it and the frames queued right behind it that join it (up to
    /// the publish batch, in order, within a write chunk); `next` is left at the first frame
    /// that does not join.
    fn coalesce(
        &mut self,
        first: Frame,
        next: &mut Option<(Frame, usize)>,
        written: &mut usize,
    ) -> Frame {
        if self.publish_batch < 2 || !batch::batchable(&first) {
            return first;
        }
        let mut bytes = first.body.len();
        let mut frames = vec![first];
        while frames.len() < self.publish_batch && bytes < WRITE_CHUNK {
            let Some((frame, size)) = next.take_if(|(f, _)| batch::joins(&frames[0], f)) else {
                break;
            };
            *written += size;
            bytes += size;
            frames.push(frame);
            *next = self.outgoing.try_recv().ok();
        }
        match frames.len() {
            1 => frames.remove(0),
            _ => batch::batch(frames),
        }
    }
}

fn late(send_time: Duration) -> String {
    format!("a write to the broker took longer than {send_time:?}")
}

/// The broker's side of the link, read from TCP.
type BrokerReader = FrameReader<ByteStream<BrokerRead>>;

async fn read_loop(mut reader: BrokerReader, inbound: InboundSender) {
    let end = loop {
        loop {
            match reader.next_buffered() {
                Ok(Some(frame)) => {
                    if !inbound.frame(frame) {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    inbound.end(RelayError::Lost(e.to_string()));
                    return;
                }
            }
        }
        // The owner holds a full read-ahead (its client does not keep up): read no further
        // until it catches up, so that the broker holds what the client cannot take yet.
        if !inbound.room().await {
            return;
        }
        // The broker's silence counts from this read: not from before a wait for room.
        reader.window_mut().restart(Instant::now());
        // The owner may go (a session ended, a write failed) while the broker only sends
        // heart-beats: stop reading then, rather than hold the socket open.
        let next = tokio::select! {
            next = reader.fill() => next,
            () = inbound.closed() => return,
        };
        match next {
            Fill::Received(Received::Closing(_) | Received::Ended, _) => {
                break RelayError::Lost("closed by the broker".to_owned())
            }
            Fill::Received(Received::Data | Received::Control, _) => {}
            Fill::Received(Received::Failed(e), _) => break RelayError::Lost(e.to_string()),
            Fill::Silent => break RelayError::Lost("no heart-beat from the broker".to_owned()),
        }
    };
    inbound.end(end);
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::TcpListener;

    /// A broker that answers `CONNECT` and then never reads again, as a broker blocked by
    /// flow control does.
    async fn stalled_broker() -> (String, tokio::task::JoinHandle<TcpStream>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address").to_string();
        let broker = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("accept");
            let mut seen = Vec::new();
            let mut chunk = [0u8; 1024];
            while !seen.contains(&0) {
                let n = stream.read(&mut chunk).await.expect("read CONNECT");
                assert!(n > 0, "closed before CONNECT");
                seen.extend_from_slice(&chunk[..n]);
            }
            stream
                .write_all(b"CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\0")
                .await
                .expect("write CONNECTED");
            stream
        });
        (address, broker)
    }

    fn options(address: String, send_time: Duration) -> ConnectOptions {
        ConnectOptions {
            address,
            virtual_host: "/".to_owned(),
            login: "guest".to_owned(),
            passcode: "guest".to_owned(),
            heartbeat: HeartBeat::default(),
            connect_timeout: Duration::from_secs(5),
            send_buffer_size: 256 * 1024,
            send_time,
            publish_batch: 1,
            tls: None,
            host: "127.0.0.1".to_owned(),
        }
    }

    fn big_send() -> Frame {
        let mut frame = Frame::new(Command::Send).header(names::DESTINATION, "/topic/t");
        frame.body = vec![b'x'; 64 * 1024].into();
        frame
    }

    #[tokio::test]
    async fn a_broker_that_stops_reading_gets_a_bounded_backlog_then_a_lost_connection() {
        let (address, broker) = stalled_broker().await;
        let backlog = Backlog::default();
        let mut connection = connect(
            &options(address, Duration::from_millis(300)),
            backlog.clone(),
            ReadAhead::default(),
        )
        .await
        .expect("connect");
        let _broker_socket = broker.await.expect("broker task");

        // Sends are accepted until the socket buffers and then the backlog are full.
        let mut accepted = 0usize;
        let refused = loop {
            match connection.sender.send(big_send()) {
                Ok(()) => accepted += 1,
                Err(error) => break error,
            }
            assert!(accepted < 100_000, "the backlog never filled");
            tokio::task::yield_now().await;
        };
        assert!(
            matches!(refused, BrokerError::Backlog { limit, .. } if limit == 256 * 1024),
            "{refused:?}"
        );
        // What the socket took was written and no longer counts: more than the backlog
        // alone holds went through before the refusal.
        assert!(
            accepted > 256 / 64 + 1,
            "only {accepted} frames of 64 KiB accepted: written frames are still counted"
        );
        let queued = backlog.bytes();
        assert!(
            queued > 128 * 1024 && queued <= 256 * 1024,
            "{queued} bytes counted as waiting"
        );

        // The write stuck behind the full socket passes the send-time limit: lost.
        let end = timeout(Duration::from_secs(10), connection.frames.recv())
            .await
            .expect("the writer gives up within the send-time limit");
        match end {
            Some(Err(RelayError::Lost(reason))) => {
                assert!(reason.contains("took longer"), "{reason}");
            }
            other => panic!("expected a lost connection, got {other:?}"),
        }
    }
}

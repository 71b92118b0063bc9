//! One STOMP connection over TCP to the broker (RabbitMQ's STOMP plugin), built on the
//! stomp-core codec: connect, then a reader task and a writer task.
//!
//! The writer drains a queue of frames, encodes them into one buffer and writes once per
//! batch; it sends a heart-beat EOL when idle. The reader decodes frames into a channel and
//! treats silence past twice the broker's promised heart-beat as a dead connection.

use std::time::Duration;

use bytes::BytesMut;
use stomp_core::{encode, names, Command, Decoder, Frame, FrameLimits, HeartBeat, Version};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};

/// How to reach and log in to the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConnectOptions {
    pub(crate) address: String,
    pub(crate) virtual_host: String,
    pub(crate) login: String,
    pub(crate) passcode: String,
    pub(crate) heartbeat: HeartBeat,
    pub(crate) connect_timeout: Duration,
}

/// Why a broker connection failed or ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RelayError {
    /// TCP connect or I/O failed.
    #[error("broker unreachable at {address}: {reason}")]
    Unreachable { address: String, reason: String },
    /// The broker answered `CONNECT` with `ERROR`.
    #[error("broker refused the connection: {0}")]
    Refused(String),
    /// The broker closed the connection or went silent.
    #[error("broker connection lost: {0}")]
    Lost(String),
}

/// An open broker connection: send frames with `sender`, receive them from `frames`.
pub(crate) struct BrokerConnection {
    pub(crate) sender: mpsc::UnboundedSender<Frame>,
    pub(crate) frames: mpsc::UnboundedReceiver<Result<Frame, RelayError>>,
}

/// Connects, sends `CONNECT` and waits for `CONNECTED`.
pub(crate) async fn connect(options: &ConnectOptions) -> Result<BrokerConnection, RelayError> {
    let unreachable = |reason: String| RelayError::Unreachable {
        address: options.address.clone(),
        reason,
    };
    let stream = timeout(
        options.connect_timeout,
        TcpStream::connect(&options.address),
    )
    .await
    .map_err(|_| unreachable("connect timed out".to_owned()))?
    .map_err(|e| unreachable(e.to_string()))?;
    let _ = stream.set_nodelay(true);
    let (mut read, mut write) = stream.into_split();
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
        .map_err(|e| unreachable(e.to_string()))?;

    let mut decoder = Decoder::new(FrameLimits {
        max_frame_size: 16 * 1024 * 1024,
        max_content_length: 16 * 1024 * 1024,
        ..FrameLimits::default()
    });
    let mut buffer = BytesMut::with_capacity(8 * 1024);
    let connected = timeout(options.connect_timeout, async {
        loop {
            match decoder.decode(&mut buffer) {
                Ok(Some(frame)) => return Ok(frame),
                Ok(None) => {}
                Err(e) => return Err(RelayError::Lost(e.to_string())),
            }
            match read.read_buf(&mut buffer).await {
                Ok(0) => return Err(RelayError::Lost("closed during CONNECT".to_owned())),
                Ok(_) => {}
                Err(e) => return Err(unreachable(e.to_string())),
            }
        }
    })
    .await
    .map_err(|_| unreachable("no CONNECTED within the connect timeout".to_owned()))??;
    match connected.command {
        Command::Connected => {}
        Command::Error => {
            return Err(RelayError::Refused(
                connected
                    .get(names::MESSAGE)
                    .unwrap_or("(no message)")
                    .to_owned(),
            ))
        }
        other => return Err(RelayError::Lost(format!("expected CONNECTED, got {other}"))),
    }
    let negotiated = HeartBeat::negotiate(
        options.heartbeat,
        connected
            .get(names::HEART_BEAT)
            .and_then(HeartBeat::parse)
            .unwrap_or_default(),
    );
    let (sender, outgoing) = mpsc::unbounded_channel();
    let (inbound, frames) = mpsc::unbounded_channel();
    tokio::spawn(write_loop(write, outgoing, negotiated.send_every));
    tokio::spawn(read_loop(
        read,
        decoder,
        buffer,
        inbound,
        negotiated.expect_every.map(|e| e * 2),
    ));
    tracing::debug!(
        address = %options.address,
        server = connected.get(names::SERVER).unwrap_or(""),
        "broker connection open"
    );
    Ok(BrokerConnection { sender, frames })
}

async fn write_loop(
    mut write: tokio::net::tcp::OwnedWriteHalf,
    mut outgoing: mpsc::UnboundedReceiver<Frame>,
    heartbeat: Option<Duration>,
) {
    let mut buffer = BytesMut::with_capacity(8 * 1024);
    let mut last = Instant::now();
    loop {
        let next = match heartbeat {
            Some(every) => tokio::select! {
                frame = outgoing.recv() => frame,
                () = tokio::time::sleep_until(last + every) => {
                    if write.write_all(b"\n").await.is_err() {
                        return;
                    }
                    last = Instant::now();
                    continue;
                }
            },
            None => outgoing.recv().await,
        };
        let Some(frame) = next else {
            let _ = write.shutdown().await;
            return;
        };
        buffer.clear();
        encode(&frame, Version::V1_2, &mut buffer);
        while let Ok(frame) = outgoing.try_recv() {
            encode(&frame, Version::V1_2, &mut buffer);
        }
        if write.write_all(&buffer).await.is_err() {
            return;
        }
        last = Instant::now();
    }
}

async fn read_loop(
    mut read: tokio::net::tcp::OwnedReadHalf,
    mut decoder: Decoder,
    mut buffer: BytesMut,
    inbound: mpsc::UnboundedSender<Result<Frame, RelayError>>,
    silence: Option<Duration>,
) {
    let end = loop {
        loop {
            match decoder.decode(&mut buffer) {
                Ok(Some(frame)) => {
                    if inbound.send(Ok(frame)).is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = inbound.send(Err(RelayError::Lost(e.to_string())));
                    return;
                }
            }
        }
        let read = async {
            match silence {
                Some(window) => timeout(window, read.read_buf(&mut buffer)).await.ok(),
                None => Some(read.read_buf(&mut buffer).await),
            }
        };
        match read.await {
            Some(Ok(0)) => break RelayError::Lost("closed by the broker".to_owned()),
            Some(Ok(_)) => {}
            Some(Err(e)) => break RelayError::Lost(e.to_string()),
            None => break RelayError::Lost("no heart-beat from the broker".to_owned()),
        }
    };
    let _ = inbound.send(Err(end));
}

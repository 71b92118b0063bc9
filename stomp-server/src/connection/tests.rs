//! Tests of the reading side of a connection.

use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use stomp_core::{Command, Decoder, FrameLimits};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};

use super::*;

type Sent = mpsc::UnboundedSender<Result<WsMessage, WsError>>;

/// A message transport fed by the test.
fn messages() -> (
    Sent,
    Messages<impl Stream<Item = Result<WsMessage, WsError>> + Unpin + Send>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let stream = futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx));
    (tx, Messages(stream))
}

fn decoder() -> Decoder {
    Decoder::new(FrameLimits::default())
}

fn text(text: &str) -> Result<WsMessage, WsError> {
    Ok(WsMessage::text(text.to_owned()))
}

fn expect_frame<E: std::fmt::Debug>(next: Next<E>) -> Frame {
    match next {
        Next::Frame(frame) => frame,
        other => panic!("expected a frame, got {other:?}"),
    }
}

#[tokio::test]
async fn a_frame_split_across_reads_of_a_byte_stream_is_read_whole() {
    let (mut peer, io) = tokio::io::duplex(1024);
    let mut reader = FrameReader::new(ByteStream::new(io, 64), decoder(), None);
    peer.write_all(b"SEND\ndesti").await.expect("write");
    let reading = tokio::spawn(async move { (reader.read_frame().await, reader) });
    tokio::task::yield_now().await;
    peer.write_all(b"nation:/queue/a\n\nhello\0")
        .await
        .expect("write");
    let (next, _reader) = reading.await.expect("reader task");
    let frame = expect_frame(next);
    assert_eq!(frame.command, Command::Send);
    assert_eq!(frame.destination(), Some("/queue/a"));
    assert_eq!(&frame.body[..], b"hello");
}

#[tokio::test]
async fn several_frames_in_one_read_come_out_one_by_one_without_reading_again() {
    let (tx, transport) = messages();
    let mut reader = FrameReader::new(transport, decoder(), None);
    tx.send(text(
        "SEND\ndestination:/a\n\n1\0\nSEND\ndestination:/b\n\n2\0",
    ))
    .expect("send");
    assert_eq!(
        expect_frame(reader.read_frame().await).destination(),
        Some("/a")
    );
    // The second is already buffered: no read needed.
    let second = reader.next_buffered().expect("decodes").expect("buffered");
    assert_eq!(second.destination(), Some("/b"));
    assert!(reader.next_buffered().expect("decodes").is_none());
}

#[tokio::test]
async fn a_byte_stream_read_takes_at_most_its_chunk() {
    let (mut peer, io) = tokio::io::duplex(1024);
    let mut reader = FrameReader::new(ByteStream::new(io, 4), decoder(), None);
    peer.write_all(b"SEND\n\n\0").await.expect("write");
    assert!(matches!(
        reader.fill().await,
        Fill::Received(Received::Data, _)
    ));
    assert!(
        reader.next_buffered().expect("decodes").is_none(),
        "4 bytes only"
    );
    assert_eq!(
        expect_frame(reader.read_frame().await).command,
        Command::Send
    );
}

#[tokio::test(start_paused = true)]
async fn silence_past_the_window_ends_reading() {
    let (_tx, transport) = messages();
    let mut reader = FrameReader::new(transport, decoder(), Some(Duration::from_secs(2)));
    let started = Instant::now();
    assert!(matches!(reader.read_frame().await, Next::Silent));
    assert!(started.elapsed() >= Duration::from_secs(2));
}

#[tokio::test(start_paused = true)]
async fn eol_heart_beats_keep_the_window_open_and_pings_do_not() {
    let (tx, transport) = messages();
    let mut reader = FrameReader::new(transport, decoder(), Some(Duration::from_secs(2)));
    let beats = tx.clone();
    tokio::spawn(async move {
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            beats.send(text("\n")).expect("beat");
        }
        beats.send(text("DISCONNECT\n\n\0")).expect("frame");
    });
    // Ten seconds of EOLs, each within the window: the frame after them is read.
    let frame = expect_frame(reader.read_frame().await);
    assert_eq!(frame.command, Command::Disconnect);

    tokio::spawn(async move {
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let _ = tx.send(Ok(WsMessage::Ping(Bytes::new())));
        }
    });
    // Pings keep a WebSocket open, not a STOMP connection.
    let started = Instant::now();
    assert!(matches!(reader.read_frame().await, Next::Silent));
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn the_peer_closing_and_failing_are_told_apart() {
    let (tx, transport) = messages();
    let mut reader = FrameReader::new(transport, decoder(), None);
    tx.send(Ok(WsMessage::Close(Some(CloseFrame {
        code: CloseCode::Policy,
        reason: "bye".into(),
    }))))
    .expect("send");
    match reader.read_frame().await {
        Next::Closed(Some(close)) => assert_eq!((close.code, close.reason.as_str()), (1008, "bye")),
        other => panic!("expected a close, got {other:?}"),
    }
    tx.send(Err(WsError::ConnectionClosed)).expect("send");
    assert!(matches!(
        reader.read_frame().await,
        Next::Failed(WsError::ConnectionClosed)
    ));
    drop(tx);
    assert!(matches!(reader.read_frame().await, Next::Closed(None)));

    let (peer, io) = tokio::io::duplex(64);
    let mut reader = FrameReader::new(ByteStream::new(io, 64), decoder(), None);
    drop(peer);
    assert!(matches!(reader.read_frame().await, Next::Closed(None)));
}

#[tokio::test]
async fn bytes_that_are_not_a_frame_are_malformed() {
    let (tx, transport) = messages();
    let mut reader = FrameReader::new(transport, decoder(), None);
    tx.send(text("NOT-A-COMMAND\n\n\0")).expect("send");
    assert!(matches!(reader.read_frame().await, Next::Malformed(_)));
}

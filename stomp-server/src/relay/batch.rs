//! Several messages to one topic in one RabbitMQ message, when the relay's publish batch is
//! on ([`RelayConfig::publish_batch`](super::RelayConfig::publish_batch)).
//!
//! RabbitMQ's STOMP plugin spends about as much on a 64-byte message as on a 64 KiB one, and
//! under load it is what limits the relay. When several messages from this instance to one
//! topic wait to be written to the system connection at once, the writer sends them as one
//! `SEND` whose body holds them as STOMP frames, one after the other (our own codec, each
//! with its `content-length`), marked with the [`BATCH`] header. Only the relay's listeners
//! read such a batch (they deliver its messages one by one, in order); nothing waits for a
//! batch to fill, so a lone message goes out alone, at once.

use bytes::BytesMut;
use stomp_core::{encode, names, Command, Decoder, Frame, FrameLimits, Version};

pub(super) use super::wire::BATCH;
use super::wire::ORIGIN;

/// True when `frame` may join a batch: a `SEND` this instance's upstream published.
pub(super) fn batchable(frame: &Frame) -> bool {
    frame.command == Command::Send && frame.get(ORIGIN).is_some() && frame.get(BATCH).is_none()
}

/// True when `next` may join the batch that `first` starts: the same destination, from the
/// same instance.
pub(super) fn joins(first: &Frame, next: &Frame) -> bool {
    batchable(next)
        && next.destination() == first.destination()
        && next.get(ORIGIN) == first.get(ORIGIN)
}

/// One `SEND` carrying `frames` (at least two, all [`joins`] the first).
pub(super) fn batch(frames: Vec<Frame>) -> Frame {
    let mut body = BytesMut::new();
    let mut out = Frame::new(Command::Send);
    if let Some(first) = frames.first() {
        out.headers
            .append(names::DESTINATION, first.destination().unwrap_or(""));
        out.headers.append(ORIGIN, first.get(ORIGIN).unwrap_or(""));
    }
    out.headers.append(BATCH, &frames.len().to_string());
    for mut frame in frames {
        frame.headers.remove(ORIGIN);
        frame.headers.remove(names::DESTINATION);
        encode(&frame, Version::V1_2, &mut body);
    }
    out.body = body.freeze();
    out
}

/// The messages of a batch's body, in order; `None` when it is not one (a client that
/// published something with the header, or a damaged body).
pub(super) fn unbatch(body: &[u8]) -> Option<Vec<Frame>> {
    let mut decoder = Decoder::new(FrameLimits {
        max_frame_size: body.len().max(1),
        max_content_length: body.len().max(1),
        ..FrameLimits::default()
    });
    decoder.set_version(Version::V1_2);
    let mut buffer = BytesMut::from(body);
    let mut frames = Vec::new();
    loop {
        match decoder.decode(&mut buffer) {
            Ok(Some(frame)) if frame.command == Command::Send => frames.push(frame),
            Ok(Some(_)) | Err(_) => return None,
            Ok(None) => break,
        }
    }
    buffer.is_empty().then_some(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(destination: &str, origin: &str, body: &str) -> Frame {
        let mut frame = Frame::new(Command::Send)
            .header(names::DESTINATION, destination)
            .header("content-type", "text/plain")
            .header(ORIGIN, origin);
        frame.body = bytes::Bytes::copy_from_slice(body.as_bytes());
        frame
    }

    #[test]
    fn a_batch_gives_back_its_messages_in_order_with_their_headers_and_bodies() {
        let frames = vec![
            send("/topic/a", "o1", "one"),
            send("/topic/a", "o1", "two\0with a nul"),
            send("/topic/a", "o1", ""),
        ];
        assert!(joins(&frames[0], &frames[1]));
        let out = batch(frames);
        assert_eq!(out.destination(), Some("/topic/a"));
        assert_eq!(out.get(ORIGIN), Some("o1"));
        assert_eq!(out.get(BATCH), Some("3"));
        let back = unbatch(&out.body).expect("a batch");
        let bodies: Vec<&[u8]> = back.iter().map(|f| &f.body[..]).collect();
        assert_eq!(bodies, [&b"one"[..], b"two\0with a nul", b""]);
        assert!(back
            .iter()
            .all(|f| f.get("content-type") == Some("text/plain")));
        assert!(back.iter().all(|f| f.get(ORIGIN).is_none()));
    }

    #[test]
    fn only_sends_of_one_origin_to_one_destination_join() {
        let first = send("/topic/a", "o1", "x");
        assert!(!joins(&first, &send("/topic/b", "o1", "x")));
        assert!(!joins(&first, &send("/topic/a", "o2", "x")));
        let plain = Frame::new(Command::Send).header(names::DESTINATION, "/topic/a");
        assert!(
            !batchable(&plain),
            "a SEND without an origin (a client's own)"
        );
    }

    #[test]
    fn a_body_that_is_not_a_batch_is_refused() {
        assert!(unbatch(b"hello").is_none());
        assert!(unbatch(b"MESSAGE\n\nx\0").is_none());
        assert_eq!(unbatch(b"").map(|f| f.len()), Some(0));
    }
}

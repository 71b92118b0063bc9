//! The decode fuzz harness, shared by the cargo-fuzz target `decode` and by the stable test
//! `stomp-core/tests/fuzz_corpus.rs`, which includes this file as a module.
//!
//! Input layout: the first byte picks the STOMP version and seeds the chunking; the rest is
//! the byte stream. It is decoded whole and in random chunks, and both must:
//! - not panic;
//! - never leave more than `buffered_limit_hint()` bytes buffered after `Ok(None)`, so the
//!   buffer never exceeds the limit by more than one chunk;
//! - yield frames within the limits;
//! - agree: same frames, same error, however the input was split.

use bytes::BytesMut;
use stomp_core::{DecodeError, Decoder, Frame, FrameLimits, Version};

/// Small limits, so that fuzzing reaches every one of them.
pub const LIMITS: FrameLimits = FrameLimits {
    max_frame_size: 1024,
    max_headers: 8,
    max_header_line: 256,
    max_content_length: 512,
};

/// What decoding a stream produced.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The frames, in order, up to the first error.
    pub frames: Vec<Frame>,
    /// The error that stopped decoding, if any.
    pub error: Option<DecodeError>,
}

/// Runs one fuzz input: see the module documentation.
pub fn run(data: &[u8]) {
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    let version = Version::ALL[usize::from(control % 3)];
    let whole = decode_in_chunks(input, version, || usize::MAX);
    let mut state = u64::from(control) << 32 | input.len() as u64 | 1;
    let max_chunk = 1 + usize::from(control >> 2);
    let chunked = decode_in_chunks(input, version, || {
        // xorshift64: a deterministic split for a given input.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        1 + (state % max_chunk as u64) as usize
    });
    assert_eq!(whole, chunked, "splitting the input changed the outcome");
}

/// Feeds `input` to a fresh decoder in chunks of the sizes `next_chunk` returns (clamped to
/// at least one byte), decoding after each chunk until `Ok(None)` or an error, and checking
/// the buffering and limit invariants on the way.
pub fn decode_in_chunks(
    input: &[u8],
    version: Version,
    mut next_chunk: impl FnMut() -> usize,
) -> Outcome {
    let mut decoder = Decoder::new(LIMITS);
    decoder.set_version(version);
    let limit = decoder.buffered_limit_hint();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(next_chunk().clamp(1, rest.len()));
        rest = tail;
        buf.extend_from_slice(chunk);
        assert!(
            buf.len() <= limit + chunk.len(),
            "{} bytes buffered, limit {limit} + chunk {}",
            buf.len(),
            chunk.len()
        );
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => {
                    check_limits(&frame);
                    frames.push(frame);
                }
                Ok(None) => break,
                Err(error) => {
                    assert!(!error.to_string().is_empty());
                    return Outcome {
                        frames,
                        error: Some(error),
                    };
                }
            }
        }
        assert!(
            buf.len() < limit,
            "Ok(None) with {} bytes buffered, limit {limit}",
            buf.len()
        );
    }
    Outcome {
        frames,
        error: None,
    }
}

fn check_limits(frame: &Frame) {
    assert!(frame.headers.len() <= LIMITS.max_headers);
    assert!(frame.body.len() < LIMITS.max_frame_size);
    if let Some(length) = frame.get("content-length") {
        if let Ok(length) = length.trim_matches([' ', '\t']).parse::<usize>() {
            assert!(length <= LIMITS.max_content_length);
            assert_eq!(frame.body.len(), length);
        }
    }
}

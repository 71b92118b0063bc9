//! Property tests: encoding then decoding is the identity, and decoding a stream gives the
//! same frames however it is split.

use bytes::BytesMut;
use proptest::prelude::*;
use proptest::sample::select;
use stomp_core::{encode, encode_parts, Command, Decoder, Frame, FrameLimits, Version};

/// Characters for escaped (1.2) headers: everything that needs escaping, letters that look
/// like escapes and multi-byte text. No NUL: no version can carry one in a header, and the
/// encoder writes it as a space (see `stomp_core::escape`), so it cannot round-trip.
const V1_2_CHARS: &[char] = &[
    'a', 'b', 'c', 'n', 'r', 'Z', '0', '-', '/', ' ', '\t', ':', '\n', '\r', '\\', 'é', '€', '😀',
];
/// 1.1 cannot escape `\r`, and a trailing one reads as part of a `\r\n` line end.
const V1_1_CHARS: &[char] = &[
    'a', 'b', 'c', 'n', 'r', 'Z', '0', '-', '/', ' ', '\t', ':', '\n', '\\', 'é', '€', '😀',
];
/// Unescaped headers (1.0, CONNECT/STOMP/CONNECTED): no line ends; a name has no colon.
const PLAIN_VALUE_CHARS: &[char] = &[
    'a', 'b', 'c', 'n', 'r', 'Z', '0', '-', '/', ' ', '\t', ':', '\\', 'é', '€', '😀',
];
const PLAIN_NAME_CHARS: &[char] = &[
    'a', 'b', 'c', 'n', 'r', 'Z', '0', '-', '/', ' ', '\t', '\\', 'é', '€', '😀',
];

/// None of the character sets above can spell `content-length` (no `t`, `e`, `o`...), so the
/// only `content-length` after decoding is the one the encoder wrote.
fn text(chars: &'static [char], min: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(select(chars), min..10).prop_map(|chars| chars.into_iter().collect())
}

fn header(version: Version, command: Command) -> BoxedStrategy<(String, String)> {
    let escaped = !command.is_connect_family();
    match version {
        Version::V1_2 if escaped => (text(V1_2_CHARS, 1), text(V1_2_CHARS, 0)).boxed(),
        Version::V1_1 if escaped => (text(V1_1_CHARS, 1), text(V1_1_CHARS, 0)).boxed(),
        _ => (text(PLAIN_NAME_CHARS, 1), text(PLAIN_VALUE_CHARS, 0)).boxed(),
    }
}

fn frame(version: Version) -> impl Strategy<Value = Frame> {
    select(Command::ALL.to_vec()).prop_flat_map(move |command| {
        (
            prop::collection::vec(header(version, command), 0..6),
            prop::collection::vec(any::<u8>(), 0..200),
        )
            .prop_map(move |(headers, body)| {
                let mut frame = Frame::new(command).with_body(body);
                for (name, value) in &headers {
                    frame.headers.append(name, value);
                }
                frame
            })
    })
}

fn versioned_frame() -> impl Strategy<Value = (Version, Frame)> {
    select(Version::ALL.to_vec()).prop_flat_map(|version| (Just(version), frame(version)))
}

/// The frame the decoder should return for `frame` sent with a `content-length`.
fn with_content_length(frame: &Frame) -> Frame {
    let mut expected = frame.clone();
    if !frame.body.is_empty() {
        let length = frame.body.len().to_string();
        expected.headers.append("content-length", &length);
    }
    expected
}

fn decoder(version: Version) -> Decoder {
    let mut decoder = Decoder::new(FrameLimits::default());
    decoder.set_version(version);
    decoder
}

/// Decodes `input` fed in chunks of the given sizes (cycled); the buffer must end empty.
fn decode_chunked(version: Version, input: &[u8], sizes: &[usize]) -> Vec<Frame> {
    let mut decoder = decoder(version);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut rest = input;
    for &size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (chunk, tail) = rest.split_at(size.clamp(1, rest.len()));
        rest = tail;
        buf.extend_from_slice(chunk);
        while let Some(frame) = decoder.decode(&mut buf).expect("valid stream") {
            frames.push(frame);
        }
    }
    assert!(buf.is_empty(), "left over: {:?}", &buf[..]);
    frames
}

/// A stream of frames with heart-beats around them, and the frames it must decode to.
/// Some frames with a NUL-free body go without `content-length`, framed by their NUL.
fn stream() -> impl Strategy<Value = (Version, Vec<u8>, Vec<Frame>)> {
    let eols = prop::collection::vec(select(vec!["\n", "\r\n"]), 0..3);
    select(Version::ALL.to_vec()).prop_flat_map(move |version| {
        let item = (eols.clone(), frame(version), any::<bool>());
        (prop::collection::vec(item, 1..6), eols.clone()).prop_map(move |(items, trailing)| {
            let mut bytes = BytesMut::new();
            let mut expected = Vec::new();
            for (eols, frame, by_nul) in items {
                bytes.extend_from_slice(eols.concat().as_bytes());
                if by_nul && !frame.body.contains(&0) {
                    encode_parts(
                        frame.command,
                        frame.headers.iter(),
                        b"",
                        version,
                        &mut bytes,
                    );
                    bytes.truncate(bytes.len() - 1);
                    bytes.extend_from_slice(&frame.body);
                    bytes.extend_from_slice(b"\0");
                    expected.push(frame);
                } else {
                    encode(&frame, version, &mut bytes);
                    expected.push(with_content_length(&frame));
                }
            }
            bytes.extend_from_slice(trailing.concat().as_bytes());
            (version, bytes.to_vec(), expected)
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn encode_then_decode_is_identity((version, frame) in versioned_frame()) {
        let mut buf = BytesMut::new();
        encode(&frame, version, &mut buf);
        prop_assert_eq!(buf.len(), stomp_core::encoded_len(&frame, version));
        let decoded = decoder(version).decode(&mut buf).unwrap();
        prop_assert!(buf.is_empty());
        prop_assert_eq!(decoded, Some(with_content_length(&frame)));
    }

    #[test]
    fn any_split_gives_the_same_frames(
        (version, bytes, expected) in stream(),
        sizes in prop::collection::vec(1usize..40, 1..16),
    ) {
        let whole = decode_chunked(version, &bytes, &[usize::MAX]);
        prop_assert_eq!(&whole, &expected);
        prop_assert_eq!(&decode_chunked(version, &bytes, &sizes), &expected);
        prop_assert_eq!(&decode_chunked(version, &bytes, &[1]), &expected);
    }
}

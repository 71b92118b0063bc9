//! Decoder tests: the STOMP 1.2 specification's examples, framing details, limits and one
//! test per error variant.

use bytes::BytesMut;

use super::*;

fn decoder() -> Decoder {
    Decoder::new(FrameLimits::default())
}

/// Decodes every frame of `input` given at once; the buffer must end up empty.
fn decode_all_with(mut decoder: Decoder, input: &[u8]) -> Vec<Frame> {
    let mut buf = BytesMut::from(input);
    let mut frames = Vec::new();
    while let Some(frame) = decoder.decode(&mut buf).unwrap() {
        frames.push(frame);
    }
    assert!(buf.is_empty(), "left over: {:?}", &buf[..]);
    frames
}

fn decode_all(input: &[u8]) -> Vec<Frame> {
    decode_all_with(decoder(), input)
}

fn decode_one(input: &[u8]) -> Frame {
    let mut frames = decode_all(input);
    assert_eq!(frames.len(), 1);
    frames.remove(0)
}

/// The first error met while decoding `input` with `limits`.
fn error_with(limits: FrameLimits, version: Version, input: &[u8]) -> DecodeError {
    let mut decoder = Decoder::new(limits);
    decoder.set_version(version);
    let mut buf = BytesMut::from(input);
    loop {
        match decoder.decode(&mut buf) {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("no error, {} bytes left", buf.len()),
            Err(err) => return err,
        }
    }
}

fn error(input: &[u8]) -> DecodeError {
    error_with(FrameLimits::default(), Version::V1_2, input)
}

fn headers(frame: &Frame) -> Vec<(&str, &str)> {
    frame.headers.iter().collect()
}

// --- Examples from the STOMP 1.2 specification -------------------------------------------

#[test]
fn spec_connect_and_connected() {
    let connect = decode_one(b"CONNECT\naccept-version:1.2\nhost:stomp.github.org\n\n\0");
    assert_eq!(connect.command, Command::Connect);
    assert_eq!(
        headers(&connect),
        [("accept-version", "1.2"), ("host", "stomp.github.org")]
    );
    assert!(connect.body.is_empty());

    let connected = decode_one(b"CONNECTED\nversion:1.2\n\n\0");
    assert_eq!(connected.command, Command::Connected);
    assert_eq!(connected.get("version"), Some("1.2"));
}

#[test]
fn spec_send_with_a_body() {
    let frame =
        decode_one(b"SEND\ndestination:/queue/a\ncontent-type:text/plain\n\nhello queue a\0");
    assert_eq!(frame.command, Command::Send);
    assert_eq!(frame.destination(), Some("/queue/a"));
    assert_eq!(frame.content_type(), Some("text/plain"));
    assert_eq!(frame.body_str(), Some("hello queue a"));
}

#[test]
fn spec_subscribe() {
    let frame = decode_one(b"SUBSCRIBE\nid:0\ndestination:/queue/foo\nack:client\n\n\0");
    assert_eq!(frame.command, Command::Subscribe);
    assert_eq!(
        headers(&frame),
        [
            ("id", "0"),
            ("destination", "/queue/foo"),
            ("ack", "client")
        ]
    );
}

#[test]
fn spec_repeated_header_first_wins() {
    let frame = decode_one(b"MESSAGE\nfoo:World\nfoo:Hello\n\n\0");
    assert_eq!(frame.get("foo"), Some("World"));
    assert_eq!(
        frame.headers.get_all("foo").collect::<Vec<_>>(),
        ["World", "Hello"]
    );
}

#[test]
fn spec_error_frame_with_content_length() {
    let body = "The message:\n-----\nMESSAGE\ndestined:/queue/a\nreceipt:message-12345\n\n\
                Hello queue a!\n-----\nDid not contain a destination header, which is REQUIRED\n\
                for message propagation.\n";
    let input = format!(
        "ERROR\nreceipt-id:message-12345\ncontent-type:text/plain\ncontent-length:170\n\
         message:malformed frame received\n\n{body}\0"
    );
    let frame = decode_one(input.as_bytes());
    assert_eq!(frame.command, Command::Error);
    assert_eq!(frame.get("message"), Some("malformed frame received"));
    assert_eq!(frame.body_str(), Some(body));
}

#[test]
fn spec_escapes_in_1_2() {
    let frame = decode_one(b"MESSAGE\nfoo\\cbar:a\\nb\\\\c\\rd\nx:y:z\n\n\0");
    assert_eq!(headers(&frame), [("foo:bar", "a\nb\\c\rd"), ("x", "y:z")]);
}

#[test]
fn spec_escapes_in_1_1_and_none_in_1_0() {
    let mut v11 = decoder();
    v11.set_version(Version::V1_1);
    let frame = &decode_all_with(v11, b"MESSAGE\nfoo\\cbar:a\\nb\\\\c\n\n\0")[0];
    assert_eq!(headers(frame), [("foo:bar", "a\nb\\c")]);

    let mut v10 = decoder();
    v10.set_version(Version::V1_0);
    let frame = &decode_all_with(v10, b"MESSAGE\npath:C:\\temp\\new\n\n\0")[0];
    assert_eq!(headers(frame), [("path", "C:\\temp\\new")]);
}

#[test]
fn connect_family_headers_are_never_unescaped() {
    let frame = decode_one(b"CONNECT\nlogin:dom\\user\npasscode:a\\tb:c\n\n\0");
    assert_eq!(
        headers(&frame),
        [("login", "dom\\user"), ("passcode", "a\\tb:c")]
    );
    let frame = decode_one(b"CONNECTED\nserver:x\\c\n\n\0");
    assert_eq!(frame.get("server"), Some("x\\c"));
}

#[test]
fn content_length_allows_nul_inside_the_body() {
    let frame = decode_one(b"SEND\ndestination:/a\ncontent-length:5\n\nab\0cd\0");
    assert_eq!(&frame.body[..], b"ab\0cd");
    assert_eq!(frame.get("content-length"), Some("5"));
}

#[test]
fn heart_beats_between_frames_are_skipped() {
    let frames =
        decode_all(b"\n\r\n\nSEND\ndestination:/a\n\nx\0\n\n\r\nRECEIPT\nreceipt-id:1\n\n\0\n");
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].body_str(), Some("x"));
    assert_eq!(frames[1].get("receipt-id"), Some("1"));
}

#[test]
fn crlf_line_ends() {
    let frame = decode_one(b"SEND\r\ndestination:/a\r\ncontent-type:text/plain\r\n\r\nhi\0");
    assert_eq!(frame.command, Command::Send);
    assert_eq!(
        headers(&frame),
        [("destination", "/a"), ("content-type", "text/plain")]
    );
    assert_eq!(frame.body_str(), Some("hi"));
}

// --- Framing ---------------------------------------------------------------------------

#[test]
fn trailing_eols_wait_for_the_next_call() {
    let mut decoder = decoder();
    let mut buf = BytesMut::from(&b"DISCONNECT\n\n\0\r\n\n"[..]);
    assert!(decoder.decode(&mut buf).unwrap().is_some());
    assert_eq!(&buf[..], b"\r\n\n");
    assert_eq!(decoder.decode(&mut buf).unwrap(), None);
    assert!(buf.is_empty());
}

#[test]
fn byte_by_byte_input_gives_the_same_frames() {
    let input = b"\r\nSEND\r\ndestination:/a\ncontent-length:3\n\na\0b\0\nMESSAGE\nk:v\n\nbody\0";
    let mut decoder = decoder();
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    for &byte in input.iter() {
        buf.extend_from_slice(&[byte]);
        while let Some(frame) = decoder.decode(&mut buf).unwrap() {
            frames.push(frame);
        }
    }
    assert_eq!(frames, decode_all(input));
    assert_eq!(frames.len(), 2);
}

#[test]
fn a_lone_cr_waits_for_its_lf() {
    let mut decoder = decoder();
    let mut buf = BytesMut::from(&b"\r"[..]);
    assert_eq!(decoder.decode(&mut buf).unwrap(), None);
    buf.extend_from_slice(b"\nACK\nid:1\n\n\0");
    assert_eq!(
        decoder.decode(&mut buf).unwrap().map(|f| f.command),
        Some(Command::Ack)
    );
}

#[test]
fn the_body_is_a_slice_of_the_input() {
    let input = b"SEND\ndestination:/a\n\nhello\0";
    let mut buf = BytesMut::from(&input[..]);
    let start = buf.as_ptr() as usize;
    let frame = decoder().decode(&mut buf).unwrap().unwrap();
    assert_eq!(frame.body.as_ptr() as usize, start + input.len() - 6);
}

#[test]
fn values_keep_every_colon_after_the_first() {
    let frame = decode_one(b"SEND\ndestination:/a\nurl:http://h:80/p\nempty:\n\n\0");
    assert_eq!(frame.get("url"), Some("http://h:80/p"));
    assert_eq!(frame.get("empty"), Some(""));
}

#[test]
fn only_the_first_content_length_frames_the_body() {
    let frame = decode_one(b"SEND\ncontent-length:2\ncontent-length:x\n\nab\0");
    assert_eq!(&frame.body[..], b"ab");
}

// --- Limits, checked while bytes arrive ----------------------------------------------------

fn small() -> FrameLimits {
    FrameLimits {
        max_frame_size: 256,
        max_headers: 4,
        max_header_line: 64,
        max_content_length: 128,
    }
}

#[test]
fn an_oversized_content_length_fails_before_the_body_arrives() {
    let err = error_with(small(), Version::V1_2, b"SEND\ncontent-length:129\n\n");
    assert_eq!(
        err,
        DecodeError::ContentLengthTooLarge {
            length: 129,
            limit: 128
        }
    );
    // Within max_content_length but the whole frame would not fit: also immediate.
    let value = "v".repeat(60);
    let input = format!("SEND\nk:{value}\nl:{value}\ncontent-length:128\n\n");
    let err = error_with(small(), Version::V1_2, input.as_bytes());
    assert_eq!(err, DecodeError::FrameTooLarge { limit: 256 });
}

#[test]
fn a_frame_without_nul_fails_as_soon_as_it_is_too_large() {
    let mut decoder = Decoder::new(small());
    let mut buf = BytesMut::from(&b"SEND\n\n"[..]);
    buf.extend_from_slice(&[b'x'; 249]);
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    assert!(buf.len() < decoder.buffered_limit_hint());
    buf.extend_from_slice(b"x");
    assert_eq!(
        decoder.decode(&mut buf),
        Err(DecodeError::FrameTooLarge { limit: 256 })
    );
}

#[test]
fn a_frame_of_exactly_the_limit_is_accepted() {
    let mut input = b"SEND\n\n".to_vec();
    input.extend_from_slice(&[b'x'; 249]);
    input.push(0);
    assert_eq!(input.len(), 256);
    let frames = decode_all_with(Decoder::new(small()), &input);
    assert_eq!(frames[0].body.len(), 249);
}

#[test]
fn a_long_line_fails_before_its_end_arrives() {
    let input = format!("SEND\nk:{}", "v".repeat(70));
    let err = error_with(small(), Version::V1_2, input.as_bytes());
    assert_eq!(err, DecodeError::HeaderLineTooLong { limit: 64 });
}

// --- One test per error variant, with its text ----------------------------------------------

#[test]
fn error_frame_too_large() {
    let mut input = b"SEND\n\n".to_vec();
    input.resize(70_000, b'x');
    let err = error(&input);
    assert_eq!(err.to_string(), "frame exceeds 65536 bytes");
}

#[test]
fn error_too_many_headers() {
    let mut input = String::from("SEND\n");
    for i in 0..65 {
        input.push_str(&format!("h{i}:v\n"));
    }
    assert_eq!(
        error(input.as_bytes()).to_string(),
        "frame has more than 64 headers"
    );
}

#[test]
fn error_header_line_too_long() {
    let input = format!("SEND\nk:{}\n\n\0", "v".repeat(8191));
    assert_eq!(
        error(input.as_bytes()).to_string(),
        "header line exceeds 8192 bytes"
    );
}

#[test]
fn error_content_length_too_large() {
    let err = error(b"SEND\ncontent-length:100000\n\n");
    assert_eq!(
        err.to_string(),
        "content-length 100000 exceeds the limit of 65536 bytes"
    );
}

#[test]
fn error_unknown_command() {
    assert_eq!(error(b"send\n\n\0").to_string(), "unknown command `send`");
    // Garbage without a line end is rejected early, quoted and truncated.
    let err = error(b"GET /chat HTTP/1.1 and a very long request target");
    assert_eq!(
        err.to_string(),
        "unknown command `GET /chat HTTP/1.1 and a very long reque…`"
    );
}

#[test]
fn error_malformed_header() {
    let err = error(b"SEND\ndestination /queue/a\n\n\0");
    assert_eq!(
        err.to_string(),
        "malformed header `destination /queue/a`, expected `name:value`"
    );
    let err = error(b"SEND\n:value\n\n\0");
    assert_eq!(
        err.to_string(),
        "malformed header `:value`, expected `name:value`"
    );
}

#[test]
fn error_invalid_escape() {
    let err = error(b"SEND\nfoo:a\\tb\n\n\0");
    assert_eq!(err.to_string(), "undefined escape sequence `\\t` in header");
    let err = error(b"SEND\nfoo:ab\\\n\n\0");
    assert_eq!(err.to_string(), "undefined escape sequence `\\` in header");
    let err = error_with(
        FrameLimits::default(),
        Version::V1_1,
        b"SEND\nfoo:a\\rb\n\n\0",
    );
    assert_eq!(err.to_string(), "undefined escape sequence `\\r` in header");
}

#[test]
fn error_invalid_utf8() {
    let err = error(b"SEND\nfoo:\xff\xfe\n\n\0");
    assert_eq!(err.to_string(), "headers are not valid UTF-8");
}

#[test]
fn error_invalid_content_length() {
    for (value, text) in [("abc", "abc"), ("-1", "-1"), ("", ""), ("1e3", "1e3")] {
        let input = format!("SEND\ncontent-length:{value}\n\n\0");
        let err = error(input.as_bytes());
        assert_eq!(err.to_string(), format!("invalid content-length `{text}`"));
    }
    let err = error(b"SEND\ncontent-length:99999999999999999999999\n\n\0");
    assert_eq!(
        err.to_string(),
        "invalid content-length `99999999999999999999999`"
    );
}

#[test]
fn error_missing_nul_after_body() {
    let err = error(b"SEND\ncontent-length:2\n\nabc\0");
    assert_eq!(
        err.to_string(),
        "no NUL byte after the 2-byte body announced by content-length"
    );
}

#[test]
fn the_decoder_is_reset_after_an_error() {
    let mut decoder = decoder();
    let mut buf = BytesMut::from(&b"SEND\nbad\n\n\0"[..]);
    assert!(decoder.decode(&mut buf).is_err());
    let mut buf = BytesMut::from(&b"ACK\nid:1\n\n\0"[..]);
    assert!(decoder.decode(&mut buf).unwrap().is_some());
}

//! Decode and encode throughput for three typical frames, next to a `memchr` scan of the same
//! bytes for NUL: the least work any decoder that finds frame ends must do.
//!
//! Each group decodes a buffer holding as many copies of its frame as fit in 64 KiB, so that
//! per-call overhead and per-frame costs (allocation, splitting) are both measured. The
//! buffer is filled untimed just before each iteration (`BatchSize::PerIteration`), so it is
//! warm in cache like bytes just read from a socket; large batches of cold buffers measured
//! cache misses instead of the decoder.
//!
//! Run: `cargo bench -p stomp-core --bench codec -- --warm-up-time 1 --measurement-time 3`
#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use stomp_core::{encode, encode_parts, Command, Decoder, Frame, FrameLimits, Version};

/// A chat message as a browser client sends it: about 200 bytes.
fn chat_send() -> Frame {
    Frame::new(Command::Send)
        .header("destination", "/app/chat/general")
        .header("content-type", "application/json")
        .with_body(
            r#"{"user":"alice","text":"hello everyone, is the deploy still on for today?","ts":1732700000000,"room":"general"}"#,
        )
}

/// A broker `MESSAGE` with a 4 KiB text body.
fn message_4k() -> Frame {
    let body: String = "lorem ipsum dolor sit amet, "
        .chars()
        .cycle()
        .take(4096)
        .collect();
    Frame::new(Command::Message)
        .header("destination", "/topic/chat.general")
        .header("message-id", "a1b2c3d4-0042")
        .header("subscription", "sub-0")
        .header("content-type", "text/plain;charset=utf-8")
        .with_body(body)
}

/// A 60 KiB binary body, NUL bytes included, so `content-length` is required.
fn binary_60k() -> Frame {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let body: Vec<u8> = (0..60 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    Frame::new(Command::Send)
        .header("destination", "/app/upload")
        .header("content-type", "application/octet-stream")
        .with_body(body)
}

/// `frame` encoded with `content-length` (as this encoder writes it).
fn encoded(frame: &Frame) -> Vec<u8> {
    let mut dst = BytesMut::new();
    encode(frame, Version::V1_2, &mut dst);
    dst.to_vec()
}

/// `frame` framed by its NUL only, as clients that omit `content-length` send text.
fn nul_framed(frame: &Frame) -> Vec<u8> {
    let mut dst = BytesMut::new();
    encode_parts(
        frame.command,
        frame.headers.iter(),
        b"",
        Version::V1_2,
        &mut dst,
    );
    dst.truncate(dst.len() - 1);
    dst.extend_from_slice(&frame.body);
    dst.extend_from_slice(b"\0");
    dst.to_vec()
}

/// As many copies of `frame` as fit in 64 KiB (at least one).
fn stream(frame: &[u8]) -> Vec<u8> {
    frame.repeat((64 * 1024 / frame.len()).max(1))
}

fn decode_all(decoder: &mut Decoder, buf: &mut BytesMut) -> usize {
    let mut frames = 0;
    while let Some(frame) = decoder.decode(buf).unwrap() {
        black_box(&frame);
        frames += 1;
    }
    frames
}

fn bench_frame(c: &mut Criterion, name: &str, frame: &Frame, with_nul_framed: bool) {
    let mut group = c.benchmark_group(name);
    let limits = FrameLimits::default();

    let bytes = stream(&encoded(frame));
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("decode", |b| {
        let mut decoder = Decoder::new(limits);
        b.iter_batched_ref(
            || BytesMut::from(&bytes[..]),
            |buf| decode_all(&mut decoder, buf),
            BatchSize::PerIteration,
        );
    });
    group.bench_function("memchr", |b| {
        b.iter(|| memchr::memchr_iter(0, black_box(&bytes)).count());
    });

    if with_nul_framed {
        let bytes = stream(&nul_framed(frame));
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function("decode_nul_framed", |b| {
            let mut decoder = Decoder::new(limits);
            b.iter_batched_ref(
                || BytesMut::from(&bytes[..]),
                |buf| decode_all(&mut decoder, buf),
                BatchSize::PerIteration,
            );
        });
        group.bench_function("memchr_nul_framed", |b| {
            b.iter(|| memchr::memchr_iter(0, black_box(&bytes)).count());
        });
    }

    let len = encoded(frame).len();
    group.throughput(Throughput::Bytes(len as u64));
    group.bench_function("encode", |b| {
        let mut dst = BytesMut::with_capacity(len);
        b.iter(|| {
            dst.clear();
            encode(black_box(frame), Version::V1_2, &mut dst);
            black_box(&dst);
        });
    });
    group.finish();
}

fn codec(c: &mut Criterion) {
    bench_frame(c, "chat_send_200B", &chat_send(), true);
    bench_frame(c, "message_4KiB", &message_4k(), true);
    bench_frame(c, "binary_60KiB", &binary_60k(), false);
}

criterion_group!(benches, codec);
criterion_main!(benches);

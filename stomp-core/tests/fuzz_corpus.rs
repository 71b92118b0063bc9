//! Replays the checked-in fuzz corpus (`fuzz/corpus/decode/`) on stable Rust with the fuzz
//! target's own checks: no panic, bounded buffering, limits respected, and the same outcome
//! whether the input comes whole, split at any single position, or byte by byte.

#[allow(unreachable_pub, dead_code)]
#[path = "../fuzz/src/lib.rs"]
mod harness;

use std::path::PathBuf;

use harness::{decode_in_chunks, Outcome};
use stomp_core::Version;

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/decode");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus directory")
        .map(|entry| {
            let path = entry.expect("corpus entry").path();
            let name = path.file_name().expect("file name");
            let name = name.to_string_lossy().into_owned();
            (name, std::fs::read(&path).expect("corpus file"))
        })
        .collect();
    files.sort();
    assert!(files.len() >= 15, "corpus too small: {} files", files.len());
    files
}

fn version_of(data: &[u8]) -> Version {
    Version::ALL[usize::from(data[0] % 3)]
}

#[test]
fn every_corpus_file_passes_the_fuzz_checks() {
    for (name, data) in corpus() {
        println!("{name}");
        harness::run(&data);
    }
}

#[test]
fn every_split_position_gives_the_whole_outcome() {
    for (name, data) in corpus() {
        let version = version_of(&data);
        let input = &data[1..];
        let whole = decode_in_chunks(input, version, || usize::MAX);
        for at in 0..=input.len() {
            let mut sizes = [at, usize::MAX].into_iter();
            let split = decode_in_chunks(input, version, || sizes.next().unwrap_or(usize::MAX));
            assert_eq!(split, whole, "{name} split at {at}");
        }
        let bytes = decode_in_chunks(input, version, || 1);
        assert_eq!(bytes, whole, "{name} byte by byte");
    }
}

/// What the hand-written seeds must decode to: frame count and error text prefix.
#[test]
fn seed_files_decode_as_intended() {
    let expected: &[(&str, usize, Option<&str>)] = &[
        ("connect", 1, None),
        ("stomp_crlf", 1, None),
        ("connected", 1, None),
        ("send_text", 1, None),
        ("send_binary_content_length", 1, None),
        ("subscribe", 1, None),
        ("client_commands_with_heartbeats", 7, None),
        ("message_repeated_headers", 1, None),
        ("receipt_and_error", 2, None),
        ("escapes_1_2", 1, None),
        ("escapes_1_1", 1, None),
        ("v1_0_backslash_literal", 1, None),
        ("heartbeats_only", 0, None),
        ("bad_escape_tab", 0, Some("undefined escape sequence `\\t`")),
        (
            "bad_escape_trailing_backslash",
            0,
            Some("undefined escape sequence `\\`"),
        ),
        (
            "bad_escape_cr_in_1_1",
            0,
            Some("undefined escape sequence `\\r`"),
        ),
        (
            "huge_content_length",
            0,
            Some("content-length 100000 exceeds"),
        ),
        (
            "invalid_content_length",
            0,
            Some("invalid content-length `12x`"),
        ),
        (
            "missing_nul_after_body",
            0,
            Some("no NUL byte after the 2-byte body"),
        ),
        (
            "http_garbage",
            0,
            Some("unknown command `GET /stomp HTTP/1.1`"),
        ),
        ("binary_garbage", 0, Some("unknown command")),
        ("too_many_headers", 0, Some("frame has more than 8 headers")),
        ("long_header_line", 0, Some("header line exceeds 256 bytes")),
        (
            "frame_too_large_no_nul",
            0,
            Some("frame exceeds 1024 bytes"),
        ),
        (
            "malformed_and_bad_utf8",
            0,
            Some("malformed header `destination /queue/a`"),
        ),
    ];
    let corpus = corpus();
    for &(name, frames, error) in expected {
        let (_, data) = corpus
            .iter()
            .find(|(file, _)| file == name)
            .unwrap_or_else(|| panic!("seed {name} missing"));
        let Outcome {
            frames: got,
            error: got_error,
        } = decode_in_chunks(&data[1..], version_of(data), || usize::MAX);
        assert_eq!(got.len(), frames, "{name}: {got:?}");
        match (error, got_error) {
            (None, None) => {}
            (Some(prefix), Some(err)) => {
                assert!(err.to_string().starts_with(prefix), "{name}: {err}");
            }
            (want, got) => panic!("{name}: expected {want:?}, got {got:?}"),
        }
    }
    let escapes = decode_in_chunks(
        &corpus_file(&corpus, "escapes_1_2")[1..],
        Version::V1_2,
        || 3,
    );
    assert_eq!(escapes.frames[0].get("foo:bar"), Some("a\nb\\c\rd"));
}

fn corpus_file<'a>(corpus: &'a [(String, Vec<u8>)], name: &str) -> &'a [u8] {
    let file = corpus.iter().find(|(file, _)| file == name);
    &file.expect("seed file").1
}

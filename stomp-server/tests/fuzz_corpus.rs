//! Replays the checked-in corpora of the server's fuzz targets (`fuzz/corpus/session/`,
//! `fuzz/corpus/sockjs/`, `fuzz/corpus/upgrade/`) on stable Rust, through the fuzz
//! harness itself (`fuzz/src/`, included here as a module so that the two cannot drift):
//! every file must pass the same checks as under the fuzzer, including the inputs that
//! once found a bug.

#[allow(unreachable_pub, dead_code, missing_docs)]
#[path = "../fuzz/src/lib.rs"]
mod harness;

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
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
    assert!(
        files.len() >= 5,
        "{target} corpus too small: {} files",
        files.len()
    );
    files
}

fn replay(target: &str, run: fn(&[u8])) {
    for (name, data) in corpus(target) {
        println!("{target}/{name}");
        run(&data);
    }
}

#[test]
fn session_corpus_passes_the_fuzz_checks() {
    replay("session", harness::session::run);
}

#[test]
fn sockjs_corpus_passes_the_fuzz_checks() {
    replay("sockjs", harness::sockjs::run);
}

#[test]
fn upgrade_corpus_passes_the_fuzz_checks() {
    replay("upgrade", harness::upgrade::run);
}

/// The harness's checks themselves: what they must refuse, so that a corpus passing them
/// means something.
#[test]
fn the_harness_refuses_malformed_answers() {
    use harness::check::{sockjs_frame, stomp_message, AfterError};
    assert!(matches!(stomp_message(b"\n"), Ok(None)));
    let receipt = stomp_message(b"RECEIPT\nreceipt-id:1\n\n\0").expect("one frame");
    assert!(receipt.is_some());
    assert!(
        stomp_message(b"RECEIPT\n\n\0RECEIPT\n\n\0").is_err(),
        "two frames"
    );
    assert!(
        stomp_message(b"SEND\ndestination:/a\n\n\0").is_err(),
        "client command"
    );
    assert!(stomp_message(b"MESSAGE\n\nno NUL").is_err(), "incomplete");
    assert!(sockjs_frame("o").is_ok() && sockjs_frame("c[3000,\"Go away!\"]").is_ok());
    assert!(sockjs_frame(r#"a["MESSAGE\n\n\u0000"]"#).is_ok());
    assert!(sockjs_frame(r#"a["SEND\n\n\u0000"]"#).is_err());
    assert!(sockjs_frame("a[1]").is_err() && sockjs_frame("x").is_err());
    let mut watch = AfterError::default();
    let error = stomp_message(b"ERROR\nmessage:bad\n\n\0").expect("error frame");
    watch
        .see(&error.expect("a frame"))
        .expect("the ERROR itself");
    assert!(
        watch.see(&receipt.expect("a frame")).is_err(),
        "a frame after ERROR"
    );
}

//! Target `upgrade`: the HTTP request head (and whatever follows it) as raw bytes.
//!
//! Input: the bytes the client writes before ending its side of the stream.
//!
//! Checks: the server answers with nothing or with an HTTP/1.x status line (a 3-digit
//! code), a 101 only to a request that asked for `websocket`; it closes within
//! [`LINGER`](super::fixture::LINGER); then the after-input checks of
//! [`fixture`](super::fixture).

use std::sync::Arc;

use stomp_server::Server;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::fixture::{run_input, LINGER};
use super::ws;

/// The bytes of the answer kept for the checks (the rest is read and dropped).
const KEEP: usize = 64 * 1024;

/// Runs one fuzz input.
pub fn run(data: &[u8]) {
    let request = data.to_vec();
    run_input(|server, _| drive(server, request));
}

async fn drive(server: Arc<Server>, request: Vec<u8>) {
    let asked_websocket = request
        .windows(9)
        .any(|w| w.eq_ignore_ascii_case(b"websocket"));
    let (read, write) = tokio::io::split(ws::connect(&server));
    let writer = ws::write_all_then_end(write, vec![request]);
    let reader = tokio::time::timeout(LINGER, read_to_end(read));
    let ((), answer) = tokio::join!(writer, reader);
    let Ok(answer) = answer else {
        panic!("the server kept the connection open {LINGER:?} after the client's end");
    };
    if let Err(error) = check_answer(&answer, asked_websocket) {
        panic!(
            "{error}: {:?}",
            String::from_utf8_lossy(&answer[..answer.len().min(300)])
        );
    }
}

/// Reads until the server closes; keeps the first [`KEEP`] bytes.
async fn read_to_end<R: AsyncRead + Unpin>(mut read: R) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n @ 1..) = read.read(&mut chunk).await {
        let room = KEEP.saturating_sub(kept.len()).min(n);
        kept.extend_from_slice(&chunk[..room]);
    }
    kept
}

fn check_answer(answer: &[u8], asked_websocket: bool) -> Result<(), String> {
    if answer.is_empty() {
        return Ok(());
    }
    let line = answer.split(|&b| b == b'\n').next().unwrap_or_default();
    let Some(status) = line
        .strip_prefix(b"HTTP/1.1 ")
        .or_else(|| line.strip_prefix(b"HTTP/1.0 "))
    else {
        return Err("the answer is not an HTTP/1.x response".into());
    };
    let code = status.get(..3).unwrap_or_default();
    if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) || status.get(3) != Some(&b' ') {
        return Err("malformed status line".into());
    }
    if code == b"101" && !asked_websocket {
        return Err("switched protocols without a websocket upgrade request".into());
    }
    Ok(())
}

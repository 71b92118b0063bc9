//! Target `session`: a STOMP session over a WebSocket upgrade, frame sequences from the
//! input.
//!
//! Input: a control byte, then WebSocket message payloads separated by `0xFF` (a seed is
//! STOMP frames with `0xFF` between them). Control bits: 1 binary messages (else text),
//! 2 each message in two fragments, 4 a close frame after the last message, 8 unmasked
//! frames (a protocol error the server must refuse), 16 a ping before every message.
//!
//! Checks: the handshake is answered with 101; every server message is a heart-beat or one
//! STOMP server frame; no frame follows an `ERROR`; the server closes within
//! [`LINGER`](super::fixture::LINGER) once the client's side has ended; then the
//! after-input checks of [`fixture`](super::fixture).

use std::sync::Arc;

use stomp_server::Server;
use tokio::io::AsyncRead;

use super::check;
use super::fixture::{run_input, LINGER};
use super::ws::{self, client_frame, opcode, Message, Reader};

/// Runs one fuzz input.
pub fn run(data: &[u8]) {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let writes = script(control, rest);
    run_input(|server, _| drive(server, writes));
}

/// The bytes the client writes: the handshake, then the frames the input asks for.
fn script(control: u8, rest: &[u8]) -> Vec<Vec<u8>> {
    let code = if control & 1 != 0 {
        opcode::BINARY
    } else {
        opcode::TEXT
    };
    let mask = (control & 8 == 0).then_some([0x37, 0xfa, 0x21, 0x3d]);
    let mut writes = vec![ws::handshake_request("/ws")];
    for payload in super::parts(rest) {
        if control & 16 != 0 {
            writes.push(client_frame(opcode::PING, true, b"p", mask));
        }
        if control & 2 != 0 {
            let (first, second) = payload.split_at(payload.len() / 2);
            writes.push(client_frame(code, false, first, mask));
            writes.push(client_frame(opcode::CONTINUATION, true, second, mask));
        } else {
            writes.push(client_frame(code, true, payload, mask));
        }
    }
    if control & 4 != 0 {
        writes.push(client_frame(
            opcode::CLOSE,
            true,
            &1000u16.to_be_bytes(),
            mask,
        ));
    }
    writes
}

async fn drive(server: Arc<Server>, writes: Vec<Vec<u8>>) {
    let (read, write) = tokio::io::split(ws::connect(&server));
    let writer = ws::write_all_then_end(write, writes);
    let reader = tokio::time::timeout(LINGER, read_answers(read));
    let ((), answers) = tokio::join!(writer, reader);
    match answers {
        Err(_) => panic!("the server kept the connection open {LINGER:?} after the client's end"),
        Ok(Err(error)) => panic!("{error}"),
        Ok(Ok(())) => {}
    }
}

/// Reads everything the server sends until it closes, checking it on the way.
async fn read_answers<R: AsyncRead + Unpin>(read: R) -> Result<(), String> {
    let mut reader = Reader::new(read);
    let head = reader
        .read_head()
        .await?
        .ok_or("closed before answering the handshake")?;
    if !head.starts_with("HTTP/1.1 101 ") {
        return Err(format!("handshake not accepted: {head:?}"));
    }
    let mut after_error = check::AfterError::default();
    let mut closed = false;
    while let Some(message) = reader.next_message().await? {
        match message {
            Message::Text(data) | Message::Binary(data) => {
                if closed {
                    return Err("a message after the close frame".into());
                }
                if let Some(frame) = check::stomp_message(&data)? {
                    after_error.see(&frame)?;
                }
            }
            Message::Close(_) => closed = true,
            Message::Control => {}
        }
    }
    Ok(())
}

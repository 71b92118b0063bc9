//! Target `sockjs`: SockJS requests and their bodies (`xhr_send`, `xhr`, `xhr_streaming`,
//! the framed `websocket` transport, and `info`/greeting/`OPTIONS`), against a server built
//! with `.with_sockjs()`.
//!
//! Input: a control byte (unused but for the session ids' spread), then requests separated
//! by `0xFF`. A request's first byte `k` picks the transport (`k % 5`: 0 `xhr`, 1
//! `xhr_send`, 2 `xhr_streaming`, 3 `websocket`, 4 one of the other paths) and the session
//! (`k / 16 % 3`, unique to the input); the rest is the body (a JSON array of STOMP frames
//! for `xhr_send` and `websocket`).
//!
//! Checks: every status is one the transport may answer; every SockJS frame a response or
//! the WebSocket carries is well-formed and its strings are STOMP server frames; nothing
//! follows an `ERROR` on a receiving request; a WebSocket closes within
//! [`LINGER`](super::fixture::LINGER) of its client's end; then the after-input checks of
//! [`fixture`](super::fixture) (the SockJS sessions must end after the disconnect delay).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use stomp_server::Server;

use super::check;
use super::fixture::{run_input, LINGER};
use super::ws::{self, client_frame, opcode, Message, Reader};

/// How long (virtual) a streaming response or a WebSocket is read before the client moves
/// on: long enough for a heartbeat (25 s).
const LISTEN: Duration = Duration::from_secs(30);

/// The most bytes of one response the checks look at.
const KEEP: usize = 1 << 20;

/// Runs one fuzz input.
pub fn run(data: &[u8]) {
    let Some((_, rest)) = data.split_first() else {
        return;
    };
    let requests: Vec<Vec<u8>> = super::parts(rest).map(<[u8]>::to_vec).collect();
    run_input(|server, input| async move {
        for request in requests {
            let Some((&kind, body)) = request.split_first() else {
                continue;
            };
            let session = format!("i{input}s{}", kind / 16 % 3);
            if let Err(error) = one_request(&server, kind % 5, &session, body).await {
                panic!("{error}");
            }
        }
    });
}

async fn one_request(
    server: &Arc<Server>,
    kind: u8,
    session: &str,
    body: &[u8],
) -> Result<(), String> {
    let path = |transport: &str| format!("/ws/000/{session}/{transport}");
    match kind {
        0 => {
            let response = post(server, &path("xhr"), Bytes::new()).await?;
            let (status, text) = whole_body(response).await?;
            expect_status(status, &[200, 503], "xhr")?;
            if status == 200 {
                let frame = text.strip_suffix('\n').ok_or("xhr frame without newline")?;
                check::sockjs_frame(frame)?;
            }
            Ok(())
        }
        1 => {
            let response = post(server, &path("xhr_send"), Bytes::copy_from_slice(body)).await?;
            let (status, _) = whole_body(response).await?;
            expect_status(status, &[204, 404, 413, 500], "xhr_send")
        }
        2 => streaming(server, &path("xhr_streaming")).await,
        3 => websocket(server, &path("websocket"), body).await,
        _ => other(server, body).await,
    }
}

fn expect_status(status: u16, allowed: &[u16], what: &str) -> Result<(), String> {
    if allowed.contains(&status) {
        Ok(())
    } else {
        Err(format!(
            "{what} answered {status}, expected one of {allowed:?}"
        ))
    }
}

/// Sends one request on a new connection; the response's body is read by the caller.
async fn send(
    server: &Server,
    request: Request<Full<Bytes>>,
) -> Result<Response<Incoming>, String> {
    let io = TokioIo::new(ws::connect(server));
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("client handshake: {e}"))?;
    tokio::spawn(connection);
    let response = tokio::time::timeout(LINGER, sender.send_request(request)).await;
    match response {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(error)) => Err(format!("no well-formed response: {error}")),
        Err(_) => Err(format!("no response within {LINGER:?}")),
    }
}

async fn post(server: &Server, path: &str, body: Bytes) -> Result<Response<Incoming>, String> {
    let request = Request::post(path)
        .header("host", "localhost")
        .header("content-type", "text/plain")
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    send(server, request).await
}

/// The status and the (lossy UTF-8) body of a response that must end within [`LINGER`].
async fn whole_body(response: Response<Incoming>) -> Result<(u16, String), String> {
    let status = response.status().as_u16();
    let limited = http_body_util::Limited::new(response.into_body(), KEEP);
    match tokio::time::timeout(LINGER, limited.collect()).await {
        Ok(Ok(body)) => Ok((
            status,
            String::from_utf8_lossy(&body.to_bytes()).into_owned(),
        )),
        Ok(Err(error)) => Err(format!("response body: {error}")),
        Err(_) => Err(format!("response body not ended within {LINGER:?}")),
    }
}

/// `xhr_streaming`: reads for [`LISTEN`], checking every whole line after the prelude.
async fn streaming(server: &Server, path: &str) -> Result<(), String> {
    let response = post(server, path, Bytes::new()).await?;
    let status = response.status().as_u16();
    expect_status(status, &[200, 503], "xhr_streaming")?;
    let mut body = response.into_body();
    let mut pending = Vec::new();
    let mut lines = 0usize;
    let mut after_error = check::AfterError::default();
    let read = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| format!("streaming body: {e}"))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            pending.extend_from_slice(&data);
            while let Some(at) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=at).collect();
                lines += 1;
                if lines == 1 || status != 200 {
                    continue; // the prelude of `h`s, or a plain-text refusal
                }
                let text =
                    std::str::from_utf8(&line[..at]).map_err(|_| "streamed frame not UTF-8")?;
                for frame in check::sockjs_frame(text)? {
                    after_error.see(&frame)?;
                }
            }
            if pending.len() > KEEP {
                return Err(format!("a streamed line longer than {KEEP} bytes"));
            }
        }
        Ok::<(), String>(())
    };
    match tokio::time::timeout(LISTEN, read).await {
        Ok(result) => result,
        Err(_) => Ok(()), // still streaming: the client leaves, as a browser tab would
    }
}

/// The framed `websocket` transport: the body as one message, answers read for [`LISTEN`],
/// then a close and the end of the client's side; the server must close.
async fn websocket(server: &Server, path: &str, body: &[u8]) -> Result<(), String> {
    let (read, write) = tokio::io::split(ws::connect(server));
    let code = if std::str::from_utf8(body).is_ok() {
        opcode::TEXT
    } else {
        opcode::BINARY
    };
    let mask = Some([9, 8, 7, 6]);
    let writes = vec![
        ws::handshake_request(path),
        client_frame(code, true, body, mask),
    ];
    let (write_done, mut reader) = (ws::write_all_then_end(write, writes), Reader::new(read));
    // The client's side ends only after LISTEN, so that answers can arrive first.
    let writer = async {
        tokio::time::sleep(LISTEN).await;
        write_done.await;
    };
    let read = async {
        let head = reader
            .read_head()
            .await?
            .ok_or("closed before the handshake")?;
        if head.starts_with("HTTP/1.1 503 ") {
            return Ok(());
        }
        if !head.starts_with("HTTP/1.1 101 ") {
            return Err(format!("SockJS websocket handshake answered {head:?}"));
        }
        let mut after_error = check::AfterError::default();
        while let Some(message) = reader.next_message().await? {
            if let Message::Text(data) = message {
                let text = String::from_utf8(data).map_err(|_| "not UTF-8")?;
                for frame in check::sockjs_frame(&text)? {
                    after_error.see(&frame)?;
                }
            }
        }
        Ok::<(), String>(())
    };
    let (_, read) = tokio::join!(writer, tokio::time::timeout(LISTEN + LINGER, read));
    read.map_err(|_| format!("the SockJS websocket stayed open {LINGER:?} after the client's end"))?
}

/// `info`, the greeting, and `OPTIONS` preflights, chosen by the first body byte.
async fn other(server: &Server, body: &[u8]) -> Result<(), String> {
    let (method, path) = match body.first().map_or(0, |b| b % 4) {
        0 => ("GET", "/ws/info"),
        1 => ("GET", "/ws"),
        2 => ("OPTIONS", "/ws/info"),
        _ => ("OPTIONS", "/ws/000/x/xhr_send"),
    };
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost")
        .header("origin", "http://localhost")
        .body(Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    let (status, text) = whole_body(send(server, request).await?).await?;
    if status >= 500 {
        return Err(format!("{method} {path} answered {status}: {text}"));
    }
    Ok(())
}

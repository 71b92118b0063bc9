//! Raw WebSocket and HTTP clients for the transport tests: requests and frames written by
//! hand, so that a test can break the rules a real client library keeps.
#![allow(dead_code)]

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::common::{TestServer, WAIT};

/// A WebSocket opened by tokio-tungstenite, with no STOMP client on top.
pub(crate) type Raw = tokio_tungstenite::WebSocketStream<TcpStream>;

/// A WebSocket to `server`'s endpoint, handshake done, nothing sent.
pub(crate) async fn raw(server: &TestServer) -> Raw {
    let tcp = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let (ws, _) = tokio_tungstenite::client_async(server.url(), tcp)
        .await
        .unwrap();
    ws
}

/// Reads WebSocket messages until one holds a whole frame (or the socket closes).
pub(crate) async fn read_text(ws: &mut Raw) -> Option<String> {
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await.ok()?? {
            Ok(WsMessage::Text(t)) if t.as_str() != "\n" => return Some(t.as_str().to_owned()),
            Ok(WsMessage::Binary(b)) => return Some(String::from_utf8_lossy(&b).into_owned()),
            Ok(WsMessage::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// True when the server closes `ws` within [`WAIT`].
pub(crate) async fn closed(ws: &mut Raw) -> bool {
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await {
            Ok(None | Some(Err(_)) | Some(Ok(WsMessage::Close(_)))) => return true,
            Ok(Some(Ok(_))) => {}
            Err(_) => return false,
        }
    }
}

/// A TCP connection with a small receive buffer that has finished a WebSocket handshake
/// by hand (so that the test can write raw frames and never read).
pub(crate) async fn raw_upgraded(port: u16) -> TcpStream {
    raw_upgraded_at(port, "/ws").await
}

/// [`raw_upgraded`] at `path`.
pub(crate) async fn raw_upgraded_at(port: u16, path: &str) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut tcp = socket.connect(([127, 0, 0, 1], port).into()).await.unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: Upgrade\r\n\
         Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let head = read_head(&mut tcp).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    tcp
}

/// Reads an HTTP response head, byte by byte (nothing after it is consumed).
pub(crate) async fn read_head(tcp: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        match tokio::time::timeout(WAIT, tcp.read(&mut byte)).await {
            Ok(Ok(1)) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// A client frame (masked with a zero key) with this opcode byte and payload.
pub(crate) fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![opcode];
    match u8::try_from(payload.len()) {
        Ok(len) if len < 126 => frame.push(0x80 | len),
        _ => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&u16::try_from(payload.len()).unwrap().to_be_bytes());
        }
    }
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.extend_from_slice(payload);
    frame
}

/// Reads (and drops) what the server sends until it closes the connection; false when it
/// is still open after [`WAIT`] without a byte.
pub(crate) async fn drained_to_close(tcp: &mut TcpStream) -> bool {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match tokio::time::timeout(WAIT, tcp.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

/// The status code of an HTTP response starting with `bytes`.
pub(crate) fn status_of(bytes: &[u8]) -> u16 {
    String::from_utf8_lossy(bytes)
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// Reads the server's (unmasked) WebSocket frames until its close frame: the text
/// messages before it and the close code (`None` when the connection ended without one).
pub(crate) async fn texts_and_close_code(tcp: &mut TcpStream) -> (Vec<String>, Option<u16>) {
    let mut texts = Vec::new();
    loop {
        let mut head = [0u8; 2];
        if !matches!(
            tokio::time::timeout(WAIT, tcp.read_exact(&mut head)).await,
            Ok(Ok(_))
        ) {
            return (texts, None);
        }
        let len = match head[1] & 0x7f {
            126 => {
                let mut ext = [0u8; 2];
                tcp.read_exact(&mut ext).await.unwrap();
                usize::from(u16::from_be_bytes(ext))
            }
            127 => {
                let mut ext = [0u8; 8];
                tcp.read_exact(&mut ext).await.unwrap();
                usize::try_from(u64::from_be_bytes(ext)).unwrap()
            }
            short => usize::from(short),
        };
        let mut payload = vec![0u8; len];
        tcp.read_exact(&mut payload).await.unwrap();
        match head[0] & 0x0f {
            0x1 if payload != b"\n" => texts.push(String::from_utf8(payload).unwrap()),
            0x8 => {
                let code =
                    (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
                return (texts, code);
            }
            _ => {}
        }
    }
}

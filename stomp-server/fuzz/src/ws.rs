//! A small WebSocket client over an in-memory pipe: the handshake request, client frames
//! (masked or, to test the server's check, not), and a reader that parses the server's
//! frames strictly (unmasked, no reserved bits, known opcodes, bounded sizes).

use std::net::{Ipv4Addr, SocketAddr};

use bytes::{Buf, BytesMut};
use stomp_core::Frame;
use stomp_server::Server;
use tokio::io::WriteHalf;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadHalf};

/// Bytes each direction of a pipe holds before its writer waits.
pub const PIPE_BYTES: usize = 64 * 1024;

/// The most bytes one server message may have before the reader calls it unbounded.
const MAX_MESSAGE: usize = 4 << 20;

/// A virtual pause that ends only once the server has done what it can.
pub const SERVER_IDLE: std::time::Duration = std::time::Duration::from_millis(1);

/// The longest HTTP response head the reader accepts.
const MAX_HEAD: usize = 16 * 1024;

/// WebSocket opcodes.
pub mod opcode {
    /// Continuation.
    pub const CONTINUATION: u8 = 0;
    /// Text.
    pub const TEXT: u8 = 1;
    /// Binary.
    pub const BINARY: u8 = 2;
    /// Close.
    pub const CLOSE: u8 = 8;
    /// Ping.
    pub const PING: u8 = 9;
}

/// The client address every harness connection claims.
pub fn remote() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 40_000))
}

/// Starts serving a new in-memory connection on `server`; returns the client's end.
pub fn connect(server: &Server) -> DuplexStream {
    let (client, server_io) = tokio::io::duplex(PIPE_BYTES);
    tokio::spawn(server.serve_connection(server_io, remote()));
    client
}

/// A valid WebSocket handshake request for `path`, offering STOMP 1.2.
pub fn handshake_request(path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: v12.stomp\r\n\r\n"
    )
    .into_bytes()
}

/// One client frame; `mask` is `None` for an (invalid) unmasked one.
pub fn client_frame(opcode: u8, fin: bool, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(if fin { 0x80 } else { 0 } | (opcode & 0x0f));
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => out.push(mask_bit | n as u8),
        n @ 126..=0xffff => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// A whole message from the server.
#[derive(Debug)]
pub enum Message {
    /// A text message.
    Text(Vec<u8>),
    /// A binary message.
    Binary(Vec<u8>),
    /// A close frame (its payload).
    Close(Vec<u8>),
    /// A ping or pong.
    Control,
}

/// Reads what a server writes: an HTTP response head, then WebSocket frames.
pub struct Reader<R> {
    io: R,
    buf: BytesMut,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    /// A reader over `io`.
    pub fn new(io: R) -> Self {
        Reader {
            io,
            buf: BytesMut::new(),
        }
    }

    /// Reads more bytes; false at the end of the stream.
    async fn fill(&mut self) -> Result<bool, String> {
        match self.io.read_buf(&mut self.buf).await {
            Ok(n) => Ok(n > 0),
            // A pipe whose server end is gone reads as an end, as a closed socket would.
            Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
            Err(error) => Err(format!("read failed: {error}")),
        }
    }

    /// Reads the response head (up to the blank line); `None` when the server closed first.
    pub async fn read_head(&mut self) -> Result<Option<String>, String> {
        loop {
            if let Some(at) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = self.buf.split_to(at + 4);
                return Ok(Some(String::from_utf8_lossy(&head).into_owned()));
            }
            if self.buf.len() > MAX_HEAD {
                return Err(format!("response head longer than {MAX_HEAD} bytes"));
            }
            if !self.fill().await? {
                return Ok(None);
            }
        }
    }

    /// The next whole message; `None` at the end of the stream between frames.
    pub async fn next_message(&mut self) -> Result<Option<Message>, String> {
        let mut partial: Option<(u8, Vec<u8>)> = None;
        loop {
            let Some((fin, code, payload)) = self.next_frame().await? else {
                return match partial {
                    None => Ok(None),
                    Some(_) => Err("stream ended inside a fragmented message".into()),
                };
            };
            match (code, partial.as_mut()) {
                (opcode::CLOSE, _) => return Ok(Some(Message::Close(payload))),
                (9 | 10, _) => return Ok(Some(Message::Control)),
                (opcode::CONTINUATION, Some((_, data))) => data.extend_from_slice(&payload),
                (opcode::TEXT | opcode::BINARY, None) => partial = Some((code, payload)),
                _ => {
                    return Err(format!(
                        "unexpected opcode {code} (fragment open: {})",
                        partial.is_some()
                    ))
                }
            }
            if fin {
                let (code, data) = partial.take().ok_or("no message")?;
                if data.len() > MAX_MESSAGE {
                    return Err(format!("server message of {} bytes", data.len()));
                }
                return Ok(Some(if code == opcode::TEXT {
                    if std::str::from_utf8(&data).is_err() {
                        return Err("text message is not UTF-8".into());
                    }
                    Message::Text(data)
                } else {
                    Message::Binary(data)
                }));
            }
        }
    }

    /// One frame: `(fin, opcode, payload)`; `None` at the end of the stream between frames.
    async fn next_frame(&mut self) -> Result<Option<(bool, u8, Vec<u8>)>, String> {
        loop {
            if let Some(frame) = self.parse_frame()? {
                return Ok(Some(frame));
            }
            if !self.fill().await? {
                return match self.buf.is_empty() {
                    true => Ok(None),
                    false => Err(format!(
                        "stream ended inside a frame ({} bytes)",
                        self.buf.len()
                    )),
                };
            }
        }
    }

    fn parse_frame(&mut self) -> Result<Option<(bool, u8, Vec<u8>)>, String> {
        let Some(&[b0, b1]) = self.buf.get(..2) else {
            return Ok(None);
        };
        let (fin, code) = (b0 & 0x80 != 0, b0 & 0x0f);
        if b0 & 0x70 != 0 || b1 & 0x80 != 0 || !matches!(code, 0..=2 | 8..=10) {
            return Err(format!("bad server frame header {b0:#04x} {b1:#04x}"));
        }
        let (len, header) = match b1 & 0x7f {
            126 => match self.buf.get(2..4) {
                Some(b) => (usize::from(u16::from_be_bytes([b[0], b[1]])), 4),
                None => return Ok(None),
            },
            127 => match self.buf.get(2..10) {
                Some(b) => {
                    let mut n = [0; 8];
                    n.copy_from_slice(b);
                    (
                        usize::try_from(u64::from_be_bytes(n)).unwrap_or(usize::MAX),
                        10,
                    )
                }
                None => return Ok(None),
            },
            n => (usize::from(n), 2),
        };
        if len > MAX_MESSAGE || (code >= 8 && (len > 125 || !fin)) {
            return Err(format!(
                "bad server frame: opcode {code}, {len} bytes, fin {fin}"
            ));
        }
        if self.buf.len() < header + len {
            return Ok(None);
        }
        self.buf.advance(header);
        Ok(Some((fin, code, self.buf.split_to(len).to_vec())))
    }
}

/// A STOMP-over-WebSocket client for the well-behaved probe session.
pub struct Client {
    reader: Reader<ReadHalf<DuplexStream>>,
    writer: WriteHalf<DuplexStream>,
}

impl Client {
    /// Upgrades a new connection on `server` at `path`.
    pub async fn open(server: &Server, path: &str) -> Result<Client, String> {
        let (read, mut writer) = tokio::io::split(connect(server));
        let mut reader = Reader::new(read);
        writer
            .write_all(&handshake_request(path))
            .await
            .map_err(|e| format!("handshake write: {e}"))?;
        let head = reader
            .read_head()
            .await?
            .ok_or("closed before the handshake")?;
        if !head.starts_with("HTTP/1.1 101 ") {
            return Err(format!("handshake refused: {head:?}"));
        }
        Ok(Client { reader, writer })
    }

    /// Sends one text message.
    pub async fn send(&mut self, text: &str) -> Result<(), String> {
        let frame = client_frame(opcode::TEXT, true, text.as_bytes(), Some([1, 2, 3, 4]));
        self.writer
            .write_all(&frame)
            .await
            .map_err(|e| format!("write: {e}"))
    }

    /// Reads until a frame arrives (heart-beats skipped); it must be `command`.
    pub async fn expect(&mut self, command: &str) -> Result<Frame, String> {
        loop {
            let data = match self.reader.next_message().await? {
                Some(Message::Text(data) | Message::Binary(data)) => data,
                Some(Message::Control) => continue,
                Some(Message::Close(_)) | None => return Err(format!("closed before {command}")),
            };
            if let Some(frame) = super::check::stomp_message(&data)? {
                if frame.command.as_str() != command {
                    return Err(format!("expected {command}, got {frame:?}"));
                }
                return Ok(frame);
            }
        }
    }

    /// Reads until the server closes: only a close frame may come.
    pub async fn expect_end(&mut self) -> Result<(), String> {
        loop {
            match self.reader.next_message().await? {
                None => return Ok(()),
                Some(Message::Close(_) | Message::Control) => {}
                Some(other) => return Err(format!("expected the end, got {other:?}")),
            }
        }
    }
}

/// Writes everything in `writes`, stopping at the first failure (the server closed), then
/// ends the client's side of the stream once the server is idle (the paused clock moves
/// past [`SERVER_IDLE`] only when no task can run), so that its answers to the last bytes
/// are written before it sees the end.
pub async fn write_all_then_end<W: AsyncWrite + Unpin>(mut io: W, writes: Vec<Vec<u8>>) {
    for bytes in writes {
        if io.write_all(&bytes).await.is_err() {
            return;
        }
    }
    tokio::time::sleep(SERVER_IDLE).await;
    let _ = io.shutdown().await;
}

//! Raw HTTP for the SockJS tests: one request read to its end, chunked bodies, the
//! `xhr_streaming` line reader, and SockJS's JSON framing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::WAIT;

/// A response read to its end (`Connection: close`).
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) head: String,
    pub(crate) body: String,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        header(&self.head, name)
    }
}

/// The value of the first `name` header in a response `head`.
pub(crate) fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

pub(crate) async fn open(port: u16, method: &str, path: &str, body: &str) -> BufReader<TcpStream> {
    open_with(port, method, path, "", body).await
}

/// Sends a request with extra `headers` (each line ending in `\r\n`).
pub(crate) async fn open_with(
    port: u16,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> BufReader<TcpStream> {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: text/plain\r\nContent-Length: {}\r\n{headers}\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    BufReader::new(tcp)
}

pub(crate) async fn read_head(reader: &mut BufReader<TcpStream>) -> (u16, String) {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        let n = tokio::time::timeout(WAIT, reader.read_line(&mut line))
            .await
            .unwrap()
            .unwrap();
        if n == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head)
}

/// Reads one chunk of a chunked body; `None` at its end.
pub(crate) async fn read_chunk(reader: &mut BufReader<TcpStream>) -> Option<String> {
    let mut size = String::new();
    tokio::time::timeout(WAIT, reader.read_line(&mut size))
        .await
        .unwrap()
        .unwrap();
    let size = usize::from_str_radix(size.trim(), 16).ok()?;
    let mut data = vec![0; size + 2];
    tokio::time::timeout(WAIT, reader.read_exact(&mut data))
        .await
        .unwrap()
        .unwrap();
    data.truncate(size);
    (size > 0).then(|| String::from_utf8(data).unwrap())
}

pub(crate) async fn request(port: u16, method: &str, path: &str, body: &str) -> Reply {
    request_with(port, method, path, "", body).await
}

/// [`request`] with extra `headers` (each line ending in `\r\n`).
pub(crate) async fn request_with(
    port: u16,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> Reply {
    let mut reader = open_with(port, method, path, headers, body).await;
    let (status, head) = read_head(&mut reader).await;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let mut body = String::new();
    if chunked {
        while let Some(chunk) = read_chunk(&mut reader).await {
            body.push_str(&chunk);
        }
    } else {
        tokio::time::timeout(WAIT, reader.read_to_string(&mut body))
            .await
            .unwrap()
            .unwrap();
    }
    Reply { status, head, body }
}

/// The STOMP frames of an `a[...]` frame.
pub(crate) fn messages(frame: &str) -> Vec<String> {
    let json = frame
        .trim_end()
        .strip_prefix('a')
        .unwrap_or_else(|| panic!("not an a-frame: {frame:?}"));
    serde_json::from_str(json).unwrap()
}

pub(crate) fn json(frames: &[&str]) -> String {
    serde_json::to_string(frames).unwrap()
}

/// Reads `xhr_streaming` frames (one per line) from a chunked response.
pub(crate) struct Stream {
    pub(crate) reader: BufReader<TcpStream>,
    pub(crate) pending: String,
}

impl Stream {
    pub(crate) async fn open(port: u16, path: &str) -> Stream {
        let mut reader = open(port, "POST", path, "").await;
        let (status, head) = read_head(&mut reader).await;
        assert_eq!(status, 200, "{head}");
        Stream {
            reader,
            pending: String::new(),
        }
    }

    /// A streaming `GET` with extra `headers`, and the response's head.
    pub(crate) async fn get(port: u16, path: &str, headers: &str) -> (Stream, String) {
        let mut reader = open_with(port, "GET", path, headers, "").await;
        let (status, head) = read_head(&mut reader).await;
        assert_eq!(status, 200, "{head}");
        let stream = Stream {
            reader,
            pending: String::new(),
        };
        (stream, head)
    }

    pub(crate) async fn frame(&mut self) -> Option<String> {
        let line = self.until("\n").await?;
        Some(line.trim_end().to_owned())
    }

    /// The body up to and with the next `separator`; `None` when the body ends first.
    pub(crate) async fn until(&mut self, separator: &str) -> Option<String> {
        loop {
            if let Some(at) = self.pending.find(separator) {
                return Some(self.pending.drain(..at + separator.len()).collect());
            }
            let chunk = read_chunk(&mut self.reader).await?;
            self.pending.push_str(&chunk);
        }
    }
}

pub(crate) async fn xhr_send(port: u16, session: &str, frames: &[&str]) -> u16 {
    request(
        port,
        "POST",
        &format!("/ws/000/{session}/xhr_send"),
        &json(frames),
    )
    .await
    .status
}

/// A STOMP `CONNECT` as a SockJS client sends it.
pub(crate) const CONNECT: &str = "CONNECT\naccept-version:1.2\nhost:x\nheart-beat:0,0\n\n\0";
/// A `SUBSCRIBE` to `/topic/t` asking for receipt `r1`.
pub(crate) const SUBSCRIBE: &str = "SUBSCRIBE\nid:s1\ndestination:/topic/t\nreceipt:r1\n\n\0";

/// A server with no handler and SockJS set up with `options`.
pub(crate) async fn server(options: stomp_server::sockjs::SockJsOptions) -> super::TestServer {
    super::TestServer::start(
        stomp_server::StompServer::builder()
            .handlers(stomp_server::handler::Handlers::new())
            .sockjs_options(options),
    )
    .await
}

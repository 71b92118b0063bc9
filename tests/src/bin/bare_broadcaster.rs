//! `bare_broadcaster`: the ceiling of this stack for the benchmarks in BENCHMARKS.md.
//!
//! ```text
//! bare_broadcaster [--addr 127.0.0.1:0]
//! ```
//!
//! A STOMP-over-WebSocket server written straight on tokio-tungstenite, with none of the
//! framework: no handlers, interceptors, limits, heart-beats or user destinations. It does
//! only what a fan-out needs, the fastest way this stack allows, so that the framework can
//! be measured against it in the same run:
//!
//! - `CONNECT`/`STOMP` → `CONNECTED` (version 1.2, `heart-beat:0,0`); `SUBSCRIBE`,
//!   `UNSUBSCRIBE`; `SEND` → a `MESSAGE` to every subscriber of exactly that destination;
//!   `DISCONNECT`; a `RECEIPT` for any frame with a `receipt` header. Other frames are
//!   ignored, bad input closes the connection.
//! - One writer task per connection: it `feed`s everything queued and `flush`es once.
//! - A message is encoded once per distinct subscription id and the WebSocket message is
//!   shared (`Utf8Bytes` clones are reference counts).
//! - A 4 KiB WebSocket read buffer per connection (tungstenite's default is 128 KiB).
//! - The queue to each writer is unbounded: the load generator bounds what is in flight.
//!
//! Prints `LISTENING <port>` on stdout, then serves until killed.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use ::tests::server_support::parse_addr;
use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// One subscription of one connection.
#[derive(Clone)]
struct Subscriber {
    connection: u64,
    id: Arc<str>,
    queue: mpsc::UnboundedSender<Message>,
}

/// Destinations and their subscribers.
///
/// Why copy-on-write `Arc<Vec<_>>` under a std `RwLock`: a publish takes the read lock only
/// to clone one `Arc`, then delivers without any lock; subscribing (rare) rebuilds the list.
#[derive(Default)]
struct Hub {
    topics: RwLock<HashMap<String, Arc<Vec<Subscriber>>>>,
    next_message: AtomicU64,
}

impl Hub {
    fn subscribe(&self, destination: &str, subscriber: Subscriber) {
        let mut topics = self.topics.write().unwrap_or_else(PoisonError::into_inner);
        let list = topics.entry(destination.to_owned()).or_default();
        let mut next = Vec::with_capacity(list.len() + 1);
        next.extend(list.iter().cloned());
        next.push(subscriber);
        *list = Arc::new(next);
    }

    fn unsubscribe(&self, destination: &str, connection: u64, id: &str) {
        let mut topics = self.topics.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(list) = topics.get_mut(destination) {
            let next: Vec<Subscriber> = list
                .iter()
                .filter(|s| !(s.connection == connection && &*s.id == id))
                .cloned()
                .collect();
            if next.is_empty() {
                topics.remove(destination);
            } else {
                *list = Arc::new(next);
            }
        }
    }

    fn publish(&self, destination: &str, body: &Bytes) {
        let subscribers = self
            .topics
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(destination)
            .cloned();
        let Some(subscribers) = subscribers else {
            return;
        };
        let message_id = self.next_message.fetch_add(1, Ordering::Relaxed);
        let mut encoded: Vec<(Arc<str>, Message)> = Vec::new();
        for subscriber in subscribers.iter() {
            let message = match encoded.iter().find(|(id, _)| *id == subscriber.id) {
                Some((_, message)) => message.clone(),
                None => {
                    let message = encode_message(destination, message_id, &subscriber.id, body);
                    encoded.push((Arc::clone(&subscriber.id), message.clone()));
                    message
                }
            };
            // A closed queue is a connection on its way out; it unsubscribes itself.
            let _ = subscriber.queue.send(message);
        }
    }
}

fn encode_message(destination: &str, message_id: u64, subscription: &str, body: &Bytes) -> Message {
    let mut buf = BytesMut::with_capacity(96 + destination.len() + subscription.len() + body.len());
    buf.extend_from_slice(b"MESSAGE\ndestination:");
    buf.extend_from_slice(destination.as_bytes());
    buf.extend_from_slice(format!("\nmessage-id:{message_id}\nsubscription:").as_bytes());
    buf.extend_from_slice(subscription.as_bytes());
    buf.extend_from_slice(format!("\ncontent-length:{}\n\n", body.len()).as_bytes());
    buf.extend_from_slice(body);
    buf.extend_from_slice(b"\0");
    to_message(buf.freeze())
}

fn to_message(bytes: Bytes) -> Message {
    match Utf8Bytes::try_from(bytes.clone()) {
        Ok(text) => Message::Text(text),
        Err(_) => Message::Binary(bytes),
    }
}

/// A decoded frame: the command and the few headers this server reads.
#[derive(Debug, Default)]
struct RawFrame {
    command: Bytes,
    destination: Option<String>,
    id: Option<String>,
    receipt: Option<String>,
    body: Bytes,
}

/// Takes one frame off the front of `buf`: `Ok(None)` when it is not complete yet.
fn parse_frame(buf: &mut BytesMut) -> Result<Option<RawFrame>, String> {
    // Heart-beats (EOLs) between frames.
    let skip = buf
        .iter()
        .take_while(|&&b| b == b'\n' || b == b'\r')
        .count();
    let _ = buf.split_to(skip);
    if buf.is_empty() {
        return Ok(None);
    }
    let Some(head_end) = find_blank_line(buf) else {
        return Ok(None);
    };
    let (head_len, separator) = head_end;
    let body_start = head_len + separator;
    let mut frame = RawFrame::default();
    let mut content_length = None;
    let head = std::str::from_utf8(&buf[..head_len]).map_err(|_| "headers are not UTF-8")?;
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let command_line = lines.next().unwrap_or_default().to_owned();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        // The first occurrence of a header wins (STOMP 1.2).
        match name {
            "destination" if frame.destination.is_none() => {
                frame.destination = Some(value.to_owned());
            }
            "id" if frame.id.is_none() => frame.id = Some(value.to_owned()),
            "receipt" if frame.receipt.is_none() => frame.receipt = Some(value.to_owned()),
            "content-length" if content_length.is_none() => {
                content_length = Some(
                    value
                        .trim()
                        .parse::<usize>()
                        .map_err(|_| "bad content-length")?,
                );
            }
            _ => {}
        }
    }
    let body_end = match content_length {
        Some(len) => {
            if buf.len() < body_start + len + 1 {
                return Ok(None);
            }
            if buf[body_start + len] != 0 {
                return Err("no NUL after the content-length body".into());
            }
            body_start + len
        }
        None => match buf[body_start..].iter().position(|&b| b == 0) {
            Some(at) => body_start + at,
            None => return Ok(None),
        },
    };
    let mut whole = buf.split_to(body_end + 1).freeze();
    frame.body = whole.slice(body_start..body_end);
    whole.truncate(command_line.len());
    frame.command = whole;
    Ok(Some(frame))
}

/// The end of the header block: (its length, the length of the blank-line separator).
fn find_blank_line(buf: &[u8]) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(at) = buf[from..].iter().position(|&b| b == b'\n') {
        let at = from + at;
        match buf.get(at + 1) {
            Some(b'\n') => return Some((at, 2)),
            Some(b'\r') if buf.get(at + 2) == Some(&b'\n') => return Some((at, 3)),
            Some(_) => from = at + 1,
            None => return None,
        }
    }
    None
}

fn receipt_message(receipt: &str) -> Message {
    Message::text(format!("RECEIPT\nreceipt-id:{receipt}\n\n\0"))
}

/// Picks the highest STOMP sub-protocol the client offers.
fn choose_subprotocol(
    request: &Request,
    mut response: Response,
) -> Result<Response, ErrorResponse> {
    let offered: Vec<String> = request
        .headers()
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(',').map(|p| p.trim().to_owned()))
        .collect();
    for choice in ["v12.stomp", "v11.stomp", "v10.stomp"] {
        if offered.iter().any(|p| p == choice) {
            response
                .headers_mut()
                .insert("sec-websocket-protocol", HeaderValue::from_static(choice));
            break;
        }
    }
    Ok(response)
}

async fn run_writer(
    mut sink: impl futures_util::Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
    mut queue: mpsc::UnboundedReceiver<Message>,
) {
    while let Some(first) = queue.recv().await {
        let mut close = matches!(first, Message::Close(_));
        if sink.feed(first).await.is_err() {
            return;
        }
        let mut fed = 1;
        while !close && fed < 1024 {
            let Ok(message) = queue.try_recv() else {
                break;
            };
            close = matches!(message, Message::Close(_));
            if sink.feed(message).await.is_err() {
                return;
            }
            fed += 1;
        }
        if sink.flush().await.is_err() || close {
            return;
        }
    }
}

async fn serve(stream: TcpStream, hub: Arc<Hub>, connection: u64) {
    let _ = stream.set_nodelay(true);
    let config = WebSocketConfig::default().read_buffer_size(4 * 1024);
    let Ok(ws) =
        tokio_tungstenite::accept_hdr_async_with_config(stream, choose_subprotocol, Some(config))
            .await
    else {
        return;
    };
    let (sink, mut stream) = ws.split();
    let (queue, queue_rx) = mpsc::unbounded_channel();
    let writer = tokio::spawn(run_writer(sink, queue_rx));
    let mut buf = BytesMut::new();
    let mut subscriptions: Vec<(String, String)> = Vec::new();
    'read: while let Some(Ok(message)) = stream.next().await {
        match message {
            Message::Text(text) => buf.extend_from_slice(text.as_bytes()),
            Message::Binary(bytes) => buf.extend_from_slice(&bytes),
            Message::Close(_) => break,
            _ => continue,
        }
        loop {
            let frame = match parse_frame(&mut buf) {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(_) => break 'read,
            };
            let mut disconnect = false;
            match &frame.command[..] {
                b"SEND" => {
                    if let Some(destination) = &frame.destination {
                        hub.publish(destination, &frame.body);
                    }
                }
                b"CONNECT" | b"STOMP" => {
                    let _ = queue.send(Message::text(
                        "CONNECTED\nversion:1.2\nheart-beat:0,0\nserver:bare_broadcaster\n\n\0",
                    ));
                }
                b"SUBSCRIBE" => {
                    if let (Some(destination), Some(id)) = (&frame.destination, &frame.id) {
                        hub.subscribe(
                            destination,
                            Subscriber {
                                connection,
                                id: Arc::from(id.as_str()),
                                queue: queue.clone(),
                            },
                        );
                        subscriptions.push((destination.clone(), id.clone()));
                    }
                }
                b"UNSUBSCRIBE" => {
                    if let Some(id) = &frame.id {
                        if let Some(at) = subscriptions.iter().position(|(_, s)| s == id) {
                            let (destination, id) = subscriptions.swap_remove(at);
                            hub.unsubscribe(&destination, connection, &id);
                        }
                    }
                }
                b"DISCONNECT" => disconnect = true,
                _ => {}
            }
            if let Some(receipt) = &frame.receipt {
                let _ = queue.send(receipt_message(receipt));
            }
            if disconnect {
                let _ = queue.send(Message::Close(None));
                break 'read;
            }
        }
    }
    for (destination, id) in subscriptions {
        hub.unsubscribe(&destination, connection, &id);
    }
    drop(queue);
    let _ = writer.await;
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let addr = match parse_addr("bare_broadcaster", std::env::args().skip(1)) {
        Ok(addr) => addr,
        Err(message) => {
            eprintln!("bare_broadcaster: {message}");
            return std::process::ExitCode::from(2);
        }
    };
    let listener = match TcpListener::bind(&addr).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("bare_broadcaster: cannot listen on {addr}: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    {
        let mut stdout = std::io::stdout().lock();
        if writeln!(stdout, "LISTENING {port}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            return std::process::ExitCode::FAILURE;
        }
    }
    let hub = Arc::new(Hub::default());
    let mut next_connection = 0u64;
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                next_connection += 1;
                tokio::spawn(serve(stream, Arc::clone(&hub), next_connection));
            }
            Err(error) => {
                // Out of file descriptors and the like: back off instead of spinning.
                eprintln!("bare_broadcaster: accept failed: {error}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_with_and_without_content_length() {
        let mut buf = BytesMut::from(
            &b"\nSEND\ndestination:/topic/a\ncontent-length:3\n\na\0b\0SUBSCRIBE\r\nid:s\r\ndestination:/t\r\nreceipt:r1\r\n\r\n\0SEND\ndestination:/x\n\npartial"[..],
        );
        let first = parse_frame(&mut buf).expect("ok").expect("frame");
        assert_eq!(&first.command[..], b"SEND");
        assert_eq!(first.destination.as_deref(), Some("/topic/a"));
        assert_eq!(&first.body[..], b"a\0b");
        let second = parse_frame(&mut buf).expect("ok").expect("frame");
        assert_eq!(&second.command[..], b"SUBSCRIBE");
        assert_eq!(second.id.as_deref(), Some("s"));
        assert_eq!(second.receipt.as_deref(), Some("r1"));
        assert!(parse_frame(&mut buf).expect("ok").is_none(), "incomplete");
        buf.extend_from_slice(b"\0");
        let third = parse_frame(&mut buf).expect("ok").expect("frame");
        assert_eq!(&third.body[..], b"partial");
        assert!(buf.is_empty());
    }

    #[test]
    fn messages_are_encoded_once_per_subscription_id() {
        let hub = Hub::default();
        let (tx, mut rx) = mpsc::unbounded_channel();
        for connection in 0..3 {
            hub.subscribe(
                "/t",
                Subscriber {
                    connection,
                    id: Arc::from("sub-0"),
                    queue: tx.clone(),
                },
            );
        }
        hub.publish("/t", &Bytes::from_static(b"hi"));
        let mut texts = Vec::new();
        while let Ok(Message::Text(text)) = rx.try_recv() {
            texts.push(text);
        }
        assert_eq!(texts.len(), 3);
        assert_eq!(
            texts[0].as_str(),
            "MESSAGE\ndestination:/t\nmessage-id:0\nsubscription:sub-0\ncontent-length:2\n\nhi\0"
        );
        assert_eq!(
            texts[0].as_str().as_ptr(),
            texts[2].as_str().as_ptr(),
            "shared"
        );
        hub.unsubscribe("/t", 1, "sub-0");
        hub.publish("/t", &Bytes::from_static(b"again"));
        assert_eq!(std::iter::from_fn(|| rx.try_recv().ok()).count(), 2);
    }
}

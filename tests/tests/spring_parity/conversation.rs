//! One scripted STOMP conversation, played against a server over a raw WebSocket; what the
//! server answers to each step is recorded in a comparable form.

use std::time::Duration;

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use stomp_core::{Decoder, Frame, FrameLimits, Version};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

/// How long a step waits for the first frame of its answer.
const FIRST_FRAME: Duration = Duration::from_secs(3);
/// An answer is over when nothing more arrives for this long.
const QUIET: Duration = Duration::from_millis(400);

/// One step: a client frame (raw STOMP text, NUL added) and what it is for.
pub(crate) struct Step {
    pub(crate) name: &'static str,
    pub(crate) frame: String,
}

fn step(name: &'static str, frame: String) -> Step {
    Step { name, frame }
}

fn send_json(destination: &str, body: &str) -> String {
    format!("SEND\ndestination:{destination}\ncontent-type:application/json\n\n{body}")
}

/// The conversation: the features of the reference app, errors included.
pub(crate) fn script(room: &str) -> Vec<Step> {
    vec![
        step("connect", "CONNECT\naccept-version:1.2\nhost:localhost\nlogin:alice\npasscode:x\nheart-beat:0,0\n\n".to_owned()),
        step("subscribe room", format!("SUBSCRIBE\nid:sub-0\ndestination:/topic/chat/{room}\nreceipt:r-sub-0\n\n")),
        step("subscribe errors", "SUBSCRIBE\nid:sub-1\ndestination:/user/queue/errors\n\n".to_owned()),
        step("subscribe greetings", "SUBSCRIBE\nid:sub-2\ndestination:/topic/greetings\n\n".to_owned()),
        step("post", send_json(&format!("/app/chat/{room}"), r#"{"content":"hello"}"#)),
        step("post with receipt", format!("SEND\ndestination:/app/chat/{room}\ncontent-type:application/json\nreceipt:r-send\n\n{{\"content\":\"second\"}}")),
        step("history", format!("SUBSCRIBE\nid:sub-3\ndestination:/app/chat/{room}/history\n\n")),
        step("empty post", send_json(&format!("/app/chat/{room}"), r#"{"content":"  "}"#)),
        step("bad room", send_json("/app/chat/bad!room", r#"{"content":"x"}"#)),
        step("unreadable body", send_json(&format!("/app/chat/{room}"), "not json")),
        step("greeting", send_json("/app/hello", r#"{"name":"<b>Spring</b>"}"#)),
        step("send to topic", format!("SEND\ndestination:/topic/chat/{room}\ncontent-type:text/plain\n\nstraight to the broker")),
        step("unsubscribe", "UNSUBSCRIBE\nid:sub-0\nreceipt:r-unsub\n\n".to_owned()),
        step("post after unsubscribe", send_json(&format!("/app/chat/{room}"), r#"{"content":"unheard"}"#)),
        step("no handler", "SEND\ndestination:/app/nobody/home\n\nx".to_owned()),
    ]
}

/// A second, short conversation on its own connection: `DISCONNECT` with a receipt (the
/// first conversation ends with the server closing the session).
pub(crate) fn disconnect_script() -> Vec<Step> {
    vec![
        step("connect again", "CONNECT\naccept-version:1.2\nhost:localhost\nlogin:bob\npasscode:x\nheart-beat:0,0\n\n".to_owned()),
        step("disconnect", "DISCONNECT\nreceipt:r-bye\n\n".to_owned()),
    ]
}

/// A frame as compared: its command and the headers a client relies on, with the body's
/// JSON stripped of values that differ by nature (ids, times).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Seen {
    pub(crate) command: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

/// The headers compared, per command.
const COMPARED: [&str; 7] = [
    "version",
    "heart-beat",
    "destination",
    "subscription",
    "receipt-id",
    "content-type",
    "user-name",
];

impl Seen {
    fn from_frame(frame: &Frame, room: &str) -> Seen {
        let headers = COMPARED
            .iter()
            .filter_map(|name| {
                frame
                    .get(name)
                    .map(|v| ((*name).to_owned(), v.replace(room, "{room}")))
            })
            .collect();
        let text = String::from_utf8_lossy(&frame.body).replace(room, "{room}");
        let body = match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(mut json) => {
                mask(&mut json);
                json.to_string()
            }
            Err(_) => text,
        };
        Seen {
            command: frame.command.to_string(),
            headers,
            body,
        }
    }
}

/// Replaces `id` and `timestamp` values, which no two servers share.
fn mask(json: &mut serde_json::Value) {
    match json {
        serde_json::Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if key == "id" || key == "timestamp" {
                    *value = serde_json::Value::String("*".to_owned());
                } else {
                    mask(value);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(mask),
        _ => {}
    }
}

/// What each step got back, in order.
pub(crate) type Transcript = Vec<(&'static str, Vec<Seen>)>;

/// Plays `script` against the STOMP endpoint `url`.
pub(crate) async fn play(url: &str, room: &str, script: &[Step]) -> Transcript {
    let host = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .expect("a ws:// URL");
    let tcp = TcpStream::connect(host)
        .await
        .unwrap_or_else(|error| panic!("cannot reach {host}: {error}"));
    let (mut ws, _) = tokio_tungstenite::client_async(url, tcp)
        .await
        .unwrap_or_else(|error| panic!("cannot open {url}: {error}"));
    let mut reader = FrameReader::new();
    let mut transcript = Vec::new();
    for step in script {
        let mut text = step.frame.clone();
        text.push('\0');
        if ws.send(WsMessage::text(text)).await.is_err() {
            transcript.push((step.name, vec![closed()]));
            break;
        }
        let answer = reader.answer(&mut ws, room).await;
        let ended = answer.last().is_some_and(|s| s.command == "(closed)");
        transcript.push((step.name, answer));
        if ended {
            break;
        }
    }
    transcript
}

fn closed() -> Seen {
    Seen {
        command: "(closed)".to_owned(),
        headers: Vec::new(),
        body: String::new(),
    }
}

/// Frames out of WebSocket messages (a message may carry several frames, or part of one).
struct FrameReader {
    decoder: Decoder,
    buffer: BytesMut,
}

impl FrameReader {
    fn new() -> FrameReader {
        let mut decoder = Decoder::new(FrameLimits {
            max_frame_size: 1 << 20,
            max_headers: 64,
            max_header_line: 8192,
            max_content_length: 1 << 20,
        });
        decoder.set_version(Version::V1_2);
        FrameReader {
            decoder,
            buffer: BytesMut::new(),
        }
    }

    /// Everything the server sends until it has been quiet for [`QUIET`].
    async fn answer(&mut self, ws: &mut WebSocketStream<TcpStream>, room: &str) -> Vec<Seen> {
        let mut seen = Vec::new();
        let mut wait = FIRST_FRAME;
        loop {
            while let Ok(Some(frame)) = self.decoder.decode(&mut self.buffer) {
                seen.push(Seen::from_frame(&frame, room));
                wait = QUIET;
            }
            match tokio::time::timeout(wait, ws.next()).await {
                Err(_) => return seen,
                Ok(Some(Ok(WsMessage::Text(text)))) => {
                    self.buffer.extend_from_slice(text.as_bytes());
                }
                Ok(Some(Ok(WsMessage::Binary(bytes)))) => self.buffer.extend_from_slice(&bytes),
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(_)) | None) => {
                    seen.push(closed());
                    return seen;
                }
            }
        }
    }
}

//! Return values through `IntoReply`, end to end: `Vec<u8>` is a binary body, a user-defined
//! reply type chooses its own body and headers, and `Json<T>` always sends JSON.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{TestServer, WAIT};
use stomp_server::{
    handler::{Outcome, ReplyMessage},
    message_mapping, send_to, IntoReply, Json, Payload, StompServer,
};

#[message_mapping("/reply-types/raw")]
#[send_to("/topic/reply-types/raw")]
fn raw(Payload(text): Payload<String>) -> Vec<u8> {
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(b"\0\xff");
    bytes
}

/// Rows sent as CSV with a header naming the row count.
struct Csv(Vec<(String, u32)>);

impl IntoReply for Csv {
    fn into_reply(self) -> Outcome {
        let text: String = self.0.iter().map(|(k, v)| format!("{k},{v}\n")).collect();
        let rows = self.0.len().to_string();
        Outcome::Reply(ReplyMessage::new(text, "text/csv").header("rows", rows))
    }
}

#[message_mapping("/reply-types/csv")]
#[send_to("/topic/reply-types/csv")]
fn csv(Payload(name): Payload<String>) -> Csv {
    Csv(vec![(name, 1), ("b".to_owned(), 2)])
}

#[message_mapping("/reply-types/json")]
#[send_to("/topic/reply-types/json")]
fn json(Payload(text): Payload<String>) -> Json<String> {
    Json(text)
}

async fn server() -> TestServer {
    TestServer::start(StompServer::builder()).await
}

#[tokio::test]
async fn vec_u8_is_sent_as_raw_bytes() {
    let server = server().await;
    let s = server.connect_anonymous().await;
    let mut sub = s.subscribe("/topic/reply-types/raw").await.unwrap();
    s.send("/app/reply-types/raw", "ab").await.unwrap();
    let frame = sub.next_timeout(WAIT).await.unwrap();
    assert_eq!(&frame.body[..], b"ab\0\xff");
    assert_eq!(frame.content_type(), Some("application/octet-stream"));
    assert_eq!(frame.get("content-length"), Some("4"));
}

#[tokio::test]
async fn a_user_reply_type_chooses_body_and_headers() {
    let server = server().await;
    let s = server.connect_anonymous().await;
    let mut sub = s.subscribe("/topic/reply-types/csv").await.unwrap();
    s.send("/app/reply-types/csv", "a").await.unwrap();
    let frame = sub.next_timeout(WAIT).await.unwrap();
    assert_eq!(&frame.body[..], b"a,1\nb,2\n");
    assert_eq!(frame.content_type(), Some("text/csv"));
    assert_eq!(frame.get("rows"), Some("2"));
}

#[tokio::test]
async fn json_sends_a_string_as_json() {
    let server = server().await;
    let s = server.connect_anonymous().await;
    let mut sub = s.subscribe("/topic/reply-types/json").await.unwrap();
    s.send("/app/reply-types/json", "hi").await.unwrap();
    let frame = sub.next_timeout(WAIT).await.unwrap();
    assert_eq!(&frame.body[..], b"\"hi\"");
    assert_eq!(frame.content_type(), Some("application/json"));
}

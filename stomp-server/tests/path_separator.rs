//! Spring's `new AntPathMatcher(".")`: with `.path_separator('.')` mappings, `send_to`
//! templates and subscription patterns use dots. The separator holds for every mapping of
//! the application, so this binary has only dotted ones.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{next_body, nothing_more, TestServer};
use stomp_server::{message_mapping, send_to, Payload, StompServer};

#[message_mapping("chat.<room>")]
#[send_to("/topic/chat.<room>")]
fn chat(room: String, Payload(text): Payload<String>) -> String {
    format!("{room}: {text}")
}

#[tokio::test]
async fn a_dot_separator_maps_dotted_destinations_and_patterns() {
    let server = TestServer::start(StompServer::builder().path_separator('.')).await;
    let s = server.connect_anonymous().await;
    // `*` matches one dotted segment, `**` any number of them.
    let mut rooms = s.subscribe("/topic/chat.*").await.unwrap();
    let mut everything = s.subscribe("/topic/chat.**").await.unwrap();
    let mut deeper = s.subscribe("/topic/chat.*.x").await.unwrap();
    s.send("/app/chat.lobby", "hello").await.unwrap();
    let (frame, body) = next_body(&mut rooms).await;
    assert_eq!(body, "lobby: hello");
    assert_eq!(frame.destination(), Some("/topic/chat.lobby"));
    assert_eq!(next_body(&mut everything).await.1, "lobby: hello");
    nothing_more(&mut deeper, "chat.*.x must not match chat.lobby").await;
}

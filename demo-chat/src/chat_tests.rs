//! The chat over STOMP, through `stomp_server::test`: the demo's own server (default mode:
//! the `CONNECT` login names the user) with in-memory sessions. Rooms, history, presence,
//! the errors answered on `/user/queue/errors`, and the rules that keep clients off the
//! broker's destinations.

use std::time::Duration;

use serde_json::{json, Value};
use stomp_server::test::{TestServer, TestSession};

use crate::auth::Auth;
use crate::rooms::Rooms;

/// How long a test waits to see that nothing more arrives.
const QUIET: Duration = Duration::from_millis(200);

/// The demo's server in default mode, with the task that publishes presence changes.
struct Chat {
    server: TestServer,
    presence: tokio::task::JoinHandle<()>,
}

impl Chat {
    fn start() -> Chat {
        let rooms = Rooms::new();
        let server = crate::build_server(
            Auth::open(),
            &crate::Broker::Embedded,
            rooms.clone(),
            crate::Listeners::default(),
        )
        .expect("the demo builds");
        let server = TestServer::new(server);
        let template = server.template();
        let presence = tokio::spawn(async move {
            crate::presence::publish_changes(&rooms, &template).await;
        });
        Chat { server, presence }
    }

    /// A session of `name`, logged in as the page does (`CONNECT` with `login`).
    async fn join(&self, name: &str) -> TestSession {
        self.server.client().login(name, "").connect().await
    }
}

impl Drop for Chat {
    fn drop(&mut self) {
        self.presence.abort();
    }
}

#[tokio::test]
async fn a_post_reaches_everyone_in_the_room_with_the_senders_name() {
    let chat = Chat::start();
    let mut alice = chat.join("alice").await;
    let mut bob = chat.join("bob").await;
    alice.subscribe("/topic/chat/lobby").await;
    bob.subscribe("/topic/chat/lobby").await;
    bob.subscribe("/topic/chat/elsewhere").await;
    // The principal's name wins over a `sender` in the body.
    let post = json!({ "sender": "mallory", "content": "hello" });
    alice.send_json("/app/chat/lobby", &post).await;
    for session in [&mut alice, &mut bob] {
        let message: Value = session.expect_json("/topic/chat/lobby").await;
        assert_eq!(message["sender"], "alice");
        assert_eq!(message["content"], "hello");
        assert_eq!(message["room"], "lobby");
    }
    bob.expect_no_message("/topic/chat/elsewhere", QUIET).await;
}

#[tokio::test]
async fn history_answers_the_subscriber_once_with_the_last_messages() {
    let chat = Chat::start();
    let alice = chat.join("alice").await;
    for n in 1..=3 {
        let post = json!({ "content": format!("message {n}") });
        alice
            .send_with_receipt("/app/chat/history-room", serde_json::to_vec(&post).unwrap())
            .await;
    }
    let mut bob = chat.join("bob").await;
    bob.subscribe("/app/chat/history-room/history").await;
    let history: Vec<Value> = bob.expect_json("/app/chat/history-room/history").await;
    let contents: Vec<&str> = history
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(contents, ["message 1", "message 2", "message 3"]);
    bob.expect_no_message("/app/chat/history-room/history", QUIET)
        .await;
}

#[tokio::test]
async fn joining_announces_the_user_and_publishes_the_member_list() {
    let chat = Chat::start();
    let mut alice = chat.join("alice").await;
    alice.subscribe("/topic/chat/presence/events").await;
    alice.subscribe("/topic/chat/presence/members").await;
    let mut bob = chat.join("bob").await;
    bob.subscribe("/topic/chat/presence").await;
    let notice: Value = alice.expect_json("/topic/chat/presence/events").await;
    assert_eq!(
        (notice["type"].as_str(), notice["user"].as_str()),
        (Some("join"), Some("bob"))
    );
    let members: Value = alice.expect_json("/topic/chat/presence/members").await;
    assert_eq!(members["members"], json!(["bob"]));

    // Asked once, the member list comes to the subscriber alone.
    alice.subscribe("/app/chat/presence/members").await;
    let members: Value = alice.expect_json("/app/chat/presence/members").await;
    assert_eq!(members["members"], json!(["bob"]));

    bob.disconnect().await;
    let notice: Value = alice.expect_json("/topic/chat/presence/events").await;
    assert_eq!(
        (notice["type"].as_str(), notice["user"].as_str()),
        (Some("leave"), Some("bob"))
    );
}

#[tokio::test]
async fn bad_input_is_answered_to_the_sender_alone_and_the_session_stays_open() {
    let chat = Chat::start();
    let mut alice = chat.join("alice").await;
    let mut bob = chat.join("bob").await;
    for session in [&mut alice, &mut bob] {
        session.subscribe("/user/queue/errors").await;
        session.subscribe("/topic/chat/strict").await;
    }
    let cases = [
        ("/app/chat/strict", json!({ "content": "   " }), "empty"),
        (
            "/app/chat/strict",
            json!({ "text": "no content" }),
            "must be JSON",
        ),
        (
            "/app/chat/no%20such",
            json!({ "content": "hi" }),
            "invalid room name",
        ),
        (
            "/app/chat/a/b",
            json!({ "content": "hi" }),
            "invalid room name",
        ),
    ];
    for (destination, body, why) in cases {
        alice.send_json(destination, &body).await;
        let answer: Value = alice.expect_json("/user/queue/errors").await;
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(error.contains(why), "{destination} {body}: {error}");
    }
    let too_long = json!({ "content": "x".repeat(crate::errors::CONTENT_MAX + 1) });
    alice.send_json("/app/chat/strict", &too_long).await;
    let answer: Value = alice.expect_json("/user/queue/errors").await;
    assert!(
        answer["error"]
            .as_str()
            .unwrap_or_default()
            .contains("too long"),
        "{answer}"
    );

    bob.expect_no_message("/user/queue/errors", QUIET).await;
    bob.expect_no_message("/topic/chat/strict", QUIET).await;
    alice
        .send_json("/app/chat/strict", &json!({ "content": "still here" }))
        .await;
    let message: Value = bob.expect_json("/topic/chat/strict").await;
    assert_eq!(message["content"], "still here");
}

#[tokio::test]
async fn clients_may_not_publish_to_a_room_topic_directly() {
    let chat = Chat::start();
    let mut mallory = chat.join("mallory").await;
    mallory
        .send_json(
            "/topic/chat/lobby",
            &json!({ "sender": "alice", "content": "fake" }),
        )
        .await;
    let error = mallory.expect_error().await;
    assert!(error.message().contains("denied"), "{}", error.message());
    mallory.expect_closed().await;
}

#[tokio::test]
async fn a_login_that_is_not_a_valid_name_is_refused_at_connect() {
    let chat = Chat::start();
    let why = chat.server.client().expect_connect_error().await;
    assert!(why.contains("`login`") && why.contains("empty"), "{why}");
    let why = chat
        .server
        .client()
        .login("a/b", "")
        .expect_connect_error()
        .await;
    assert!(why.contains("only contain"), "{why}");
}

#[tokio::test]
async fn a_user_queue_reaches_every_session_of_its_user_and_nobody_else() {
    let chat = Chat::start();
    let mut phone = chat.join("alice").await;
    let mut laptop = chat.join("alice").await;
    let mut bob = chat.join("bob").await;
    for session in [&mut phone, &mut laptop, &mut bob] {
        session.subscribe("/user/queue/notices").await;
    }
    chat.server
        .template()
        .convert_and_send_to_user("alice", "/queue/notices", &json!({ "text": "hi alice" }))
        .unwrap();
    for session in [&mut phone, &mut laptop] {
        let notice: Value = session.expect_json("/user/queue/notices").await;
        assert_eq!(notice["text"], "hi alice");
    }
    bob.expect_no_message("/user/queue/notices", QUIET).await;
}

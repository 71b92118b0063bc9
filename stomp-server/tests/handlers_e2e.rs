//! End to end through the real dispatcher: arguments, return values, routing rules and
//! exception-handler scoping, over real sockets with the framework's client.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::{error_message, login_interceptor, nothing_more, TestServer, WAIT};
use serde::{Deserialize, Serialize};
use stomp_server::{
    message_exception_handler, message_mapping, send_to, send_to_user, subscribe_mapping,
    Destination, HandlerError, Message, MessageHeaders, Payload, PayloadError, Principal,
    SessionId, State, StompServer, Template,
};

#[derive(Debug, Deserialize)]
struct Post {
    content: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Echo {
    room: String,
    number: u32,
    content: String,
    sender: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("room `{0}` is closed")]
struct RoomClosed(String);

#[derive(Debug, thiserror::Error)]
#[error("nobody handles this one")]
struct Unhandled;

struct Counter(std::sync::atomic::AtomicU32);

#[message_mapping("/echo/<room>/<number>")]
#[send_to("/topic/echo/<room>")]
async fn echo(
    room: String,
    number: u32,
    user: Option<Principal>,
    Payload(post): Payload<Post>,
) -> Result<Echo, RoomClosed> {
    if room == "closed" {
        return Err(RoomClosed(room));
    }
    Ok(Echo {
        room,
        number,
        content: post.content,
        sender: user.map(|p| p.name().to_owned()),
    })
}

// No send_to: Spring's default, /topic + the lookup destination.
#[message_mapping("/plain")]
fn plain(Payload(text): Payload<String>) -> String {
    text.to_uppercase()
}

#[message_mapping("/binary")]
#[send_to("/topic/binary")]
fn binary(Payload(raw): Payload<Bytes>) -> Bytes {
    raw
}

#[message_mapping("/nothing")]
fn nothing(counter: State<Counter>) {
    counter
        .0
         .0
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

#[message_mapping("/headers")]
#[send_to("/topic/headers")]
fn headers(
    #[header("x-token")] token: String,
    #[header] priority: Option<u8>,
    all: MessageHeaders,
    destination: Destination,
    session: SessionId,
) -> Message<String> {
    Message::new(format!(
        "{token}|{priority:?}|{}|{}",
        all.len(),
        &*destination
    ))
    .header("x-session-seen", session.to_string().is_empty().to_string())
}

#[subscribe_mapping("/history/<room>")]
fn history(room: String) -> Vec<String> {
    vec![format!("{room}-1"), format!("{room}-2")]
}

// With send_to, a subscribe mapping's reply goes to the broker instead of the subscriber.
#[subscribe_mapping("/announce/<room>")]
#[send_to("/topic/announce/<room>")]
fn announce(room: String) -> String {
    format!("someone joined {room}")
}

#[message_mapping("/counter")]
#[send_to("/topic/counter")]
fn counter(counter: State<Counter>) -> String {
    (counter
        .0
         .0
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        + 1)
    .to_string()
}

#[message_mapping("/whoami")]
#[send_to_user("/queue/whoami", broadcast = false)]
fn whoami(user: Principal) -> String {
    user.name().to_owned()
}

#[message_mapping("/notify")]
#[send_to_user("/queue/notify")]
fn notify(Payload(text): Payload<String>) -> String {
    text
}

#[message_mapping("/unhandled")]
fn unhandled() -> Result<(), Unhandled> {
    Err(Unhandled)
}

#[message_mapping("/template")]
fn via_template(template: Template, Payload(text): Payload<String>) {
    template
        .convert_and_send("/topic/template", &format!("via template: {text}"))
        .ok();
}

// Local (same module) handlers come before global ones; a concrete type beats a catch-all.
#[message_exception_handler]
#[send_to_user("/queue/errors", broadcast = false)]
fn on_room_closed(error: RoomClosed) -> String {
    format!("local: {error}")
}

#[message_exception_handler]
#[send_to_user("/queue/errors", broadcast = false)]
fn on_bad_payload(error: PayloadError) -> String {
    format!("payload: {}", error.reason)
}

mod advice {
    use super::*;

    #[message_exception_handler(global)]
    #[send_to_user("/queue/errors", broadcast = false)]
    fn on_anything(error: HandlerError) -> String {
        format!("global: {error}")
    }

    #[message_exception_handler(global)]
    #[send_to_user("/queue/errors", broadcast = false)]
    fn on_room_closed_globally(error: RoomClosed) -> String {
        format!("global room: {error}")
    }

    #[message_mapping("/advice/closed")]
    fn closed_elsewhere() -> Result<(), RoomClosed> {
        Err(RoomClosed("elsewhere".to_owned()))
    }
}

async fn server() -> TestServer {
    TestServer::start(
        StompServer::builder()
            .interceptor(login_interceptor)
            .state(Counter(std::sync::atomic::AtomicU32::new(0))),
    )
    .await
}

fn json(frame: &stomp_server::Frame) -> serde_json::Value {
    serde_json::from_slice(&frame.body).expect("json body")
}

#[tokio::test]
async fn path_variables_payload_principal_and_send_to() {
    let server = server().await;
    let alice = server.connect("alice").await;
    let mut sub = alice.subscribe("/topic/echo/r1").await.unwrap();
    alice
        .send("/app/echo/r1/7", r#"{"content":"hi"}"#)
        .await
        .unwrap();
    let frame = sub.next_timeout(WAIT).await.unwrap();
    assert_eq!(frame.content_type(), Some("application/json"));
    assert_eq!(frame.destination(), Some("/topic/echo/r1"));
    let echo: Echo = serde_json::from_slice(&frame.body).unwrap();
    assert_eq!(
        echo,
        Echo {
            room: "r1".into(),
            number: 7,
            content: "hi".into(),
            sender: Some("alice".into())
        }
    );
}

#[tokio::test]
async fn default_destination_text_and_binary_returns() {
    let server = server().await;
    let s = server.connect_anonymous().await;
    let mut plain = s.subscribe("/topic/plain").await.unwrap();
    let mut binary = s.subscribe("/topic/binary").await.unwrap();
    s.send("/app/plain", "shout").await.unwrap();
    let frame = plain.next_timeout(WAIT).await.unwrap();
    assert_eq!(&frame.body[..], b"SHOUT");
    assert_eq!(frame.content_type(), Some("text/plain;charset=UTF-8"));
    let body = Bytes::from_static(b"a\0b\xff\0");
    s.send("/app/binary", body.clone()).await.unwrap();
    let frame = binary.next_timeout(WAIT).await.unwrap();
    assert_eq!(frame.body, body);
    assert_eq!(frame.content_type(), Some("application/octet-stream"));
}

#[tokio::test]
async fn unit_return_sends_nothing() {
    let server = server().await;
    let s = server.connect_anonymous().await;
    let mut topic = s.subscribe("/topic/nothing").await.unwrap();
    s.send("/app/nothing", "").await.unwrap();
    s.send("/app/nothing", "").await.unwrap();
    nothing_more(&mut topic, "a () return must send nothing").await;
}

#[tokio::test]
async fn header_arguments_and_message_return_headers() {
    let server = server().await;
    let s = server.connect_anonymous().await;
    let mut topic = s.subscribe("/topic/headers").await.unwrap();
    let frame = stomp_server::Frame::new(stomp_server::Command::Send)
        .header("destination", "/app/headers")
        .header("x-token", "abc")
        .header("priority", "5");
    s.send_frame(frame).await.unwrap();
    let got = topic.next_timeout(WAIT).await.unwrap();
    assert_eq!(got.body_str(), Some("abc|Some(5)|3|/app/headers"));
    assert_eq!(got.get("x-session-seen"), Some("false"));
}

#[tokio::test]
async fn missing_required_header_goes_to_the_catch_all() {
    let server = server().await;
    let s = server.connect("carol").await;
    let mut errors = s.subscribe("/user/queue/errors").await.unwrap();
    s.send("/app/headers", "").await.unwrap();
    let got = errors.next_timeout(WAIT).await.unwrap();
    assert_eq!(
        got.body_str(),
        Some("global: missing required header `x-token`")
    );
    assert_eq!(got.destination(), Some("/user/queue/errors"));
}

#[tokio::test]
async fn subscribe_mapping_answers_only_the_subscriber() {
    let server = server().await;
    let a = server.connect_anonymous().await;
    let b = server.connect_anonymous().await;
    let mut b_sub = b.subscribe("/topic/history/r9").await.unwrap();
    let mut history = a.subscribe("/app/history/r9").await.unwrap();
    let frame = history.next_timeout(WAIT).await.unwrap();
    assert_eq!(frame.get("subscription"), Some(history.id()));
    assert_eq!(frame.destination(), Some("/app/history/r9"));
    assert_eq!(json(&frame), serde_json::json!(["r9-1", "r9-2"]));
    nothing_more(&mut b_sub, "expected nothing").await;
    history.unsubscribe().await.unwrap();
}

#[tokio::test]
async fn send_to_user_without_broadcast_reaches_only_the_sending_session() {
    let server = server().await;
    let first = server.connect("dave").await;
    let second = server.connect("dave").await;
    let mut one = first.subscribe("/user/queue/whoami").await.unwrap();
    let mut two = second.subscribe("/user/queue/whoami").await.unwrap();
    first.send("/app/whoami", "").await.unwrap();
    assert_eq!(
        one.next_timeout(WAIT).await.unwrap().body_str(),
        Some("dave")
    );
    nothing_more(&mut two, "expected nothing").await;
}

#[tokio::test]
async fn send_to_user_broadcast_reaches_every_session_of_the_user() {
    let server = server().await;
    let first = server.connect("erin").await;
    let second = server.connect("erin").await;
    let other = server.connect("frank").await;
    let mut one = first.subscribe("/user/queue/notify").await.unwrap();
    let mut two = second.subscribe("/user/queue/notify").await.unwrap();
    let mut three = other.subscribe("/user/queue/notify").await.unwrap();
    first.send("/app/notify", "ping").await.unwrap();
    assert_eq!(
        one.next_timeout(WAIT).await.unwrap().body_str(),
        Some("ping")
    );
    assert_eq!(
        two.next_timeout(WAIT).await.unwrap().body_str(),
        Some("ping")
    );
    nothing_more(&mut three, "expected nothing").await;
}

#[tokio::test]
async fn anonymous_send_to_user_behaves_as_no_broadcast() {
    let server = server().await;
    let anon = server.connect_anonymous().await;
    let mut own = anon.subscribe("/user/queue/notify").await.unwrap();
    anon.send("/app/notify", "me").await.unwrap();
    assert_eq!(own.next_timeout(WAIT).await.unwrap().body_str(), Some("me"));
}

#[tokio::test]
async fn exception_handlers_local_first_then_global_most_specific_first() {
    let server = server().await;
    let s = server.connect("gina").await;
    let mut errors = s.subscribe("/user/queue/errors").await.unwrap();
    // Local handler for RoomClosed beats the global one.
    s.send("/app/echo/closed/1", r#"{"content":"x"}"#)
        .await
        .unwrap();
    assert_eq!(
        errors.next_timeout(WAIT).await.unwrap().body_str(),
        Some("local: room `closed` is closed")
    );
    // Payload errors carry serde's message.
    s.send("/app/echo/r1/1", r#"{"nope":1}"#).await.unwrap();
    let body = errors.next_timeout(WAIT).await.unwrap();
    assert!(
        body.body_str()
            .unwrap()
            .starts_with("payload: missing field `content`"),
        "{:?}",
        body.body_str()
    );
    // A path variable that does not parse is a handler error too (caught globally here).
    s.send("/app/echo/r1/notanumber", r#"{"content":"x"}"#)
        .await
        .unwrap();
    let body = errors.next_timeout(WAIT).await.unwrap();
    assert!(
        body.body_str()
            .unwrap()
            .starts_with("global: path variable `number`"),
        "{:?}",
        body.body_str()
    );
    // In the advice module, the concrete global handler beats the global catch-all.
    s.send("/app/advice/closed", "").await.unwrap();
    assert_eq!(
        errors.next_timeout(WAIT).await.unwrap().body_str(),
        Some("global room: room `elsewhere` is closed")
    );
    // The session is still usable.
    assert!(!s.is_closed());
}

#[tokio::test]
async fn template_argument_publishes() {
    let server = server().await;
    let s = server.connect_anonymous().await;
    let mut topic = s.subscribe("/topic/template").await.unwrap();
    s.send("/app/template", "x").await.unwrap();
    assert_eq!(
        topic.next_timeout(WAIT).await.unwrap().body_str(),
        Some("via template: x")
    );
    // And from outside any handler.
    server
        .template
        .convert_and_send("/topic/template", "from a job")
        .unwrap();
    assert_eq!(
        topic.next_timeout(WAIT).await.unwrap().body_str(),
        Some("from a job")
    );
}

#[tokio::test]
async fn unhandled_errors_become_an_error_frame_by_default() {
    let server = TestServer::start(
        StompServer::builder().handlers(
            stomp_server::handler::Handlers::new().mapping(
                *stomp_server::handler::Handlers::collected()
                    .mappings()
                    .iter()
                    .find(|d| d.pattern == "/unhandled")
                    .unwrap(),
            ),
        ),
    )
    .await;
    let s = server.connect_anonymous().await;
    s.send("/app/unhandled", "").await.unwrap();
    let error = error_message(&s).await;
    assert_eq!(error.get("message"), Some("nobody handles this one"));
}

#[tokio::test]
async fn subscribe_mapping_with_send_to_goes_to_the_broker() {
    let server = server().await;
    let watcher = server.connect_anonymous().await;
    let mut topic = watcher.subscribe("/topic/announce/r5").await.unwrap();
    let joiner = server.connect_anonymous().await;
    let mut direct = joiner.subscribe("/app/announce/r5").await.unwrap();
    assert_eq!(
        topic.next_timeout(WAIT).await.unwrap().body_str(),
        Some("someone joined r5")
    );
    nothing_more(&mut direct, "not sent to the subscriber itself").await;
}

#[tokio::test]
async fn state_is_shared_by_every_session() {
    let server = server().await;
    let first = server.connect_anonymous().await;
    let second = server.connect_anonymous().await;
    let mut topic = first.subscribe("/topic/counter").await.unwrap();
    first.send("/app/counter", "").await.unwrap();
    assert_eq!(
        topic.next_timeout(WAIT).await.unwrap().body_str(),
        Some("1")
    );
    second.send("/app/counter", "").await.unwrap();
    assert_eq!(
        topic.next_timeout(WAIT).await.unwrap().body_str(),
        Some("2")
    );
}

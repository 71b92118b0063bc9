//! Spring concepts from MIGRATING.md's tables that no other test shows end to end: a
//! module-level mapping prefix with Spring's `{var}` syntax, an optional payload, a custom
//! user prefix and the user registry (the `.` separator is in `path_separator.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{error_message, login_interceptor, next_body, nothing_more, TestServer, WAIT};
use stomp_server::{message_exception_handler, message_mapping, send_to_user};
use stomp_server::{Payload, PayloadError, StompServer};

// A class-level `@MessageMapping("/orders")`: every mapping inside starts with it.
#[message_mapping("/orders")]
mod orders {
    use serde::Deserialize;
    use stomp_server::{message_mapping, send_to, Payload};

    #[derive(Deserialize)]
    pub(crate) struct Note {
        text: String,
    }

    // Spring's `{id}` placeholder syntax, beside the module's prefix.
    #[message_mapping("/{id}/cancel")]
    #[send_to("/topic/orders")]
    pub(crate) fn cancel(id: u32) -> String {
        format!("cancelled {id}")
    }

    // `Option<Payload<T>>`: an empty body is `None` instead of an error (a `String` or
    // `Bytes` payload takes an empty body as it is).
    #[message_mapping("/note")]
    #[send_to("/topic/orders")]
    pub(crate) fn note(note: Option<Payload<Note>>) -> String {
        match note {
            Some(Payload(note)) => format!("note: {}", note.text),
            None => "no note".to_owned(),
        }
    }

    // A required payload: an empty body reaches the exception handler.
    #[message_mapping("/rename")]
    #[send_to("/topic/orders")]
    pub(crate) fn rename(Payload(note): Payload<Note>) -> String {
        format!("renamed to {}", note.text)
    }
}

#[message_mapping("/whisper")]
#[send_to_user("/queue/whispers")]
fn whisper(Payload(text): Payload<String>) -> String {
    text
}

// Global (`@ControllerAdvice`): a plain one would only serve this module's mappings.
#[message_exception_handler(global)]
#[send_to_user("/queue/errors", broadcast = false)]
fn on_payload(error: PayloadError) -> String {
    format!("bad payload: {}", error.reason)
}

fn builder() -> stomp_server::StompServerBuilder {
    StompServer::builder().interceptor(login_interceptor)
}

#[tokio::test]
async fn a_module_prefix_applies_to_every_mapping_inside_it() {
    let server = TestServer::start(builder()).await;
    let s = server.connect("ann").await;
    let mut orders = s.subscribe("/topic/orders").await.unwrap();
    s.send("/app/orders/42/cancel", "").await.unwrap();
    assert_eq!(next_body(&mut orders).await.1, "cancelled 42");
    // Without the prefix nothing is mapped, and the client is told so.
    s.send("/app/42/cancel", "").await.unwrap();
    let error = error_message(&s).await;
    assert!(
        error
            .get("message")
            .is_some_and(|m| m.contains("/app/42/cancel")),
        "the ERROR names the unmapped destination: {error:?}"
    );
}

#[tokio::test]
async fn an_optional_payload_takes_an_empty_body_and_a_required_one_refuses_it() {
    let server = TestServer::start(builder()).await;
    let s = server.connect("bea").await;
    let mut orders = s.subscribe("/topic/orders").await.unwrap();
    let mut errors = s.subscribe("/user/queue/errors").await.unwrap();
    s.send("/app/orders/note", "").await.unwrap();
    assert_eq!(next_body(&mut orders).await.1, "no note");
    s.send("/app/orders/note", r#"{"text":"fragile"}"#)
        .await
        .unwrap();
    assert_eq!(next_body(&mut orders).await.1, "note: fragile");
    s.send("/app/orders/rename", "").await.unwrap();
    let (_, error) = next_body(&mut errors).await;
    assert_eq!(error, "bad payload: the payload is empty");
    nothing_more(&mut orders, "a refused payload must not reach the handler").await;
}

#[tokio::test]
async fn a_custom_user_prefix_names_user_destinations() {
    let server = TestServer::start(builder().user_prefix("/me")).await;
    let dee = server.connect("dee").await;
    let mut mine = dee.subscribe("/me/queue/whispers").await.unwrap();
    let eve = server.connect("eve").await;
    let mut theirs = eve.subscribe("/me/queue/whispers").await.unwrap();
    dee.send("/app/whisper", "psst").await.unwrap();
    assert_eq!(next_body(&mut mine).await.1, "psst");
    nothing_more(&mut theirs, "another user's session must not get it").await;
    // The application names the user and the destination without the prefix.
    let sent = server
        .template
        .convert_and_send_to_user("dee", "/queue/whispers", &"from the app")
        .unwrap();
    assert_eq!(sent, 1, "dee has one session");
    assert_eq!(next_body(&mut mine).await.1, "from the app");
}

#[tokio::test]
async fn the_user_registry_lists_connected_users_and_their_sessions() {
    let server = TestServer::start(builder()).await;
    let registry = || server.template.user_registry();
    let first = server.connect("fay").await;
    let second = server.connect("fay").await;
    let _gus = server.connect("gus").await;
    let anonymous = server.connect_anonymous().await;
    let names: Vec<String> = registry().users().into_iter().map(|u| u.name).collect();
    assert_eq!(
        names,
        ["fay", "gus"],
        "named users, sorted; no anonymous one"
    );
    let fay = registry().user("fay").expect("fay is connected");
    let mut ids: Vec<&str> = fay.sessions.iter().map(|id| id.as_str()).collect();
    ids.sort_unstable();
    let mut expected = [first.session_id().unwrap(), second.session_id().unwrap()];
    expected.sort_unstable();
    assert_eq!(ids, expected);
    assert_eq!(
        registry().session_count(),
        4,
        "anonymous sessions count too"
    );
    second.disconnect().await.unwrap();
    anonymous.disconnect().await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while registry().session_count() != 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the registry forgets sessions that left"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let fay = registry().user("fay").expect("fay still has a session");
    assert_eq!(fay.sessions.len(), 1);
    assert!(registry().user("nobody").is_none());
}

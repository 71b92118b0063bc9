//! A `RUST_LOG` filter on the session span's `user` field
//! (`warn,[stomp_session{user=alice}]=debug`) shows that user's DEBUG lines and no one
//! else's.
//!
//! Alone in its test binary: with other tests' subscribers set on other threads of the same
//! process, tracing's process-wide callsite interest now and then left this subscriber's
//! span-field directive out, and every event with it (2 to 12 runs in 30).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod capture;
mod common;

use std::time::Duration;

use capture::Log;
use common::{login_interceptor, TestServer, WAIT};
use stomp_server::client::{StompClient, StompSession};
use stomp_server::{Command, Frame, StompServer};

async fn connect(server: &TestServer, login: &str) -> StompSession {
    StompClient::new()
        .login(login, "")
        .connect(&server.url())
        .await
        .expect("connect")
}

#[tokio::test]
async fn a_filter_on_the_user_field_shows_that_user_s_debug_lines_only() {
    let log = Log::default();
    let _guard = log.install_filtered("warn,[stomp_session{user=alice}]=debug");
    let server = TestServer::start(StompServer::builder().interceptor(login_interceptor)).await;
    let alice = connect(&server, "alice").await;
    let bob = connect(&server, "bob").await;
    for session in [&alice, &bob] {
        let frame = Frame::new(Command::Send)
            .header("destination", "/topic/trace/user-filter")
            .with_body("{}");
        session.send_with_receipt(frame).await.expect("a receipt");
    }
    alice.disconnect().await.expect("disconnect");
    bob.disconnect().await.expect("disconnect");
    // A session's end is logged in the same step that takes it off `sessions_current`; the
    // client's DISCONNECT returns at the RECEIPT, before that step.
    let ended = async {
        while server.stats.snapshot().sessions_current > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(WAIT, ended)
        .await
        .expect("both sessions end");
    server.shutdown().await;
    // The user is recorded once CONNECT is accepted: the filter applies from then on (the
    // span is entered again), here to the DEBUG line of the session's end.
    let users: Vec<String> = log
        .events()
        .iter()
        .filter(|e| e.message() == "session ended")
        .filter_map(|e| e.span_field("stomp_session", "user").map(str::to_owned))
        .collect();
    assert_eq!(users, ["alice"], "{:#?}", log.events());
}

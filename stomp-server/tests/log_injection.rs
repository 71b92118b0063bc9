//! Client-controlled text cannot forge or break server log lines: a destination, a user name
//! or an error quoting them is logged with its control characters escaped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use common::{login_interceptor, TestServer, WAIT};
use stomp_server::client::StompClient;
use stomp_server::{handler::Handlers, Command, Frame, StompServer};

/// Everything the server logged, shared by the tests of this binary (one global subscriber).
fn captured() -> Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    Arc::clone(LOG.get_or_init(|| {
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&log);
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || Capture(Arc::clone(&sink)))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        log
    }))
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const FORGED: &str = "\n2026-12-05T08:00:00Z  INFO demo_chat: FAKE admin logged in\r\0\u{1}";

/// Every line of the log is one of the server's own: none starts with the forged text, and
/// no control character but the line ends is in it.
fn assert_clean(log: &str) {
    assert!(
        log.contains("\\n2026-12-05T08:00:00Z"),
        "the forged text was not logged, escaped, at all:\n{log}"
    );
    for line in log.lines() {
        assert!(
            !line.starts_with("2026-12-05T08:00:00Z"),
            "forged line: {line:?}"
        );
        assert!(
            !line.chars().any(char::is_control),
            "control character in a log line: {line:?}"
        );
    }
}

#[tokio::test]
async fn forged_log_lines_are_escaped() {
    let log = captured();
    let server = TestServer::start(
        StompServer::builder()
            .handlers(Handlers::new())
            .interceptor(login_interceptor),
    )
    .await;
    // A destination nobody handles: its ERROR text quotes it.
    let session = server.connect(&format!("eve{FORGED}")).await;
    session
        .send_frame(
            Frame::new(Command::Send)
                .header("destination", &format!("/nowhere{FORGED}"))
                .with_body("x"),
        )
        .await
        .unwrap();
    let _ = tokio::time::timeout(WAIT, session.next_error()).await;
    // An invalid subscription pattern, on a fresh session.
    let session = server.connect("eve").await;
    let _ = session
        .subscribe_with(
            Frame::new(Command::Subscribe).header("destination", &format!("/topic/**x{FORGED}")),
            true,
        )
        .await;
    // A user destination a client may not send to.
    let session = server.connect("eve").await;
    let _ = session
        .send_with_receipt(
            Frame::new(Command::Send).header("destination", &format!("/user/bob{FORGED}/queue/x")),
        )
        .await;
    // A CONNECT refused by an interceptor whose reason quotes a header.
    let refused = StompClient::new()
        .header("login", format!("x{FORGED}"))
        .connect(&server.url())
        .await;
    drop(refused);
    let text = String::from_utf8_lossy(&log.lock().unwrap()).into_owned();
    assert_clean(&text);
}

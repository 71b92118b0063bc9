//! demo-chat's raw WebSocket chat (`/ws-raw`) with real clients: the `ws` npm package
//! (tests/interop/raw_ws_test.mjs) and Python's websocket-client
//! (tests/interop/raw_ws_test.py), each with two raw clients, beside a STOMP client (this
//! crate's) in the room `raw`:
//! - a raw client's text reaches both raw clients as `name: text`, and the STOMP room as
//!   an ordinary chat message from `name`;
//! - a STOMP post to the room reaches both raw clients.
//!
//! ```text
//! bash tests/interop/install.sh     # once: npm ci (ws), pip (websocket-client)
//! cargo test -p tests --test raw_interop
//! ```
//!
//! Without Node (and `ws`) or Python (and websocket-client) the test prints a loud
//! `SKIPPED` line and passes, unless `STOMP_REQUIRE_ALL=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod relay_common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use relay_common::unique;
use serde_json::Value;
use stomp_server::client::{StompClient, Subscription};
use tests::demo_process::{build, DemoProcess, Target};
use tests::prerequisite::{missing, workspace_root};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// A generous bound on each step of a client script (they give up after 60 s themselves).
const STEP: Duration = Duration::from_secs(90);

fn interop_dir() -> PathBuf {
    workspace_root().join("tests/interop")
}

/// `program args` runs and exits 0.
fn works(program: &str, args: &[&str]) -> bool {
    std::process::Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Node (`$NODE`, default `node`) with `ws` installed in tests/interop; `None` after a loud
/// SKIPPED line (a failure under `STOMP_REQUIRE_ALL=1`).
fn node_with_ws(test: &str) -> Option<String> {
    let node = std::env::var("NODE").unwrap_or_else(|_| "node".to_owned());
    let installed = interop_dir().join("node_modules/ws/package.json").is_file();
    if works(&node, &["--version"]) && installed {
        return Some(node);
    }
    missing(
        test,
        &format!("`{node}` or the npm package `ws` in tests/interop/node_modules"),
        "apt-get install -y nodejs npm && bash tests/interop/install.sh",
    );
    None
}

/// Python (`$PYTHON`, default `python3`) that imports websocket-client; `None` after a loud
/// SKIPPED line (a failure under `STOMP_REQUIRE_ALL=1`).
fn python_with_websocket(test: &str) -> Option<String> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    if works(&python, &["-c", "import websocket"]) {
        return Some(python);
    }
    missing(
        test,
        &format!("`{python}` with websocket-client (`import websocket`)"),
        "pip install -r tests/interop/requirements.txt   (or: bash tests/interop/install.sh)",
    );
    None
}

fn log_path(name: &str) -> PathBuf {
    let dir = workspace_root().join("tests/artifacts");
    let _ = std::fs::create_dir_all(&dir);
    dir.join(name)
}

/// The script's next line of stdout, within [`STEP`].
async fn next_line(lines: &mut Lines<BufReader<ChildStdout>>, waiting_for: &str) -> String {
    match tokio::time::timeout(STEP, lines.next_line()).await {
        Ok(Ok(Some(line))) => line,
        other => {
            panic!("the raw client script said nothing more waiting for {waiting_for}: {other:?}")
        }
    }
}

/// The next chat message on `room` from `sender`, as JSON.
async fn message_from(room: &mut Subscription, sender: &str) -> Value {
    loop {
        let frame = room.next_timeout(STEP).await.expect("a chat message");
        let message: Value = serde_json::from_slice(&frame.body).expect("JSON");
        if message["sender"] == sender {
            return message;
        }
    }
}

/// Runs `program script` against a fresh demo and checks the bridge both ways.
async fn bridge_with(program: &str, script: &Path, log: &str) {
    let exe = build(&workspace_root(), Target::Bin("demo-chat"));
    let mut demo = DemoProcess::start(&exe, &[] as &[&str], &log_path(log));
    let addr = demo.wait_ready("demo-chat on http://");
    let id = unique();
    let (alice, bob, stomp_user) = (format!("a{id}"), format!("b{id}"), format!("s{id}"));
    let session = StompClient::new()
        .login(&stomp_user, "")
        .connect(&format!("ws://{addr}/ws"))
        .await
        .expect("STOMP CONNECT");
    let mut room = session
        .subscribe("/topic/chat/raw")
        .await
        .expect("SUBSCRIBE");
    let token = format!("token {id}");
    let mut child: Child = Command::new(program)
        .arg(script)
        .args([&format!("ws://{addr}/ws-raw"), &alice, &bob, &token])
        .current_dir(interop_dir())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the raw client script starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();

    assert_eq!(
        next_line(&mut lines, "SENT").await,
        "SENT",
        "{}",
        demo.output()
    );
    let message = message_from(&mut room, &alice).await;
    assert_eq!(message["room"], "raw");
    assert_eq!(message["content"], format!("hello from {alice}"));

    let post = serde_json::json!({ "content": token });
    session
        .send_json("/app/chat/raw", &post)
        .await
        .expect("SEND");
    for _ in 0..2 {
        let got = next_line(&mut lines, "GOT").await;
        assert_eq!(got, format!("GOT {stomp_user}: {token}"));
    }
    assert_eq!(next_line(&mut lines, "OK").await, "OK");
    let status = tokio::time::timeout(STEP, child.wait())
        .await
        .expect("exits");
    assert!(status.expect("status").success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_npm_clients_chat_with_stomp_through_the_demos_raw_endpoint() {
    let Some(node) = node_with_ws("ws_npm_clients_chat_with_stomp_through_the_demos_raw_endpoint")
    else {
        return;
    };
    let script = interop_dir().join("raw_ws_test.mjs");
    bridge_with(&node, &script, "raw-interop-node.log").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_websocket_clients_chat_with_stomp_through_the_demos_raw_endpoint() {
    let test = "python_websocket_clients_chat_with_stomp_through_the_demos_raw_endpoint";
    let Some(python) = python_with_websocket(test) else {
        return;
    };
    let script = interop_dir().join("raw_ws_test.py");
    bridge_with(&python, &script, "raw-interop-python.log").await;
}

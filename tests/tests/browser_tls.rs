//! The demo chat over TLS in a real browser: `demo-chat --tls-cert --tls-key` with a test
//! CA's certificate for `localhost`; Chromium (playwright-core, certificate errors ignored
//! as the CA is not in its store) loads the page over `https://` and two users chat over
//! `wss://` (`tests/browser/chat_test.mjs`, the same checks as the plain-HTTP run). The
//! WebSocket handshake's `Origin` is `https://localhost:PORT`: same-origin over the demo's
//! own TLS.
//!
//! Needs what `browser.rs` needs (`bash tests/browser/install.sh`); skips loudly without it,
//! fails instead under `STOMP_REQUIRE_ALL=1`.
//!
//! ```text
//! cargo test -p tests --test browser_tls -- --nocapture
//! ```

mod tls_common;

use std::process::Command;
use std::time::Duration;

use tests::demo_process::{build, run_with_timeout, DemoProcess, Target};

/// How long the whole browser run may take (the script stops itself after 120 s).
const RUN_TIMEOUT: Duration = Duration::from_secs(180);

#[test]
fn chat_works_over_https_and_wss_in_a_real_browser() {
    let root = tests::prerequisite::workspace_root();
    let missing = tests::prerequisite::missing_for_browser(&root, &[]);
    if !missing.is_empty() {
        tests::prerequisite::missing(
            "browser test over TLS",
            &format!("{} missing", missing.join(", ")),
            "bash tests/browser/install.sh (apt-get install -y chromium; npm ci --prefix tests/browser)",
        );
        return;
    }
    let exe = build(&root, Target::Bin("demo-chat"));
    let artifacts = root.join("tests/artifacts");
    std::fs::create_dir_all(&artifacts).expect("cannot create tests/artifacts");
    let ca = tls_common::TestCa::new("browser");
    let (cert, key) = ca.write_server_files("demo", "demo-chat", 7);
    let args = [
        "--tls-cert".as_ref(),
        cert.as_os_str(),
        "--tls-key".as_ref(),
        key.as_os_str(),
    ];
    let mut demo = DemoProcess::start(&exe, &args, &artifacts.join("browser-tls-demo.log"));
    let addr = demo.wait_logged("demo-chat on https://");
    let url = format!("https://localhost:{}", addr.port());
    eprintln!("browser test: demo-chat over TLS at {url}");
    let mut node = Command::new("node");
    node.arg(root.join("tests/browser/chat_test.mjs"))
        .arg(&url)
        .current_dir(&root)
        .env("BROWSER_SCREENSHOT", artifacts.join("chat-tls.png"));
    let (status, output) = run_with_timeout(node, RUN_TIMEOUT);
    println!("{output}");
    assert!(
        status.is_some_and(|s| s.success()),
        "chat_test.mjs over TLS failed ({status:?}):\n{output}\n--- demo-chat output ---\n{}",
        demo.output()
    );
    assert!(
        output
            .lines()
            .any(|l| l.trim() == "browser: 10 passed, 0 failed"),
        "chat_test.mjs printed no `browser: 10 passed, 0 failed` line:\n{output}"
    );
    assert!(
        demo.output().contains("STOMP at wss://"),
        "the demo says where its STOMP endpoint is:\n{}",
        demo.output()
    );
}

//! The demo chat over TLS in a real browser: `demo-chat --tls-cert --tls-key` with a test
//! CA's certificate for `localhost`; Chromium (playwright-core, certificate errors ignored
//! as the CA is not in its store) loads the page over `https://` and two users chat over
//! `wss://` (`tests/browser/chat_test.mjs`, the same checks as the plain-HTTP run). The
//! WebSocket handshake's `Origin` is `https://localhost:PORT`: same-origin over the demo's
//! own TLS.
//!
//! And SockJS over HTTPS: the server of `browser_sockjs.rs` with `.tls(..)`, on which stompjs
//! connects through sockjs-client with each of SockJS's transports
//! (`tests/browser/sockjs_test.mjs`; `websocket` over wss).
//!
//! Needs what `browser.rs` and `browser_sockjs.rs` need (`bash tests/browser/install.sh`); skips loudly without it,
//! fails instead under `STOMP_REQUIRE_ALL=1`.
//!
//! ```text
//! cargo test -p tests --test browser_tls -- --nocapture
//! ```

mod tls_common;

use std::process::Command;
use std::time::Duration;

use stomp_server::tls::TlsConfig;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockjs_works_over_https_in_a_real_browser() {
    let root = tests::prerequisite::workspace_root();
    let missing = tests::prerequisite::missing_for_browser(
        &root,
        &[
            tests::sockjs_browser::SOCKJS,
            tests::sockjs_browser::STOMPJS,
        ],
    );
    if !missing.is_empty() {
        tests::prerequisite::missing(
            "SockJS browser test over TLS",
            &format!("{} missing", missing.join(", ")),
            "bash tests/browser/install.sh (apt-get install -y chromium; npm ci --prefix tests/browser)",
        );
        return;
    }
    let ca = tls_common::TestCa::new("sockjs-browser");
    let (cert, key) = ca.write_server_files("server", "sockjs", 3);
    let server = tests::sockjs_browser::server(&root)
        .tls(TlsConfig::from_pem_files(cert, key).expect("certificate"))
        .build()
        .expect("the server builds");
    let listener = server.bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("local address").port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(listener, async move {
        let _ = stopped.await;
    }));
    let url = format!("https://localhost:{port}");
    tests::sockjs_browser::run_script(&root, &url).await;
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), running).await;
}

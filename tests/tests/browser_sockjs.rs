//! SockJS in a real browser: starts a server with `.with_sockjs()` that serves a small page,
//! `sockjs.min.js` (sockjs-client) and stompjs' UMD bundle, then runs
//! `tests/browser/sockjs_test.mjs` (Debian's Chromium driven by playwright-core), which
//! connects stompjs over SockJS with each of the `websocket`, `xhr-streaming`,
//! `xhr-polling`, `eventsource`, `iframe-eventsource`, `iframe-htmlfile` and
//! `iframe-xhr-polling` transports, subscribes, sends and receives. The iframe transports
//! load the server's `iframe.html`, which loads sockjs-client from this same server
//! (`client_library_url`), never from the internet. The `JSESSIONID` cookie is on: each
//! HTTP transport must see it set and sent back.
//!
//! Needs `node`, `tests/browser/node_modules/{playwright-core,sockjs-client,@stomp/stompjs}`
//! and `/usr/bin/chromium` (`bash tests/browser/install.sh`). Without them the test prints a
//! loud `SKIPPED` line and passes, unless `STOMP_REQUIRE_ALL=1`, when it fails.
//!
//! Run it alone with `cargo test -p tests --test browser_sockjs -- --nocapture`.

use std::process::Stdio;
use std::time::Duration;

use stomp_server::{handler::Handlers, sockjs::SockJsOptions, StompServer};

/// How long the whole browser run may take (the script stops itself after 120 s).
const RUN_TIMEOUT: Duration = Duration::from_secs(180);
const SOCKJS: &str = "tests/browser/node_modules/sockjs-client/dist/sockjs.min.js";
const STOMPJS: &str = "tests/browser/node_modules/@stomp/stompjs/bundles/stomp.umd.min.js";

/// The page: `window.roundTrip(transport, token, body)` connects stompjs over SockJS forced
/// to `transport`, subscribes to a topic, sends `body` to it and resolves with what came
/// back and the transport SockJS used.
const PAGE: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><title>SockJS test</title>
<script src="/sockjs.min.js"></script>
<script src="/stomp.umd.min.js"></script>
<script>
window.roundTrip = (transport, token, body) => new Promise((resolve, reject) => {
  let sock;
  const timer = setTimeout(() => reject(new Error('no message within 20 s')), 20000);
  const client = new StompJs.Client({
    webSocketFactory: () => (sock = new SockJS('/ws', null, { transports: [transport] })),
    reconnectDelay: 0,
    onStompError: (frame) => reject(new Error('STOMP ERROR: ' + frame.headers.message)),
    onWebSocketClose: (event) => reject(new Error('closed: ' + event.code + ' ' + event.reason)),
  });
  client.onConnect = () => {
    const destination = '/topic/sockjs.' + token;
    client.subscribe(destination, (message) => {
      clearTimeout(timer);
      const used = sock.transport;
      client.deactivate();
      resolve({ body: message.body, transport: used });
    });
    client.publish({ destination, body });
  };
  client.activate();
});
</script></head><body>SockJS test page</body></html>
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stompjs_over_sockjs_in_a_real_browser() {
    let root = tests::prerequisite::workspace_root();
    let missing = tests::prerequisite::missing_for_browser(&root, &[SOCKJS, STOMPJS]);
    if !missing.is_empty() {
        tests::prerequisite::missing(
            "SockJS browser test",
            &format!("{} missing", missing.join(", ")),
            "bash tests/browser/install.sh (apt-get install -y chromium; npm ci --prefix tests/browser)",
        );
        return;
    }
    let read = |file: &str| {
        std::fs::read(root.join(file)).unwrap_or_else(|e| panic!("cannot read {file}: {e}"))
    };
    let server = StompServer::builder()
        .handlers(Handlers::new())
        .sockjs_options(
            // 64 bytes: every streaming response ends after its first message frame, so
            // the real client reopens it (and keeps its session) during each round trip.
            SockJsOptions::default()
                .with_stream_bytes_limit(64)
                .with_session_cookie_needed(true)
                .with_client_library_url("/sockjs.min.js".to_owned()),
        )
        .static_resource("/", "text/html; charset=utf-8", PAGE)
        .static_resource("/sockjs.min.js", "application/javascript", read(SOCKJS))
        .static_resource("/stomp.umd.min.js", "application/javascript", read(STOMPJS))
        .stats_log_interval(None)
        .build()
        .expect("the server builds");
    let listener = server.bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(listener, async move {
        let _ = stopped.await;
    }));
    let url = format!("http://{addr}");
    eprintln!("SockJS browser test at {url}");

    let script = root.join("tests/browser/sockjs_test.mjs");
    let run = tokio::process::Command::new("node")
        .arg(script)
        .arg(&url)
        .current_dir(&root)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(RUN_TIMEOUT, run)
        .await
        .unwrap_or_else(|_| panic!("the browser test did not finish within {RUN_TIMEOUT:?}"))
        .expect("cannot run node");
    let _ = stop.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), running).await;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{text}");
    assert!(
        output.status.success(),
        "the SockJS browser test failed ({}):\n{text}",
        output.status
    );
    assert!(
        text.lines()
            .any(|l| l.trim() == "browser: 7 passed, 0 failed"),
        "the browser test printed no `browser: 7 passed, 0 failed` line:\n{text}"
    );
}

//! The SockJS browser test's server and script, shared by the plain (`browser_sockjs`) and
//! the TLS (`browser_tls`) runs: a server with `.with_sockjs()` that serves a small page,
//! `sockjs.min.js` (sockjs-client) and stompjs' UMD bundle, then
//! `tests/browser/sockjs_test.mjs` (Debian's Chromium driven by playwright-core) connecting
//! stompjs over SockJS with each transport.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use stomp_server::{handler::Handlers, sockjs::SockJsOptions, StompServer, StompServerBuilder};

/// How long the whole browser run may take (the script stops itself after 120 s).
const RUN_TIMEOUT: Duration = Duration::from_secs(180);
/// sockjs-client, from the browser tests' npm packages.
pub const SOCKJS: &str = "tests/browser/node_modules/sockjs-client/dist/sockjs.min.js";
/// stompjs' browser bundle, from the browser tests' npm packages.
pub const STOMPJS: &str = "tests/browser/node_modules/@stomp/stompjs/bundles/stomp.umd.min.js";
/// How many transports `sockjs_test.mjs` tries.
pub const TRANSPORTS: usize = 7;

/// The page: `window.roundTrip(transport, token, body)` connects stompjs over SockJS forced
/// to `transport`, subscribes to a topic, sends `body` to it and resolves with what came
/// back and the transport SockJS used.
pub const PAGE: &str = r#"<!doctype html>
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

/// A server serving the page and the two scripts, with SockJS on: streaming responses end
/// after 64 bytes, so that the real client reopens them (and keeps its session) during each
/// round trip; the `JSESSIONID` cookie is on; the iframe page loads sockjs-client from this
/// same server, never from the internet.
pub fn server(root: &Path) -> StompServerBuilder {
    let read = |file: &str| {
        std::fs::read(root.join(file)).unwrap_or_else(|e| panic!("cannot read {file}: {e}"))
    };
    StompServer::builder()
        .handlers(Handlers::new())
        .sockjs_options(
            SockJsOptions::default()
                .with_stream_bytes_limit(64)
                .with_session_cookie_needed(true)
                .with_client_library_url("/sockjs.min.js".to_owned()),
        )
        .static_resource("/", "text/html; charset=utf-8", PAGE)
        .static_resource("/sockjs.min.js", "application/javascript", read(SOCKJS))
        .static_resource("/stomp.umd.min.js", "application/javascript", read(STOMPJS))
        .stats_log_interval(None)
}

/// Runs `sockjs_test.mjs` against `url`; panics with its output unless every transport
/// passed.
pub async fn run_script(root: &Path, url: &str) {
    let run = tokio::process::Command::new("node")
        .arg(root.join("tests/browser/sockjs_test.mjs"))
        .arg(url)
        .current_dir(root)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(RUN_TIMEOUT, run)
        .await
        .unwrap_or_else(|_| panic!("the browser test did not finish within {RUN_TIMEOUT:?}"))
        .expect("cannot run node");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{text}");
    assert!(
        output.status.success(),
        "the SockJS browser test at {url} failed ({}):\n{text}",
        output.status
    );
    let summary = format!("browser: {TRANSPORTS} passed, 0 failed");
    assert!(
        text.lines().any(|l| l.trim() == summary),
        "the browser test printed no `{summary}` line:\n{text}"
    );
}

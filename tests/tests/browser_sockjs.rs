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

use tests::sockjs_browser::{run_script, server, SOCKJS, STOMPJS};

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
    let server = server(&root).build().expect("the server builds");
    let listener = server.bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(listener, async move {
        let _ = stopped.await;
    }));
    let url = format!("http://{addr}");
    eprintln!("SockJS browser test at {url}");
    run_script(&root, &url).await;
    let _ = stop.send(());
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), running).await;
}

//! `/metrics` through the real demo server: a chat message shows in the scrape (its
//! session, its delivery, its handler's latency), and `--no-metrics` leaves no endpoint.

use std::net::SocketAddr;

use stomp_server::client::StompClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::auth::Auth;
use crate::rooms::Rooms;
use crate::{build_server, parse_args, Broker, Listeners};

/// The demo in default mode, with or without metrics, running until the test ends.
async fn start(metrics: bool) -> SocketAddr {
    let listeners = Listeners {
        metrics,
        ..Listeners::default()
    };
    let server = build_server(Auth::open(), &Broker::Embedded, Rooms::new(), listeners).unwrap();
    let listener = server.bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server.run(listener, std::future::pending()));
    addr
}

/// `GET /metrics`: the status line and the body.
async fn scrape(addr: SocketAddr) -> (String, String) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tcp.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

#[tokio::test]
async fn the_demo_serves_its_metrics() {
    let addr = start(true).await;
    let alice = StompClient::new()
        .login("alice", "")
        .connect(&format!("ws://{addr}/ws"))
        .await
        .unwrap();
    let mut lobby = alice.subscribe("/topic/chat/metrics-room").await.unwrap();
    alice
        .send_json(
            "/app/chat/metrics-room",
            &serde_json::json!({"content": "hi"}),
        )
        .await
        .unwrap();
    lobby
        .next_timeout(std::time::Duration::from_secs(5))
        .await
        .unwrap();
    let (status, text) = scrape(addr).await;
    assert!(status.contains(" 200 "), "{status}");
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(text.contains("\nstomp_sessions_current 1\n"), "{text}");
    let post = r#"stomp_handler_duration_seconds_count{kind="message",mapping="/chat/<room>"} 1"#;
    assert!(text.lines().any(|l| l == post), "{text}");
    let delivered = text
        .lines()
        .find_map(|l| l.strip_prefix("stomp_messages_delivered_total "))
        .unwrap();
    assert!(delivered.parse::<u64>().unwrap() >= 1, "{text}");
}

#[tokio::test]
async fn without_metrics_the_demo_has_no_metrics_endpoint() {
    let addr = start(false).await;
    let (status, _) = scrape(addr).await;
    assert!(status.contains(" 404 "), "{status}");
}

#[test]
fn metrics_are_on_unless_turned_off() {
    let metrics = |args: &[&str], env: Option<&str>| {
        let args = args.iter().map(|a| (*a).to_owned());
        let env = |key: &str| {
            (key == "DEMO_METRICS")
                .then(|| env.map(str::to_owned))
                .flatten()
        };
        parse_args(args, env).unwrap().unwrap().metrics
    };
    assert!(metrics(&[], None));
    assert!(metrics(&[], Some("on")));
    assert!(!metrics(&["--no-metrics"], None));
    assert!(!metrics(&[], Some("off")));
    assert!(crate::USAGE.contains("--no-metrics") && crate::USAGE.contains("DEMO_METRICS=off"));
}

//! The gallery (`examples/`), each example built and started as its own process on a free
//! port, as `cargo run -p stomp-examples --example NAME` would, then driven by the Rust client
//! (and, for `axum`, plain HTTP). The relay and Redis examples need RabbitMQ and redis-server:
//! without them they skip loudly, and fail under `STOMP_REQUIRE_ALL=1`.
//!
//! ```text
//! cargo test -p tests --test examples
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use stomp_server::client::{ClientError, StompClient, StompSession};
use tests::demo_process::{build, DemoProcess, Target};
use tests::prerequisite::{missing, workspace_root};

const WAIT: Duration = Duration::from_secs(10);

/// Builds and starts example `name` with `args`; returns it (stopped when dropped) and its
/// address.
fn start(name: &str) -> (DemoProcess, SocketAddr) {
    let root = workspace_root();
    let exe = build(&root, Target::Example(name));
    let artifacts = root.join("tests/artifacts");
    std::fs::create_dir_all(&artifacts).expect("cannot create tests/artifacts");
    let no_args: [&str; 0] = [];
    let log = artifacts.join(format!("example-{name}-{}.log", std::process::id()));
    let mut process = DemoProcess::start(&exe, &no_args, &log);
    let addr = process.wait_ready(&format!("{name} on http://"));
    (process, addr)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// The next message body on `destination`'s subscription, as text.
async fn next_text_of(subscription: &mut stomp_server::client::Subscription) -> String {
    let frame = subscription
        .next_timeout(WAIT)
        .await
        .expect("a message in time");
    frame.body_str().expect("a text body").to_owned()
}

/// `POST path` with a JSON body over plain HTTP/1.1; the status line and the body.
fn post_json(addr: SocketAddr, path: &str, json: &str) -> (String, String) {
    let mut stream = TcpStream::connect_timeout(&addr, WAIT).expect("connect");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{json}",
        json.len()
    );
    stream.write_all(request.as_bytes()).expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    )
}

/// `GET path` on `addr`: the status line and the body.
fn http_get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect_timeout(&addr, WAIT).expect("connect");
    stream.set_read_timeout(Some(WAIT)).expect("timeout");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (
        head.lines().next().unwrap_or("").to_owned(),
        body.to_owned(),
    )
}

fn reachable(addr: &str) -> bool {
    addr.parse()
        .is_ok_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok())
}

/// A name no other run used: the brokers are shared and outlive a run.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}{}x{nanos}", std::process::id())
}

#[test]
fn greeting_answers_as_the_spring_guide_does() {
    let (_greeting, addr) = start("greeting");
    runtime().block_on(async {
        let url = format!("ws://{addr}/gs-guide-websocket");
        let session = StompClient::new().connect(&url).await.expect("connect");
        let mut greetings = session.subscribe("/topic/greetings").await.expect("sub");
        session
            .send("/app/hello", r#"{"name":"<Ann>"}"#)
            .await
            .expect("send");
        assert_eq!(
            next_text_of(&mut greetings).await,
            r#"{"content":"Hello, &lt;Ann&gt;!"}"#
        );
    });
}

#[test]
fn axum_serves_rest_routes_beside_the_stomp_endpoint() {
    let (_axum, addr) = start("axum");
    runtime().block_on(async {
        let session = StompClient::new()
            .connect(&format!("ws://{addr}/ws"))
            .await
            .expect("connect through the axum route");
        let mut announcements = session.subscribe("/topic/announcements").await.unwrap();
        let mut room = session.subscribe("/topic/chat/r1").await.unwrap();
        // REST in, STOMP out: the answer counts the one subscription.
        let (status, body) = tokio::task::spawn_blocking(move || {
            post_json(
                addr,
                "/api/announcements",
                r#"{"text":"maintenance at noon"}"#,
            )
        })
        .await
        .unwrap();
        assert!(status.contains(" 200"), "{status}");
        assert_eq!(body.trim(), "1");
        let announcement: serde_json::Value =
            serde_json::from_str(&next_text_of(&mut announcements).await).unwrap();
        assert_eq!(announcement["text"], "maintenance at noon");
        session
            .send("/app/chat/r1", r#"{"text":"hi"}"#)
            .await
            .unwrap();
        let message: serde_json::Value =
            serde_json::from_str(&next_text_of(&mut room).await).unwrap();
        assert_eq!(message["room"], "r1");
        assert_eq!(message["sender"], "anonymous");
        // The app's own registry holds its counter and the server's metrics, side by side
        // (scraped while the session is open).
        let (status, text) = tokio::task::spawn_blocking(move || http_get(addr, "/metrics"))
            .await
            .unwrap();
        assert!(status.contains(" 200"), "{status}");
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.contains(&"example_announcements_total 1"), "{text}");
        assert!(lines.contains(&"stomp_sessions_current 1"), "{text}");
        let chat =
            r#"stomp_handler_duration_seconds_count{kind="message",mapping="/chat/<room>"} 1"#;
        assert!(lines.contains(&chat), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    });
    let (status, _) = post_json(addr, "/api/announcements", "not json");
    assert!(
        status.contains(" 400") || status.contains(" 415") || status.contains(" 422"),
        "axum refuses a bad body itself: {status}"
    );
}

/// The token the jwt example logs for alice when it starts.
fn logged_token(example: &DemoProcess) -> String {
    let output = example.output();
    let marker = "a token for alice, valid one hour: ";
    let start = output.find(marker).expect("the example logs a token") + marker.len();
    output[start..]
        .split_whitespace()
        .next()
        .expect("a token after the marker")
        .to_owned()
}

async fn connect_with(
    addr: SocketAddr,
    authorization: Option<&str>,
) -> Result<StompSession, ClientError> {
    let mut client = StompClient::new();
    if let Some(value) = authorization {
        client = client.header("Authorization", value);
    }
    client.connect(&format!("ws://{addr}/ws")).await
}

fn refusal(result: Result<StompSession, ClientError>) -> String {
    match result {
        Err(ClientError::Refused { message, .. }) => message,
        Err(other) => panic!("expected an ERROR instead of CONNECTED, got {other:?}"),
        Ok(_) => panic!("expected an ERROR instead of CONNECTED, got a session"),
    }
}

#[test]
fn jwt_admits_a_valid_token_and_refuses_the_rest_with_a_reason() {
    let (jwt, addr) = start("jwt");
    let token = logged_token(&jwt);
    runtime().block_on(async {
        let alice = connect_with(addr, Some(&format!("Bearer {token}")))
            .await
            .expect("a valid token connects");
        let mut whoami = alice.subscribe("/user/queue/whoami").await.unwrap();
        alice.send("/app/whoami", "").await.unwrap();
        assert_eq!(next_text_of(&mut whoami).await, "you are alice");

        let without = refusal(connect_with(addr, None).await);
        assert!(without.contains("Bearer"), "{without}");
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let flipped = if signature.starts_with('A') { "B" } else { "A" };
        let forged = format!("Bearer {signed}.{flipped}{}", &signature[1..]);
        let forged = refusal(connect_with(addr, Some(&forged)).await);
        assert!(forged.contains("signature"), "{forged}");
        // {"alg":"none"} with alice's claims and no signature.
        let claims = signed.split('.').nth(1).unwrap();
        let unsigned = format!("Bearer eyJhbGciOiJub25lIn0.{claims}.");
        let unsigned = refusal(connect_with(addr, Some(&unsigned)).await);
        assert!(unsigned.contains("HS256"), "{unsigned}");
    });
}

#[test]
fn raw_clients_talk_to_each_other_and_to_stomp() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;

    let (_raw, addr) = start("raw");
    runtime().block_on(async {
        let url = format!("ws://{addr}/ws-raw");
        let open = |url: String| async move {
            let tcp = tokio::net::TcpStream::connect(addr).await.expect("tcp");
            let (socket, _) = tokio_tungstenite::client_async(url, tcp)
                .await
                .expect("a raw WebSocket");
            socket
        };
        let mut ann = open(url.clone()).await;
        let mut bob = open(url).await;
        let stomp = StompClient::new()
            .connect(&format!("ws://{addr}/ws"))
            .await
            .expect("connect over STOMP");
        let mut topic = stomp.subscribe("/topic/raw").await.unwrap();
        ann.send(Message::text("hello from ann")).await.unwrap();
        assert_eq!(next_raw_text(&mut bob).await, "hello from ann");
        assert_eq!(next_raw_text(&mut ann).await, "hello from ann");
        assert_eq!(next_text_of(&mut topic).await, "hello from ann");
        stomp.send("/app/raw", "hello from STOMP").await.unwrap();
        assert_eq!(next_raw_text(&mut ann).await, "hello from STOMP");
        assert_eq!(next_raw_text(&mut bob).await, "hello from STOMP");
    });
}

/// The next text message of a raw WebSocket client.
async fn next_raw_text<S>(socket: &mut S) -> String
where
    S: futures_util::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    use futures_util::StreamExt;
    match tokio::time::timeout(WAIT, socket.next()).await {
        Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text)))) => text.to_string(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// Two instances of `example` share a topic through their backplane: a message sent to one
/// reaches a subscriber of the other.
fn two_instances_share_a_topic(example: &str, topic: &str, room: &str) {
    let (_first, first) = start(example);
    let (_second, second) = start(example);
    runtime().block_on(async {
        let reader = StompClient::new()
            .connect(&format!("ws://{second}/ws"))
            .await
            .expect("connect to the second instance");
        let mut messages = reader.subscribe(topic).await.unwrap();
        let writer = StompClient::new()
            .connect(&format!("ws://{first}/ws"))
            .await
            .expect("connect to the first instance");
        writer
            .send(
                &format!("/app/chat/{room}"),
                r#"{"sender":"ann","text":"across instances"}"#,
            )
            .await
            .unwrap();
        let message: serde_json::Value =
            serde_json::from_str(&next_text_of(&mut messages).await).unwrap();
        assert_eq!(message["text"], "across instances");
    });
}

#[test]
fn relay_instances_share_topics_through_rabbitmq() {
    if !reachable("127.0.0.1:61613") {
        missing(
            "relay example",
            "RabbitMQ with its STOMP plugin does not accept connections on 127.0.0.1:61613",
            "bash tests/relay/start-rabbitmq.sh",
        );
        return;
    }
    let room = unique("example");
    two_instances_share_a_topic("relay", &format!("/topic/chat.{room}"), &room);
}

#[test]
fn redis_instances_share_topics_through_redis() {
    if !reachable("127.0.0.1:6379") {
        missing(
            "redis example",
            "redis-server does not accept connections on 127.0.0.1:6379",
            "bash tests/redis/start-redis.sh",
        );
        return;
    }
    let room = unique("example");
    two_instances_share_a_topic("redis", &format!("/topic/chat/{room}"), &room);
}

//! The broker relay's connection settings (Spring's `setRelayHost`, `setRelayPort`,
//! `setVirtualHost`, `setSystemLogin`, `setClientLogin`, `setSystemHeartbeat*Interval`) as
//! the broker sees them: a listener on port 0 stands in for RabbitMQ's STOMP port, answers
//! what the relay needs (`CONNECTED`, `RECEIPT`s) and records every `CONNECT`. The relay
//! against a real RabbitMQ is tested in the `tests` crate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{login_interceptor, TestServer, WAIT};
use stomp_server::relay::RelayConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// The header lines of every `CONNECT` the listener at the returned port receives.
async fn recording_broker() -> (u16, mpsc::UnboundedReceiver<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let (connects, recorded) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(answer(stream, connects.clone()));
        }
    });
    (port, recorded)
}

/// Answers `CONNECT` with `CONNECTED` and any frame asking for a receipt with `RECEIPT`.
async fn answer(mut stream: TcpStream, connects: mpsc::UnboundedSender<Vec<String>>) {
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        while let Some(end) = seen.iter().position(|&b| b == 0) {
            let frame: Vec<u8> = seen.drain(..=end).collect();
            let text = String::from_utf8_lossy(&frame[..end]);
            let mut lines = text.trim_start_matches(['\r', '\n']).lines();
            let command = lines.next().unwrap_or_default().to_owned();
            let headers: Vec<String> = lines
                .take_while(|l| !l.is_empty())
                .map(str::to_owned)
                .collect();
            let reply = match command.as_str() {
                "CONNECT" | "STOMP" => {
                    let _ = connects.send(headers.clone());
                    "CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\0".to_owned()
                }
                _ => match headers.iter().find_map(|h| h.strip_prefix("receipt:")) {
                    Some(id) => format!("RECEIPT\nreceipt-id:{id}\n\n\0"),
                    None => continue,
                },
            };
            if stream.write_all(reply.as_bytes()).await.is_err() {
                return;
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&chunk[..n]),
        }
    }
}

async fn next_connect(recorded: &mut mpsc::UnboundedReceiver<Vec<String>>) -> Vec<String> {
    tokio::time::timeout(WAIT, recorded.recv())
        .await
        .expect("a CONNECT in time")
        .expect("the broker is listening")
}

/// Every header line of `expected` is among `headers`, the `which` connection's CONNECT.
fn assert_has(which: &str, headers: &[String], expected: &[&str]) {
    for line in expected {
        assert!(
            headers.iter().any(|h| h == line),
            "{which} CONNECT lacks `{line}`: {headers:?}"
        );
    }
}

#[tokio::test]
async fn the_relay_connects_with_the_configured_host_virtual_host_logins_and_heart_beats() {
    let (port, mut recorded) = recording_broker().await;
    let relay = RelayConfig::default()
        .with_host("127.0.0.1".to_owned())
        .with_port(port)
        .with_virtual_host("tenant-a".to_owned())
        .with_system_login("system-user".to_owned())
        .with_system_passcode("system-secret".to_owned())
        .with_client_login("client-user".to_owned())
        .with_client_passcode("client-secret".to_owned())
        .with_system_heartbeat_send_interval(Duration::from_millis(7_000))
        .with_system_heartbeat_receive_interval(Duration::from_millis(9_000));
    let server = TestServer::start(
        stomp_server::StompServer::builder()
            .interceptor(login_interceptor)
            .broker_relay(relay),
    )
    .await;

    // The system connection opens with the server.
    let system = next_connect(&mut recorded).await;
    assert_has(
        "system",
        &system,
        &[
            "host:tenant-a",
            "login:system-user",
            "passcode:system-secret",
            "heart-beat:7000,9000",
        ],
    );

    // A session's own connection opens for its first `/queue` subscription, with the
    // client login and no heart-beats (the client's session has its own).
    let session = server.connect("ann").await;
    let _queue = session.subscribe("/queue/settings").await.unwrap();
    // (The relay may open more system-login connections meanwhile; find the client one.)
    let client = loop {
        let connect = next_connect(&mut recorded).await;
        if !connect.iter().any(|h| h == "login:system-user") {
            break connect;
        }
    };
    assert_has(
        "client",
        &client,
        &[
            "host:tenant-a",
            "login:client-user",
            "passcode:client-secret",
            "heart-beat:0,0",
        ],
    );
}

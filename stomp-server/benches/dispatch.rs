//! Dispatch and fan-out cost, measured through the real session code over in-memory pipes
//! (no TCP): frame in → decode → route → extract → handler → publish → encode → frame out.
//!
//! `broker_round_trip` sends straight to a broker destination, so the difference with
//! `handler_round_trip` is the cost of the handler path (routing, path variable, JSON payload,
//! JSON reply). `fanout_100` is one publish reaching 100 subscribers. `authorization`
//! evaluates 20 authorization rules for one frame, against none.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use stomp_server::authorization::{AuthorizationContext, MessageSecurity, MessageType};
use stomp_server::{
    config::Limits, message_mapping, send_to, Payload, Principal, Server, SessionAttributes,
    SessionId, StompServer,
};
use tokio::runtime::Runtime;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::WebSocketStream;

#[derive(Deserialize)]
struct Post {
    content: String,
}

#[derive(Serialize)]
struct ChatMessage {
    room: String,
    sender: String,
    content: String,
}

#[message_mapping("/chat/<room>")]
#[send_to("/topic/chat/<room>")]
fn post(room: String, user: Option<Principal>, Payload(post): Payload<Post>) -> ChatMessage {
    ChatMessage {
        room,
        sender: user.map_or_else(|| "anonymous".to_owned(), |p| p.name().to_owned()),
        content: post.content,
    }
}

type Client = WebSocketStream<tokio::io::DuplexStream>;

async fn connect(server: &Server) -> Client {
    let (client_io, server_io) = tokio::io::duplex(256 * 1024);
    let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
    tokio::spawn(server.serve_connection(server_io, addr));
    let (mut ws, _) = tokio_tungstenite::client_async("ws://bench/ws", client_io)
        .await
        .unwrap();
    ws.send(WsMessage::text(
        "CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\0",
    ))
    .await
    .unwrap();
    next_frame(&mut ws).await;
    ws
}

async fn subscribe(ws: &mut Client, destination: &str) {
    ws.send(WsMessage::text(format!(
        "SUBSCRIBE\nid:sub-0\ndestination:{destination}\nreceipt:r\n\n\0"
    )))
    .await
    .unwrap();
    let receipt = next_frame(ws).await;
    assert!(receipt.starts_with(b"RECEIPT"));
}

async fn next_frame(ws: &mut Client) -> bytes::Bytes {
    loop {
        match ws.next().await.unwrap().unwrap() {
            WsMessage::Text(text) if text.as_str() != "\n" => return text.into(),
            WsMessage::Binary(bytes) => return bytes,
            _ => {}
        }
    }
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn server() -> Server {
    StompServer::builder()
        .stats_log_interval(None)
        // One session sends far more than the default 100,000 frames per second here; the
        // flood check would (rightly) close it.
        .limits(Limits::default().with_max_frames_per_second(0))
        .build()
        .unwrap()
}

fn round_trips(c: &mut Criterion) {
    let rt = runtime();
    let server = server();
    let mut ws = rt.block_on(async {
        let mut ws = connect(&server).await;
        subscribe(&mut ws, "/topic/chat/room1").await;
        ws
    });
    let handler_send = WsMessage::text(
        "SEND\ndestination:/app/chat/room1\ncontent-type:application/json\n\n{\"content\":\"hello, this is a chat message of about two hundred bytes with a path variable and a JSON payload, as in the demo chat room\"}\0",
    );
    let broker_send = WsMessage::text(
        "SEND\ndestination:/topic/chat/room1\ncontent-type:application/json\n\n{\"room\":\"room1\",\"sender\":\"anonymous\",\"content\":\"hello, this is a chat message of about two hundred bytes with a path variable and a JSON payload, as in the demo chat room\"}\0",
    );
    let mut group = c.benchmark_group("dispatch");
    group.throughput(Throughput::Elements(1));
    group.bench_function("handler_round_trip", |b| {
        b.iter(|| {
            rt.block_on(async {
                ws.send(handler_send.clone()).await.unwrap();
                next_frame(&mut ws).await
            })
        });
    });
    group.bench_function("broker_round_trip", |b| {
        b.iter(|| {
            rt.block_on(async {
                ws.send(broker_send.clone()).await.unwrap();
                next_frame(&mut ws).await
            })
        });
    });
    const WINDOW: u64 = 64;
    group.throughput(Throughput::Elements(WINDOW));
    group.bench_function("handler_pipelined_64", |b| {
        b.iter(|| {
            rt.block_on(async {
                for _ in 0..WINDOW {
                    ws.feed(handler_send.clone()).await.unwrap();
                }
                ws.flush().await.unwrap();
                for _ in 0..WINDOW {
                    next_frame(&mut ws).await;
                }
            });
        });
    });
    group.finish();
}

fn fanout(c: &mut Criterion) {
    let rt = runtime();
    let server = server();
    const SUBSCRIBERS: usize = 100;
    let (mut publisher, mut subscribers) = rt.block_on(async {
        let mut subscribers = Vec::with_capacity(SUBSCRIBERS);
        for _ in 0..SUBSCRIBERS {
            let mut ws = connect(&server).await;
            subscribe(&mut ws, "/topic/prices").await;
            subscribers.push(ws);
        }
        (connect(&server).await, subscribers)
    });
    let send = WsMessage::text(format!(
        "SEND\ndestination:/topic/prices\n\n{}\0",
        "x".repeat(64)
    ));
    let mut group = c.benchmark_group("fanout");
    group.throughput(Throughput::Elements(SUBSCRIBERS as u64));
    group.bench_function("one_publish_to_100_subscribers", |b| {
        b.iter(|| {
            rt.block_on(async {
                publisher.send(send.clone()).await.unwrap();
                for ws in &mut subscribers {
                    next_frame(ws).await;
                }
            });
        });
    });
    group.finish();
}

/// 20 rules of the kind an application has (administration, moderation, billing, ...), none
/// of which a chat `SEND` matches, then the rule that permits it: every check walks all 21.
fn twenty_rules() -> MessageSecurity {
    let patterns = [
        "/app/admin/**",
        "/topic/admin/**",
        "/app/moderation/<room>/**",
        "/topic/moderation/**",
        "/app/chat/<room>/pin",
        "/app/chat/<room>/delete/*",
        "/topic/chat/<room>/audit",
        "/app/rooms/create",
        "/app/rooms/<room>/invite/*",
        "/topic/presence/private/**",
        "/app/billing/**",
        "/topic/billing/**",
        "/app/reports/**",
        "/queue/reports/**",
        "/app/system/**",
        "/topic/system/**",
        "/app/debug/**",
        "/topic/debug/**",
        "/app/chat/<room>/typing",
        "/user/*/queue/audit",
    ];
    let builder = patterns
        .iter()
        .enumerate()
        .fold(MessageSecurity::builder(), |b, (i, p)| match i % 4 {
            0 => b.dest_matchers([*p]).has_role("ADMIN"),
            1 => b
                .subscribe_dest_matchers([*p])
                .has_any_role(["ADMIN", "MODERATOR"]),
            2 => b.send_dest_matchers([*p]).has_authority("chat:moderate"),
            _ => b
                .matchers([MessageType::Send, MessageType::Subscribe], [*p])
                .deny_all(),
        });
    builder.any_message().authenticated().build().unwrap()
}

/// Evaluating the rules for one chat `SEND`: 20 rules that do not match, then the one that
/// does; against no rules at all (`permit_unmatched`).
fn authorization(c: &mut Criterion) {
    let frame = stomp_server::Frame::new(stomp_server::Command::Send)
        .header("destination", "/app/chat/room-17")
        .header("content-type", "application/json")
        .with_body(r#"{"content":"hello"}"#);
    let (user, session) = (
        Principal::new("alice").with_roles(["USER"]),
        SessionId::new("s1"),
    );
    let attributes = SessionAttributes::new();
    let context = AuthorizationContext::new(&frame, Some(&user), &session, &attributes);
    let mut group = c.benchmark_group("authorization");
    for (name, rules) in [
        (
            "no_rules",
            MessageSecurity::builder()
                .permit_unmatched()
                .build()
                .unwrap(),
        ),
        ("twenty_rules", twenty_rules()),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| rules.check(std::hint::black_box(&context)).is_ok());
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = round_trips, fanout, authorization
}
criterion_main!(benches);

//! The STOMP client against a scripted fake server: CONNECT headers, CONNECTED, refusal,
//! subscriptions and routing, framing over WebSocket messages, acks, concurrent senders.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod client_fake;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use futures_util::SinkExt;
use stomp_server::client::{ClientError, StompClient};
use stomp_server::core::{Command, Frame, Version};
use tokio_tungstenite::tungstenite::Message;

use client_fake::{listen, quiet_client, session_with, Peer, STEP};

#[tokio::test]
async fn connect_sends_its_headers_and_reads_connected() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        Peer::accept_connect(
            &listener,
            "version:1.2\nsession:s-1\nserver:fake/1.0\nuser-name:alice\nheart-beat:0,0",
        )
        .await
    });
    let client = StompClient::new()
        .login("alice", "secret")
        .heartbeat(5000, 6000)
        .header("x-custom", "yes")
        .origin("http://example.test");
    let session = client.connect(&url).await.unwrap();
    let (peer, connect) = server.await.unwrap();

    assert_eq!(connect.command, Command::Connect);
    assert_eq!(connect.get("accept-version"), Some("1.0,1.1,1.2"));
    assert_eq!(connect.get("host"), Some("127.0.0.1"));
    assert_eq!(connect.get("login"), Some("alice"));
    assert_eq!(connect.get("passcode"), Some("secret"));
    assert_eq!(connect.get("heart-beat"), Some("5000,6000"));
    assert_eq!(connect.get("x-custom"), Some("yes"));
    assert_eq!(peer.origin.as_deref(), Some("http://example.test"));
    assert_eq!(
        peer.protocols.as_deref(),
        Some("v10.stomp, v11.stomp, v12.stomp")
    );

    assert_eq!(session.version(), Version::V1_2);
    assert_eq!(session.session_id(), Some("s-1"));
    assert_eq!(session.server(), Some("fake/1.0"));
    assert_eq!(session.connected_frame().get("user-name"), Some("alice"));
    assert_eq!(session.heartbeat().send_every, None);
    assert_eq!(session.heartbeat().expect_every, None);
    assert!(!session.is_closed());
}

#[tokio::test]
async fn stomp_command_host_and_versions_are_configurable() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move { Peer::accept_connect(&listener, "version:1.1").await });
    let client = StompClient::new()
        .use_stomp_command(true)
        .host("vhost")
        .accept_versions(&[Version::V1_1])
        .subprotocols(Vec::new());
    let session = client.connect(&url).await.unwrap();
    let (peer, connect) = server.await.unwrap();

    assert_eq!(connect.command, Command::Stomp);
    assert_eq!(connect.get("host"), Some("vhost"));
    assert_eq!(connect.get("accept-version"), Some("1.1"));
    assert_eq!(connect.get("login"), None);
    assert_eq!(peer.protocols, None);
    assert_eq!(session.version(), Version::V1_1);
}

#[tokio::test]
async fn error_instead_of_connected_is_refused() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move {
        let mut peer = Peer::accept(&listener).await;
        peer.frame().await;
        peer.send("ERROR\nmessage:bad credentials\ncontent-type:text/plain\n\ngo away\0")
            .await;
        peer
    });
    let error = StompClient::new().connect(&url).await.unwrap_err();
    let _peer = server.await.unwrap();
    match error {
        ClientError::Refused { message, body } => {
            assert_eq!(message, "bad credentials");
            assert_eq!(body, "go away");
        }
        other => panic!("expected Refused, got {other:?}"),
    }
}

#[tokio::test]
async fn bad_urls_are_rejected_before_connecting() {
    let client = StompClient::new();
    for url in [
        "stomp+tls://127.0.0.1:1",
        "http://127.0.0.1:1/ws",
        "not a url",
    ] {
        let error = client.connect(url).await.unwrap_err();
        assert!(matches!(error, ClientError::Config(_)), "{url}: {error}");
    }
}

#[tokio::test]
async fn connects_from_the_chosen_source_address() {
    let (listener, url) = listen().await;
    let server = tokio::spawn(async move { Peer::accept_connect(&listener, "version:1.2").await });
    let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let _session = quiet_client()
        .bind_addr(source)
        .connect(&url)
        .await
        .unwrap();
    let (peer, _) = server.await.unwrap();
    assert_eq!(peer.remote.ip(), source);
}

#[tokio::test]
async fn subscribe_waits_for_the_receipt_and_routes_by_subscription_id() {
    // Set by the fake server just before it answers with the RECEIPT.
    let receipt_sent = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&receipt_sent);
    let (session, server) = session_with(quiet_client(), "version:1.2", |mut peer| async move {
        let first = peer.frame().await;
        // A slow receipt: `subscribe` must not return before it.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let receipt = first.receipt().unwrap();
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
        peer.send(&format!("RECEIPT\nreceipt-id:{receipt}\n\n\0"))
            .await;
        let second = peer.accept_subscribe().await;
        for (sub, body) in [("sub-1", "for b"), ("sub-0", "for a"), ("sub-9", "nobody")] {
            peer.send(&format!(
                "MESSAGE\nsubscription:{sub}\nmessage-id:m-{body}\ndestination:/x\n\n{body}\0"
            ))
            .await;
        }
        assert_eq!(first.id(), Some("sub-0"));
        assert_eq!(first.destination(), Some("/topic/a"));
        assert_eq!(first.get("ack"), Some("auto"));
        assert_eq!(second.id(), Some("sub-1"));
        peer
    })
    .await;

    let mut a = session.subscribe("/topic/a").await.unwrap();
    assert!(
        receipt_sent.load(std::sync::atomic::Ordering::SeqCst),
        "subscribe returned before the RECEIPT was sent"
    );
    let mut b = session.subscribe("/topic/b").await.unwrap();
    assert_eq!((a.id(), b.id()), ("sub-0", "sub-1"));

    assert_eq!(
        b.next_timeout(STEP).await.unwrap().body_str(),
        Some("for b")
    );
    assert_eq!(
        a.next_timeout(STEP).await.unwrap().body_str(),
        Some("for a")
    );
    let unrouted = tokio::time::timeout(STEP, session.next_unrouted())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(unrouted.body_str(), Some("nobody"));
    server.await.unwrap();
}

#[tokio::test]
async fn frames_may_share_or_span_websocket_messages() {
    let (session, server) = session_with(quiet_client(), "version:1.2", |mut peer| async move {
        peer.accept_subscribe().await;
        // Two frames and heart-beats in one WebSocket message.
        peer.send("MESSAGE\nsubscription:sub-0\nmessage-id:1\n\none\0\n\nMESSAGE\nsubscription:sub-0\nmessage-id:2\n\ntwo\0")
            .await;
        // One frame over three messages: split inside a header, then inside the body.
        peer.send("MESSAGE\nsubscr").await;
        peer.send("iption:sub-0\nmessage-id:3\ncontent-length:5\n\nth")
            .await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        peer.send("ree\0").await;
        peer
    })
    .await;
    let mut sub = session.subscribe("/topic/a").await.unwrap();
    for expected in ["one", "two", "three"] {
        let message = sub.next_timeout(STEP).await.unwrap();
        assert_eq!(message.body_str(), Some(expected));
    }
    server.await.unwrap();
}

#[tokio::test]
async fn binary_bodies_travel_as_binary_websocket_messages() {
    let (session, server) = session_with(quiet_client(), "version:1.2", |mut peer| async move {
        peer.accept_subscribe().await;
        let text = peer.message().await;
        assert!(matches!(&text, Message::Text(t) if t.as_str().contains("hello")));
        let binary = peer.message().await;
        let Message::Binary(bytes) = binary else {
            panic!("expected a binary message, got {binary:?}");
        };
        peer.buf.extend_from_slice(&bytes);
        let frame = peer.decoder.decode(&mut peer.buf).unwrap().unwrap();
        assert_eq!(&frame.body[..], b"a\0b\xff");
        assert_eq!(frame.get("content-length"), Some("4"));

        let mut reply =
            b"MESSAGE\nsubscription:sub-0\nmessage-id:1\ncontent-length:3\n\nx\0y\0".to_vec();
        reply.extend_from_slice(b"MESSAGE\nsubscription:sub-0\nmessage-id:2\n\nafter\0");
        peer.ws.send(Message::binary(reply)).await.unwrap();
        peer
    })
    .await;
    let mut sub = session.subscribe("/topic/bin").await.unwrap();
    session.send("/app/text", "hello").await.unwrap();
    session.send("/app/bin", &b"a\0b\xff"[..]).await.unwrap();
    assert_eq!(&sub.next_timeout(STEP).await.unwrap().body[..], b"x\0y");
    assert_eq!(
        sub.next_timeout(STEP).await.unwrap().body_str(),
        Some("after")
    );
    server.await.unwrap();
}

#[tokio::test]
async fn json_unsubscribe_and_dropped_subscriptions() {
    let (session, server) = session_with(quiet_client(), "version:1.2", |mut peer| async move {
        peer.accept_subscribe().await;
        peer.accept_subscribe().await;
        let json = peer.frame().await;
        assert_eq!(json.content_type(), Some("application/json"));
        assert_eq!(json.body_str(), Some(r#"{"text":"hi"}"#));
        let unsubscribe = peer.frame().await;
        assert_eq!(unsubscribe.command, Command::Unsubscribe);
        assert_eq!(unsubscribe.id(), Some("sub-0"));
        // sub-1 was dropped: its messages are unrouted now.
        peer.send("MESSAGE\nsubscription:sub-1\nmessage-id:9\n\nlate\0")
            .await;
        peer
    })
    .await;
    let first = session.subscribe("/topic/a").await.unwrap();
    let second = session.subscribe("/topic/b").await.unwrap();
    drop(second);
    session
        .send_json("/app/chat", &serde_json::json!({ "text": "hi" }))
        .await
        .unwrap();
    first.unsubscribe().await.unwrap();
    let late = tokio::time::timeout(STEP, session.next_unrouted())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(late.body_str(), Some("late"));
    server.await.unwrap();
}

#[tokio::test]
async fn duplicate_subscription_ids_are_refused() {
    let (session, _server) = session_with(quiet_client(), "version:1.2", |peer| async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        peer
    })
    .await;
    let frame = Frame::new(Command::Subscribe)
        .header("id", "mine")
        .header("destination", "/topic/a");
    let _live = session.subscribe_with(frame.clone(), false).await.unwrap();
    let error = session.subscribe_with(frame, false).await.unwrap_err();
    assert!(matches!(error, ClientError::InvalidFrame(_)), "{error}");
}

#[tokio::test]
async fn ack_nack_and_transactions_on_stomp_1_2() {
    let (session, server) = session_with(quiet_client(), "version:1.2", |mut peer| async move {
        let frames = [
            peer.frame().await,
            peer.frame().await,
            peer.frame().await,
            peer.frame().await,
            peer.frame().await,
        ];
        assert_eq!(frames[0].command, Command::Begin);
        assert_eq!(frames[0].get("transaction"), Some("tx-1"));
        assert_eq!(frames[1].command, Command::Ack);
        assert_eq!(frames[1].id(), Some("a-7"));
        assert_eq!(frames[2].command, Command::Nack);
        assert_eq!(frames[2].id(), Some("a-7"));
        assert_eq!(frames[3].command, Command::Commit);
        assert_eq!(frames[4].command, Command::Abort);
        peer
    })
    .await;
    let message = Frame::new(Command::Message)
        .header("subscription", "sub-0")
        .header("message-id", "m-1")
        .header("ack", "a-7");
    session.begin("tx-1").await.unwrap();
    session.ack(&message).await.unwrap();
    session.nack(&message).await.unwrap();
    session.commit("tx-1").await.unwrap();
    session.abort("tx-2").await.unwrap();
    let no_ack = Frame::new(Command::Message).header("message-id", "m-2");
    assert!(matches!(
        session.ack(&no_ack).await,
        Err(ClientError::InvalidFrame(_))
    ));
    server.await.unwrap();
}

#[tokio::test]
async fn ack_on_stomp_1_1_names_message_and_subscription() {
    let (session, server) = session_with(quiet_client(), "version:1.1", |mut peer| async move {
        let ack = peer.frame().await;
        assert_eq!(ack.command, Command::Ack);
        assert_eq!(ack.get("message-id"), Some("m-1"));
        assert_eq!(ack.get("subscription"), Some("sub-0"));
        peer
    })
    .await;
    let message = Frame::new(Command::Message)
        .header("subscription", "sub-0")
        .header("message-id", "m-1");
    session.ack(&message).await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn many_tasks_send_through_one_session() {
    const TASKS: usize = 8;
    const EACH: usize = 50;
    let (session, server) = session_with(quiet_client(), "version:1.2", |mut peer| async move {
        let mut counts = [0usize; TASKS];
        for _ in 0..TASKS * EACH {
            let frame = peer.frame().await;
            let task: usize = frame.destination().unwrap()[6..].parse().unwrap();
            counts[task] += 1;
        }
        assert_eq!(counts, [EACH; TASKS]);
        peer
    })
    .await;
    let senders: Vec<_> = (0..TASKS)
        .map(|task| {
            let session = session.clone();
            tokio::spawn(async move {
                for i in 0..EACH {
                    session
                        .send(&format!("/task/{task}"), format!("message {i}"))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for sender in senders {
        sender.await.unwrap();
    }
    tokio::time::timeout(STEP, server).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_full_subscription_holds_the_reader_without_losing_messages() {
    const COUNT: usize = 20;
    let client = quiet_client().subscription_capacity(1);
    let (session, server) = session_with(client, "version:1.2", |mut peer| async move {
        peer.accept_subscribe().await;
        for i in 0..COUNT {
            peer.send(&format!(
                "MESSAGE\nsubscription:sub-0\nmessage-id:{i}\n\n{i}\0"
            ))
            .await;
        }
        peer
    })
    .await;
    let mut sub = session.subscribe("/topic/a").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    for i in 0..COUNT {
        let message = sub.next_timeout(STEP).await.unwrap();
        assert_eq!(message.body_str(), Some(i.to_string().as_str()));
    }
    server.await.unwrap();
}

//! The STOMP client against a scripted fake server: receipts, heart-beats, ERROR frames,
//! disconnect and every way a connection can end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod client_fake;

use std::time::Duration;

use futures_util::StreamExt;
use stomp_server::client::{ClientError, CloseReason, StompClient};
use stomp_server::core::{Command, DecodeError, Frame, FrameLimits};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

use client_fake::{quiet_client, session_with, STEP};

#[tokio::test]
async fn receipts_are_awaited_with_a_timeout() {
    let client = quiet_client().receipt_timeout(Duration::from_millis(200));
    let (session, server) = session_with(client, "version:1.2", |mut peer| async move {
        let send = peer.frame().await;
        assert_eq!(send.command, Command::Send);
        let receipt = send.receipt().unwrap().to_owned();
        peer.send(&format!("RECEIPT\nreceipt-id:{receipt}\n\n\0"))
            .await;
        // The second one is never answered; a stray receipt goes to next_unrouted.
        let unanswered = peer.frame().await;
        assert_eq!(unanswered.receipt(), Some("mine"));
        peer.send("RECEIPT\nreceipt-id:stray\n\n\0").await;
        peer
    })
    .await;
    let frame = Frame::new(Command::Send)
        .header("destination", "/app/x")
        .with_body("1");
    let receipt = session.send_with_receipt(frame).await.unwrap();
    assert_eq!(receipt.command, Command::Receipt);
    assert!(receipt.get("receipt-id").unwrap().starts_with("rcpt-"));

    let frame = Frame::new(Command::Send)
        .header("destination", "/app/x")
        .header("receipt", "mine");
    // The configured 200 ms applies, not the 15 s default: a generous guard below the
    // default tells them apart without timing anything precisely.
    let error = tokio::time::timeout(Duration::from_secs(10), session.send_with_receipt(frame))
        .await
        .expect("the configured receipt timeout must apply, not the 15 s default")
        .unwrap_err();
    assert!(matches!(error, ClientError::Timeout("RECEIPT")), "{error}");
    let stray = tokio::time::timeout(STEP, session.next_unrouted())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stray.get("receipt-id"), Some("stray"));
    server.await.unwrap();
}

#[tokio::test]
async fn sends_heart_beats_when_idle() {
    let client = StompClient::new().heartbeat(100, 0);
    let (session, server) = session_with(
        client,
        "version:1.2\nheart-beat:0,100",
        |mut peer| async move {
            // Three heart-beats and nothing else from an idle client (each read has its own
            // generous guard); the interval itself is checked through `send_every` below.
            for _ in 0..3 {
                match peer.message().await {
                    Message::Text(text) if text.as_str() == "\n" => {}
                    other => panic!("expected a heart-beat, got {other:?}"),
                }
            }
            peer
        },
    )
    .await;
    assert_eq!(
        session.heartbeat().send_every,
        Some(Duration::from_millis(100))
    );
    server.await.unwrap();
}

#[tokio::test]
async fn a_silent_server_is_declared_dead() {
    let client = StompClient::new().heartbeat(0, 100);
    let (session, server) = session_with(
        client,
        "version:1.2\nheart-beat:100,0",
        |mut peer| async move {
            // Alive for a while, then silent (the socket stays open).
            for _ in 0..16 {
                peer.send("\n").await;
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            peer
        },
    )
    .await;
    let mut sub = session
        .subscribe_with(
            Frame::new(Command::Subscribe).header("destination", "/topic/a"),
            false,
        )
        .await
        .unwrap();
    let _peer = server.await.unwrap();
    assert!(
        !session.is_closed(),
        "closed although the server sent heart-beats"
    );
    let reason = tokio::time::timeout(STEP, session.closed()).await.unwrap();
    match reason {
        CloseReason::HeartBeatTimeout { silent_for } => {
            assert!(silent_for >= Duration::from_millis(200), "{silent_for:?}");
        }
        other => panic!("expected a heart-beat timeout, got {other:?}"),
    }
    assert!(session.is_closed());
    assert!(sub.next().await.is_none());
    let error = session.send("/app/x", "late").await.unwrap_err();
    assert!(
        matches!(
            error,
            ClientError::Closed(CloseReason::HeartBeatTimeout { .. })
        ),
        "{error}"
    );
}

#[tokio::test]
async fn an_error_mid_session_reaches_every_subscription() {
    let (session, server) = session_with(quiet_client(), "version:1.2", |mut peer| async move {
        peer.accept_subscribe().await;
        peer.send("ERROR\nmessage:boom\n\ndetails\0").await;
        peer.ws.close(None).await.unwrap();
        // Drain until the client completes the close handshake, then drop TCP.
        while let Some(Ok(_)) = peer.ws.next().await {}
    })
    .await;
    let mut sub = session.subscribe("/topic/a").await.unwrap();
    match sub.next().await {
        Some(Err(ClientError::Error { message, frame })) => {
            assert_eq!(message, "boom");
            assert_eq!(frame.body_str(), Some("details"));
        }
        other => panic!("expected the ERROR, got {other:?}"),
    }
    let error = tokio::time::timeout(STEP, session.next_error())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(error.get("message"), Some("boom"));
    let reason = tokio::time::timeout(STEP, session.closed()).await.unwrap();
    assert_eq!(
        reason,
        CloseReason::Error {
            message: "boom".into()
        }
    );
    assert!(sub.next().await.is_none());
    assert!(session.next_error().await.is_none());
    assert!(matches!(
        session.send("/app/x", "late").await,
        Err(ClientError::Closed(CloseReason::Error { .. }))
    ));
    server.await.unwrap();
}

#[tokio::test]
async fn disconnect_waits_for_the_receipt_and_closes() {
    let (session, server) = session_with(quiet_client(), "version:1.2", |mut peer| async move {
        let disconnect = peer.frame().await;
        assert_eq!(disconnect.command, Command::Disconnect);
        let receipt = disconnect.receipt().unwrap();
        peer.send(&format!("RECEIPT\nreceipt-id:{receipt}\n\n\0"))
            .await;
        assert!(matches!(peer.message().await, Message::Close(_)));
        while let Some(Ok(_)) = peer.ws.next().await {}
    })
    .await;
    let other = session.clone();
    tokio::time::timeout(STEP, session.disconnect())
        .await
        .unwrap()
        .unwrap();
    assert!(other.is_closed());
    assert_eq!(other.closed().await, CloseReason::Disconnected);
    server.await.unwrap();
}

#[tokio::test]
async fn dropping_every_handle_closes_the_websocket() {
    let (session, server) = session_with(quiet_client(), "version:1.2", |mut peer| async move {
        assert!(matches!(peer.message().await, Message::Close(_)));
        peer
    })
    .await;
    drop(session);
    tokio::time::timeout(STEP, server).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_server_close_frame_is_reported_even_if_tcp_stays_open() {
    let (session, server) = session_with(quiet_client(), "version:1.2", |mut peer| async move {
        let close = CloseFrame {
            code: CloseCode::Away,
            reason: "restarting".into(),
        };
        peer.ws.close(Some(close)).await.unwrap();
        while let Some(Ok(_)) = peer.ws.next().await {}
        // Keeps the TCP connection open: the client stops waiting for it after a moment.
        peer
    })
    .await;
    let reason = tokio::time::timeout(STEP, session.closed()).await.unwrap();
    assert_eq!(
        reason,
        CloseReason::ServerClosed {
            code: Some(1001),
            reason: "restarting".into()
        }
    );
    server.await.unwrap();
}

#[tokio::test]
async fn an_oversize_frame_from_the_server_ends_the_connection() {
    let limits = FrameLimits {
        max_frame_size: 1024,
        ..FrameLimits::default()
    };
    let client = quiet_client().frame_limits(limits);
    let (session, server) = session_with(client, "version:1.2", |mut peer| async move {
        let body = "x".repeat(2000);
        peer.send(&format!(
            "MESSAGE\nsubscription:sub-0\nmessage-id:1\n\n{body}\0"
        ))
        .await;
        peer
    })
    .await;
    let reason = tokio::time::timeout(STEP, session.closed()).await.unwrap();
    assert_eq!(
        reason,
        CloseReason::Decode(DecodeError::FrameTooLarge { limit: 1024 })
    );
    server.await.unwrap();
}

//! The session relay against fake brokers: pacing, parked messages, control frames.

use std::time::Duration;

use stomp_core::HeartBeat;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::peer::{CloseCause, OutboundItem};
use crate::relay::connection::READ_CHUNK;
use crate::relay::inbound::READ_AHEAD;

/// Messages the fake broker sends, of this many bytes of body each.
const MESSAGES: usize = 64;
const BODY: usize = 1_000;
/// The test session's send-buffer limit: a paced relay leaves at most half waiting.
const LIMIT: usize = 16 * 1024;

/// Reads until `count` whole frames came, returning their text.
async fn read_frames(stream: &mut TcpStream, count: usize) -> Vec<String> {
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    while seen.iter().filter(|b| **b == 0).count() < count {
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "closed early");
        seen.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&seen)
        .split('\0')
        .map(|f| f.trim_start_matches('\n').to_owned())
        .filter(|f| !f.is_empty())
        .collect()
}

/// A broker that answers `CONNECT` and `SUBSCRIBE`, then sends every message of the
/// subscription at once, as RabbitMQ does for a backlog with `ack:auto`.
async fn flooding_broker() -> (String, tokio::task::JoinHandle<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    let broker = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        read_frames(&mut stream, 1).await;
        let connected = b"CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\0";
        stream.write_all(connected).await.expect("CONNECTED");
        let subscribe = read_frames(&mut stream, 1).await.concat();
        let header = |name: &str| {
            subscribe
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .expect("header")
                .to_owned()
        };
        let (id, receipt) = (header("id:"), header("receipt:"));
        let mut out = format!("RECEIPT\nreceipt-id:{receipt}\n\n\0");
        for i in 0..MESSAGES {
            out.push_str(&format!(
                "MESSAGE\nsubscription:{id}\ndestination:/queue/paced\nmessage-id:{i}\n\n{i:0>BODY$}\0"
            ));
        }
        stream.write_all(out.as_bytes()).await.expect("MESSAGEs");
        stream
    });
    (address, broker)
}

fn options(address: String) -> ConnectOptions {
    ConnectOptions {
        address,
        virtual_host: "/".to_owned(),
        login: "guest".to_owned(),
        passcode: "guest".to_owned(),
        heartbeat: HeartBeat::default(),
        connect_timeout: Duration::from_secs(5),
        send_buffer_size: 256 * 1024,
        send_time: Duration::from_secs(10),
        publish_batch: 1,
        tls: None,
        host: "127.0.0.1".to_owned(),
    }
}

/// What the backlog broker answers the second `SUBSCRIBE` with, after its flood.
#[derive(Clone, Copy)]
enum Then {
    Receipt,
    Error,
}

/// A broker that confirms the first `SUBSCRIBE`, floods `count` messages of `body`
/// bytes to it (a RabbitMQ queue backlog on `ack:auto`), then answers the second
/// `SUBSCRIBE`: its `RECEIPT` (or an `ERROR`) comes behind the whole flood.
async fn backlog_broker(count: usize, body: usize, then: Then) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        read_frames(&mut stream, 1).await;
        let connected = b"CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\0";
        stream.write_all(connected).await.expect("CONNECTED");
        let first = read_frames(&mut stream, 1).await.concat();
        let header = |frame: &str, name: &str| {
            let line = frame.lines().find_map(|l| l.strip_prefix(name));
            line.expect("header").to_owned()
        };
        let (id, receipt) = (header(&first, "id:"), header(&first, "receipt:"));
        let receipt = format!("RECEIPT\nreceipt-id:{receipt}\n\n\0");
        stream.write_all(receipt.as_bytes()).await.expect("RECEIPT");
        for i in 0..count {
            let message = format!(
                "MESSAGE\nsubscription:{id}\ndestination:/queue/jobs\nmessage-id:{i}\n\n{i:0>body$}\0"
            );
            stream.write_all(message.as_bytes()).await.expect("MESSAGE");
        }
        let second = read_frames(&mut stream, 1).await.concat();
        let answer = match then {
            Then::Receipt => {
                format!("RECEIPT\nreceipt-id:{}\n\n\0", header(&second, "receipt:"))
            }
            Then::Error => "ERROR\nmessage:boom\n\n\0".to_owned(),
        };
        stream.write_all(answer.as_bytes()).await.expect("answer");
        // Keep the connection open until the relay closes it.
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest).await;
    });
    address
}

/// Asks the relay for broker subscription `id` (routed to the client's `sub-<id>`);
/// resolves with the broker's confirmation.
fn subscribe(relay: &SessionRelay, id: &str) -> oneshot::Receiver<Result<(), BrokerError>> {
    let route = Route {
        client_id: Arc::from(format!("sub-{id}")),
        reported: None,
    };
    relay.lock().routes.insert(id.to_owned(), route);
    let receipt = format!("rc-{id}");
    let frame = Frame::new(Command::Subscribe)
        .header(names::ID, id)
        .header(names::DESTINATION, "/queue/jobs")
        .header(names::RECEIPT, &receipt);
    let (confirm, confirmed) = oneshot::channel();
    let request = Request::Subscribe {
        frames: vec![frame],
        receipt,
        confirm,
    };
    assert!(relay.requests.send(request).is_ok());
    confirmed
}

/// Writes what the session queued until `count` MESSAGE bodies came (or the queue
/// closed), returning them as numbers, and whether an `ERROR` came.
async fn drain(
    session: &SessionHandle,
    rx: &mut crate::peer::Receiver,
    count: usize,
) -> (Vec<usize>, bool) {
    let (mut bodies, mut error) = (Vec::new(), false);
    while bodies.len() < count && !error {
        let mut items = VecDeque::new();
        let waited = tokio::time::timeout(Duration::from_secs(30), rx.wait(&mut items)).await;
        assert!(waited.is_ok(), "only {} of {count} came", bodies.len());
        for item in items {
            let OutboundItem::Frame(message, len) = item else {
                continue;
            };
            let text = message.to_text().expect("text").to_owned();
            error |= text.starts_with("ERROR");
            if let Some(body) = text
                .strip_prefix("MESSAGE")
                .and_then(|t| t.split_once("\n\n"))
            {
                bodies.push(body.1.trim_end_matches('\0').parse().expect("a number"));
            }
            session.outbound.written(len);
        }
    }
    (bodies, error)
}

/// Messages in the backlog of the receipt tests: more than the old read-ahead of 64
/// frames, less than [`READ_AHEAD`] bytes.
const BACKLOG: usize = 150;

#[tokio::test]
async fn a_receipt_behind_messages_the_client_cannot_take_yet_is_handled_at_once() {
    let address = backlog_broker(BACKLOG, BODY, Then::Receipt).await;
    let (session, mut rx) = SessionHandle::with_queue("s", LIMIT);
    let (relay, connected) = SessionRelay::start(options(address), &session);
    connected.await.expect("answered").expect("connected");
    let first = subscribe(&relay, "r1");
    first.await.expect("answered").expect("subscribed");
    // The client writes nothing: its credit fills after a few messages. The second
    // subscription is confirmed all the same (before, its RECEIPT waited behind the
    // messages for the client, and the session gave up after SUBSCRIBE_CONFIRMATION).
    let second = tokio::time::timeout(Duration::from_secs(30), subscribe(&relay, "r2")).await;
    let second = second.expect("the RECEIPT was not handled while messages were parked");
    second.expect("answered").expect("subscribed");
    assert!(session.outbound.queued_bytes() <= LIMIT / 2 + 2 * BODY);
    // Nothing parked is lost: everything follows in order once the client writes.
    let (bodies, error) = drain(&session, &mut rx, BACKLOG).await;
    assert!(!error);
    assert_eq!(bodies, (0..BACKLOG).collect::<Vec<_>>());
    assert_eq!(relay.read_ahead.bytes(), 0, "all released");
}

#[tokio::test]
async fn a_broker_error_behind_messages_the_client_cannot_take_yet_is_handled_at_once() {
    let address = backlog_broker(BACKLOG, BODY, Then::Error).await;
    let (session, mut rx) = SessionHandle::with_queue("s", LIMIT);
    let (relay, connected) = SessionRelay::start(options(address), &session);
    connected.await.expect("answered").expect("connected");
    subscribe(&relay, "r1")
        .await
        .expect("answered")
        .expect("subscribed");
    let second = tokio::time::timeout(Duration::from_secs(30), subscribe(&relay, "r2")).await;
    let second = second.expect("the ERROR was not handled while messages were parked");
    match second.expect("answered") {
        Err(BrokerError::Unavailable(message)) => assert_eq!(message, "boom"),
        other => panic!("expected the broker's error, got {other:?}"),
    }
    // The client is told at once, behind the messages it already had credit for.
    let (bodies, error) = drain(&session, &mut rx, BACKLOG).await;
    assert!(error, "no ERROR frame for the client");
    assert!(
        bodies.len() < BACKLOG,
        "{} messages came first",
        bodies.len()
    );
}

#[tokio::test]
async fn parked_messages_stay_within_the_read_ahead_bound_in_bytes() {
    // 4 MiB of 16 KiB messages for a client that takes none for now.
    const COUNT: usize = 256;
    const LARGE: usize = 16 * 1024;
    let address = backlog_broker(COUNT, LARGE, Then::Receipt).await;
    let (session, mut rx) = SessionHandle::with_queue("s", 4 * LARGE);
    let (relay, connected) = SessionRelay::start(options(address), &session);
    connected.await.expect("answered").expect("connected");
    subscribe(&relay, "r1")
        .await
        .expect("answered")
        .expect("subscribed");
    let second = subscribe(&relay, "r2");
    // The reader fills the read-ahead, then stops reading the broker.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while relay.read_ahead.bytes() < READ_AHEAD {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the read-ahead never filled"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Everything arrives in order as the client writes, then the RECEIPT.
    let (bodies, error) = drain(&session, &mut rx, COUNT).await;
    assert!(!error);
    assert_eq!(bodies, (0..COUNT).collect::<Vec<_>>());
    let confirmed = tokio::time::timeout(Duration::from_secs(30), second).await;
    confirmed
        .expect("in time")
        .expect("answered")
        .expect("subscribed");
    // What was read ahead never passed the bound by more than one read and one frame.
    let peak = relay.read_ahead.peak();
    let frame = LARGE + 128;
    assert!(
        peak <= READ_AHEAD + READ_CHUNK + frame,
        "{peak} bytes read ahead"
    );
}

#[tokio::test]
async fn broker_messages_reach_the_client_at_the_pace_its_connection_drains() {
    let (address, _broker) = flooding_broker().await;
    let (session, mut rx) = SessionHandle::with_queue("s", LIMIT);
    let (relay, connected) = SessionRelay::start(options(address), &session);
    connected.await.expect("answered").expect("connected");
    let route = Route {
        client_id: Arc::from("sub-0"),
        reported: Some(Arc::from("/queue/paced")),
    };
    relay.lock().routes.insert("r1".to_owned(), route);
    let subscribe = Frame::new(Command::Subscribe)
        .header(names::ID, "r1")
        .header(names::DESTINATION, "/queue/paced")
        .header(names::RECEIPT, "rc");
    let (confirm, confirmed) = oneshot::channel();
    let request = Request::Subscribe {
        frames: vec![subscribe],
        receipt: "rc".to_owned(),
        confirm,
    };
    assert!(relay.requests.send(request).is_ok());
    confirmed.await.expect("answered").expect("subscribed");
    // Nothing is written yet: the relay fills the credit (half the limit), then waits.
    // Without pacing it would pass the limit and cut the session off.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while session.outbound.queued_bytes() < LIMIT / 2 - 2 * BODY {
        assert_eq!(session.outbound.close_cause(), CloseCause::None, "cut off");
        assert!(
            tokio::time::Instant::now() < deadline,
            "the credit never filled"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(session.outbound.queued_bytes() <= LIMIT / 2 + 2 * BODY);
    // Written, the rest follows in order.
    let mut received = Vec::new();
    while received.len() < MESSAGES {
        let mut items = VecDeque::new();
        let waited = tokio::time::timeout(Duration::from_secs(30), rx.wait(&mut items)).await;
        assert!(waited.is_ok(), "only {} of {MESSAGES} came", received.len());
        for item in items {
            if let OutboundItem::Frame(message, len) = item {
                let text = message.to_text().expect("text").to_owned();
                let body = text.split_once("\n\n").expect("a frame").1;
                received.push(
                    body.trim_end_matches('\0')
                        .parse::<usize>()
                        .expect("a number"),
                );
                session.outbound.written(len);
            }
        }
    }
    assert_eq!(received, (0..MESSAGES).collect::<Vec<_>>());
    assert_eq!(session.outbound.close_cause(), CloseCause::None);
}

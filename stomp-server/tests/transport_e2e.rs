//! The transport under abuse, over real sockets: ping floods, floods of empty messages, slow
//! HTTP requests, loose WebSocket handshakes and the close codes a client sees.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod raw;

use std::time::Duration;

use common::{no_handlers, TestServer, WAIT};
use futures_util::{SinkExt, StreamExt};
use raw::{
    client_frame, closed, drained_to_close, raw, raw_upgraded, raw_upgraded_at, read_head,
    read_text, status_of, texts_and_close_code, Raw,
};
use stomp_server::config::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// Floods `tcp` with pings without reading; true when the server cut it off.
async fn ping_flood_is_cut_off(tcp: &mut TcpStream) -> bool {
    // 100,000 pings of 125 bytes owe 12.7 MB of pongs: far past the kernel's buffers and
    // the 64 KiB allowed to wait, so the server must stop reading them.
    let chunk: Vec<u8> = (0..500)
        .flat_map(|_| client_frame(0x89, &[b'p'; 125]))
        .collect();
    for _ in 0..200 {
        let write = tokio::time::timeout(WAIT, tcp.write_all(&chunk)).await;
        if !matches!(write, Ok(Ok(()))) {
            // Closed (reset) or no longer read: either way the flood is over.
            return true;
        }
    }
    drained_to_close(tcp).await
}

#[tokio::test]
async fn a_ping_flood_on_the_sockjs_websocket_transport_is_cut_off_too() {
    let limits = Limits::default().with_send_buffer_size(64 * 1024);
    let server = TestServer::start(no_handlers().limits(limits).with_sockjs()).await;
    let mut tcp = raw_upgraded_at(server.port, "/ws/000/pingflood/websocket").await;
    assert!(
        ping_flood_is_cut_off(&mut tcp).await,
        "the server kept the flooding SockJS connection open"
    );
}

#[tokio::test]
async fn a_ping_flood_that_never_reads_is_cut_off_and_others_carry_on() {
    let limits = Limits::default().with_send_buffer_size(64 * 1024);
    let server = TestServer::start(no_handlers().limits(limits)).await;
    let calm = server.connect_anonymous().await;
    let mut sub = calm.subscribe("/topic/ping-flood-calm").await.unwrap();

    let mut tcp = raw_upgraded(server.port).await;
    assert!(
        ping_flood_is_cut_off(&mut tcp).await,
        "the server kept the flooding connection open"
    );
    assert_eq!(server.stats.snapshot().slow_consumer_closes, 1);

    calm.send("/topic/ping-flood-calm", "unaffected")
        .await
        .unwrap();
    assert_eq!(
        sub.next_timeout(WAIT).await.unwrap().body_str(),
        Some("unaffected")
    );
}

#[tokio::test]
async fn pings_are_not_heart_beats() {
    let server = TestServer::start(no_handlers().heartbeat(100, 100)).await;
    let mut ws = raw(&server).await;
    let connect = "CONNECT\naccept-version:1.2\nheart-beat:100,0\n\n\0";
    ws.send(WsMessage::text(connect)).await.unwrap();
    let connected = read_text(&mut ws).await.unwrap();
    assert!(connected.starts_with("CONNECTED\n"), "{connected}");
    // Pings every 20 ms, never a STOMP heart-beat: the session must still time out.
    let mut ticker = tokio::time::interval(Duration::from_millis(20));
    let deadline = tokio::time::Instant::now() + WAIT;
    let error = loop {
        tokio::select! {
            _ = ticker.tick() => {
                if ws.send(WsMessage::Ping(vec![1, 2, 3].into())).await.is_err() {
                    break None;
                }
            }
            next = ws.next() => match next {
                Some(Ok(WsMessage::Text(text))) if text.as_str() != "\n" => {
                    break Some(text.as_str().to_owned());
                }
                Some(Ok(_)) => {}
                _ => break None,
            },
            () = tokio::time::sleep_until(deadline) => break None,
        }
    };
    let error = error.expect("an ERROR for the missing heart-beats");
    assert!(error.contains("no frame or heart-beat received"), "{error}");
    assert_eq!(server.stats.snapshot().heartbeat_timeouts, 1);
}

/// A server allowing 50 frames (WebSocket messages) per second.
async fn rate_limited_server() -> TestServer {
    let limits = Limits::default().with_max_frames_per_second(50);
    TestServer::start(no_handlers().limits(limits)).await
}

/// Sends `count` copies of `message` (stopping early if the server closed) and expects the
/// flood `ERROR` and the close.
async fn flood_is_refused(ws: &mut Raw, message: WsMessage, count: usize) {
    for _ in 0..count {
        if ws.send(message.clone()).await.is_err() {
            break;
        }
    }
    let error = read_text(ws).await.expect("an ERROR frame");
    assert!(error.starts_with("ERROR\n"), "{error}");
    assert!(error.contains("more than 50 frames per second"), "{error}");
    assert!(closed(ws).await, "the flooding connection stays open");
}

#[tokio::test]
async fn a_flood_of_empty_lines_before_connect_gets_an_error_and_is_closed() {
    let server = rate_limited_server().await;
    let mut ws = raw(&server).await;
    flood_is_refused(&mut ws, WsMessage::text("\n"), 500).await;
    assert_eq!(server.stats.snapshot().errors_sent, 1);
}

#[tokio::test]
async fn a_flood_of_pings_before_connect_gets_an_error_and_is_closed() {
    let server = rate_limited_server().await;
    let mut ws = raw(&server).await;
    flood_is_refused(&mut ws, WsMessage::Ping(vec![1].into()), 500).await;
}

#[tokio::test]
async fn a_flood_of_heart_beats_after_connect_gets_an_error_and_others_carry_on() {
    let server = rate_limited_server().await;
    let calm = server.connect_anonymous().await;
    let mut sub = calm.subscribe("/topic/eol-flood-calm").await.unwrap();
    let mut ws = raw(&server).await;
    ws.send(WsMessage::text("CONNECT\naccept-version:1.2\n\n\0"))
        .await
        .unwrap();
    let connected = read_text(&mut ws).await.unwrap();
    assert!(connected.starts_with("CONNECTED\n"), "{connected}");
    flood_is_refused(&mut ws, WsMessage::text("\n"), 500).await;
    calm.send("/topic/eol-flood-calm", "unaffected")
        .await
        .unwrap();
    assert_eq!(
        sub.next_timeout(WAIT).await.unwrap().body_str(),
        Some("unaffected")
    );
}

/// Sends a request head announcing a 1000-byte body, then trickles the body one byte per
/// 100 ms; returns the status of the response, 0 when the server closed without one, and
/// `None` when neither happened within [`WAIT`].
async fn trickled_request(port: u16, path: &str) -> Option<u16> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (mut read, mut write) = tcp.into_split();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: text/plain\r\n\
         Content-Length: 1000\r\n\r\n"
    );
    write.write_all(head.as_bytes()).await.unwrap();
    let trickle = tokio::spawn(async move {
        for _ in 0..1000 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if write.write_all(b"x").await.is_err() {
                break;
            }
        }
    });
    let mut buf = [0u8; 64];
    let got = tokio::time::timeout(WAIT, read.read(&mut buf)).await;
    trickle.abort();
    match got {
        Err(_) => None,
        Ok(Ok(0) | Err(_)) => Some(0),
        Ok(Ok(n)) => Some(status_of(&buf[..n])),
    }
}

/// Limits with a short time for HTTP requests.
fn quick_http() -> Limits {
    Limits::default().with_http_request_time(Duration::from_millis(300))
}

#[tokio::test]
async fn a_slow_request_body_is_cut_off_with_408() {
    let builder = no_handlers()
        .limits(quick_http())
        .http_handler("/login", |_| {
            http::Response::new(stomp_server::http::Full::new(
                stomp_server::Bytes::from_static(b"welcome"),
            ))
        });
    let server = TestServer::start(builder).await;
    let status = trickled_request(server.port, "/login").await;
    assert!(
        matches!(status, Some(408 | 0)),
        "a trickled body held the request open: {status:?}"
    );
}

#[tokio::test]
async fn a_slow_sockjs_xhr_send_body_is_cut_off_with_408() {
    let builder = no_handlers().limits(quick_http()).with_sockjs();
    let server = TestServer::start(builder).await;
    // Open the session first: an unknown session is refused before its body is read.
    let mut tcp = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let open = format!(
        "POST /ws/000/slowsend/xhr HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\
         Content-Length: 0\r\n\r\n",
        server.port
    );
    tcp.write_all(open.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    tokio::time::timeout(WAIT, tcp.read_to_end(&mut reply))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        status_of(&reply),
        200,
        "{}",
        String::from_utf8_lossy(&reply)
    );
    let status = trickled_request(server.port, "/ws/000/slowsend/xhr_send").await;
    assert!(
        matches!(status, Some(408 | 0)),
        "a trickled xhr_send body held the request open: {status:?}"
    );
}

/// Sends a GET for a path nobody serves on `tcp` (kept alive) and returns the status.
async fn get_missing(tcp: &mut TcpStream, port: u16) -> u16 {
    let request = format!("GET /nothing-here HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    if tcp.write_all(request.as_bytes()).await.is_err() {
        return 0;
    }
    let head = read_head(tcp).await;
    status_of(head.as_bytes())
}

/// A kept-alive plain HTTP connection the server admitted (one request answered with 404),
/// retried while its place may still be held by a connection just upgraded or closed.
async fn admitted_connection(port: u16) -> TcpStream {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let status = get_missing(&mut tcp, port).await;
        if status == 404 {
            return tcp;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never admitted: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn connections_past_the_cap_of_plain_http_ones_get_503_and_upgraded_ones_do_not_count() {
    let limits = Limits::default().with_max_pending_connections(1);
    let server = TestServer::start(no_handlers().limits(limits)).await;
    // An upgraded session holds no place.
    let session = server.connect_anonymous().await;
    // A kept-alive HTTP connection holds the only place.
    let held = admitted_connection(server.port).await;
    let mut over = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    assert_eq!(get_missing(&mut over, server.port).await, 503);
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(WAIT, over.read_to_end(&mut rest)).await;
    assert!(
        matches!(closed, Ok(Ok(_) | Err(_))),
        "the refused connection stays open"
    );
    // Its place comes back when it closes.
    drop(held);
    let _again = admitted_connection(server.port).await;
    session.disconnect().await.unwrap();
}

/// Sends an opening handshake for `/ws` made of `lines` (after the request line and the
/// `Host` header) and returns the response head.
async fn handshake(port: u16, method: &str, lines: &[&str]) -> String {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut request = format!("{method} /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
    for line in lines {
        request.push_str(line);
        request.push_str("\r\n");
    }
    request.push_str("Content-Length: 0\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    read_head(&mut tcp).await
}

const UPGRADE: &str = "Upgrade: websocket";
const CONNECTION: &str = "Connection: Upgrade";
const VERSION: &str = "Sec-WebSocket-Version: 13";
const KEY: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";

#[tokio::test]
async fn handshakes_that_break_rfc_6455_are_refused() {
    let server = TestServer::start(no_handlers()).await;
    let port = server.port;
    let status = |head: &str| status_of(head.as_bytes());
    assert_eq!(
        status(&handshake(port, "GET", &[UPGRADE, CONNECTION, VERSION, KEY]).await),
        101
    );
    for version in ["Sec-WebSocket-Version: 8", "X-Nothing: 1"] {
        let head = handshake(port, "GET", &[UPGRADE, CONNECTION, version, KEY]).await;
        assert_eq!(status(&head), 426, "{version}: {head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("sec-websocket-version: 13"),
            "{head}"
        );
    }
    let bad_key = "Sec-WebSocket-Key: not-a-key";
    let short_key = "Sec-WebSocket-Key: c2hvcnQ=";
    for (method, lines) in [
        ("POST", vec![UPGRADE, CONNECTION, VERSION, KEY]),
        ("GET", vec![UPGRADE, VERSION, KEY]),
        ("GET", vec![UPGRADE, CONNECTION, VERSION]),
        ("GET", vec![UPGRADE, CONNECTION, VERSION, bad_key]),
        ("GET", vec![UPGRADE, CONNECTION, VERSION, short_key]),
    ] {
        let head = handshake(port, method, &lines).await;
        assert_eq!(status(&head), 400, "{method} {lines:?}: {head}");
    }
}

#[tokio::test]
async fn the_same_origin_check_compares_scheme_host_and_port() {
    let server = TestServer::start(no_handlers()).await;
    let port = server.port;
    let with_origin = |origin: String| async move {
        let origin = format!("Origin: {origin}");
        let head = handshake(port, "GET", &[UPGRADE, CONNECTION, VERSION, KEY, &origin]).await;
        status_of(head.as_bytes())
    };
    assert_eq!(with_origin(format!("http://127.0.0.1:{port}")).await, 101);
    assert_eq!(with_origin(format!("https://127.0.0.1:{port}")).await, 403);
    assert_eq!(
        with_origin(format!("http://127.0.0.1:{}", port ^ 1)).await,
        403
    );
    assert_eq!(with_origin("http://127.0.0.1".to_owned()).await, 403);
}

/// Opens a WebSocket by hand, sends each of `messages` as a text frame, and returns what
/// the server sent up to its close frame.
async fn close_after(port: u16, messages: &[&[u8]]) -> (Vec<String>, Option<u16>) {
    let mut tcp = raw_upgraded(port).await;
    for message in messages {
        tcp.write_all(&client_frame(0x81, message)).await.unwrap();
    }
    texts_and_close_code(&mut tcp).await
}

const CONNECT_12: &[u8] = b"CONNECT\naccept-version:1.2\n\n\0";

/// The close code after an ERROR whose text contains `expected`.
fn error_then(result: &(Vec<String>, Option<u16>), expected: &str) -> Option<u16> {
    let errors: Vec<&String> = result.0.iter().filter(|t| t.starts_with("ERROR")).collect();
    assert_eq!(errors.len(), 1, "one ERROR expected: {:?}", result.0);
    assert!(errors[0].contains(expected), "{}", errors[0]);
    result.1
}

#[tokio::test]
async fn errors_close_with_the_status_that_says_why() {
    let limits = Limits::default().with_message_size(1024);
    let server = TestServer::start(no_handlers().limits(limits)).await;
    let port = server.port;
    // 1002: a malformed frame, before CONNECT and after.
    let before = close_after(port, &[b"FOO\n\n\0"]).await;
    assert_eq!(error_then(&before, "unknown command"), Some(1002));
    let after = close_after(port, &[CONNECT_12, b"FOO\n\n\0"]).await;
    assert_eq!(error_then(&after, "unknown command"), Some(1002));
    // 1007: a text message that is not UTF-8.
    let mut tcp = raw_upgraded(port).await;
    tcp.write_all(&client_frame(0x81, CONNECT_12))
        .await
        .unwrap();
    tcp.write_all(&client_frame(0x81, &[0xff, 0xfe, 0xfd]))
        .await
        .unwrap();
    let utf8 = texts_and_close_code(&mut tcp).await;
    assert_eq!(error_then(&utf8, "invalid UTF-8"), Some(1007));
    // 1008: a refused CONNECT.
    let refused = close_after(port, &[b"CONNECT\naccept-version:9.9\n\n\0"]).await;
    assert_eq!(error_then(&refused, "version"), Some(1008));
    // 1009: a frame over the size limit.
    let mut big = b"SEND\ndestination:/topic/big\n\n".to_vec();
    big.extend_from_slice(&[b'x'; 2000]);
    big.push(0);
    let too_big = close_after(port, &[CONNECT_12, &big]).await;
    assert_eq!(error_then(&too_big, "exceeds 1024 bytes"), Some(1009));
    // 1009 too: a WebSocket message over tungstenite's own limit (twice `message_size` and
    // 4 KiB), refused before the STOMP decoder sees it.
    let huge = vec![b'x'; 7000];
    let too_big_message = close_after(port, &[CONNECT_12, &huge]).await;
    assert_eq!(error_then(&too_big_message, "too big"), Some(1009));
    // 1002 too: a WebSocket protocol violation (a client frame without a mask).
    let mut tcp = raw_upgraded(port).await;
    tcp.write_all(&client_frame(0x81, CONNECT_12))
        .await
        .unwrap();
    let mut unmasked = vec![0x81, 0x01];
    unmasked.push(b'\n');
    tcp.write_all(&unmasked).await.unwrap();
    let violation = texts_and_close_code(&mut tcp).await;
    assert_eq!(error_then(&violation, "protocol error"), Some(1002));
    // 1000: DISCONNECT.
    let bye = close_after(port, &[CONNECT_12, b"DISCONNECT\nreceipt:bye\n\n\0"]).await;
    assert_eq!(bye.1, Some(1000), "{:?}", bye.0);
}

#[tokio::test]
async fn a_flood_closes_with_policy_violation() {
    let server = rate_limited_server().await;
    let eols: Vec<&[u8]> = vec![b"\n"; 200];
    let flood = close_after(server.port, &eols).await;
    assert_eq!(error_then(&flood, "frames per second"), Some(1008));
}

#[tokio::test]
async fn shutdown_closes_with_going_away() {
    let server = TestServer::start(no_handlers()).await;
    let mut tcp = raw_upgraded(server.port).await;
    tcp.write_all(&client_frame(0x81, CONNECT_12))
        .await
        .unwrap();
    let mut head = [0u8; 2];
    tcp.read_exact(&mut head).await.unwrap();
    let mut connected = vec![0u8; usize::from(head[1] & 0x7f)];
    tcp.read_exact(&mut connected).await.unwrap();
    assert!(connected.starts_with(b"CONNECTED"));
    let stopping = tokio::spawn(server.shutdown());
    let going = texts_and_close_code(&mut tcp).await;
    assert_eq!(error_then(&going, "shutting down"), Some(1001));
    stopping.await.unwrap();
}

#[tokio::test]
async fn an_unreachable_broker_closes_with_internal_error() {
    // A port nobody listens on: the relay cannot open the session's broker connection.
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = unused.local_addr().unwrap().port();
    drop(unused);
    let relay = stomp_server::relay::RelayConfig::default()
        .with_host("127.0.0.1".to_owned())
        .with_port(port)
        .with_connect_timeout(Duration::from_secs(1));
    let server = TestServer::start(no_handlers().broker_relay(relay)).await;
    let refused = close_after(server.port, &[CONNECT_12]).await;
    assert_eq!(error_then(&refused, "broker"), Some(1011));
}

#[tokio::test]
async fn no_connect_in_time_closes_with_policy_violation() {
    let limits = Limits::default().with_time_to_first_frame(Duration::from_millis(200));
    let server = TestServer::start(no_handlers().limits(limits)).await;
    let mut tcp = raw_upgraded(server.port).await;
    let (texts, code) = texts_and_close_code(&mut tcp).await;
    assert_eq!(code, Some(1008), "{texts:?}");
}

#[tokio::test]
async fn a_sockjs_streaming_session_gives_its_place_among_plain_connections_back() {
    let limits = Limits::default().with_max_pending_connections(1);
    let server = TestServer::start(no_handlers().limits(limits).with_sockjs()).await;
    let port = server.port;
    let mut streaming = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let request = format!(
        "POST /ws/000/placeback/xhr_streaming HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Length: 0\r\n\r\n"
    );
    streaming.write_all(request.as_bytes()).await.unwrap();
    let head = read_head(&mut streaming).await;
    assert_eq!(status_of(head.as_bytes()), 200, "{head}");
    // The stream stays open, and a plain connection still finds a place.
    let _plain = admitted_connection(port).await;
    drop(streaming);
}

/// A kept-alive connection from `from` (a loopback address) with one request answered;
/// returns it and the status.
async fn get_missing_from(from: &str, port: u16) -> (TcpStream, u16) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    let mut tcp = socket.connect(([127, 0, 0, 1], port).into()).await.unwrap();
    let status = get_missing(&mut tcp, port).await;
    (tcp, status)
}

#[tokio::test]
async fn one_address_cannot_take_every_place_among_plain_connections() {
    let limits = Limits::default()
        .with_max_pending_connections(10)
        .with_max_pending_connections_per_address(2);
    let server = TestServer::start(no_handlers().limits(limits)).await;
    let port = server.port;
    let first = admitted_connection(port).await;
    let _second = admitted_connection(port).await;
    let (_over, status) = get_missing_from("127.0.0.1", port).await;
    assert_eq!(status, 503, "a third connection from one address");
    // Another client still gets in, and the first gets its place back when one closes.
    let (_other, status) = get_missing_from("127.0.0.2", port).await;
    assert_eq!(status, 404, "another address is locked out");
    drop(first);
    let _again = admitted_connection(port).await;
}

/// Reads from `tcp` until what arrived contains `text`.
async fn read_until(tcp: &mut TcpStream, text: &str) {
    let mut seen = Vec::new();
    let mut buffer = [0; 4096];
    while !String::from_utf8_lossy(&seen).contains(text) {
        let n = tokio::time::timeout(WAIT, tcp.read(&mut buffer))
            .await
            .expect("in time")
            .expect("read");
        assert!(n > 0, "closed before {text:?}");
        seen.extend_from_slice(&buffer[..n]);
    }
}

#[tokio::test]
async fn sockjs_requests_that_do_not_end_up_receiving_keep_their_place() {
    let limits = Limits::default().with_max_pending_connections(2);
    let server = TestServer::start(no_handlers().limits(limits).with_sockjs()).await;
    let port = server.port;
    // The session's receiving request: it holds no place while it lasts.
    let post = |transport: &str| {
        format!(
            "POST /ws/000/oneplace/{transport} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
             Content-Length: 0\r\n\r\n"
        )
    };
    let mut streaming = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    streaming
        .write_all(post("xhr_streaming").as_bytes())
        .await
        .unwrap();
    read_until(&mut streaming, "\no\n").await;
    // Polls of the same session are told another connection receives, and stay open
    // (kept alive): they are plain connections and fill the two places.
    let mut polls = Vec::new();
    for _ in 0..2 {
        let mut poll = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        poll.write_all(post("xhr").as_bytes()).await.unwrap();
        read_until(&mut poll, "c[2010,").await;
        polls.push(poll);
    }
    let mut over = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    assert_eq!(
        get_missing(&mut over, port).await,
        503,
        "SockJS requests that never received took no place"
    );
    drop(polls);
    let _again = admitted_connection(port).await;
    drop(streaming);
}

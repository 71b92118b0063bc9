//! TLS end to end with the framework's own client: `wss://` and `stomp+ssl://` against a
//! server that serves both (`StompServerBuilder::tls`, `stomp_tcp_tls`) with a certificate
//! each test makes (rcgen, [`tls_common`]); whom a client trusts, the same-origin check over
//! `https`, SockJS `info` over HTTPS, the handshake time limit against the pending-connection
//! cap, and certificate reload (new handshakes see the new certificate, live sessions stay).
//!
//! ```text
//! cargo test -p tests --test tls
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod tls_common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use stomp_server::client::{StompClient, StompSession};
use stomp_server::config::Limits;
use stomp_server::tls::{TlsClientConfig, TlsConfig, TlsError};
use stomp_server::StompServer;
use tls_common::TestCa;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

/// A safety net on every wait, never the thing measured.
const WAIT: Duration = Duration::from_secs(10);

/// A server serving HTTPS/WSS and STOMP over TLS with one [`TlsConfig`].
struct TlsServer {
    https: u16,
    stomp_ssl: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TlsServer {
    async fn start(tls: TlsConfig, limits: Limits) -> TlsServer {
        let mut server = StompServer::builder()
            .tls(tls.clone())
            .stomp_tcp_tls("127.0.0.1:0", tls)
            .with_sockjs()
            .limits(limits)
            .stats_log_interval(None)
            .build()
            .expect("builds");
        let stomp_ssl = server
            .bind_stomp_tcp()
            .await
            .expect("bind")
            .expect("asked for");
        let listener = server.bind("127.0.0.1:0").await.expect("bind");
        let https = listener.local_addr().expect("addr").port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.run(listener, async move {
            let _ = stopped.await;
        }));
        TlsServer {
            https,
            stomp_ssl,
            stop: Some(stop),
        }
    }

    fn wss(&self) -> String {
        format!("wss://localhost:{}/ws", self.https)
    }

    fn stomp_ssl(&self) -> String {
        format!("stomp+ssl://127.0.0.1:{}", self.stomp_ssl.port())
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn trusting(ca: &TestCa) -> StompClient {
    let tls = TlsClientConfig::from_ca_pem_file(ca.ca_file()).expect("CA file");
    StompClient::new().heartbeat(0, 0).tls(tls)
}

fn unique(tag: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("/topic/tls-{tag}-{}-{n}", std::process::id())
}

async fn connect(client: &StompClient, url: &str) -> StompSession {
    client
        .connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"))
}

/// Sends `text` from `from` to `destination` and expects it on `to`'s subscription.
async fn crosses(from: &StompSession, to: &StompSession, destination: &str, text: &str) {
    let mut subscription = to.subscribe(destination).await.expect("SUBSCRIBE");
    // A receipt for the SUBSCRIBE is not needed: the send goes after it on its own session,
    // so confirm the subscription is in place by a round trip of `to` itself first.
    to.send_with_receipt(
        stomp_server::Frame::new(stomp_server::Command::Send)
            .header("destination", &format!("{destination}-sync"))
            .with_body("sync"),
    )
    .await
    .expect("receipt");
    from.send(destination, text.to_owned()).await.expect("SEND");
    let frame = subscription.next_timeout(WAIT).await.expect("MESSAGE");
    assert_eq!(String::from_utf8_lossy(&frame.body), text);
}

fn server_files(ca: &TestCa) -> TlsConfig {
    let (cert, key) = ca.write_server_files("server", "stomp-rs test server", 1);
    TlsConfig::from_pem_files(cert, key).expect("server certificate")
}

#[tokio::test]
async fn the_rust_client_talks_over_wss_and_stomp_ssl_to_one_broker() {
    let ca = TestCa::new("both");
    let server = TlsServer::start(server_files(&ca), Limits::default()).await;
    let client = trusting(&ca);
    let over_wss = connect(&client, &server.wss()).await;
    let over_tcp = connect(&client, &server.stomp_ssl()).await;
    let destination = unique("both");
    crosses(&over_tcp, &over_wss, &destination, "from stomp+ssl to wss").await;
    crosses(
        &over_wss,
        &over_tcp,
        &format!("{destination}-back"),
        "from wss to stomp+ssl",
    )
    .await;
    over_wss.disconnect().await.expect("DISCONNECT");
    over_tcp.disconnect().await.expect("DISCONNECT");
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_issuer_or_speaks_plain_text_gets_no_session() {
    let ca = TestCa::new("trusted");
    let stranger = TestCa::new("stranger");
    let server = TlsServer::start(server_files(&ca), Limits::default()).await;
    for url in [server.wss(), server.stomp_ssl()] {
        let error = trusting(&stranger)
            .connect(&url)
            .await
            .expect_err("untrusted");
        assert!(error.to_string().contains("certificate"), "{url}: {error}");
    }
    // A name the certificate does not carry is refused too.
    let wrong_name = format!("wss://127.0.0.2:{}/ws", server.https);
    assert!(
        trusting(&ca).connect(&wrong_name).await.is_err(),
        "{wrong_name}"
    );
    // Plain text to a TLS port: the handshake fails, the client hears so at once.
    let plain = StompClient::new().connect_timeout(WAIT);
    let error = plain
        .connect(&format!("ws://127.0.0.1:{}/ws", server.https))
        .await
        .expect_err("plain");
    assert!(
        !matches!(error, stomp_server::client::ClientError::Timeout(_)),
        "{error}"
    );
    let error = plain
        .connect(&format!("tcp://127.0.0.1:{}", server.stomp_ssl.port()))
        .await
        .expect_err("plain");
    assert!(
        !matches!(error, stomp_server::client::ClientError::Timeout(_)),
        "{error}"
    );
}

#[tokio::test]
async fn wss_handshakes_are_same_origin_for_https_origins_only() {
    let ca = TestCa::new("origin");
    let server = TlsServer::start(server_files(&ca), Limits::default()).await;
    let page = format!("https://localhost:{}", server.https);
    let session = trusting(&ca)
        .origin(page.as_str())
        .connect(&server.wss())
        .await;
    assert!(session.is_ok(), "{page}: {:?}", session.err());
    // A client's own X-Forwarded-Proto is not believed over the server's TLS.
    let claimed = trusting(&ca)
        .origin(format!("http://localhost:{}", server.https))
        .handshake_header("X-Forwarded-Proto", "http")
        .connect(&server.wss())
        .await;
    let error = claimed.expect_err("an http origin on an https connection is cross-origin");
    assert!(error.to_string().contains("403"), "{error}");
}

/// The certificate the server presents in a new handshake on `port`, trusting `ca`.
// The ring provider, as the server is built with (deprecated only for lacking
// post-quantum key exchange).
#[allow(deprecated)]
async fn presented_certificate(
    port: u16,
    ca: &TestCa,
) -> (Vec<u8>, tokio_rustls::client::TlsStream<TcpStream>) {
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca.ca_file()).expect("CA"))
        .expect("root");
    let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let name = ServerName::try_from("localhost").expect("name");
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("handshake");
    let leaf = stream
        .get_ref()
        .1
        .peer_certificates()
        .expect("certificates")[0]
        .to_vec();
    (leaf, stream)
}

#[tokio::test]
async fn sockjs_info_is_served_over_https() {
    let ca = TestCa::new("sockjs");
    let server = TlsServer::start(server_files(&ca), Limits::default()).await;
    let (_, mut stream) = presented_certificate(server.https, &ca).await;
    stream
        .write_all(b"GET /ws/info HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .expect("request");
    let mut response = String::new();
    tokio::time::timeout(WAIT, stream.read_to_string(&mut response))
        .await
        .expect("in time")
        .expect("response");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"websocket\":true"), "{response}");
}

#[tokio::test]
async fn reload_serves_the_new_certificate_to_new_handshakes_and_keeps_live_sessions() {
    let (old_ca, new_ca) = (TestCa::new("old"), TestCa::new("new"));
    let (cert, key) = old_ca.write_server_files("server", "old server", 1);
    let tls = TlsConfig::from_pem_files(&cert, &key).expect("old certificate");
    let server = TlsServer::start(tls.clone(), Limits::default()).await;
    let live = connect(&trusting(&old_ca), &server.wss()).await;
    let live_tcp = connect(&trusting(&old_ca), &server.stomp_ssl()).await;
    assert!(
        trusting(&new_ca).connect(&server.wss()).await.is_err(),
        "not yet"
    );

    // The files are replaced; nothing changes until the reload.
    let (new_cert, new_key) = new_ca.server_pem("new server", 2);
    std::fs::write(&cert, &new_cert).expect("write");
    std::fs::write(&key, &new_key).expect("write");
    tls.reload().expect("reload");

    let (presented, _) = presented_certificate(server.https, &new_ca).await;
    let expected = CertificateDer::from_pem_slice(new_cert.as_bytes()).expect("PEM");
    assert_eq!(
        presented,
        expected.to_vec(),
        "a new handshake gets the new certificate"
    );
    let fresh = connect(&trusting(&new_ca), &server.wss()).await;
    let fresh_tcp = connect(&trusting(&new_ca), &server.stomp_ssl()).await;
    assert!(
        trusting(&old_ca).connect(&server.wss()).await.is_err(),
        "the old one is gone"
    );
    // Sessions made with the old certificate go on, both ways.
    let destination = unique("reload");
    crosses(&fresh, &live, &destination, "to a live session").await;
    crosses(
        &live_tcp,
        &fresh_tcp,
        &format!("{destination}-tcp"),
        "from a live session",
    )
    .await;
    assert!(!live.is_closed() && !live_tcp.is_closed());
}

#[tokio::test]
async fn a_bad_replacement_is_refused_and_the_certificate_in_use_stays() {
    let ca = TestCa::new("bad");
    let missing = TlsConfig::from_pem_files(ca.dir().join("none.pem"), ca.dir().join("none.key"));
    assert!(matches!(missing, Err(TlsError::Read { .. })), "{missing:?}");
    let (cert, key) = ca.write_server_files("server", "server", 1);
    let tls = TlsConfig::from_pem_files(&cert, &key).expect("certificate");
    let server = TlsServer::start(tls.clone(), Limits::default()).await;
    // A key that is not the certificate's.
    let (_, other_key) = ca.server_pem("other", 2);
    std::fs::write(&key, other_key).expect("write");
    let error = tls.reload().expect_err("mismatched key");
    assert!(matches!(error, TlsError::Rustls(_)), "{error}");
    std::fs::write(&cert, "not PEM").expect("write");
    let error = tls.reload().expect_err("no certificate");
    assert!(
        error.to_string().contains("no `BEGIN CERTIFICATE`"),
        "{error}"
    );
    connect(&trusting(&ca), &server.wss()).await;
}

#[tokio::test]
async fn watched_files_are_reloaded_when_they_change() {
    let (old_ca, new_ca) = (TestCa::new("watch-old"), TestCa::new("watch-new"));
    let (cert, key) = old_ca.write_server_files("server", "old", 1);
    let tls = TlsConfig::from_pem_files(&cert, &key).expect("certificate");
    let watcher = tls.watch_files(Duration::from_millis(50));
    let server = TlsServer::start(tls, Limits::default()).await;
    connect(&trusting(&old_ca), &server.wss()).await;
    let (new_cert, new_key) = new_ca.server_pem("new", 2);
    std::fs::write(&key, new_key).expect("write");
    std::fs::write(&cert, new_cert).expect("write");
    let deadline = tokio::time::Instant::now() + WAIT;
    while trusting(&new_ca).connect(&server.wss()).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the new certificate was never served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    watcher.abort();
}

#[tokio::test]
async fn a_stalled_handshake_holds_a_pending_place_until_the_handshake_timeout() {
    let ca = TestCa::new("stall");
    let tls = server_files(&ca).handshake_timeout(Duration::from_millis(300));
    let limits = Limits::default().with_max_pending_connections(1);
    let server = TlsServer::start(tls, limits).await;
    // Opens TCP to the STOMP-over-TLS port and never says a word.
    let mut stalled = TcpStream::connect(server.stomp_ssl).await.expect("connect");
    // Meanwhile the one place is taken: the next connection is refused at once.
    let mut refused = TcpStream::connect(("127.0.0.1", server.https))
        .await
        .expect("connect");
    let mut answer = String::new();
    tokio::time::timeout(WAIT, refused.read_to_string(&mut answer))
        .await
        .expect("refused in time")
        .expect("read");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
    // The stalled handshake is cut off by the server, which gives its place back.
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(WAIT, stalled.read(&mut byte))
        .await
        .expect("closed in time");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    let client = trusting(&ca);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match client.connect(&server.stomp_ssl()).await {
            Ok(_) => break,
            Err(error) => assert!(
                tokio::time::Instant::now() < deadline,
                "never let in: {error}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

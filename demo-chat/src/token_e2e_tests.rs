//! Secure mode's tokens at the WebSocket handshake: an `access_token` query parameter or the
//! `chat_token` cookie authenticates a session; a bad, expired or unsigned token gets 401
//! before the upgrade (raw handshakes; a cookie is left to `CONNECT`) or an `ERROR` at
//! `CONNECT`; a session whose token expires is ended with an `ERROR` saying so; logout ends
//! the sessions of the token it revokes. What is about HTTP (raw handshakes, `/login`,
//! `/logout`) runs on a real socket; what only needs STOMP runs in memory through
//! `stomp_server::test`.

use std::net::SocketAddr;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use stomp_server::client::{StompClient, StompSession};
use stomp_server::test::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::auth::{Auth, Jwt};
use crate::rooms::{now_ms, Rooms};

const SECRET: &str = "handshake e2e secret";
const WAIT: Duration = Duration::from_secs(15);

/// A running demo in secure mode (accounts in memory); stops when dropped.
struct Demo {
    addr: SocketAddr,
    auth: Auth,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// The demo in secure mode, accounts in memory and tokens from `/login` valid `token_ttl`
/// seconds, with its token signer.
fn secure_demo(token_ttl: u64) -> (stomp_server::Server, Auth) {
    let auth = Auth::jwt_in_memory(SECRET).with_token_ttl(token_ttl);
    let server = crate::build_server(
        auth.clone(),
        &crate::Broker::Embedded,
        Rooms::new(),
        crate::Listeners::default(),
    )
    .unwrap();
    (server, auth)
}

async fn start(token_ttl: u64) -> Demo {
    let (server, auth) = secure_demo(token_ttl);
    let listener = server.bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run(listener, async move {
        let _ = stopped.await;
    }));
    Demo {
        addr,
        auth,
        _stop: stop,
    }
}

/// A raw HTTP/1.1 exchange: the status, the head (lower-cased) and the body.
async fn raw(addr: SocketAddr, request: &str) -> (u16, String, String) {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(WAIT, tcp.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => response.extend_from_slice(&buf[..n]),
            _ => break,
        }
        if complete(&response) {
            break;
        }
    }
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.split(' ').nth(1).unwrap_or("0").parse().unwrap_or(0);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (status, head.to_ascii_lowercase(), body.to_owned())
}

/// True once `response` holds a whole answer: a 101's head (the connection stays open), or
/// a head and as many body bytes as its `content-length` says (kept-alive connections).
fn complete(response: &[u8]) -> bool {
    let text = String::from_utf8_lossy(response).to_ascii_lowercase();
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    if head.starts_with("http/1.1 101") {
        return true;
    }
    head.lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|length| length.trim().parse::<usize>().ok())
        .is_some_and(|length| body.len() >= length)
}

impl Demo {
    fn url(&self, query: &str) -> String {
        format!("ws://{}/ws{query}", self.addr)
    }

    /// A WebSocket handshake at `/ws{query}` with `extra` header lines: status and body.
    async fn handshake(&self, query: &str, extra: &str) -> (u16, String) {
        let request = format!(
            "GET /ws{query} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n",
            self.addr
        );
        let (status, _, body) = raw(self.addr, &request).await;
        (status, body)
    }

    /// `POST path` with `body` and extra header lines: status, head and body.
    async fn post(&self, path: &str, extra: &str, body: &str) -> (u16, String, String) {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\n{extra}Content-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        raw(self.addr, &request).await
    }

    /// A token for `name`, issued now and valid `ttl` seconds.
    fn token(&self, name: &str, ttl: u64) -> String {
        self.auth.signer().sign(name, now_ms() / 1000, ttl)
    }
}

fn user(session: &StompSession) -> Option<&str> {
    session.connected_frame().get("user-name")
}

async fn next_error(session: &StompSession) -> String {
    let frame = tokio::time::timeout(WAIT, session.next_error())
        .await
        .expect("an ERROR in time")
        .expect("an ERROR before the end");
    frame.get("message").unwrap_or("").to_owned()
}

/// `{"alg":"none"}` with claims for `name` and no signature.
fn unsigned(name: &str) -> String {
    let now = now_ms() / 1000;
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let claims = serde_json::json!({ "sub": name, "iat": now, "exp": now + 600, "jti": "x" });
    let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{claims}.")
}

/// The demo in secure mode (accounts in memory, tokens from `/login` valid `token_ttl`
/// seconds) under the test harness, and its token signer.
fn in_memory(token_ttl: u64) -> (TestServer, Auth) {
    let (server, auth) = secure_demo(token_ttl);
    (TestServer::new(server).with_timeout(WAIT), auth)
}

/// A token for `name`, issued now and valid `ttl` seconds.
fn token(auth: &Auth, name: &str, ttl: u64) -> String {
    auth.signer().sign(name, now_ms() / 1000, ttl)
}

#[tokio::test]
async fn a_token_in_the_query_or_the_cookie_authenticates_the_handshake() {
    let (server, auth) = in_memory(600);
    let token = token(&auth, "alice", 600);
    let by_query = server
        .client()
        .path(&format!("/ws?access_token={token}"))
        .connect()
        .await;
    assert_eq!(by_query.user_name(), Some("alice"));
    let by_cookie = server
        .client()
        .handshake_header("Cookie", format!("theme=dark; chat_token={token}"))
        .connect()
        .await;
    assert_eq!(by_cookie.user_name(), Some("alice"));
    let by_connect = server
        .client()
        .header("Authorization", format!("Bearer {token}"))
        .connect()
        .await;
    assert_eq!(
        by_connect.user_name(),
        Some("alice"),
        "CONNECT's header, as before"
    );
    let why = server.client().expect_connect_error().await;
    assert!(why.contains("missing token"), "no token anywhere: {why}");
}

/// A bad, an expired, a forged and an unsigned token, each with what its refusal says.
fn bad_tokens(auth: &Auth) -> [(String, &'static str); 4] {
    let now = now_ms() / 1000;
    let expired = auth.signer().sign("alice", now - 7200, 3600);
    let forged = Jwt::new(b"another secret").unwrap().sign("alice", now, 600);
    [
        ("garbage".to_owned(), "malformed"),
        (expired, "expired"),
        (forged, "signature"),
        (unsigned("alice"), "algorithm"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_expired_and_unsigned_tokens_get_401_at_the_handshake() {
    let demo = start(600).await;
    for (token, why) in bad_tokens(&demo.auth) {
        let (status, body) = demo.handshake(&format!("?access_token={token}"), "").await;
        assert_eq!(status, 401, "{why}: {body}");
        assert!(body.contains(why), "{why}: {body}");
        let header = format!("Authorization: Bearer {token}\r\n");
        assert_eq!(
            demo.handshake("", &header).await.0,
            401,
            "{why} in a header"
        );
    }
    // A good token still upgrades.
    let good = demo.token("alice", 600);
    let query = format!("?access_token={good}");
    assert_eq!(demo.handshake(&query, "").await.0, 101);
}

#[tokio::test]
async fn bad_expired_and_unsigned_tokens_in_a_cookie_or_connect_get_an_error_at_connect() {
    let (server, auth) = in_memory(600);
    for (token, why) in bad_tokens(&auth) {
        // A cookie is sent by the browser on its own, and outlives its token: a bad one is
        // left to CONNECT, which says why when it carries no token either...
        let cookie = format!("chat_token={token}");
        let message = server
            .client()
            .handshake_header("Cookie", cookie.clone())
            .expect_connect_error()
            .await;
        assert!(
            message.contains("cookie was refused") && message.contains(why),
            "{message}"
        );
        // ...and a page whose stale cookie goes along with a fresh token in CONNECT is let in.
        let fresh = self::token(&auth, "alice", 600);
        let page = server
            .client()
            .handshake_header("Cookie", cookie)
            .header("Authorization", format!("Bearer {fresh}"))
            .connect()
            .await;
        assert_eq!(page.user_name(), Some("alice"));
        page.disconnect().await;
        let message = server
            .client()
            .header("Authorization", format!("Bearer {token}"))
            .expect_connect_error()
            .await;
        assert!(message.contains(why), "{why}: {message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_answers_a_short_lived_token_in_an_httponly_cookie() {
    // Tokens from /login live 2 s here (seconds are the tokens' resolution).
    let demo = start(2).await;
    let alice = serde_json::json!({ "name": "alice", "password": "correct horse" }).to_string();
    assert_eq!(demo.post("/signup", "", &alice).await.0, 201);
    let (status, head, body) = demo.post("/login", "", &alice).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        head.contains("set-cookie: chat_token=")
            && head.contains("httponly")
            && head.contains("samesite=strict"),
        "{head}"
    );
    let login: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(login["expires_in"], 2);
    let token = login["token"].as_str().unwrap().to_owned();
    let session = StompClient::new()
        .connect(&demo.url(&format!("?access_token={token}")))
        .await
        .unwrap();
    assert_eq!(user(&session), Some("alice"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_is_ended_when_its_token_expires() {
    let (server, auth) = in_memory(2);
    // A token as /login gives it here: valid 2 s (seconds are the tokens' resolution).
    let expiring = token(&auth, "alice", 2);
    let lasting = token(&auth, "bob", 600);
    let mut by_query = server
        .client()
        .path(&format!("/ws?access_token={expiring}"))
        .connect()
        .await;
    let mut by_connect = server
        .client()
        .header("Authorization", format!("Bearer {expiring}"))
        .connect()
        .await;
    let bob = server
        .client()
        .path(&format!("/ws?access_token={lasting}"))
        .connect()
        .await;
    for expired in [&mut by_query, &mut by_connect] {
        assert_eq!(
            expired.expect_error().await.message(),
            "credentials expired"
        );
        expired.expect_closed().await;
    }
    assert!(!bob.is_closed(), "a session with a longer token goes on");
    bob.disconnect().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_the_live_sessions_of_the_token_it_revokes() {
    let demo = start(600).await;
    let revoked = demo.token("carol", 600);
    let other = demo.token("carol", 600);
    let by_query = StompClient::new()
        .connect(&demo.url(&format!("?access_token={revoked}")))
        .await
        .unwrap();
    let by_connect = StompClient::new()
        .header("Authorization", format!("Bearer {revoked}"))
        .connect(&demo.url(""))
        .await
        .unwrap();
    let other_device = StompClient::new()
        .connect(&demo.url(&format!("?access_token={other}")))
        .await
        .unwrap();
    let bearer = format!("Authorization: Bearer {revoked}\r\n");
    let (status, head, body) = demo.post("/logout", &bearer, "").await;
    assert_eq!(status, 200, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["sessions_ended"], 2);
    assert!(head.contains("set-cookie: chat_token=;"), "{head}");
    for ended in [&by_query, &by_connect] {
        assert_eq!(next_error(ended).await, "token revoked: logged out");
        tokio::time::timeout(WAIT, ended.closed()).await.unwrap();
    }
    assert!(!other_device.is_closed(), "the user's other token goes on");
    let query = format!("?access_token={revoked}");
    let (status, body) = demo.handshake(&query, "").await;
    assert_eq!(status, 401);
    assert!(body.contains("revoked"), "{body}");
    other_device.disconnect().await.unwrap();
}

//! Secure mode through the real server: HTTP sign-up and login on a TCP socket, then STOMP
//! `CONNECT` with the token, with the accounts in an SQLite file in a fresh directory.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use stomp_server::client::{ClientError, StompClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::auth::{Auth, Jwt};
use crate::rooms::{now_ms, Rooms};

const SECRET: &str = "e2e secret";
const LOCALHOST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

/// A directory of its own under the system's temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let name = format!("demo-chat-{tag}-{}-{}", std::process::id(), now_ms());
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running demo server; `stop` shuts it down and waits for it.
struct Running {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

async fn start(db: &Path) -> Running {
    let auth = Auth::jwt(SECRET, db).unwrap();
    let server = crate::build_server(
        auth,
        &crate::Broker::Embedded,
        Rooms::new(),
        crate::Listeners::default(),
    )
    .unwrap();
    let listener = server.bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.run(listener, async move {
        let _ = stopped.await;
    }));
    Running { addr, stop, task }
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the server stops")
            .unwrap();
    }

    /// `POST path` from the source address `from`: the status and the JSON body.
    async fn post(&self, from: IpAddr, path: &str, body: &str) -> (u16, serde_json::Value) {
        self.request(from, path, &[], body).await
    }

    async fn request(
        &self,
        from: IpAddr,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, serde_json::Value) {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(SocketAddr::new(from, 0)).unwrap();
        let mut tcp = socket.connect(self.addr).await.unwrap();
        let mut request = format!("POST {path} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ));
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        tokio::time::timeout(Duration::from_secs(30), tcp.read_to_string(&mut response))
            .await
            .expect("an answer")
            .unwrap();
        let status = response.split(' ').nth(1).unwrap().parse().unwrap();
        let body = response.split("\r\n\r\n").nth(1).unwrap_or("");
        (status, serde_json::from_str(body).unwrap_or_default())
    }

    async fn connect(&self, token: &str) -> Result<String, ClientError> {
        let session = StompClient::new()
            .header("Authorization", format!("Bearer {token}"))
            .connect(&format!("ws://{}/ws", self.addr))
            .await?;
        let user = session.connected_frame().get("user-name").unwrap_or("");
        let user = user.to_owned();
        session.disconnect().await?;
        Ok(user)
    }
}

fn credentials(name: &str, password: &str) -> String {
    serde_json::json!({ "name": name, "password": password }).to_string()
}

fn refusal(result: Result<String, ClientError>) -> String {
    match result {
        Err(ClientError::Refused { message, .. }) => message,
        other => panic!("expected an ERROR frame, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signup_login_connect_logout_through_the_server() {
    let dir = TempDir::new("e2e");
    let server = start(&dir.0.join("accounts.sqlite3")).await;
    let alice = credentials("alice", "correct horse");
    assert_eq!(server.post(LOCALHOST, "/signup", &alice).await.0, 201);
    let (status, body) = server.post(LOCALHOST, "/login", &alice).await;
    assert_eq!(status, 200, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    assert_eq!(server.connect(&token).await.unwrap(), "alice");

    // No token, a wrong password, an expired token: refused.
    let bad = credentials("alice", "wrong horse");
    assert_eq!(server.post(LOCALHOST, "/login", &bad).await.0, 401);
    let now = now_ms() / 1000;
    let expired = Jwt::new(SECRET.as_bytes())
        .unwrap()
        .sign("alice", now - 3600, 900);
    let why = refusal(server.connect(&expired).await);
    assert!(why.contains("expired"), "{why}");

    // Logout, then the same token is replayed.
    let bearer = format!("Bearer {token}");
    let (status, _) = server
        .request(LOCALHOST, "/logout", &[("Authorization", &bearer)], "")
        .await;
    assert_eq!(status, 200);
    let why = refusal(server.connect(&token).await);
    assert!(why.contains("revoked"), "{why}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_file_is_created_and_accounts_survive_a_restart() {
    let dir = TempDir::new("restart");
    let db = dir.0.join("accounts.sqlite3");
    assert!(!db.exists());
    let server = start(&db).await;
    assert!(db.exists(), "created on first run");
    let bob = credentials("bob", "correct horse");
    assert_eq!(server.post(LOCALHOST, "/signup", &bob).await.0, 201);
    server.stop().await;

    let server = start(&db).await;
    let (status, body) = server.post(LOCALHOST, "/login", &bob).await;
    assert_eq!(status, 200, "the account survived: {body}");
    let token = body["token"].as_str().unwrap().to_owned();
    assert_eq!(server.connect(&token).await.unwrap(), "bob");
    let (status, body) = server
        .post(LOCALHOST, "/signup", &credentials("Bob", "another horse"))
        .await;
    assert_eq!(status, 409, "still taken: {body}");
    server.stop().await;
}

/// The per-address limit keys on the address the server accepted the connection from:
/// two loopback addresses have a budget each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_address_limit_follows_the_client_socket() {
    let dir = TempDir::new("limit");
    let server = start(&dir.0.join("accounts.sqlite3")).await;
    let first: IpAddr = "127.0.0.2".parse().unwrap();
    let second: IpAddr = "127.0.0.3".parse().unwrap();
    for i in 0..crate::auth::ADDRESS_ATTEMPTS {
        let guess = credentials(&format!("user{i}"), "guesswork");
        assert_eq!(server.post(first, "/login", &guess).await.0, 401);
    }
    let guess = credentials("user", "guesswork");
    let (status, body) = server.post(first, "/login", &guess).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(server.post(second, "/login", &guess).await.0, 401);
    server.stop().await;
}

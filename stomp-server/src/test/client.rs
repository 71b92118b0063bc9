//! [`TestClient`]: who an in-memory session is, set before it connects.

use crate::client::{ClientError, StompClient};
use crate::principal::Principal;
use crate::session::MockUser;

use super::session::TestSession;
use super::TestServer;

/// A client of a [`TestServer`] being configured: how it authenticates (through the
/// application's own `CONNECT` and handshake headers, or as a mock user without them), at
/// which path, with which client settings. [`connect`](TestClient::connect) opens the
/// session.
///
/// ```
/// # use stomp_server::test::TestServer;
/// # use stomp_server::StompServer;
/// # #[tokio::main] async fn main() {
/// # let server = TestServer::build(StompServer::builder()).unwrap();
/// // As a browser page would: a token in the handshake's query and a CONNECT header.
/// let session = server
///     .client()
///     .path("/ws?access_token=abc")
///     .header("Authorization", "Bearer abc")
///     .connect()
///     .await;
/// # let _ = session; }
/// ```
#[must_use = "a TestClient does nothing until `connect`"]
pub struct TestClient<'a> {
    server: &'a TestServer,
    client: StompClient,
    path: String,
    mock_user: Option<Principal>,
    /// The `login` given, to name the session in failure messages.
    login: Option<String>,
}

impl<'a> TestClient<'a> {
    pub(super) fn new(server: &'a TestServer, path: String) -> TestClient<'a> {
        TestClient {
            server,
            client: server.stomp_client(),
            path,
            mock_user: None,
            login: None,
        }
    }

    /// The `login` and `passcode` headers of `CONNECT`, for the application's interceptors.
    pub fn login(mut self, login: &str, passcode: &str) -> Self {
        self.client = self.client.login(login, passcode);
        self.login = Some(login.to_owned());
        self
    }

    /// Adds a header to the `CONNECT` frame (`Authorization: Bearer ..`, ...).
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.client = self.client.header(name, value);
        self
    }

    /// Adds a header to the WebSocket handshake request (`Cookie`, `Authorization`,
    /// `Origin`...), for the application's handshake interceptors.
    pub fn handshake_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.client = self.client.handshake_header(name, value);
        self
    }

    /// The path (and query) the handshake is made at, instead of the server's first STOMP
    /// endpoint: `/ws?access_token=..`.
    pub fn path(mut self, path_and_query: &str) -> Self {
        self.path = path_and_query.to_owned();
        self
    }

    /// Any other client setting (versions, heart-beats, frame limits...):
    /// `.configure(|client| client.heartbeat(1000, 1000))`.
    pub fn configure(mut self, configure: impl FnOnce(StompClient) -> StompClient) -> Self {
        self.client = configure(self.client);
        self
    }

    /// Starts the session as user `name`, without the application's authentication:
    /// Spring's `@WithMockUser`. See [`with_mock_principal`](TestClient::with_mock_principal).
    pub fn with_mock_user(self, name: &str) -> Self {
        self.with_mock_principal(Principal::new(name))
    }

    /// Starts the session as `principal` (with its roles and authorities), without the
    /// application's authentication: its handshake interceptors and the channel
    /// interceptors of the `CONNECT` frame do not run, so no credentials are needed. The
    /// authorization rules still check `CONNECT`, and every later frame passes the
    /// interceptors and rules as usual, as this user. Only code holding the server can do
    /// this; no client can.
    pub fn with_mock_principal(mut self, principal: Principal) -> Self {
        self.mock_user = Some(principal);
        self
    }

    /// Connects; panics, saying why, when the server refuses the handshake or `CONNECT`.
    pub async fn connect(self) -> TestSession {
        let who = self.who();
        match self.try_connect().await {
            Ok(session) => session,
            Err(error) => panic!("{who} could not connect: {error}"),
        }
    }

    /// Connects, or says why not: [`ClientError::Refused`] with the `ERROR` frame's message
    /// when `CONNECT` is refused, [`ClientError::WebSocket`] naming the HTTP status when the
    /// handshake is.
    pub async fn try_connect(self) -> Result<TestSession, ClientError> {
        let (client_end, server_end) = tokio::io::duplex(super::PIPE_BYTES);
        let remote = self.server.next_remote();
        let mock_user = self.mock_user.clone().map(MockUser);
        tokio::spawn(
            self.server
                .server()
                .serve_connection_with(server_end, remote, mock_user),
        );
        let url = format!("ws://localhost{}", self.path);
        let who = self.who();
        let session = self.client.connect_over(client_end, &url).await?;
        Ok(TestSession::new(session, who, self.server.timeout()))
    }

    /// Expects `CONNECT` to be refused with an `ERROR` frame and returns its `message`;
    /// panics when the session connects, or fails another way.
    pub async fn expect_connect_error(self) -> String {
        let who = self.who();
        match self.try_connect().await {
            Err(ClientError::Refused { message, .. }) => message,
            Ok(session) => panic!(
                "{who}: expected CONNECT to be refused with an ERROR, but it was accepted (user-name: {:?})",
                session.user_name()
            ),
            Err(other) => panic!("{who}: expected CONNECT to be refused with an ERROR, got: {other}"),
        }
    }

    /// How failure messages name this client.
    fn who(&self) -> String {
        match (&self.mock_user, &self.login) {
            (Some(user), _) => format!("the session of mock user `{}`", user.name()),
            (None, Some(login)) => format!("the session of login `{login}`"),
            (None, None) => format!("a session at `{}`", self.path),
        }
    }
}

impl std::fmt::Debug for TestClient<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestClient")
            .field("path", &self.path)
            .field("mock_user", &self.mock_user)
            .finish_non_exhaustive()
    }
}

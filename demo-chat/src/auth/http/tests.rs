//! The account endpoints called as the server calls them: a request with its body collected
//! and the client's address in the extensions.

use std::net::SocketAddr;

use http_body_util::BodyExt as _;
use stomp_server::{interceptor::InterceptorContext, Command, Frame, SessionAttributes, SessionId};

use super::*;
use crate::auth::secure::{ADDRESS_ATTEMPTS, NAME_FAILURES};
use crate::auth::{connect_interceptor, Auth, TOKEN_TTL_SECS};

type Handler = Box<dyn Fn(Request<Bytes>) -> Response<Full<Bytes>>>;

/// A status, the JSON body, and the `Retry-After` header if any.
type Answer = (StatusCode, serde_json::Value, Option<String>);

async fn call(
    handler: &Handler,
    client: &str,
    request: http::request::Builder,
    body: &str,
) -> Answer {
    let mut request = request.body(Bytes::from(body.to_owned())).unwrap();
    let addr: SocketAddr = format!("{client}:40000").parse().unwrap();
    request.extensions_mut().insert(addr);
    let response = handler(request);
    let status = response.status();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap(), retry_after)
}

async fn post(handler: &Handler, client: &str, body: &str) -> Answer {
    call(handler, client, Request::post("/"), body).await
}

fn credentials(name: &str, password: &str) -> String {
    serde_json::json!({ "name": name, "password": password }).to_string()
}

struct Endpoints {
    auth: Auth,
    signup: Handler,
    login: Handler,
    logout: Handler,
}

fn endpoints(auth: Auth) -> Endpoints {
    Endpoints {
        signup: Box::new(signup_handler(auth.clone())),
        login: Box::new(login_handler(auth.clone())),
        logout: Box::new(logout_handler(auth.clone(), Arc::default())),
        auth,
    }
}

/// `CONNECT` with `Authorization: Bearer <token>`: the principal's name or the ERROR text.
fn connect(auth: &Auth, token: &str) -> Result<String, String> {
    let mut frame =
        Frame::new(Command::Connect).header("Authorization", &format!("Bearer {token}"));
    let session = SessionId::new("s1");
    let attributes = SessionAttributes::new();
    let mut principal = None;
    let mut context = InterceptorContext::new(&session, &mut principal, &attributes);
    connect_interceptor(auth.clone())(&mut frame, &mut context).map_err(|r| r.message)?;
    Ok(principal.map(|p| p.name().to_owned()).unwrap_or_default())
}

#[tokio::test]
async fn signup_then_login_then_connect() {
    let e = endpoints(Auth::jwt_in_memory("s3cret"));
    let (status, body, _) = post(
        &e.signup,
        "10.1.0.1",
        &credentials("alice", "correct horse"),
    )
    .await;
    assert_eq!(
        (status, body["name"].as_str()),
        (StatusCode::CREATED, Some("alice"))
    );

    let (status, body, _) =
        post(&e.login, "10.1.0.1", &credentials("alice", "correct horse")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["expires_in"], TOKEN_TTL_SECS);
    assert_eq!(body["required"], true);
    assert_eq!(body["name"], "alice");
    let token = body["token"].as_str().unwrap();
    let claims = e.auth.jwt.verify(token, now_ms() / 1000).unwrap();
    assert_eq!(claims.sub, "alice");
    assert_eq!(claims.exp - claims.iat, 15 * 60);
    assert_eq!(connect(&e.auth, token), Ok("alice".to_owned()));
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_answer() {
    let e = endpoints(Auth::jwt_in_memory("s3cret"));
    post(&e.signup, "10.2.0.1", &credentials("bob", "correct horse")).await;
    let wrong = post(
        &e.login,
        "10.2.0.1",
        &credentials("bob", "not his password"),
    )
    .await;
    let unknown = post(
        &e.login,
        "10.2.0.1",
        &credentials("nobody", "correct horse"),
    )
    .await;
    assert_eq!(wrong.0, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.1["error"], "wrong name or password");
    assert_eq!(wrong, unknown, "no user enumeration");
    // No password at all is a malformed request, not a login attempt.
    let (status, body, _) = post(&e.login, "10.2.0.1", r#"{"name":"bob"}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"].as_str().unwrap().contains("password"),
        "{body}"
    );
}

#[tokio::test]
async fn a_taken_name_and_bad_input_are_refused() {
    let e = endpoints(Auth::jwt_in_memory("s3cret"));
    post(
        &e.signup,
        "10.3.0.1",
        &credentials("carol", "correct horse"),
    )
    .await;
    let (status, body, _) = post(&e.signup, "10.3.0.1", &credentials("Carol", "other horse")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body["error"].as_str().unwrap().contains("taken"), "{body}");
    let (status, body, _) = post(&e.signup, "10.3.0.1", &credentials("dave", "short")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"].as_str().unwrap().contains("at least 8"),
        "{body}"
    );
    let (status, _, _) = post(&e.signup, "10.3.0.1", &credentials("a/b", "long enough")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = post(&e.signup, "10.3.0.1", "nope").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, _) = call(&e.login, "10.3.0.1", Request::get("/"), "").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    // The first password stays.
    let (status, _, _) = post(&e.login, "10.3.0.1", &credentials("carol", "correct horse")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn logins_are_rate_limited_per_address() {
    let e = endpoints(Auth::jwt_in_memory("s3cret"));
    for i in 0..ADDRESS_ATTEMPTS {
        let answer = post(
            &e.login,
            "10.4.0.1",
            &credentials(&format!("u{i}"), "guesswork"),
        )
        .await;
        assert_eq!(answer.0, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let (status, body, retry_after) =
        post(&e.login, "10.4.0.1", &credentials("someone", "guesswork")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        body["error"].as_str().unwrap().contains("your address"),
        "{body}"
    );
    let secs: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&secs), "{secs}");
    let (status, _, _) = post(&e.signup, "10.4.0.1", &credentials("newbie", "long enough")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "sign-ups count too");
    let (status, _, _) = post(&e.login, "10.4.0.2", &credentials("someone", "guesswork")).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "another address is not limited"
    );
}

#[tokio::test]
async fn failed_logins_are_rate_limited_per_name() {
    let e = endpoints(Auth::jwt_in_memory("s3cret"));
    post(&e.signup, "10.5.0.1", &credentials("erin", "correct horse")).await;
    for i in 0..NAME_FAILURES {
        let client = format!("10.5.1.{i}");
        let (status, _, _) = post(&e.login, &client, &credentials("erin", "guesswork")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, body, retry_after) =
        post(&e.login, "10.5.2.1", &credentials("erin", "correct horse")).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password, for a minute"
    );
    assert!(
        body["error"].as_str().unwrap().contains("this name"),
        "{body}"
    );
    assert!(retry_after.is_some());
    let (status, _, _) = post(&e.login, "10.5.2.1", &credentials("frank", "guesswork")).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "other names are not limited"
    );
}

#[tokio::test]
async fn a_logged_out_token_is_refused_on_connect() {
    let e = endpoints(Auth::jwt_in_memory("s3cret"));
    post(
        &e.signup,
        "10.6.0.1",
        &credentials("grace", "correct horse"),
    )
    .await;
    let (_, body, _) = post(&e.login, "10.6.0.1", &credentials("grace", "correct horse")).await;
    let token = body["token"].as_str().unwrap().to_owned();
    let (_, body, _) = post(&e.login, "10.6.0.1", &credentials("grace", "correct horse")).await;
    let other_tab = body["token"].as_str().unwrap().to_owned();
    assert_eq!(connect(&e.auth, &token), Ok("grace".to_owned()));

    let logout =
        |token: &str| Request::post("/logout").header("authorization", format!("Bearer {token}"));
    let (status, body, _) = call(&e.logout, "10.6.0.1", logout(&token), "").await;
    assert_eq!(
        (status, &body["logged_out"]),
        (StatusCode::OK, &serde_json::json!(true))
    );

    let refused = connect(&e.auth, &token).unwrap_err();
    assert!(refused.contains("revoked"), "{refused}");
    assert_eq!(
        connect(&e.auth, &other_tab),
        Ok("grace".to_owned()),
        "only that token"
    );
    let (status, _, _) = call(&e.logout, "10.6.0.1", logout(&token), "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "already logged out");
    let (status, body, _) = call(&e.logout, "10.6.0.1", Request::post("/logout"), "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["error"].as_str().unwrap().contains("Bearer"), "{body}");
}

#[tokio::test]
async fn default_mode_logs_in_by_name_and_has_no_accounts() {
    let e = endpoints(Auth::open());
    let (status, body, _) = post(&e.login, "10.7.0.1", r#"{"name":"alice"}"#).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["required"], false);
    let (status, body, _) = post(&e.login, "10.7.0.1", r#"{"name":""}"#).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("the name is empty"))
    );
    let (status, _, _) = post(&e.signup, "10.7.0.1", &credentials("alice", "long enough")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = call(&e.logout, "10.7.0.1", Request::post("/logout"), "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[test]
fn busy_hashing_answers_503_with_retry_after() {
    let response = refused("login", "10.8.0.1", "alice", Refusal::Busy);
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[header::RETRY_AFTER], "1");
}

/// Log output captured for one thread's synchronous calls.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_refusal_quoting_the_client_cannot_forge_a_log_line() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    // What a token with `"alg": "x\n2026-12-05T08:00:00Z  INFO demo_chat: login: admin"` makes.
    let why = "unsupported alg `x\n2026-12-05T08:00:00Z  INFO demo_chat: login: admin`".to_owned();
    tracing::subscriber::with_default(subscriber, || {
        let _ = refused("logout", "192.0.2.1", "bob", Refusal::BadToken(why));
    });
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("login: admin"),
        "the refusal was logged: {log}"
    );
    assert_eq!(
        log.lines().count(),
        1,
        "one line, the forged one inside it: {log}"
    );
}

//! Who a session is: the `CONNECT` interceptor, the `/login` token endpoint, and a guard
//! that keeps clients away from raw broker destinations.
//!
//! - Default mode: the `login` header of `CONNECT` is the user's name.
//! - Secure mode (`--jwt-secret`): `CONNECT` must carry `Authorization: Bearer <token>`,
//!   an HS256 JWT from `POST /login`; its `sub` is the user's name.
//!
//! `POST /login` works in both modes (the page always calls it); in default mode its tokens
//! are signed with a throw-away secret and nobody checks them.

mod jwt;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use serde::{Deserialize, Serialize};
use stomp_server::{Command, Frame, InterceptorContext, Principal, Rejection};

pub(crate) use jwt::{EmptySecret, Jwt};

use crate::rooms::now_ms;

/// The longest user name, in characters.
pub(crate) const NAME_MAX: usize = 32;

/// How long a token from `/login` is valid.
pub(crate) const TOKEN_TTL_SECS: u64 = 3600;

/// Checks a user name: 1 to 32 letters, digits, spaces, `_`, `-` or `.`, not starting or
/// ending with a space. `Err` says what is wrong, for the client.
pub(crate) fn validate_name(name: &str) -> Result<(), &'static str> {
    if name.trim().is_empty() {
        return Err("the name is empty");
    }
    if name.chars().count() > NAME_MAX {
        return Err("the name is too long (at most 32 characters)");
    }
    if name.trim() != name {
        return Err("the name must not start or end with a space");
    }
    if !name
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, ' ' | '_' | '-' | '.'))
    {
        return Err("the name may only contain letters, digits, spaces, `_`, `-` and `.`");
    }
    Ok(())
}

/// How sessions authenticate.
#[derive(Debug, Clone)]
pub(crate) struct Auth {
    jwt: Jwt,
    /// Secure mode: a valid token is required on `CONNECT`.
    required: bool,
}

impl Auth {
    /// Default mode: names from the `login` header.
    pub(crate) fn open() -> Auth {
        Auth {
            // Cannot fail: the secret is 32 bytes.
            jwt: Jwt::new(&throwaway_secret()).unwrap_or_else(|_| unreachable!("non-empty secret")),
            required: false,
        }
    }

    /// Secure mode: HS256 bearer tokens signed with `secret`.
    pub(crate) fn jwt(secret: &str) -> Result<Auth, EmptySecret> {
        Ok(Auth {
            jwt: Jwt::new(secret.as_bytes())?,
            required: true,
        })
    }

    /// True in secure mode.
    pub(crate) fn requires_token(&self) -> bool {
        self.required
    }

    /// The user a `CONNECT` frame authenticates, or why it is refused.
    fn authenticate(&self, frame: &Frame) -> Result<String, Rejection> {
        if !self.required {
            let name = frame.get("login").unwrap_or("");
            validate_name(name).map_err(|why| {
                Rejection::new(format!("invalid name in the CONNECT `login` header: {why}"))
            })?;
            return Ok(name.to_owned());
        }
        let Some(value) = frame
            .get("Authorization")
            .or_else(|| frame.get("authorization"))
        else {
            return Err(Rejection::new(
                "missing token: CONNECT needs an `Authorization: Bearer <token>` header (get a token from POST /login)",
            ));
        };
        let token = value
            .strip_prefix("Bearer ")
            .ok_or_else(|| Rejection::new("the Authorization header must be `Bearer <token>`"))?;
        let claims = self
            .jwt
            .verify(token.trim(), now_ms() / 1000)
            .map_err(|error| Rejection::new(error.to_string()))?;
        validate_name(&claims.sub)
            .map_err(|why| Rejection::new(format!("invalid name in the token's `sub`: {why}")))?;
        Ok(claims.sub)
    }
}

/// A 32-byte secret for default-mode tokens, which nothing verifies: `RandomState` keys
/// are random per process, which is all that is needed here (no extra crate for it).
fn throwaway_secret() -> Vec<u8> {
    (0..4u64)
        .flat_map(|i| {
            let mut hasher = RandomState::new().build_hasher();
            hasher.write_u64(i);
            hasher.write_u64(now_ms());
            hasher.finish().to_le_bytes()
        })
        .collect()
}

/// The `CONNECT` interceptor: sets the session's principal or refuses the session.
pub(crate) fn connect_interceptor(
    auth: Auth,
) -> impl Fn(&mut Frame, &mut InterceptorContext<'_>) -> Result<(), Rejection> + Send + Sync + 'static
{
    move |frame, context| {
        if !matches!(frame.command, Command::Connect | Command::Stomp) {
            return Ok(());
        }
        let name = auth.authenticate(frame)?;
        *context.principal = Some(Principal::new(name));
        Ok(())
    }
}

/// Refuses a client `SEND` straight to `/topic` or `/queue` (it would skip validation and
/// let anyone post under any name) and a `SUBSCRIBE` to a raw `/queue` destination (other
/// sessions' private queues); clients use `/app/..` and `/user/queue/..`. Spring Security
/// recommends the same rules.
pub(crate) fn broker_guard(
    frame: &mut Frame,
    _: &mut InterceptorContext<'_>,
) -> Result<(), Rejection> {
    let destination = frame.destination().unwrap_or("");
    let is_under = |prefix: &str| {
        destination
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    match frame.command {
        Command::Send if is_under("/topic") || is_under("/queue") => Err(Rejection::new(format!(
            "clients may not SEND to broker destination `{destination}`; send to /app/chat/{{room}}"
        ))),
        Command::Subscribe if is_under("/queue") => Err(Rejection::new(format!(
            "clients may not SUBSCRIBE to `{destination}`; subscribe to /user/queue/.. for your own queues"
        ))),
        _ => Ok(()),
    }
}

#[derive(Deserialize)]
struct LoginRequest {
    name: String,
}

#[derive(Serialize)]
struct LoginResponse<'a> {
    token: &'a str,
    /// Seconds until the token expires.
    expires_in: u64,
    /// Whether the server requires the token (secure mode).
    required: bool,
}

/// `POST /login` with `{"name": ".."}` → `{"token": ".."}` (valid one hour).
pub(crate) fn login_handler(
    auth: Auth,
) -> impl Fn(Request<Bytes>) -> Response<Full<Bytes>> + Send + Sync + 'static {
    move |request| {
        if request.method() != Method::POST {
            let mut response = json(StatusCode::METHOD_NOT_ALLOWED, &error_body("use POST"));
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
        let login: LoginRequest = match serde_json::from_slice(request.body()) {
            Ok(login) => login,
            Err(error) => {
                return json(
                    StatusCode::BAD_REQUEST,
                    &error_body(&format!("expected JSON {{\"name\": \"...\"}}: {error}")),
                )
            }
        };
        if let Err(why) = validate_name(&login.name) {
            return json(StatusCode::BAD_REQUEST, &error_body(why));
        }
        let token = auth.jwt.sign(&login.name, now_ms() / 1000, TOKEN_TTL_SECS);
        let body = LoginResponse {
            token: &token,
            expires_in: TOKEN_TTL_SECS,
            required: auth.required,
        };
        json(StatusCode::OK, &body)
    }
}

fn error_body(error: &str) -> serde_json::Value {
    serde_json::json!({ "error": error })
}

fn json<T: Serialize>(status: StatusCode, body: &T) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(body).unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;
    use stomp_server::SessionAttributes;
    use stomp_server::SessionId;

    #[test]
    fn names_are_checked() {
        for ok in [
            "alice",
            "Bob Smith",
            "j.doe_2",
            "Zo\u{eb}",
            "\u{5f20}\u{4e09}",
            &"n".repeat(NAME_MAX),
        ] {
            assert_eq!(validate_name(ok), Ok(()), "{ok}");
        }
        assert_eq!(validate_name(""), Err("the name is empty"));
        assert_eq!(validate_name("   "), Err("the name is empty"));
        assert!(validate_name(&"n".repeat(NAME_MAX + 1))
            .unwrap_err()
            .contains("too long"));
        assert!(validate_name(" alice").unwrap_err().contains("space"));
        for bad in ["a/b", "<b>", "a\nb", "tab\there", "semi;colon"] {
            assert!(
                validate_name(bad).unwrap_err().contains("only contain"),
                "{bad:?}"
            );
        }
    }

    fn connect(headers: &[(&str, &str)], auth: &Auth) -> Result<Option<Principal>, Rejection> {
        let mut frame = Frame::new(Command::Connect);
        for (name, value) in headers {
            frame.headers.append(name, value);
        }
        let session = SessionId::new("s1");
        let attributes = SessionAttributes::new();
        let mut principal = None;
        let mut context = InterceptorContext {
            session_id: &session,
            principal: &mut principal,
            attributes: &attributes,
        };
        connect_interceptor(auth.clone())(&mut frame, &mut context)?;
        Ok(principal)
    }

    #[test]
    fn default_mode_takes_the_login_header() {
        let auth = Auth::open();
        assert_eq!(
            connect(&[("login", "alice")], &auth),
            Ok(Some(Principal::new("alice")))
        );
        let refused = connect(&[], &auth).unwrap_err();
        assert!(
            refused.message.contains("`login`") && refused.message.contains("empty"),
            "{refused}"
        );
        assert!(connect(&[("login", "a/b")], &auth).is_err());
    }

    #[test]
    fn secure_mode_requires_a_valid_bearer_token() {
        let auth = Auth::jwt("s3cret").unwrap();
        let now = now_ms() / 1000;
        let good = auth.jwt.sign("alice", now, 60);
        let bearer = format!("Bearer {good}");
        assert_eq!(
            connect(&[("login", "mallory"), ("Authorization", &bearer)], &auth),
            Ok(Some(Principal::new("alice"))),
            "the token wins over the login header"
        );
        assert!(connect(&[("login", "alice")], &auth)
            .unwrap_err()
            .message
            .contains("missing token"));
        let expired = format!("Bearer {}", auth.jwt.sign("alice", now - 7200, 3600));
        assert!(connect(&[("Authorization", &expired)], &auth)
            .unwrap_err()
            .message
            .contains("expired"));
        let forged = format!(
            "Bearer {}",
            Jwt::new(b"other").unwrap().sign("alice", now, 60)
        );
        assert!(connect(&[("Authorization", &forged)], &auth)
            .unwrap_err()
            .message
            .contains("signature"));
        assert!(connect(&[("Authorization", "Bearer x.y")], &auth)
            .unwrap_err()
            .message
            .contains("malformed"));
        assert!(connect(&[("Authorization", &good)], &auth)
            .unwrap_err()
            .message
            .contains("Bearer"));
        assert!(Auth::jwt("").is_err());
    }

    #[test]
    fn clients_cannot_publish_to_the_broker_directly() {
        let check = |command, destination: &str| {
            let mut frame = Frame::new(command).header("destination", destination);
            let session = SessionId::new("s1");
            let attributes = SessionAttributes::new();
            let mut principal = None;
            let mut context = InterceptorContext {
                session_id: &session,
                principal: &mut principal,
                attributes: &attributes,
            };
            broker_guard(&mut frame, &mut context).is_ok()
        };
        assert!(!check(Command::Send, "/topic/chat/r"));
        assert!(!check(Command::Send, "/queue/errors-users1"));
        assert!(check(Command::Send, "/app/chat/r"));
        assert!(check(Command::Subscribe, "/topic/chat/r"));
        assert!(check(Command::Subscribe, "/user/queue/errors"));
        assert!(!check(Command::Subscribe, "/queue/errors-users2"));
        assert!(check(Command::Send, "/topics"), "only whole prefixes");
    }

    async fn login(auth: &Auth, method: Method, body: &str) -> (StatusCode, serde_json::Value) {
        let request = Request::builder()
            .method(method)
            .uri("/login")
            .body(Bytes::from(body.to_owned()))
            .unwrap();
        let response = login_handler(auth.clone())(request);
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn login_issues_tokens_for_valid_names() {
        let auth = Auth::jwt("s3cret").unwrap();
        let (status, body) = login(&auth, Method::POST, r#"{"name":"alice"}"#).await;
        assert_eq!(status, StatusCode::OK);
        let token = body["token"].as_str().unwrap();
        let claims = auth.jwt.verify(token, now_ms() / 1000).unwrap();
        assert_eq!(claims.sub, "alice");
        assert_eq!(claims.exp - claims.iat, TOKEN_TTL_SECS);
        assert_eq!(body["required"], true);

        let (status, body) = login(&auth, Method::POST, r#"{"name":""}"#).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::BAD_REQUEST, Some("the name is empty"))
        );
        let (status, _) = login(&auth, Method::POST, "nope").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = login(&auth, Method::GET, "").await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    }
}

//! The account endpoints, JSON in and out; every refusal is `{"error": ".."}` with a status
//! that says which kind (400 bad input, 401 wrong name or password or a bad token, 409 a
//! taken name, 429 too many attempts, 503 busy or closed; 429 and 503 with `Retry-After`)
//! and a log line.
//!
//! - `POST /signup` `{"name", "password"}` → 201 `{"name"}` (secure mode only).
//! - `POST /login` `{"name", "password"}` → 200 `{"token", "name", "expires_in",
//!   "required"}`; in default mode the password is not needed and the token is not
//!   checked. In secure mode it also sets the token as the `chat_token` cookie (`HttpOnly`,
//!   `SameSite=Strict`), which the WebSocket handshake reads.
//! - `POST /logout` with `Authorization: Bearer <token>` → 200 `{"logged_out": true,
//!   "sessions_ended": n}`; the token is refused from then on, the live sessions that came
//!   with it are ended with an `ERROR`, and the cookie is cleared (secure mode only).

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::Full;
use serde::{Deserialize, Serialize};
use stomp_server::SessionControl;

use super::limiter::{address_key, retry_after_secs};
use super::secure::Refusal;
use super::{validate_name, Auth, TokenId, TOKEN_COOKIE};
use crate::rooms::now_ms;

#[derive(Deserialize)]
struct Credentials {
    name: String,
    #[serde(default)]
    password: Option<String>,
}

#[derive(Serialize)]
struct LoginResponse<'a> {
    token: &'a str,
    /// The user's name as stored (its spelling at sign-up in secure mode).
    name: &'a str,
    /// Seconds until the token expires.
    expires_in: u64,
    /// Whether the server requires the token (secure mode).
    required: bool,
}

/// `POST /login`: a token for `{"name", "password"}` (secure mode) or for `{"name"}`
/// (default mode).
pub(crate) fn login_handler(
    auth: Auth,
) -> impl Fn(Request<Bytes>) -> Response<Full<Bytes>> + Send + Sync + 'static {
    move |request| {
        let (credentials, client) = match read_credentials(&request, auth.requires_token()) {
            Ok(read) => read,
            Err(response) => return response,
        };
        let name = match &auth.secure {
            None => match validate_name(&credentials.name) {
                Ok(()) => credentials.name,
                Err(why) => return error(StatusCode::BAD_REQUEST, why),
            },
            Some(secure) => {
                let password = credentials.password.unwrap_or_default();
                match secure.login(&client, &credentials.name, &password) {
                    Ok(name) => {
                        tracing::info!("login: {name} from {client}");
                        name
                    }
                    Err(refusal) => return refused("login", &client, &credentials.name, refusal),
                }
            }
        };
        let token = auth.jwt.sign(&name, now_ms() / 1000, auth.token_ttl);
        let body = LoginResponse {
            token: &token,
            name: &name,
            expires_in: auth.token_ttl,
            required: auth.requires_token(),
        };
        let mut response = json(StatusCode::OK, &body);
        if auth.requires_token() {
            let cookie = format!(
                "{TOKEN_COOKIE}={token}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict",
                auth.token_ttl
            );
            set_cookie(&mut response, &cookie);
        }
        response
    }
}

/// `POST /signup`: creates an account for `{"name", "password"}`.
pub(crate) fn signup_handler(
    auth: Auth,
) -> impl Fn(Request<Bytes>) -> Response<Full<Bytes>> + Send + Sync + 'static {
    move |request| {
        let Some(secure) = &auth.secure else {
            return error(StatusCode::NOT_FOUND, "accounts exist only in secure mode");
        };
        let (credentials, client) = match read_credentials(&request, true) {
            Ok(read) => read,
            Err(response) => return response,
        };
        let password = credentials.password.unwrap_or_default();
        let now = now_ms() / 1000;
        match secure.signup(&client, &credentials.name, &password, now) {
            Ok(()) => {
                tracing::info!("signup: {} from {client}", credentials.name);
                json(
                    StatusCode::CREATED,
                    &serde_json::json!({ "name": credentials.name }),
                )
            }
            Err(refusal) => refused("signup", &client, &credentials.name, refusal),
        }
    }
}

/// `POST /logout`: revokes the bearer token of the request and ends the sessions that came
/// with it (through `sessions`, set once the server is built).
pub(crate) fn logout_handler(
    auth: Auth,
    sessions: Arc<OnceLock<SessionControl>>,
) -> impl Fn(Request<Bytes>) -> Response<Full<Bytes>> + Send + Sync + 'static {
    move |request| {
        let Some(secure) = &auth.secure else {
            return error(StatusCode::NOT_FOUND, "accounts exist only in secure mode");
        };
        if let Err(response) = post_only(&request) {
            return response;
        }
        let client = client_key(&request);
        let token = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "));
        let Some(token) = token else {
            let why = "logout needs an `Authorization: Bearer <token>` header".to_owned();
            return refused("logout", &client, "", Refusal::BadToken(why));
        };
        let claims = match auth.verify(secure, token.trim()) {
            Ok(claims) => claims,
            Err(rejection) => {
                return refused("logout", &client, "", Refusal::BadToken(rejection.message))
            }
        };
        if let Err(error) = secure
            .accounts
            .revoke(&claims.jti, claims.exp, now_ms() / 1000)
        {
            tracing::error!("accounts: cannot revoke a token: {error}");
            return refused("logout", &client, &claims.sub, Refusal::Internal);
        }
        let ended = sessions.get().map_or(0, |control| {
            let revoked = TokenId(claims.jti.clone());
            control.close_matching("token revoked: logged out", |session| {
                session.attributes.get::<TokenId>().as_deref() == Some(&revoked)
            })
        });
        tracing::info!(
            "logout: {} from {client} ({ended} sessions ended)",
            claims.sub
        );
        let body = serde_json::json!({ "logged_out": true, "sessions_ended": ended });
        let mut response = json(StatusCode::OK, &body);
        let cleared = format!("{TOKEN_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
        set_cookie(&mut response, &cleared);
        response
    }
}

/// The JSON body and the client's rate-limit key, or the response refusing the request.
fn read_credentials(
    request: &Request<Bytes>,
    password_needed: bool,
) -> Result<(Credentials, String), Response<Full<Bytes>>> {
    post_only(request)?;
    let expected = if password_needed {
        r#"expected JSON {"name": "...", "password": "..."}"#
    } else {
        r#"expected JSON {"name": "..."}"#
    };
    let credentials: Credentials = serde_json::from_slice(request.body())
        .map_err(|e| error(StatusCode::BAD_REQUEST, &format!("{expected}: {e}")))?;
    if password_needed && credentials.password.is_none() {
        return Err(error(StatusCode::BAD_REQUEST, expected));
    }
    Ok((credentials, client_key(request)))
}

fn post_only(request: &Request<Bytes>) -> Result<(), Response<Full<Bytes>>> {
    if request.method() == Method::POST {
        return Ok(());
    }
    let mut response = error(StatusCode::METHOD_NOT_ALLOWED, "use POST");
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    Err(response)
}

/// The client's address as the server saw it (see `limiter::address_key`).
fn client_key(request: &Request<Bytes>) -> String {
    address_key(request.extensions().get::<SocketAddr>().copied())
}

/// The response for a refusal, and its log line.
fn refused(action: &str, client: &str, name: &str, refusal: Refusal) -> Response<Full<Bytes>> {
    // Only valid names are logged: they cannot forge log lines.
    let who = if validate_name(name).is_ok() {
        name
    } else {
        "-"
    };
    let (status, text, retry_after) = match refusal {
        Refusal::Invalid(why) => (StatusCode::BAD_REQUEST, why, None),
        Refusal::WrongCredentials => (
            StatusCode::UNAUTHORIZED,
            "wrong name or password".to_owned(),
            None,
        ),
        Refusal::Taken => (
            StatusCode::CONFLICT,
            "the name is taken: pick another, or log in".to_owned(),
            None,
        ),
        Refusal::AddressLimited(left) => {
            let secs = retry_after_secs(left);
            let text = format!("too many attempts from your address; try again in {secs} s");
            (StatusCode::TOO_MANY_REQUESTS, text, Some(secs))
        }
        Refusal::NameLimited(left) => {
            let secs = retry_after_secs(left);
            let text = format!("too many failed logins for this name; try again in {secs} s");
            (StatusCode::TOO_MANY_REQUESTS, text, Some(secs))
        }
        Refusal::Busy => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is busy checking other passwords; try again in a moment".to_owned(),
            Some(1),
        ),
        Refusal::Full => (
            StatusCode::SERVICE_UNAVAILABLE,
            super::accounts::AccountsError::Full.to_string(),
            None,
        ),
        Refusal::BadToken(why) => (StatusCode::UNAUTHORIZED, why, None),
        Refusal::Internal => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error; try again later".to_owned(),
            None,
        ),
    };
    // The text may quote the client (a token's `alg`): escaped, it cannot forge a line.
    tracing::warn!(
        "{action} refused ({who} from {client}): {}",
        stomp_server::log::Escaped(&text)
    );
    let mut response = error(status, &text);
    let headers = response.headers_mut();
    if let Some(secs) = retry_after {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"demo-chat\""),
        );
    }
    response
}

/// Adds a `Set-Cookie` header (its value is built here from a token: visible ASCII).
fn set_cookie(response: &mut Response<Full<Bytes>>, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

fn error(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    json(status, &serde_json::json!({ "error": text }))
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
mod tests;

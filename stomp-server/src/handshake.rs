//! Handshake interceptors (Spring's `HandshakeInterceptor.beforeHandshake` and
//! `DefaultHandshakeHandler.determineUser`): application code that sees the HTTP request
//! opening a session, before the WebSocket upgrade, and may refuse it with an HTTP status or
//! give the session its user, its first attributes and when its credentials expire.
//!
//! Registered with `StompServer::builder().handshake_interceptor(..)`; they run in
//! registration order for the STOMP WebSocket endpoint, SockJS's `websocket` transport and
//! the SockJS requests that create a session (`xhr`, `xhr_streaming`), each within
//! `Limits::interceptor_time` (past it the client gets 503). Browsers cannot set headers on a
//! WebSocket, so a token usually comes as a cookie or an `access_token` query parameter:
//!
//! ```
//! use stomp_server::handshake::{Handshake, HandshakeRejection, HandshakeRequest};
//! use stomp_server::{Principal, StompServer};
//!
//! let builder = StompServer::builder().handshake_interceptor(|request: HandshakeRequest| async move {
//!     match request.query("access_token").or_else(|| request.cookie("token").map(str::to_owned)) {
//!         Some(token) if token == "let-me-in" => Ok(Handshake::proceed().user(Principal::new("alice"))),
//!         Some(_) => Err(HandshakeRejection::unauthorized("invalid token")),
//!         // No token here: CONNECT may still authenticate the session.
//!         None => Ok(Handshake::proceed()),
//!     }
//! });
//! # let _ = builder;
//! ```

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::SystemTime;

use http::{HeaderMap, Method, StatusCode, Uri};

use crate::attributes::SessionAttributes;
use crate::principal::Principal;

/// A boxed future, as interceptors return them.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// The HTTP request that opens a session, as a handshake interceptor sees it. Cloning is
/// cheap (the request is shared); the attributes are the session's own map, so values put
/// there are the session's attributes from its start.
#[derive(Debug, Clone)]
pub struct HandshakeRequest {
    inner: Arc<RequestParts>,
}

#[derive(Debug)]
struct RequestParts {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    remote: SocketAddr,
    query: Vec<(String, String)>,
    cookies: Vec<(String, String)>,
    attributes: SessionAttributes,
}

impl HandshakeRequest {
    /// The request's parts, with its query parameters and cookies parsed.
    pub fn new(method: Method, uri: Uri, headers: HeaderMap, remote: SocketAddr) -> Self {
        let query = uri.query().map(parse_query).unwrap_or_default();
        let cookies = parse_cookies(&headers);
        HandshakeRequest {
            inner: Arc::new(RequestParts {
                method,
                uri,
                headers,
                remote,
                query,
                cookies,
                attributes: SessionAttributes::new(),
            }),
        }
    }

    /// The method (`GET` for a WebSocket, `POST` for SockJS's `xhr` transports).
    pub fn method(&self) -> &Method {
        &self.inner.method
    }

    /// The request URI, query included.
    pub fn uri(&self) -> &Uri {
        &self.inner.uri
    }

    /// The path.
    pub fn path(&self) -> &str {
        self.inner.uri.path()
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.inner.headers
    }

    /// The first value of header `name` that is visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.inner.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The first query parameter called `name`, percent-decoded (`+` is a space).
    pub fn query(&self, name: &str) -> Option<String> {
        self.inner
            .query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    }

    /// Every query parameter, decoded, in order.
    pub fn query_pairs(&self) -> &[(String, String)] {
        &self.inner.query
    }

    /// The value of the first cookie called `name` (from every `Cookie` header).
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.inner
            .cookies
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The client's address (the unspecified address when the server was mounted as a
    /// `tower` service and the router gave none).
    pub fn remote_addr(&self) -> SocketAddr {
        self.inner.remote
    }

    /// The attributes the session starts with (Spring's handshake `attributes` map).
    pub fn attributes(&self) -> &SessionAttributes {
        &self.inner.attributes
    }
}

/// A handshake that may go on: the user it authenticates (Spring's `determineUser`) and
/// when that user's credentials expire. The last interceptor that names a user wins; the
/// earliest expiry wins. A `CONNECT` interceptor sees both and may still change them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Handshake {
    /// The session's user, if this interceptor determined one.
    pub principal: Option<Principal>,
    /// When the session's credentials expire: at that moment it gets an `ERROR` saying
    /// "credentials expired" and is closed.
    pub expires_at: Option<SystemTime>,
}

impl Handshake {
    /// Go on, with nothing determined.
    pub fn proceed() -> Handshake {
        Handshake::default()
    }

    /// Go on, with this user.
    #[must_use]
    pub fn user(mut self, principal: Principal) -> Handshake {
        self.principal = Some(principal);
        self
    }

    /// Go on; the credentials expire at `at`.
    #[must_use]
    pub fn expires_at(mut self, at: SystemTime) -> Handshake {
        self.expires_at = Some(at);
        self
    }
}

/// A refused handshake: the HTTP status and text the client gets instead of the upgrade.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct HandshakeRejection {
    /// The status (401, 403...).
    pub status: StatusCode,
    /// The response body (plain text).
    pub message: String,
}

impl HandshakeRejection {
    /// A refusal with this status and text.
    pub fn new(status: StatusCode, message: impl Into<String>) -> HandshakeRejection {
        HandshakeRejection {
            status,
            message: message.into(),
        }
    }

    /// 401 Unauthorized with this text.
    pub fn unauthorized(message: impl Into<String>) -> HandshakeRejection {
        HandshakeRejection::new(StatusCode::UNAUTHORIZED, message)
    }

    /// 403 Forbidden with this text.
    pub fn forbidden(message: impl Into<String>) -> HandshakeRejection {
        HandshakeRejection::new(StatusCode::FORBIDDEN, message)
    }
}

/// What a handshake interceptor decides.
pub type HandshakeResult = Result<Handshake, HandshakeRejection>;

/// Sees the request that opens a session, before the upgrade (see the [module](self)).
/// Any `Fn(HandshakeRequest) -> impl Future<Output = HandshakeResult>` is one.
pub trait HandshakeInterceptor: Send + Sync + 'static {
    /// Decides on one handshake.
    fn before_handshake(&self, request: HandshakeRequest) -> BoxFuture<HandshakeResult>;
}

impl<F, Fut> HandshakeInterceptor for F
where
    F: Fn(HandshakeRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = HandshakeResult> + Send + 'static,
{
    fn before_handshake(&self, request: HandshakeRequest) -> BoxFuture<HandshakeResult> {
        Box::pin(self(request))
    }
}

/// `a=1&b=x%20y` as decoded pairs; a name without `=` has an empty value.
fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name), percent_decode(value))
        })
        .collect()
}

/// `name=value; other=x` pairs of every `Cookie` header; values in quotes lose them.
fn parse_cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=')?;
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            Some((name.trim().to_owned(), value.to_owned()))
        })
        .collect()
}

/// Decodes `%XX` escapes and `+`; a malformed escape is kept as it is, and bytes that are
/// not UTF-8 become U+FFFD.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let hex = |i: usize| bytes.get(i).and_then(|&c| (c as char).to_digit(16));
        match bytes[at] {
            b'%' => match (hex(at + 1), hex(at + 2)) {
                (Some(high), Some(low)) => {
                    // Two hex digits make one byte: at most 255.
                    out.push(u8::try_from(high * 16 + low).unwrap_or(b'?'));
                    at += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            other => out.push(other),
        }
        at += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(uri: &'static str, cookies: &[&'static str]) -> HandshakeRequest {
        let mut headers = HeaderMap::new();
        for cookie in cookies {
            headers.append(http::header::COOKIE, http::HeaderValue::from_static(cookie));
        }
        let remote = SocketAddr::from(([127, 0, 0, 1], 9));
        HandshakeRequest::new(Method::GET, Uri::from_static(uri), headers, remote)
    }

    #[test]
    fn query_parameters_and_cookies_are_parsed() {
        let r = request(
            "/ws?access_token=a%2Eb.c&x=1+2&flag&bad=%zz&x=second",
            &["a=1; chat_token=\"t0k\"", "b=2"],
        );
        assert_eq!(r.path(), "/ws");
        assert_eq!(r.query("access_token").as_deref(), Some("a.b.c"));
        assert_eq!(r.query("x").as_deref(), Some("1 2"), "the first one");
        assert_eq!(r.query("flag").as_deref(), Some(""));
        assert_eq!(r.query("bad").as_deref(), Some("%zz"));
        assert_eq!(r.query("missing"), None);
        assert_eq!(r.query_pairs().len(), 5);
        assert_eq!(r.cookie("chat_token"), Some("t0k"));
        assert_eq!(r.cookie("b"), Some("2"));
        assert_eq!(r.cookie("c"), None);
        assert_eq!(percent_decode("%E2%9C%93%"), "\u{2713}%");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
    }

    #[test]
    fn a_handshake_names_a_user_and_an_expiry() {
        let at = SystemTime::UNIX_EPOCH;
        let h = Handshake::proceed()
            .user(Principal::new("a"))
            .expires_at(at);
        assert_eq!(h.principal, Some(Principal::new("a")));
        assert_eq!(h.expires_at, Some(at));
        let no = HandshakeRejection::unauthorized("bad token");
        assert_eq!(no.status, StatusCode::UNAUTHORIZED);
        assert_eq!(no.to_string(), "401 Unauthorized: bad token");
    }
}

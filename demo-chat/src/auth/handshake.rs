//! Secure mode's handshake interceptor: a browser cannot set headers on a WebSocket, so the
//! token may come with the handshake instead of `CONNECT`: as an `access_token` query
//! parameter, as the `chat_token` cookie that `/login` sets, or (for other clients) as an
//! `Authorization: Bearer` header. A token in the query or the header that is bad, expired,
//! revoked or unsigned (`alg: none`) gets 401 before the upgrade; a good one names the
//! session's user, when its credentials expire and the token's id. A bad cookie is left to
//! `CONNECT` (see `check`). No usable token there: `CONNECT` must carry one.

use stomp_server::handshake::{Handshake, HandshakeRejection, HandshakeRequest, HandshakeResult};
use stomp_server::Principal;

use super::Auth;

/// The cookie `/login` sets and the handshake reads.
pub(crate) const TOKEN_COOKIE: &str = "chat_token";

/// The query parameter the handshake reads.
const TOKEN_PARAMETER: &str = "access_token";

/// The handshake interceptor of secure mode (see the module).
pub(crate) fn handshake_interceptor(
    auth: Auth,
) -> impl Fn(HandshakeRequest) -> std::future::Ready<HandshakeResult> + Send + Sync + 'static {
    // The checks are an HMAC and one indexed SQLite lookup: done at once, the future is
    // ready (nothing to wait for).
    move |request| std::future::ready(check(&auth, &request))
}

fn check(auth: &Auth, request: &HandshakeRequest) -> HandshakeResult {
    let Some(secure) = &auth.secure else {
        return Ok(Handshake::proceed());
    };
    let Some((token, source)) = token_of(request) else {
        return Ok(Handshake::proceed());
    };
    let found = match auth.authenticate_token(secure, token.trim()) {
        Ok(found) => found,
        // A browser sends its cookie whether or not the page means to use it, and a cookie
        // outlives a revoked token: refusing the upgrade for it would lock out a page whose
        // CONNECT carries a fresh token. `CONNECT` decides, and says why without one.
        Err(rejection) if source == Source::Cookie => {
            tracing::info!(
                "handshake: the {TOKEN_COOKIE} cookie was refused ({}); CONNECT must carry a token",
                stomp_server::log::Escaped(&rejection.message)
            );
            request
                .attributes()
                .insert(RefusedCookie(rejection.message));
            return Ok(Handshake::proceed());
        }
        Err(rejection) => return Err(HandshakeRejection::unauthorized(rejection.message)),
    };
    if let Some(id) = found.token_id {
        request.attributes().insert(id);
    }
    let handshake = Handshake::proceed().user(Principal::new(found.name));
    Ok(match found.expires_at {
        Some(at) => handshake.expires_at(at),
        None => handshake,
    })
}

/// Where the handshake's token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// `?access_token=` or an `Authorization` header: sent on purpose.
    Explicit,
    /// The `chat_token` cookie: sent by the browser on its own.
    Cookie,
}

/// Why the handshake's cookie was refused, in the session's attributes for `CONNECT` to
/// report when it carries no token either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RefusedCookie(pub(crate) String);

/// The token of the handshake: the query parameter, else a bearer header, else the cookie.
fn token_of(request: &HandshakeRequest) -> Option<(String, Source)> {
    let explicit = request.query(TOKEN_PARAMETER).or_else(|| {
        request
            .header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_owned)
    });
    let found = match explicit {
        Some(token) => (token, Source::Explicit),
        None => (request.cookie(TOKEN_COOKIE)?.to_owned(), Source::Cookie),
    };
    (!found.0.is_empty()).then_some(found)
}

//! Secure mode's handshake interceptor: a browser cannot set headers on a WebSocket, so the
//! token may come with the handshake instead of `CONNECT`: as an `access_token` query
//! parameter, as the `chat_token` cookie that `/login` sets, or (for other clients) as an
//! `Authorization: Bearer` header. A token there that is bad, expired, revoked or unsigned
//! (`alg: none`) gets 401 before the upgrade; a good one names the session's user, when its
//! credentials expire and the token's id. No token there: `CONNECT` must carry one.

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
    let Some(token) = token_of(request) else {
        return Ok(Handshake::proceed());
    };
    let found = auth
        .authenticate_token(secure, token.trim())
        .map_err(|rejection| HandshakeRejection::unauthorized(rejection.message))?;
    if let Some(id) = found.token_id {
        request.attributes().insert(id);
    }
    let handshake = Handshake::proceed().user(Principal::new(found.name));
    Ok(match found.expires_at {
        Some(at) => handshake.expires_at(at),
        None => handshake,
    })
}

/// The token of the handshake: the query parameter, else the cookie, else a bearer header.
fn token_of(request: &HandshakeRequest) -> Option<String> {
    request
        .query(TOKEN_PARAMETER)
        .or_else(|| request.cookie(TOKEN_COOKIE).map(str::to_owned))
        .or_else(|| {
            request
                .header("authorization")
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::to_owned)
        })
        .filter(|token| !token.is_empty())
}

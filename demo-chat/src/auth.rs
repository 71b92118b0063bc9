//! Who a session is: the `CONNECT` interceptor, the account endpoints, and the
//! authorization rules that keep clients away from raw broker destinations.
//!
//! - Default mode: the `login` header of `CONNECT` is the user's name. `POST /login` with
//!   `{"name"}` answers a token nobody checks (the page always calls it).
//! - Secure mode (`--jwt-secret`): accounts with passwords in an SQLite file
//!   (`--accounts-db`). `POST /signup` and `POST /login` take `{"name", "password"}`; login
//!   answers an HS256 JWT valid 15 minutes (and sets it as the `chat_token` cookie,
//!   `HttpOnly`, `SameSite=Strict`). A session presents it at the WebSocket handshake (an
//!   `access_token` query parameter, the cookie, or an `Authorization` header), where a bad,
//!   expired or unsigned token gets 401 before the upgrade (a bad cookie is left to
//!   `CONNECT`), or in `CONNECT` as
//!   `Authorization: Bearer <token>` (refused with an `ERROR`); its `sub` is the user's name.
//!   A session is ended with an `ERROR` ("credentials expired") when its token expires.
//!   `POST /logout` with the token revokes it and ends the sessions that came with it.
//!
//! Layout: `jwt` (tokens), `password` (argon2id), `accounts` (SQLite), `limiter` (rate
//! limits), `gate` (hashes off the async path), `secure` (sign-up and login logic), `http`
//! (the endpoints), `handshake` (tokens at the WebSocket handshake), `rules` (the
//! authorization rules).

mod accounts;
mod gate;
mod handshake;
mod http;
mod jwt;
mod limiter;
mod password;
mod rules;
mod secure;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use stomp_server::{
    interceptor::{InterceptorContext, Rejection},
    Command, Frame, Principal,
};

pub(crate) use handshake::{handshake_interceptor, RefusedCookie, TOKEN_COOKIE};
pub(crate) use http::{login_handler, logout_handler, signup_handler};
pub(crate) use jwt::{EmptySecret, Jwt};
pub(crate) use rules::broker_rules;

/// How many extra rules `DEMO_EXTRA_RULES` can add.
pub(crate) const EXTRA_RULES: usize = rules::EXTRA.len();
#[cfg(test)]
pub(crate) use secure::ADDRESS_ATTEMPTS;
pub(crate) use secure::{Secure, SecureError};

use crate::rooms::now_ms;

/// The longest user name, in characters.
pub(crate) const NAME_MAX: usize = 32;

/// How long a token from `/login` is valid: 15 minutes. A page reconnecting later asks its
/// user to log in again; sessions already connected stay connected.
pub(crate) const TOKEN_TTL_SECS: u64 = 15 * 60;

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

/// Starting secure mode failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SecureModeError {
    /// `--jwt-secret` is empty.
    #[error(transparent)]
    Secret(#[from] EmptySecret),
    /// The accounts database or the hasher.
    #[error(transparent)]
    Accounts(#[from] SecureError),
}

/// The id (`jti`) of the token a session authenticated with, kept in its attributes so
/// that logging that token out ends the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenId(pub(crate) String);

/// What a verified token gives a session: its user, when its credentials expire, and the
/// token's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Authenticated {
    pub(crate) name: String,
    pub(crate) expires_at: Option<SystemTime>,
    pub(crate) token_id: Option<TokenId>,
}

/// How sessions authenticate.
#[derive(Debug, Clone)]
pub(crate) struct Auth {
    jwt: Jwt,
    /// Secure mode: accounts, and a valid token required on `CONNECT`.
    secure: Option<Arc<Secure>>,
    /// How long a token from `/login` is valid, in seconds.
    token_ttl: u64,
}

impl Auth {
    /// Default mode: names from the `login` header.
    pub(crate) fn open() -> Auth {
        Auth {
            // Cannot fail: the secret is 32 bytes.
            jwt: Jwt::new(&throwaway_secret()).unwrap_or_else(|_| unreachable!("non-empty secret")),
            secure: None,
            token_ttl: TOKEN_TTL_SECS,
        }
    }

    /// Secure mode: HS256 bearer tokens signed with `secret`, accounts in the SQLite file
    /// at `accounts_db` (created with its tables on first use).
    pub(crate) fn jwt(secret: &str, accounts_db: &Path) -> Result<Auth, SecureModeError> {
        let jwt = Jwt::new(secret.as_bytes())?;
        Ok(Auth {
            jwt,
            secure: Some(Arc::new(Secure::open(accounts_db)?)),
            token_ttl: TOKEN_TTL_SECS,
        })
    }

    /// The same, with tokens from `/login` valid `secs` seconds (tests use a short one).
    #[cfg(test)]
    pub(crate) fn with_token_ttl(mut self, secs: u64) -> Auth {
        self.token_ttl = secs;
        self
    }

    /// Secure mode with accounts in memory (tests).
    #[cfg(test)]
    pub(crate) fn jwt_in_memory(secret: &str) -> Auth {
        let accounts = accounts::Accounts::in_memory().unwrap_or_else(|e| panic!("{e}"));
        Auth {
            jwt: Jwt::new(secret.as_bytes()).unwrap_or_else(|e| panic!("{e}")),
            secure: Some(Arc::new(
                Secure::with(accounts).unwrap_or_else(|e| panic!("{e}")),
            )),
            token_ttl: TOKEN_TTL_SECS,
        }
    }

    /// The token signer (tests sign tokens of their own).
    #[cfg(test)]
    pub(crate) fn signer(&self) -> &Jwt {
        &self.jwt
    }

    /// True in secure mode.
    pub(crate) fn requires_token(&self) -> bool {
        self.secure.is_some()
    }

    /// What a `CONNECT` frame authenticates, or why it is refused. In secure mode a bearer
    /// token in the frame wins; without one, a user the handshake already authenticated
    /// (`context.principal`) stays (`None`: nothing to change).
    fn authenticate(
        &self,
        frame: &Frame,
        context: &InterceptorContext<'_>,
    ) -> Result<Option<Authenticated>, Rejection> {
        let Some(secure) = &self.secure else {
            let name = frame.get("login").unwrap_or("");
            validate_name(name).map_err(|why| {
                Rejection::new(format!("invalid name in the CONNECT `login` header: {why}"))
            })?;
            return Ok(Some(Authenticated {
                name: name.to_owned(),
                expires_at: None,
                token_id: None,
            }));
        };
        let Some(value) = frame
            .get("Authorization")
            .or_else(|| frame.get("authorization"))
        else {
            if context.principal.is_some() {
                return Ok(None);
            }
            if let Some(refused) = context.attributes.get::<RefusedCookie>() {
                return Err(Rejection::new(format!(
                    "the {TOKEN_COOKIE} cookie was refused: {}",
                    refused.0
                )));
            }
            return Err(Rejection::new(
                "missing token: CONNECT needs an `Authorization: Bearer <token>` header, or the handshake an `access_token` query parameter or the `chat_token` cookie (get a token from POST /login)",
            ));
        };
        let token = value
            .strip_prefix("Bearer ")
            .ok_or_else(|| Rejection::new("the Authorization header must be `Bearer <token>`"))?;
        self.authenticate_token(secure, token.trim()).map(Some)
    }

    /// What a token gives a session, or why it cannot be used.
    fn authenticate_token(&self, secure: &Secure, token: &str) -> Result<Authenticated, Rejection> {
        let claims = self.verify(secure, token)?;
        validate_name(&claims.sub)
            .map_err(|why| Rejection::new(format!("invalid name in the token's `sub`: {why}")))?;
        Ok(Authenticated {
            name: claims.sub,
            // Checked: an `exp` past what the clock can hold means no expiry, not a panic.
            expires_at: SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(claims.exp)),
            token_id: Some(TokenId(claims.jti)),
        })
    }

    /// A token's claims if it verifies and was not revoked by logout.
    fn verify(&self, secure: &Secure, token: &str) -> Result<jwt::Claims, Rejection> {
        let claims = self
            .jwt
            .verify(token, now_ms() / 1000)
            .map_err(|error| Rejection::new(error.to_string()))?;
        match secure.accounts.is_revoked(&claims.jti) {
            Ok(false) => Ok(claims),
            Ok(true) => Err(Rejection::new(
                "token revoked: it was logged out; log in again",
            )),
            Err(error) => {
                tracing::error!("accounts: cannot check a token for revocation: {error}");
                Err(Rejection::new(
                    "the server could not check the token; try again later",
                ))
            }
        }
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

/// The `CONNECT` interceptor: sets the session's principal (and in secure mode when its
/// token expires, and the token's id) or refuses the session.
pub(crate) fn connect_interceptor(
    auth: Auth,
) -> impl Fn(&mut Frame, &mut InterceptorContext<'_>) -> Result<(), Rejection> + Send + Sync + 'static
{
    move |frame, context| {
        if !matches!(frame.command, Command::Connect | Command::Stomp) {
            return Ok(());
        }
        if let Some(found) = auth.authenticate(frame, context)? {
            *context.principal = Some(Principal::new(found.name));
            context.expires_at = found.expires_at;
            if let Some(id) = found.token_id {
                context.attributes.insert(id);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stomp_server::authorization::AuthorizationContext;
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
        let mut context = InterceptorContext::new(&session, &mut principal, &attributes);
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
        let auth = Auth::jwt_in_memory("s3cret");
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
        assert!(Auth::jwt("", Path::new(":memory:")).is_err());
    }

    #[test]
    fn clients_cannot_publish_to_the_broker_directly() {
        // With and without the 20 extra rules of the benchmark: the same decisions.
        for extra in [0, rules::EXTRA.len()] {
            clients_cannot_publish_with(extra);
        }
    }

    fn clients_cannot_publish_with(extra: usize) {
        let rules = broker_rules(extra).unwrap();
        let check = |command, destination: &str| {
            let frame = Frame::new(command).header("destination", destination);
            let session = SessionId::new("s1");
            let attributes = SessionAttributes::new();
            let context = AuthorizationContext::new(&frame, None, &session, &attributes);
            rules.check(&context).is_ok()
        };
        assert!(!check(Command::Send, "/topic/chat/r"));
        assert!(!check(Command::Send, "/queue/errors-users1"));
        assert!(check(Command::Send, "/app/chat/r"));
        assert!(check(Command::Subscribe, "/topic/chat/r"));
        assert!(check(Command::Subscribe, "/user/queue/errors"));
        assert!(!check(Command::Subscribe, "/queue/errors-users2"));
        assert!(check(Command::Send, "/topics"), "only whole prefixes");
    }
}

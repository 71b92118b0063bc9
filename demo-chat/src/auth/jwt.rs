//! A minimal HS256 JSON Web Token (RFC 7519) signer and verifier: exactly what the demo
//! needs (`sub`, `iat`, `exp`, and a random `jti` so that one token can be revoked at
//! logout), nothing else. Tokens are `base64url(header)` `.`
//! `base64url(claims)` `.` `base64url(HMAC-SHA256(key, first two parts))`, without padding.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The only header this module writes; any header naming another `alg` is refused.
const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// The claims of a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Claims {
    /// The user's name.
    pub(crate) sub: String,
    /// Issued at, seconds since the Unix epoch.
    pub(crate) iat: u64,
    /// Expires at, seconds since the Unix epoch.
    pub(crate) exp: u64,
    /// The token's id: 128 random bits, base64url (what logout revokes).
    pub(crate) jti: String,
}

/// Why a token was refused. The texts go to the client in the `ERROR` frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TokenError {
    /// Not three base64url parts of JSON.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// The header names another algorithm (`none`, `RS256`, ...).
    #[error("unsupported token algorithm `{0}`; only HS256 is accepted")]
    Algorithm(String),
    /// The signature does not match: forged, altered, or signed with another secret.
    #[error("invalid token signature (forged, altered or signed with another secret)")]
    Signature,
    /// `exp` has passed.
    #[error("token expired at {exp} (now {now}, seconds since the epoch); log in again")]
    Expired {
        /// The token's `exp`.
        exp: u64,
        /// The server's clock.
        now: u64,
    },
}

/// An empty secret was configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the JWT secret must not be empty")]
pub(crate) struct EmptySecret;

/// Signs and verifies HS256 tokens with one secret.
#[derive(Clone)]
pub(crate) struct Jwt {
    /// The keyed MAC, cloned for every token (cheaper than re-deriving the key pad).
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for Jwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Jwt { secret: <hidden> }")
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

impl Jwt {
    /// A signer for `secret`.
    pub(crate) fn new(secret: &[u8]) -> Result<Jwt, EmptySecret> {
        if secret.is_empty() {
            return Err(EmptySecret);
        }
        // HMAC takes keys of any length: this cannot fail for a non-empty key.
        let mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| EmptySecret)?;
        Ok(Jwt { mac })
    }

    /// A token for `sub` with a fresh random id, issued at `now` (seconds) and valid for
    /// `ttl_secs`.
    pub(crate) fn sign(&self, sub: &str, now: u64, ttl_secs: u64) -> String {
        self.sign_with_id(sub, &token_id(), now, ttl_secs)
    }

    /// A token for `sub` with the id `jti`.
    pub(crate) fn sign_with_id(&self, sub: &str, jti: &str, now: u64, ttl_secs: u64) -> String {
        let claims = Claims {
            sub: sub.to_owned(),
            iat: now,
            exp: now.saturating_add(ttl_secs),
            jti: jti.to_owned(),
        };
        // Serializing a struct of two strings and two integers cannot fail.
        let claims = serde_json::to_vec(&claims).unwrap_or_default();
        let mut token = URL_SAFE_NO_PAD.encode(HEADER);
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(claims));
        let mut mac = self.mac.clone();
        mac.update(token.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        token.push('.');
        token.push_str(&signature);
        token
    }

    /// The claims of `token` if it is well-formed, signed with this secret, and not
    /// expired at `now` (seconds). The signature is checked before the claims are read.
    pub(crate) fn verify(&self, token: &str, now: u64) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(header_part), Some(claims_part), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed("expected three dot-separated parts"));
        };
        let header: Header = decode_json(header_part, "the header")?;
        if header.alg != "HS256" {
            return Err(TokenError::Algorithm(header.alg));
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Malformed("the signature is not base64url"))?;
        let mut mac = self.mac.clone();
        // The signed input is everything before the second dot.
        mac.update(&token.as_bytes()[..header_part.len() + 1 + claims_part.len()]);
        // `verify_slice` compares in constant time.
        mac.verify_slice(&signature)
            .map_err(|_| TokenError::Signature)?;
        let claims: Claims = decode_json(
            claims_part,
            "the claims (sub, iat, exp and jti are required)",
        )?;
        if now >= claims.exp {
            return Err(TokenError::Expired {
                exp: claims.exp,
                now,
            });
        }
        Ok(claims)
    }
}

/// 128 random bits from the operating system, base64url. Should the system's generator fail
/// (it does not on supported systems), the clock and a counter still give an id unique to
/// this process: ids only need to be unique, and a collision would revoke too much, never
/// too little.
fn token_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static FALLBACK: AtomicU64 = AtomicU64::new(0);
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes[..8].copy_from_slice(&(nanos as u64).to_le_bytes());
        bytes[8..].copy_from_slice(&FALLBACK.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    }
    URL_SAFE_NO_PAD.encode(bytes)
}

fn decode_json<T: for<'de> Deserialize<'de>>(
    part: &str,
    what: &'static str,
) -> Result<T, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed(what))?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed(what))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn jwt() -> Jwt {
        Jwt::new(b"test secret").unwrap()
    }

    #[test]
    fn a_signed_token_verifies() {
        let token = jwt().sign("alice", NOW, 3600);
        assert_eq!(token.split('.').count(), 3);
        let claims = jwt().verify(&token, NOW + 10).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.iat, claims.exp),
            ("alice", NOW, NOW + 3600)
        );
        assert_eq!(claims.jti.len(), 22, "128 bits in base64url");
        let again = jwt().verify(&jwt().sign("alice", NOW, 3600), NOW).unwrap();
        assert_ne!(claims.jti, again.jti, "every token has its own id");
    }

    #[test]
    fn a_known_token_verifies() {
        // Built independently: header and claims as below, HMAC-SHA256 with key "secret".
        let jwt = Jwt::new(b"secret").unwrap();
        let token = jwt.sign_with_id("bob", "t1", 1_000, 1_000);
        let expected_prefix = concat!(
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.",
            "eyJzdWIiOiJib2IiLCJpYXQiOjEwMDAsImV4cCI6MjAwMCwianRpIjoidDEifQ."
        );
        assert!(token.starts_with(expected_prefix), "{token}");
        assert_eq!(jwt.verify(&token, 1_999).unwrap().sub, "bob");
    }

    #[test]
    fn an_expired_token_is_refused() {
        let token = jwt().sign("alice", NOW, 60);
        assert_eq!(
            jwt().verify(&token, NOW + 60),
            Err(TokenError::Expired {
                exp: NOW + 60,
                now: NOW + 60
            })
        );
    }

    #[test]
    fn forged_tokens_are_refused() {
        let token = jwt().sign("alice", NOW, 3600);
        // Signed with another secret.
        let other = Jwt::new(b"another secret")
            .unwrap()
            .sign("alice", NOW, 3600);
        assert_eq!(jwt().verify(&other, NOW), Err(TokenError::Signature));
        // Claims swapped for someone else's, signature kept.
        let parts: Vec<&str> = token.split('.').collect();
        let claims = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"sub":"mallory","iat":{NOW},"exp":{},"jti":"x"}}"#,
            NOW + 3600
        ));
        let altered = format!("{}.{claims}.{}", parts[0], parts[2]);
        assert_eq!(jwt().verify(&altered, NOW), Err(TokenError::Signature));
        // The `none` algorithm.
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            parts[1]
        );
        assert_eq!(
            jwt().verify(&none, NOW),
            Err(TokenError::Algorithm("none".into()))
        );
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let token = jwt().sign("alice", NOW, 3600);
        let parts: Vec<&str> = token.split('.').collect();
        for bad in [
            "",
            "abc",
            "a.b",
            "a.b.c.d",
            "!!!.b.c",
            &format!("{}.{}.{}", parts[0], parts[1], "***"),
            &format!("{}.{}", URL_SAFE_NO_PAD.encode("not json"), "x.y"),
        ] {
            assert!(
                matches!(jwt().verify(bad, NOW), Err(TokenError::Malformed(_))),
                "{bad:?}"
            );
        }
        // Claims without `exp`, correctly signed: malformed rather than eternal.
        let header = URL_SAFE_NO_PAD.encode(HEADER);
        let claims = URL_SAFE_NO_PAD.encode(r#"{"sub":"alice","iat":1,"jti":"x"}"#);
        let signed = format!("{header}.{claims}");
        let mut mac = jwt().mac;
        mac.update(signed.as_bytes());
        let token = format!(
            "{signed}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        );
        assert!(matches!(
            jwt().verify(&token, NOW),
            Err(TokenError::Malformed(_))
        ));
    }

    #[test]
    fn an_empty_secret_is_refused() {
        assert_eq!(Jwt::new(b"").unwrap_err(), EmptySecret);
    }
}

//! A JSON Web Token checked on `CONNECT` (Spring's token-based authentication: a
//! `ChannelInterceptor` that reads `Authorization: Bearer <token>` and sets the user).
//!
//! ```text
//! JWT_SECRET="$(openssl rand -hex 32)" cargo run -p stomp-examples --example jwt [-- --addr 127.0.0.1:8080]
//! ```
//!
//! Tokens are HS256 with the claims `sub` (the user) and `exp` (seconds since the epoch).
//! Your login endpoint issues them; so that the example can be tried at once, it logs a
//! token for `alice` when it starts. A `CONNECT` without a valid token gets an `ERROR`
//! saying why, and the session ends. `SEND /app/whoami` answers on `/user/queue/whoami`.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use stomp_server::interceptor::{InterceptorContext, Rejection};
use stomp_server::{message_mapping, send_to_user, Command, Frame, Principal, StompServer};

/// The only header accepted: HS256 (a token with `"alg":"none"` is refused).
const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

#[derive(Serialize, Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
}

/// Signs and checks tokens with one secret.
#[derive(Clone)]
struct Tokens(Hmac<Sha256>);

impl Tokens {
    fn new(secret: &[u8]) -> Result<Tokens, String> {
        if secret.is_empty() {
            return Err("the JWT secret must not be empty".to_owned());
        }
        Hmac::new_from_slice(secret)
            .map(Tokens)
            .map_err(|e| e.to_string())
    }

    fn signature(&self, signed: &str) -> String {
        let mut mac = self.0.clone();
        mac.update(signed.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    fn sign(&self, claims: &Claims) -> String {
        let claims = serde_json::to_vec(claims).unwrap_or_default();
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(HEADER),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let signature = self.signature(&signed);
        format!("{signed}.{signature}")
    }

    /// The user a token names, if it is ours, HS256 and not expired.
    fn verify(&self, token: &str, now: u64) -> Result<String, &'static str> {
        let (signed, signature) = token.rsplit_once('.').ok_or("malformed token")?;
        let (header, claims) = signed.split_once('.').ok_or("malformed token")?;
        if URL_SAFE_NO_PAD.decode(header).ok().as_deref() != Some(HEADER.as_bytes()) {
            return Err("only HS256 tokens are accepted");
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| "malformed token")?;
        let mut mac = self.0.clone();
        mac.update(signed.as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| "invalid token signature")?;
        let claims: Claims = URL_SAFE_NO_PAD
            .decode(claims)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or("malformed token claims")?;
        if now >= claims.exp {
            return Err("token expired");
        }
        Ok(claims.sub)
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The `CONNECT` interceptor: no valid bearer token, no session.
fn authenticate(
    tokens: &Tokens,
    frame: &mut Frame,
    context: &mut InterceptorContext<'_>,
) -> Result<(), Rejection> {
    if !matches!(frame.command, Command::Connect | Command::Stomp) {
        return Ok(());
    }
    let token = frame
        .get("Authorization")
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or_else(|| Rejection::new("CONNECT needs `Authorization: Bearer <token>`"))?;
    let user = tokens.verify(token, now()).map_err(Rejection::new)?;
    *context.principal = Some(Principal::new(user));
    Ok(())
}

#[message_mapping("/whoami")]
#[send_to_user("/queue/whoami", broadcast = false)]
fn whoami(user: Principal) -> String {
    format!("you are {}", user.name())
}

async fn serve(addr: String) -> Result<(), String> {
    let tokens = match std::env::var("JWT_SECRET") {
        Ok(secret) => Tokens::new(secret.as_bytes())?,
        Err(_) => {
            tracing::warn!(
                "JWT_SECRET is not set: tokens are signed with a random secret of this run"
            );
            let mut secret = [0u8; 32];
            getrandom::fill(&mut secret).map_err(|e| e.to_string())?;
            Tokens::new(&secret)?
        }
    };
    let server = StompServer::builder()
        .endpoint("/ws")
        .application_prefix("/app")
        .simple_broker(["/topic", "/queue"])
        .static_resource("/", "text/plain", "STOMP at /ws, with a bearer token\n")
        .interceptor({
            let tokens = tokens.clone();
            move |frame: &mut Frame, context: &mut InterceptorContext<'_>| {
                authenticate(&tokens, frame, context)
            }
        })
        .build()
        .map_err(|e| e.to_string())?;
    let sample = tokens.sign(&Claims {
        sub: "alice".to_owned(),
        exp: now() + 3600,
    });
    tracing::info!("a token for alice, valid one hour: {sample}");
    stomp_examples::serve("jwt", server, &addr)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    stomp_examples::run("jwt", serve).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_until_they_expire_and_only_with_their_secret() {
        let tokens = Tokens::new(b"secret").unwrap_or_else(|e| panic!("{e}"));
        let token = tokens.sign(&Claims {
            sub: "bob".to_owned(),
            exp: 100,
        });
        assert_eq!(tokens.verify(&token, 99), Ok("bob".to_owned()));
        assert_eq!(tokens.verify(&token, 100), Err("token expired"));
        let other = Tokens::new(b"other").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(other.verify(&token, 99), Err("invalid token signature"));
        let unsigned = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            token.split('.').nth(1).unwrap_or_default()
        );
        assert_eq!(
            tokens.verify(&unsigned, 99),
            Err("only HS256 tokens are accepted")
        );
    }
}

//! The `CONNECT` handshake: version and heart-beat negotiation, interceptors, `CONNECTED`.

use std::time::{Duration, SystemTime};

use stomp_core::{names, Command, Frame, HeartBeat, NegotiatedHeartBeat, Version};

use super::context::SessionContext;
use super::intercept::run_async_interceptors;
use super::start::SessionStart;
use crate::interceptor::{InboundMessage, InterceptorContext};
use crate::peer::error_frame;
use crate::principal::{Principal, SessionId};

/// A `CONNECT` that was accepted.
pub(crate) struct Accepted {
    pub(crate) version: Version,
    pub(crate) heartbeat: NegotiatedHeartBeat,
    pub(crate) principal: Option<Principal>,
    /// When the session's credentials expire (the handshake's, or as `CONNECT` set it).
    pub(crate) expires_at: Option<SystemTime>,
    pub(crate) connected: Frame,
}

/// Negotiates a `CONNECT`/`STOMP` frame, starting from what the handshake gave the session;
/// `Err` carries the `ERROR` frame to send.
pub(crate) async fn accept_connect(
    context: &SessionContext,
    mut frame: Frame,
    session_id: &SessionId,
    start: &SessionStart,
) -> Result<Accepted, Frame> {
    let Some(version) = Version::negotiate(frame.get(names::ACCEPT_VERSION)) else {
        return Err(error_frame(
            &format!(
                "unsupported STOMP version(s) `{}`; this server speaks {}",
                frame.get(names::ACCEPT_VERSION).unwrap_or(""),
                Version::supported_list()
            ),
            None,
        )
        .header(names::VERSION, Version::supported_list()));
    };
    let client_heartbeat = match frame.get(names::HEART_BEAT) {
        None => HeartBeat::default(),
        Some(text) => HeartBeat::parse(text).ok_or_else(|| {
            error_frame(
                &format!("malformed heart-beat header `{text}`; expected `cx,cy`"),
                None,
            )
        })?,
    };
    let (principal, expires_at) = intercept_connect(context, &mut frame, session_id, start).await?;
    context
        .authorize(&frame, principal.as_ref(), session_id, &start.attributes)
        .map_err(|denied| error_frame(&denied.to_string(), frame.receipt()))?;
    let server_heartbeat = if version == Version::V1_0 {
        HeartBeat::default()
    } else {
        follow_client(
            context.heartbeat,
            client_heartbeat,
            context.limits.heartbeat_floor,
        )
    };
    let heartbeat = HeartBeat::negotiate(server_heartbeat, client_heartbeat);
    let mut connected = Frame::new(Command::Connected)
        .header(names::VERSION, version.as_str())
        .header(names::HEART_BEAT, &server_heartbeat.to_string())
        .header(names::SERVER, &context.server_name)
        .header(names::SESSION, session_id.as_str());
    if let Some(principal) = &principal {
        connected.headers.append(names::USER_NAME, principal.name());
    }
    Ok(Accepted {
        version,
        heartbeat,
        principal,
        expires_at,
        connected,
    })
}

/// Runs the plain, then the async, interceptors on `CONNECT`: the user and credential
/// expiry they leave (starting from the handshake's), or the `ERROR` refusing it. A session
/// of the test harness's mock user skips them: they are where applications authenticate.
async fn intercept_connect(
    context: &SessionContext,
    frame: &mut Frame,
    session_id: &SessionId,
    start: &SessionStart,
) -> Result<(Option<Principal>, Option<SystemTime>), Frame> {
    if start.mock_user {
        return Ok((start.principal.clone(), start.expires_at));
    }
    let mut principal = start.principal.clone();
    let mut interception = InterceptorContext {
        session_id,
        principal: &mut principal,
        attributes: &start.attributes,
        expires_at: start.expires_at,
    };
    for interceptor in &context.interceptors {
        interceptor
            .pre_send(frame, &mut interception)
            .map_err(|rejection| error_frame(&rejection.message, frame.receipt()))?;
    }
    let expires_at = interception.expires_at;
    if context.async_interceptors.is_empty() {
        return Ok((principal, expires_at));
    }
    let receipt = frame.receipt().map(str::to_owned);
    let placeholder = Frame::new(frame.command);
    let mut message =
        InboundMessage::new(std::mem::replace(frame, placeholder), session_id.clone());
    message.principal = principal;
    message.attributes = start.attributes.clone();
    message.expires_at = expires_at;
    // Boxed, so that the session task is no larger for servers without async interceptors.
    match Box::pin(run_async_interceptors(context, message)).await {
        Ok(message) => {
            *frame = message.frame;
            Ok((message.principal, message.expires_at))
        }
        Err(text) => Err(error_frame(&text, receipt.as_deref())),
    }
}

/// The heart-beats to offer a client that asked for `client`: in each direction what it
/// asks for, no faster than `floor` and no slower than `configured`. A direction the
/// client or the server turns off (0) keeps the configured value: negotiation turns it
/// off anyway, and `CONNECTED` still says what the server can do.
fn follow_client(configured: HeartBeat, client: HeartBeat, floor: Duration) -> HeartBeat {
    let floor_ms = u32::try_from(floor.as_millis()).unwrap_or(u32::MAX);
    let follow = |configured_ms: u32, asked_ms: u32| {
        if configured_ms == 0 || asked_ms == 0 {
            configured_ms
        } else {
            // The configured value wins over a floor set above it.
            asked_ms.max(floor_ms).min(configured_ms)
        }
    };
    HeartBeat {
        // The server sends as often as the client wants to receive...
        outgoing_ms: follow(configured.outgoing_ms, client.incoming_ms),
        // ...and wants to receive as often as the client can send.
        incoming_ms: follow(configured.incoming_ms, client.outgoing_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hb(outgoing_ms: u32, incoming_ms: u32) -> HeartBeat {
        HeartBeat {
            outgoing_ms,
            incoming_ms,
        }
    }

    /// What a server configured with `configured` and `floor` negotiates with `client`, in
    /// milliseconds (server sends every, server expects every).
    fn negotiated(configured: HeartBeat, client: HeartBeat, floor_ms: u64) -> (u128, u128) {
        let offered = follow_client(configured, client, Duration::from_millis(floor_ms));
        let at_server = HeartBeat::negotiate(offered, client);
        let ms = |d: Option<Duration>| d.map_or(0, |d| d.as_millis());
        (ms(at_server.send_every), ms(at_server.expect_every))
    }

    #[test]
    fn the_server_offers_what_the_client_asks_between_the_floor_and_the_default() {
        let configured = hb(10_000, 10_000);
        assert_eq!(
            negotiated(configured, hb(1_000, 1_000), 1_000),
            (1_000, 1_000)
        );
        assert_eq!(
            negotiated(configured, hb(2_500, 4_000), 1_000),
            (4_000, 2_500)
        );
        // Below the floor: the floor.
        assert_eq!(negotiated(configured, hb(100, 200), 1_000), (1_000, 1_000));
        // Above the default: the default.
        assert_eq!(
            negotiated(configured, hb(30_000, 60_000), 1_000),
            (60_000, 30_000)
        );
        assert_eq!(
            follow_client(configured, hb(30_000, 60_000), Duration::from_secs(1)),
            configured
        );
        // Asking 0 one way: none that way.
        assert_eq!(negotiated(configured, hb(0, 1_000), 1_000), (1_000, 0));
        assert_eq!(negotiated(configured, hb(1_000, 0), 1_000), (0, 1_000));
        assert_eq!(negotiated(configured, hb(0, 0), 1_000), (0, 0));
    }

    #[test]
    fn a_server_without_heart_beats_or_a_floor_at_the_default_keeps_its_configuration() {
        assert_eq!(negotiated(hb(0, 0), hb(1_000, 1_000), 1_000), (0, 0));
        assert_eq!(
            negotiated(hb(0, 5_000), hb(1_000, 1_000), 1_000),
            (0, 1_000)
        );
        // Spring's behaviour: a floor at (or above) the default always offers the default.
        let configured = hb(10_000, 10_000);
        let spring = follow_client(configured, hb(1_000, 1_000), Duration::from_secs(10));
        assert_eq!(spring, configured);
        let above = follow_client(configured, hb(1_000, 1_000), Duration::from_secs(60));
        assert_eq!(above, configured);
    }
}

//! The `CONNECT` handshake: version and heart-beat negotiation, interceptors, `CONNECTED`.

use stomp_core::{names, Command, Frame, HeartBeat, NegotiatedHeartBeat, Version};

use super::context::SessionContext;
use crate::attributes::SessionAttributes;
use crate::interceptor::InterceptorContext;
use crate::peer::error_frame;
use crate::principal::{Principal, SessionId};

/// A `CONNECT` that was accepted.
pub(crate) struct Accepted {
    pub(crate) version: Version,
    pub(crate) heartbeat: NegotiatedHeartBeat,
    pub(crate) principal: Option<Principal>,
    pub(crate) connected: Frame,
}

/// Negotiates a `CONNECT`/`STOMP` frame; `Err` carries the `ERROR` frame to send.
pub(crate) fn accept_connect(
    context: &SessionContext,
    mut frame: Frame,
    session_id: &SessionId,
    attributes: &SessionAttributes,
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
    let mut principal = None;
    let mut interception = InterceptorContext {
        session_id,
        principal: &mut principal,
        attributes,
    };
    for interceptor in &context.interceptors {
        interceptor
            .pre_send(&mut frame, &mut interception)
            .map_err(|rejection| error_frame(&rejection.message, frame.receipt()))?;
    }
    let server_heartbeat = if version == Version::V1_0 {
        HeartBeat::default()
    } else {
        context.heartbeat
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
        connected,
    })
}

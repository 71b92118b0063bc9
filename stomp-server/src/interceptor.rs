//! Inbound interceptors (Spring's `ChannelInterceptor` on `clientInboundChannel`).

use stomp_core::Frame;

use crate::attributes::SessionAttributes;
use crate::principal::{Principal, SessionId};

/// What an interceptor may read and change about the session.
#[derive(Debug)]
#[non_exhaustive]
pub struct InterceptorContext<'a> {
    /// The session's id.
    pub session_id: &'a SessionId,
    /// The session's user. Setting it while handling `CONNECT` authenticates the session
    /// (for example from a `login` header or a bearer token).
    pub principal: &'a mut Option<Principal>,
    /// The session's attributes.
    pub attributes: &'a SessionAttributes,
}

impl<'a> InterceptorContext<'a> {
    /// A context over these parts of a session, for calling an interceptor outside a
    /// session, as in its unit tests (the server builds its own for every frame).
    pub fn new(
        session_id: &'a SessionId,
        principal: &'a mut Option<Principal>,
        attributes: &'a SessionAttributes,
    ) -> InterceptorContext<'a> {
        InterceptorContext {
            session_id,
            principal,
            attributes,
        }
    }
}

/// An interceptor refused a frame; the text goes into the `ERROR` frame's `message` header
/// and the session is closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Rejection {
    /// The reason, for the client.
    pub message: String,
}

impl Rejection {
    /// A rejection with this reason.
    pub fn new(message: impl Into<String>) -> Rejection {
        Rejection {
            message: message.into(),
        }
    }
}

/// Sees every frame a client sends, after decoding and before the server acts on it, in
/// registration order. It may rewrite headers, set the principal on `CONNECT`, or reject the
/// frame.
pub trait ChannelInterceptor: Send + Sync + 'static {
    /// Called for every inbound frame.
    fn pre_send(
        &self,
        frame: &mut Frame,
        context: &mut InterceptorContext<'_>,
    ) -> Result<(), Rejection>;
}

impl<F> ChannelInterceptor for F
where
    F: Fn(&mut Frame, &mut InterceptorContext<'_>) -> Result<(), Rejection> + Send + Sync + 'static,
{
    fn pre_send(
        &self,
        frame: &mut Frame,
        context: &mut InterceptorContext<'_>,
    ) -> Result<(), Rejection> {
        self(frame, context)
    }
}

/// What an outbound interceptor knows about the session a frame goes to.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct OutboundContext<'a> {
    /// The session's id.
    pub session_id: &'a SessionId,
    /// The session's user, if any.
    pub principal: Option<&'a Principal>,
}

impl<'a> OutboundContext<'a> {
    /// A context for a session with this id and user, for calling an outbound interceptor
    /// outside a session, as in its unit tests.
    pub fn new(session_id: &'a SessionId, principal: Option<&'a Principal>) -> OutboundContext<'a> {
        OutboundContext {
            session_id,
            principal,
        }
    }
}

/// Sees every frame sent to a client (`CONNECTED`, `MESSAGE`, `RECEIPT`, `ERROR`) before it is
/// queued, like an interceptor on Spring's `clientOutboundChannel`: it may change headers or
/// the body, or drop the frame by returning `false`. Registered with
/// `StompServer::builder().outbound_interceptor(..)`, run in registration order.
///
/// Without one, a message published to many subscribers is encoded once per distinct
/// subscription id and shared; with one, each delivery to a session is built as a `Frame`,
/// intercepted once and encoded for that session alone, so keep them for what needs them.
/// The frame has every header the client will see except `content-length`, which the
/// encoder adds. Heart-beats are not frames and
/// are not seen; an `ERROR` answering a frame that arrived before `CONNECT` is written
/// directly and not seen either.
pub trait OutboundInterceptor: Send + Sync + 'static {
    /// Called for every outbound frame; `false` drops it.
    fn pre_send(&self, frame: &mut Frame, context: &OutboundContext<'_>) -> bool;
}

impl<F> OutboundInterceptor for F
where
    F: Fn(&mut Frame, &OutboundContext<'_>) -> bool + Send + Sync + 'static,
{
    fn pre_send(&self, frame: &mut Frame, context: &OutboundContext<'_>) -> bool {
        self(frame, context)
    }
}

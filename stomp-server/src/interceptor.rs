//! Inbound interceptors (Spring's `ChannelInterceptor` on `clientInboundChannel`).

use stomp_core::Frame;

use crate::principal::{Principal, SessionId};
use crate::session::SessionAttributes;

/// What an interceptor may read and change about the session.
#[derive(Debug)]
pub struct InterceptorContext<'a> {
    /// The session's id.
    pub session_id: &'a SessionId,
    /// The session's user. Setting it while handling `CONNECT` authenticates the session
    /// (for example from a `login` header or a bearer token).
    pub principal: &'a mut Option<Principal>,
    /// The session's attributes.
    pub attributes: &'a SessionAttributes,
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

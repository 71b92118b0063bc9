//! Inbound interceptors (Spring's `ChannelInterceptor` on `clientInboundChannel`), plain
//! ([`ChannelInterceptor`]) or async ([`AsyncChannelInterceptor`], for a token introspection
//! or a database lookup), and outbound ones ([`OutboundInterceptor`]).

use std::future::Future;
use std::time::SystemTime;

use stomp_core::Frame;

pub use crate::handshake::BoxFuture;

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
    /// When the session's credentials expire (set by a handshake interceptor, or here while
    /// handling `CONNECT`): at that moment the session gets an `ERROR` saying "credentials
    /// expired" and is closed. Only what it holds after `CONNECT` is kept (on later frames
    /// it starts as `None` and a change is not kept).
    pub expires_at: Option<SystemTime>,
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
            expires_at: None,
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

/// A frame on its way in, with what an [`AsyncChannelInterceptor`] may read and change of
/// its session. An async interceptor takes it and gives it back, so that its future owns
/// what it works on (no borrow lives across its awaits).
#[derive(Debug)]
#[non_exhaustive]
pub struct InboundMessage {
    /// The frame; changes reach the server.
    pub frame: Frame,
    /// The session's id.
    pub session_id: SessionId,
    /// The session's user. Setting it while handling `CONNECT` authenticates the session;
    /// on later frames a change is not kept.
    pub principal: Option<Principal>,
    /// The session's attributes (shared: inserts are the session's).
    pub attributes: SessionAttributes,
    /// When the session's credentials expire; kept when set while handling `CONNECT`.
    pub expires_at: Option<SystemTime>,
}

impl InboundMessage {
    /// A message for calling an async interceptor outside a session (its unit tests).
    pub fn new(frame: Frame, session_id: SessionId) -> InboundMessage {
        InboundMessage {
            frame,
            session_id,
            principal: None,
            attributes: SessionAttributes::new(),
            expires_at: None,
        }
    }
}

/// An inbound interceptor that may wait (Spring's `ExecutorChannelInterceptor`, or a
/// `ChannelInterceptor` doing a blocking lookup there): it runs for `CONNECT` and every
/// later frame, after the plain [`ChannelInterceptor`]s, in registration order, awaited on
/// the session's own task so frames keep their order and no runtime thread is blocked.
/// Each call gets `Limits::interceptor_time`; past it the client gets an `ERROR`
/// ("interceptor timed out") and the session is closed. Registered with
/// `StompServer::builder().async_interceptor(..)`; any
/// `Fn(InboundMessage) -> impl Future<Output = Result<InboundMessage, Rejection>>` is one:
///
/// ```
/// use stomp_server::interceptor::{InboundMessage, Rejection};
/// use stomp_server::{Command, Principal, StompServer};
///
/// let builder = StompServer::builder().async_interceptor(|mut message: InboundMessage| async move {
///     if message.frame.command == Command::Connect {
///         let token = message.frame.get("token").unwrap_or("").to_owned();
///         // An async lookup (a database, an introspection endpoint) goes here.
///         if token != "secret" {
///             return Err(Rejection::new("invalid token"));
///         }
///         message.principal = Some(Principal::new("alice"));
///     }
///     Ok(message)
/// });
/// # let _ = builder;
/// ```
pub trait AsyncChannelInterceptor: Send + Sync + 'static {
    /// Called for every inbound frame; `Err` refuses it (an `ERROR`, then the close).
    fn pre_send(&self, message: InboundMessage) -> BoxFuture<Result<InboundMessage, Rejection>>;
}

impl<F, Fut> AsyncChannelInterceptor for F
where
    F: Fn(InboundMessage) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<InboundMessage, Rejection>> + Send + 'static,
{
    fn pre_send(&self, message: InboundMessage) -> BoxFuture<Result<InboundMessage, Rejection>> {
        Box::pin(self(message))
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

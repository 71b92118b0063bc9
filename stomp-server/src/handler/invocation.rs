//! [`Invocation`]: everything a handler call can extract its arguments from.

use std::ops::Range;
use std::sync::Arc;

use stomp_core::Frame;

use super::services::Services;
use crate::peer::SessionHandle;
use crate::principal::{Principal, SessionId};
use crate::template::Template;

/// What a mapping handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MappingKind {
    /// `#[message_mapping]`: `SEND` frames to an application destination.
    Message,
    /// `#[subscribe_mapping]`: `SUBSCRIBE` frames to an application destination.
    Subscribe,
}

/// One handler call in progress: the frame, the matched mapping's variables, the session
/// and the handler services. Extractors ([`FromInvocation`](crate::extract::FromInvocation)) read from it.
///
/// Cloning is a reference count, so an exception handler can receive the same invocation
/// after the handler failed.
#[derive(Clone)]
pub struct Invocation(Arc<Inner>);

struct Inner {
    frame: Frame,
    kind: MappingKind,
    lookup_offset: usize,
    variable_names: Arc<[Box<str>]>,
    variable_ranges: Vec<Range<usize>>,
    session: Arc<SessionHandle>,
    services: Arc<Services>,
}

/// The parts of an invocation the router fills in.
pub(crate) struct InvocationParts {
    pub(crate) frame: Frame,
    pub(crate) kind: MappingKind,
    pub(crate) lookup_offset: usize,
    pub(crate) variable_names: Arc<[Box<str>]>,
    pub(crate) variable_ranges: Vec<Range<usize>>,
    pub(crate) session: Arc<SessionHandle>,
    pub(crate) services: Arc<Services>,
}

impl Invocation {
    pub(crate) fn new(parts: InvocationParts) -> Invocation {
        Invocation(Arc::new(Inner {
            frame: parts.frame,
            kind: parts.kind,
            lookup_offset: parts.lookup_offset,
            variable_names: parts.variable_names,
            variable_ranges: parts.variable_ranges,
            session: parts.session,
            services: parts.services,
        }))
    }

    /// The frame being handled (`SEND` or `SUBSCRIBE`).
    pub fn frame(&self) -> &Frame {
        &self.0.frame
    }

    /// Whether a `#[message_mapping]` or a `#[subscribe_mapping]` handles it.
    pub fn kind(&self) -> MappingKind {
        self.0.kind
    }

    /// The full destination, application prefix included (`/app/chat/room1`).
    pub fn destination(&self) -> &str {
        self.0.frame.destination().unwrap_or("")
    }

    /// The destination without the application prefix (`/chat/room1`), which mappings match.
    pub fn lookup_destination(&self) -> &str {
        self.destination().get(self.0.lookup_offset..).unwrap_or("")
    }

    /// The value captured for the pattern variable `name`.
    pub fn path_variable(&self, name: &str) -> Option<&str> {
        let index = self.0.variable_names.iter().position(|n| &**n == name)?;
        let range = self.0.variable_ranges.get(index)?.clone();
        self.lookup_destination().get(range)
    }

    /// Every captured `(name, value)` pair, in pattern order.
    pub fn path_variables(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        let lookup = self.lookup_destination();
        self.0
            .variable_names
            .iter()
            .zip(&self.0.variable_ranges)
            .map(move |(name, range)| (&**name, lookup.get(range.clone()).unwrap_or("")))
    }

    /// The session's id.
    pub fn session_id(&self) -> &SessionId {
        &self.0.session.id
    }

    /// The session's user, when it has one.
    pub fn principal(&self) -> Option<&Principal> {
        self.0.session.principal.as_ref()
    }

    /// The subscription id of the `SUBSCRIBE` frame, for `#[subscribe_mapping]` handlers: its
    /// `id` header, or (STOMP 1.0, where `id` is optional) its destination, as the broker does.
    pub fn subscription_id(&self) -> Option<&str> {
        match self.0.kind {
            MappingKind::Subscribe => self.0.frame.id().or(self.0.frame.destination()),
            MappingKind::Message => None,
        }
    }

    /// The messaging template.
    pub fn template(&self) -> &Template {
        &self.0.services.template
    }

    /// The session (crate-internal: replies to the sender go through it).
    pub(crate) fn session(&self) -> &Arc<SessionHandle> {
        &self.0.session
    }

    /// The state, template and routing it runs with.
    pub(crate) fn services(&self) -> &Arc<Services> {
        &self.0.services
    }
}

impl std::fmt::Debug for Invocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invocation")
            .field("destination", &self.destination())
            .field("session", &self.session_id())
            .finish_non_exhaustive()
    }
}

//! [`SessionHandle`]: what the broker, the user registry and handlers hold of a session.

use stomp_core::Version;

use super::attributes::SessionAttributes;
use super::outbound::Outbound;
use crate::principal::{Principal, SessionId};

/// A connected STOMP session as seen from outside its task.
#[derive(Debug)]
pub(crate) struct SessionHandle {
    pub(crate) id: SessionId,
    pub(crate) principal: Option<Principal>,
    pub(crate) version: Version,
    pub(crate) attributes: SessionAttributes,
    pub(crate) outbound: Outbound,
}

#[cfg(test)]
impl SessionHandle {
    /// A session with no connection behind it (its queue is never written), for unit tests.
    pub(crate) fn detached(id: &str) -> std::sync::Arc<SessionHandle> {
        let (outbound, _rx) = Outbound::new(usize::MAX);
        std::sync::Arc::new(SessionHandle {
            id: SessionId::new(id.to_owned()),
            principal: None,
            version: Version::V1_2,
            attributes: SessionAttributes::new(),
            outbound,
        })
    }
}

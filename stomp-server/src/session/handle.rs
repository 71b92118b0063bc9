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

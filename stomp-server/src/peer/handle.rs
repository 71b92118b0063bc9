//! [`SessionHandle`]: what the broker, the user registry and handlers hold of a session.

use std::sync::atomic::AtomicUsize;

use stomp_core::Version;

use super::error::error_frame;
use super::outbound::{CloseCause, Outbound};
use crate::attributes::SessionAttributes;
use crate::principal::{Principal, SessionId};

/// A connected STOMP session as seen from outside its task.
#[derive(Debug)]
pub(crate) struct SessionHandle {
    pub(crate) id: SessionId,
    pub(crate) principal: Option<Principal>,
    pub(crate) version: Version,
    pub(crate) attributes: SessionAttributes,
    pub(crate) outbound: Outbound,
    /// Bytes the broker holds for this session's acknowledging subscriptions (unacknowledged
    /// or waiting behind a prefetch window), shared by their trackers.
    pub(crate) unacked_bytes: AtomicUsize,
    /// The part of `unacked_bytes` its point-to-point consumers hold: they may take half of
    /// the session's bound, so that its broadcast subscriptions always keep the other half.
    pub(crate) queue_unacked_bytes: AtomicUsize,
}

impl SessionHandle {
    /// Ends the session from outside its task: an `ERROR` with `reason` is queued (after
    /// what is queued already), then the session closes once it is written. False when
    /// the session was closing already.
    pub(crate) fn end(&self, reason: &str) -> bool {
        if self.outbound.close_cause() != CloseCause::None {
            return false;
        }
        tracing::debug!(session = %self.id, reason = %crate::log::Escaped(reason), "ending session");
        self.outbound
            .push_frame(&error_frame(reason, None), self.version);
        self.outbound.close(CloseCause::Ended);
        true
    }
}

#[cfg(test)]
impl SessionHandle {
    /// A session with no connection behind it (its queue is never written), for unit tests.
    pub(crate) fn detached(id: &str) -> std::sync::Arc<SessionHandle> {
        SessionHandle::with_queue(id, usize::MAX).0
    }

    /// A session whose outbound queue (send-buffer limit `limit`) the test drains itself.
    pub(crate) fn with_queue(
        id: &str,
        limit: usize,
    ) -> (std::sync::Arc<SessionHandle>, super::Receiver) {
        let (outbound, rx) = Outbound::new(limit);
        let session = std::sync::Arc::new(SessionHandle {
            id: SessionId::new(id.to_owned()),
            principal: None,
            version: Version::V1_2,
            attributes: SessionAttributes::new(),
            outbound,
            unacked_bytes: AtomicUsize::new(0),
            queue_unacked_bytes: AtomicUsize::new(0),
        });
        (session, rx)
    }
}

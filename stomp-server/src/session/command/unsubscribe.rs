//! `UNSUBSCRIBE`: ends one of the session's subscriptions.

use std::ops::ControlFlow;

use stomp_core::{Command, Frame, Version};

use super::error::CommandError;
use crate::broker::BrokerError;
use crate::event::SessionEvent;
use crate::session::end::Flow;
use crate::session::state::SessionState;

/// An `UNSUBSCRIBE`, read.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct UnsubscribeRequest {
    /// The subscription to end.
    pub(super) id: String,
}

impl UnsubscribeRequest {
    /// Reads an `UNSUBSCRIBE`: its `id`, or on STOMP 1.0 its destination (the default id).
    pub(super) fn parse(
        frame: &Frame,
        version: Version,
    ) -> Result<UnsubscribeRequest, CommandError> {
        let id = match (frame.id(), version, frame.destination()) {
            (Some(id), _, _) => id,
            (None, Version::V1_0, Some(destination)) => destination,
            _ => return Err(CommandError::MissingId(Command::Unsubscribe)),
        };
        Ok(UnsubscribeRequest { id: id.to_owned() })
    }

    /// Ends the subscription, then answers the receipt and tells the listeners.
    pub(super) fn execute(
        self,
        state: &mut SessionState<'_>,
        frame: &Frame,
    ) -> Result<Flow, CommandError> {
        let subscribed = state
            .subscriptions
            .remove(&self.id)
            .ok_or_else(|| BrokerError::UnknownSubscription(self.id.clone()))?;
        if !subscribed.application {
            state
                .context
                .broker()
                .unsubscribe(&state.session.id, &self.id)?;
        }
        state.receipt(frame);
        state.context.publish_event(&SessionEvent::Unsubscribe {
            session: state.session.id.clone(),
            principal: state.session.principal.clone(),
            subscription: self.id,
            destination: subscribed.destination,
        });
        Ok(ControlFlow::Continue(()))
    }
}

#[cfg(test)]
mod tests {
    use stomp_core::{names, Command, Frame, Version};

    use super::UnsubscribeRequest;

    #[test]
    fn an_unsubscribe_without_id_is_refused() {
        let frame = Frame::new(Command::Unsubscribe).header(names::DESTINATION, "/topic/a");
        let error = UnsubscribeRequest::parse(&frame, Version::V1_2).unwrap_err();
        assert_eq!(error.to_string(), "UNSUBSCRIBE requires an id header");
    }

    #[test]
    fn stomp_1_0_names_a_subscription_by_its_destination() {
        let frame = Frame::new(Command::Unsubscribe).header(names::DESTINATION, "/topic/a");
        let request = UnsubscribeRequest::parse(&frame, Version::V1_0).unwrap();
        assert_eq!(request.id, "/topic/a");
        let bare = Frame::new(Command::Unsubscribe);
        let error = UnsubscribeRequest::parse(&bare, Version::V1_0).unwrap_err();
        assert_eq!(error.to_string(), "UNSUBSCRIBE requires an id header");
    }

    #[test]
    fn the_id_header_wins() {
        let frame = Frame::new(Command::Unsubscribe).header(names::ID, "3");
        let request = UnsubscribeRequest::parse(&frame, Version::V1_1).unwrap();
        assert_eq!(request.id, "3");
    }
}

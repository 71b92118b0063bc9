//! `ACK` and `NACK`: the client settles a message it was delivered.

use std::ops::ControlFlow;

use stomp_core::{names, Command, Frame, Version};

use super::error::CommandError;
use crate::broker::{AckRequest, AckTarget};
use crate::session::end::Flow;
use crate::session::state::SessionState;

/// An `ACK` or `NACK`, read.
#[derive(Debug)]
pub(in crate::session) struct AckCommand(pub(super) AckRequest);

impl AckCommand {
    /// Reads the message an `ACK`/`NACK` names: `id` on STOMP 1.2, `message-id` and
    /// `subscription` on 1.1, `message-id` on 1.0.
    pub(in crate::session) fn parse(
        frame: &Frame,
        version: Version,
    ) -> Result<AckCommand, CommandError> {
        let id = frame.id().filter(|_| version == Version::V1_2);
        let target = match (id, frame.get(names::MESSAGE_ID)) {
            (Some(id), _) => AckTarget::AckId(id.to_owned()),
            (None, Some(message_id)) => {
                let subscription = frame.get(names::SUBSCRIPTION).map(str::to_owned);
                if subscription.is_none() && version == Version::V1_1 {
                    return Err(CommandError::MissingAckSubscription(frame.command));
                }
                AckTarget::MessageId {
                    message_id: message_id.to_owned(),
                    subscription,
                }
            }
            (None, None) => return Err(CommandError::MissingAckTarget(frame.command)),
        };
        Ok(AckCommand(AckRequest {
            nack: frame.command == Command::Nack,
            target,
            transaction: frame.get(names::TRANSACTION).map(str::to_owned),
        }))
    }

    /// Applies it now, then answers the receipt.
    pub(super) fn execute(
        self,
        state: &mut SessionState<'_>,
        frame: &Frame,
    ) -> Result<Flow, CommandError> {
        self.apply(state)?;
        state.receipt(frame);
        Ok(ControlFlow::Continue(()))
    }

    /// Hands it to the broker; replies of a `#[subscribe_mapping]` are not tracked (as in
    /// Spring), so settling one is accepted and does nothing.
    pub(super) fn apply(&self, state: &SessionState<'_>) -> Result<(), CommandError> {
        if let AckTarget::MessageId {
            subscription: Some(subscription),
            ..
        } = &self.0.target
        {
            if state
                .subscriptions
                .get(subscription)
                .is_some_and(|s| s.application)
            {
                return Ok(());
            }
        }
        Ok(state
            .context
            .broker()
            .acknowledge(&state.session.id, &self.0)?)
    }
}

#[cfg(test)]
mod tests {
    use stomp_core::{names, Command, Frame, Version};

    use super::AckCommand;
    use crate::broker::AckTarget;

    fn refusal(frame: &Frame, version: Version) -> String {
        AckCommand::parse(frame, version).unwrap_err().to_string()
    }

    #[test]
    fn an_ack_naming_no_message_is_refused() {
        assert_eq!(
            refusal(&Frame::new(Command::Ack), Version::V1_2),
            "ACK requires an id (1.2) or message-id (1.0, 1.1) header"
        );
        assert_eq!(
            refusal(&Frame::new(Command::Nack), Version::V1_0),
            "NACK requires an id (1.2) or message-id (1.0, 1.1) header"
        );
    }

    #[test]
    fn stomp_1_1_needs_the_subscription_beside_message_id() {
        let frame = Frame::new(Command::Nack).header(names::MESSAGE_ID, "m1");
        assert_eq!(
            refusal(&frame, Version::V1_1),
            "NACK requires a subscription header beside message-id (STOMP 1.1)"
        );
        let request = AckCommand::parse(&frame, Version::V1_0).unwrap().0;
        assert!(request.nack);
        assert!(matches!(
            request.target,
            AckTarget::MessageId { ref message_id, subscription: None } if message_id == "m1"
        ));
    }

    #[test]
    fn stomp_1_2_names_the_ack_id_and_keeps_the_transaction() {
        let frame = Frame::new(Command::Ack)
            .header(names::ID, "a7")
            .header(names::TRANSACTION, "tx");
        let request = AckCommand::parse(&frame, Version::V1_2).unwrap().0;
        assert!(!request.nack);
        assert!(matches!(request.target, AckTarget::AckId(ref id) if id == "a7"));
        assert_eq!(request.transaction.as_deref(), Some("tx"));
    }
}

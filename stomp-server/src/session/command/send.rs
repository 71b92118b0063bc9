//! `SEND`: a message for a `#[message_mapping]` handler or for the broker.

use std::ops::ControlFlow;

use bytes::Bytes;
use stomp_core::{names, Command, Frame};

use super::error::CommandError;
use crate::broker::PublishedMessage;
use crate::handler::dispatch::dispatch;
use crate::handler::MappingKind;
use crate::routing::SendRoute;
use crate::session::end::Flow;
use crate::session::state::SessionState;
use crate::session::user_send::user_message_headers;

/// Where the body of a `SEND` lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Body {
    /// A slice of the session's receive buffer: copied before the broker keeps it.
    Received,
    /// Already a buffer of its own (a `SEND` held by a transaction): kept as it is.
    Detached,
}

/// A `SEND` that names its destination. The destination stays in the frame: a handler
/// reads it there, and only a message for the broker needs a copy of its own.
#[derive(Debug)]
pub(super) struct SendRequest {
    /// The frame, handed to a handler or published.
    pub(super) frame: Frame,
}

impl SendRequest {
    /// Reads a `SEND`: it must name a destination.
    pub(super) fn parse(frame: Frame) -> Result<SendRequest, CommandError> {
        if frame.destination().is_none() {
            return Err(CommandError::MissingDestination(Command::Send));
        }
        Ok(SendRequest { frame })
    }

    /// The `destination` header ([`parse`](Self::parse) checked it is there).
    pub(super) fn destination(&self) -> &str {
        self.frame.destination().unwrap_or_default()
    }

    /// Hands the message to its handler or publishes it, then answers `receipt` (the
    /// frame's, read by the caller before the frame moved on).
    pub(super) async fn execute(
        self,
        state: &mut SessionState<'_>,
        body: Body,
        receipt: Option<&str>,
    ) -> Result<Flow, CommandError> {
        let route = state
            .context
            .routing
            .send_route(self.destination())
            .map_err(CommandError::Refused)?;
        match route {
            SendRoute::Application { lookup_offset } => {
                let handlers = &state.context.handlers;
                dispatch(
                    handlers,
                    state.session,
                    self.frame,
                    MappingKind::Message,
                    lookup_offset,
                )
                .await?;
            }
            route => self.publish(state, route == SendRoute::User, body)?,
        }
        // A broker that is behind holds the publisher back here, before its next frame.
        if let Some(pace) = state.context.broker().publish_pace() {
            pace.await?;
        }
        state.receipt_id(receipt);
        Ok(ControlFlow::Continue(()))
    }

    /// Publishes the message to the broker (or to a user's sessions).
    fn publish(
        self,
        state: &SessionState<'_>,
        to_user: bool,
        body: Body,
    ) -> Result<(), CommandError> {
        let destination = self.destination().to_owned();
        let frame = self.frame;
        let message = PublishedMessage {
            destination,
            headers: if to_user {
                user_message_headers(&frame, state.session.principal.as_ref())
            } else {
                client_headers(&frame)
            },
            // The broker may hold it (queues, unacknowledged deliveries): a body of its own
            // rather than a slice pinning the session's receive buffer.
            body: match body {
                Body::Received => Bytes::copy_from_slice(&frame.body),
                Body::Detached => frame.body.clone(),
            },
        };
        let delivered = state.context.routing.publish_from_client(
            &state.session.id,
            message,
            frame.get(names::TRANSACTION),
        )?;
        state.context.stats.published();
        state.context.stats.delivered(delivered);
        Ok(())
    }
}

/// The headers of a client's `SEND` that its `MESSAGE` frames carry: all but those the
/// broker sets itself or that only mean something on the way in.
fn client_headers(frame: &Frame) -> Vec<(String, String)> {
    frame
        .headers
        .iter()
        .filter(|(n, _)| {
            !matches!(
                *n,
                names::DESTINATION
                    | names::RECEIPT
                    | names::TRANSACTION
                    | names::CONTENT_LENGTH
                    | names::MESSAGE_ID
                    | names::SUBSCRIPTION
                    | names::ACK
            )
        })
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use stomp_core::{names, Command, Frame};

    use super::{client_headers, SendRequest};

    #[test]
    fn a_send_without_destination_is_refused_with_its_text() {
        let error = SendRequest::parse(Frame::new(Command::Send)).unwrap_err();
        assert_eq!(error.to_string(), "SEND requires a destination header");
    }

    #[test]
    fn a_send_keeps_its_destination_and_frame() {
        let frame = Frame::new(Command::Send).header(names::DESTINATION, "/topic/a");
        let request = SendRequest::parse(frame).unwrap();
        assert_eq!(request.destination(), "/topic/a");
        assert_eq!(request.frame.command, Command::Send);
    }

    #[test]
    fn a_message_keeps_only_the_application_headers() {
        let frame = Frame::new(Command::Send)
            .header(names::DESTINATION, "/topic/a")
            .header(names::RECEIPT, "r1")
            .header(names::TRANSACTION, "tx")
            .header("priority", "9");
        assert_eq!(
            client_headers(&frame),
            vec![("priority".to_owned(), "9".to_owned())]
        );
    }
}

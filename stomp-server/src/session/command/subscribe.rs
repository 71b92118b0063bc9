//! `SUBSCRIBE`: a subscription in the broker, or one answered by a `#[subscribe_mapping]`.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Duration;

use stomp_core::{names, Command, Frame, Version};

use super::error::CommandError;
use crate::broker::{AckMode, BrokerError, Confirmation, SubscribeRequest as BrokerSubscribe};
use crate::event::SessionEvent;
use crate::handler::dispatch::dispatch;
use crate::handler::MappingKind;
use crate::routing::SubscribeRoute;
use crate::session::end::Flow;
use crate::session::state::{SessionState, Subscribed};

/// How long a SUBSCRIBE waits for an external broker's confirmation.
const SUBSCRIBE_CONFIRMATION: Duration = Duration::from_secs(10);

/// The `SUBSCRIBE` header that lowers a subscription's prefetch window (RabbitMQ's name).
const PREFETCH_COUNT: &str = "prefetch-count";

/// A `SUBSCRIBE`, read.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct SubscribeRequest {
    /// The subscription's id (on STOMP 1.0 its destination when the frame names none).
    pub(super) id: String,
    /// The destination as the client wrote it.
    pub(super) destination: String,
    /// How its messages are acknowledged.
    pub(super) ack: AckMode,
    /// The `prefetch-count` header, if any.
    pub(super) prefetch: Option<usize>,
}

impl SubscribeRequest {
    /// Reads a `SUBSCRIBE`: a destination, an id (but on 1.0), a known ack mode and a whole
    /// `prefetch-count`.
    pub(super) fn parse(frame: &Frame, version: Version) -> Result<SubscribeRequest, CommandError> {
        let destination = frame
            .destination()
            .ok_or(CommandError::MissingDestination(Command::Subscribe))?
            .to_owned();
        let id = match (frame.id(), version) {
            (Some(id), _) => id.to_owned(),
            (None, Version::V1_0) => destination.clone(),
            (None, _) => return Err(CommandError::MissingId(Command::Subscribe)),
        };
        let ack = AckMode::parse(frame.get(names::ACK)).ok_or_else(|| {
            CommandError::UnknownAckMode(frame.get(names::ACK).unwrap_or("").to_owned())
        })?;
        let prefetch = match frame.get(PREFETCH_COUNT) {
            None => None,
            Some(count) => Some(
                count
                    .parse::<usize>()
                    .map_err(|_| CommandError::InvalidPrefetch(count.to_owned()))?,
            ),
        };
        Ok(SubscribeRequest {
            id,
            destination,
            ack,
            prefetch,
        })
    }

    /// Subscribes, then answers the receipt and tells the listeners.
    pub(super) async fn execute(
        self,
        state: &mut SessionState<'_>,
        frame: Frame,
    ) -> Result<Flow, CommandError> {
        check_room(state, &self.id)?;
        let route = state
            .context
            .routing
            .subscribe_route(&self.destination, state.session)
            .map_err(CommandError::Refused)?;
        let (destination, reported_destination, user) = match route {
            SubscribeRoute::Broker {
                destination,
                reported_destination,
                user,
            } => (destination, reported_destination, user),
            SubscribeRoute::Application { lookup_offset } => {
                return self
                    .subscribe_application(state, frame, lookup_offset)
                    .await;
            }
        };
        let request = BrokerSubscribe {
            id: Arc::from(self.id.as_str()),
            destination,
            reported_destination,
            ack: self.ack,
            prefetch: self.prefetch,
            user,
        };
        if let Some(confirmation) = state.context.broker().subscribe(state.session, request)? {
            // An external broker confirms asynchronously; the receipt waits for it.
            confirmed(confirmation).await?;
        }
        state.subscriptions.insert(
            self.id.clone(),
            Subscribed {
                destination: self.destination.clone(),
                application: false,
            },
        );
        // The subscription is live now; only now does the client learn so.
        state.receipt(&frame);
        subscribed(state, self.id, self.destination);
        Ok(ControlFlow::Continue(()))
    }

    /// A `SUBSCRIBE` to an application destination: answered by a `#[subscribe_mapping]`.
    async fn subscribe_application(
        self,
        state: &mut SessionState<'_>,
        frame: Frame,
        offset: usize,
    ) -> Result<Flow, CommandError> {
        // The receipt first: the reply of a subscribe mapping follows the subscription's
        // confirmation, as a client expects.
        state.receipt(&frame);
        state.subscriptions.insert(
            self.id.clone(),
            Subscribed {
                destination: self.destination.clone(),
                application: true,
            },
        );
        let handlers = &state.context.handlers;
        dispatch(
            handlers,
            state.session,
            frame,
            MappingKind::Subscribe,
            offset,
        )
        .await?;
        subscribed(state, self.id, self.destination);
        Ok(ControlFlow::Continue(()))
    }
}

/// Refuses a second subscription with the same id, and one past the session's limit.
fn check_room(state: &SessionState<'_>, id: &str) -> Result<(), CommandError> {
    if state.subscriptions.contains_key(id) {
        return Err(BrokerError::DuplicateSubscription(id.to_owned()).into());
    }
    let limit = state.context.limits.max_subscriptions_per_session;
    if state.subscriptions.len() >= limit {
        return Err(CommandError::SubscriptionLimit(limit));
    }
    Ok(())
}

/// Waits for an external broker's confirmation of a subscription.
async fn confirmed(confirmation: Confirmation) -> Result<(), CommandError> {
    match tokio::time::timeout(SUBSCRIBE_CONFIRMATION, confirmation).await {
        Ok(Ok(result)) => Ok(result?),
        Ok(Err(_)) => Err(CommandError::BrokerClosed),
        Err(_) => Err(CommandError::SubscriptionNotConfirmed),
    }
}

/// Tells the listeners of a new subscription.
fn subscribed(state: &SessionState<'_>, id: String, destination: String) {
    state.context.publish_event(&SessionEvent::Subscribe {
        session: state.session.id.clone(),
        principal: state.session.principal.clone(),
        subscription: id,
        destination,
    });
}

#[cfg(test)]
mod tests {
    use stomp_core::{names, Command, Frame, Version};

    use super::SubscribeRequest;
    use crate::broker::AckMode;

    fn subscribe(destination: Option<&str>, id: Option<&str>) -> Frame {
        let mut frame = Frame::new(Command::Subscribe);
        if let Some(destination) = destination {
            frame = frame.header(names::DESTINATION, destination);
        }
        if let Some(id) = id {
            frame = frame.header(names::ID, id);
        }
        frame
    }

    fn refusal(frame: &Frame, version: Version) -> String {
        SubscribeRequest::parse(frame, version)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_subscribe_without_destination_is_refused() {
        let frame = subscribe(None, Some("0"));
        assert_eq!(
            refusal(&frame, Version::V1_2),
            "SUBSCRIBE requires a destination header"
        );
    }

    #[test]
    fn a_subscribe_without_id_is_refused_but_on_stomp_1_0() {
        let frame = subscribe(Some("/topic/a"), None);
        assert_eq!(
            refusal(&frame, Version::V1_1),
            "SUBSCRIBE requires an id header"
        );
        let request = SubscribeRequest::parse(&frame, Version::V1_0).unwrap();
        assert_eq!(request.id, "/topic/a");
    }

    #[test]
    fn an_unknown_ack_mode_is_refused() {
        let frame = subscribe(Some("/topic/a"), Some("0")).header(names::ACK, "sometimes");
        assert_eq!(
            refusal(&frame, Version::V1_2),
            "unknown ack mode `sometimes`; use auto, client or client-individual"
        );
    }

    #[test]
    fn a_prefetch_count_must_be_a_whole_number() {
        let frame = subscribe(Some("/topic/a"), Some("0")).header("prefetch-count", "-1");
        assert_eq!(
            refusal(&frame, Version::V1_2),
            "invalid prefetch-count `-1`; expected a whole number"
        );
    }

    #[test]
    fn a_full_subscribe_is_read() {
        let frame = subscribe(Some("/queue/a"), Some("7"))
            .header(names::ACK, "client-individual")
            .header("prefetch-count", "3");
        let request = SubscribeRequest::parse(&frame, Version::V1_2).unwrap();
        assert_eq!(
            request,
            SubscribeRequest {
                id: "7".to_owned(),
                destination: "/queue/a".to_owned(),
                ack: AckMode::ClientIndividual,
                prefetch: Some(3),
            }
        );
    }
}

//! Calling handlers: find the mapping, extract, invoke, hand the return value to routing,
//! and send errors through the exception handlers.

use std::sync::Arc;

use stomp_core::{names, Frame};
use tracing::Instrument;

use super::context::HandlerContext;
use super::error::HandlerError;
use super::invocation::{Invocation, InvocationParts, MappingKind};
use super::registry::Route;
use super::reply::{Outcome, ReplyMessage};
use super::services::Services;
use crate::broker::PublishedMessage;
use crate::config::UnhandledErrors;
use crate::peer::SessionHandle;
use crate::routing::{with_content_type, Reply, ReplyRoute, ReplySource};
use crate::trace::handler_span;

/// Why a frame for an application destination could not be handled; the session answers
/// with an `ERROR` frame carrying this text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum DispatchError {
    /// No mapping matches.
    #[error("no {kind} handles destination `{destination}`")]
    NoHandler {
        /// `message_mapping` or `subscribe_mapping`.
        kind: &'static str,
        /// The destination.
        destination: String,
    },
    /// A handler error that no exception handler took, with `UnhandledErrors::ErrorFrame`.
    #[error("{0}")]
    Unhandled(String),
}

/// Handles a `SEND` (or `SUBSCRIBE`) to an application destination.
pub(crate) async fn dispatch(
    context: &Arc<HandlerContext>,
    session: &Arc<SessionHandle>,
    frame: Frame,
    kind: MappingKind,
    lookup_offset: usize,
) -> Result<(), DispatchError> {
    let router = match kind {
        MappingKind::Message => &context.registry.messages,
        MappingKind::Subscribe => &context.registry.subscriptions,
    };
    let destination = frame.destination().unwrap_or("");
    let lookup = destination.get(lookup_offset..).unwrap_or("");
    let Some((route, ranges)) = router.find(lookup) else {
        return Err(DispatchError::NoHandler {
            kind: match kind {
                MappingKind::Message => "message_mapping",
                MappingKind::Subscribe => "subscribe_mapping",
            },
            destination: destination.to_owned(),
        });
    };
    // Made while the destination is still borrowed from the frame; the span records it.
    let span = handler_span(route.descriptor.pattern, destination);
    let invocation = Invocation::new(InvocationParts {
        frame,
        kind,
        lookup_offset,
        variable_names: Arc::clone(&route.variable_names),
        variable_ranges: ranges,
        session: Arc::clone(session),
        services: Arc::clone(&context.services),
    });
    invoke(context, route, invocation).instrument(span).await
}

/// Calls the handler `route` names, and hands its reply to routing or its error to the
/// exception handlers: all of it in the handler call's span, so that what they log and
/// send carries the mapping and the destination.
async fn invoke(
    context: &HandlerContext,
    route: &Route,
    invocation: Invocation,
) -> Result<(), DispatchError> {
    let descriptor = route.descriptor;
    let stats = &context.services.stats;
    let started = stats.handler_started();
    let outcome = (descriptor.thunk)(invocation.clone()).await;
    let failed = matches!(outcome, Outcome::Failed(_));
    stats.handler_finished(route.slot, started, failed);
    match outcome {
        Outcome::Nothing => Ok(()),
        Outcome::Reply(reply) => {
            hand_over(&invocation, &route.reply, reply);
            Ok(())
        }
        Outcome::Failed(error) => {
            handle_error(context, invocation, descriptor.location.module, error).await
        }
    }
}

/// Offers `error` to the exception handlers in Spring's order, then applies the
/// unhandled-error policy.
async fn handle_error(
    context: &HandlerContext,
    invocation: Invocation,
    module: &str,
    error: HandlerError,
) -> Result<(), DispatchError> {
    let services = Arc::clone(invocation.services());
    services.stats.handler_error();
    let candidates: Vec<_> = context
        .registry
        .exception_handlers_for(module, &error)
        .collect();
    let mut error = error;
    for (candidate, reply_route) in candidates {
        // The thunk takes the invocation by value; a clone is a reference count and keeps
        // one here to route the exception handler's reply.
        match (candidate.thunk)(error, invocation.clone()) {
            Ok(future) => {
                return match future.await {
                    Outcome::Nothing => Ok(()),
                    Outcome::Reply(reply) => {
                        hand_over(&invocation, reply_route, reply);
                        Ok(())
                    }
                    Outcome::Failed(second) => {
                        tracing::warn!(handler = %candidate.location, error = %crate::log::Escaped(&second), "exception handler failed");
                        unhandled(
                            &services,
                            invocation.session(),
                            invocation.destination(),
                            &second,
                        )
                    }
                };
            }
            Err((back, _)) => error = back,
        }
    }
    unhandled(
        &services,
        invocation.session(),
        invocation.destination(),
        &error,
    )
}

fn unhandled(
    services: &Services,
    session: &SessionHandle,
    destination: &str,
    error: &HandlerError,
) -> Result<(), DispatchError> {
    log_unhandled(services, session, destination, error);
    match &services.unhandled_errors {
        UnhandledErrors::ErrorFrame => Err(DispatchError::Unhandled(error.to_string())),
        UnhandledErrors::LogOnly => Ok(()),
        UnhandledErrors::UserDestination(target) => {
            let body =
                serde_json::json!({ "error": error.to_string(), "destination": destination });
            let message = PublishedMessage {
                destination: String::new(),
                headers: vec![(
                    names::CONTENT_TYPE.to_owned(),
                    "application/json".to_owned(),
                )],
                body: body.to_string().into(),
            };
            services
                .routing
                .publish_to_session(&session.id, target, message);
            Ok(())
        }
    }
}

/// Logs a handler error no exception handler took: at WARN now and then (with how many
/// were not), each one at DEBUG.
fn log_unhandled(
    services: &Services,
    session: &SessionHandle,
    destination: &str,
    error: &HandlerError,
) {
    let (session, destination) = (&session.id, crate::log::Escaped(destination));
    let (error_type, error) = (error.type_name(), crate::log::Escaped(error));
    let message = "handler error not handled by any #[message_exception_handler]";
    match services.unhandled_log.due() {
        Some(not_logged) => {
            tracing::warn!(%session, %destination, error_type, %error, not_logged, "{message}");
        }
        None => tracing::debug!(%session, %destination, error_type, %error, "{message}"),
    }
}

/// Hands a handler's reply to routing, which sends it where `route` says.
fn hand_over(invocation: &Invocation, route: &ReplyRoute, reply: ReplyMessage) {
    let variable = |name: &str| invocation.path_variable(name);
    let source = ReplySource {
        session: invocation.session(),
        destination: invocation.destination(),
        lookup_destination: invocation.lookup_destination(),
        subscription: match invocation.kind() {
            MappingKind::Message => None,
            MappingKind::Subscribe => Some(invocation.subscription_id().unwrap_or("")),
        },
        variable: &variable,
    };
    let has_content_type = reply.headers.iter().any(|(n, _)| n == names::CONTENT_TYPE);
    let reply = Reply {
        headers: with_content_type(
            reply.content_type,
            reply.headers.into_iter(),
            has_content_type,
        ),
        body: reply.body,
    };
    invocation
        .services()
        .routing
        .route_reply(&source, route, reply);
}

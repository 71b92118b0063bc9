//! Calling handlers: find the mapping, extract, invoke, route the return value, and send
//! errors through the exception handlers.

use std::sync::Arc;

use stomp_core::{names, Command, Frame};

use super::descriptor::{ExceptionHandlerDescriptor, MappingKind, ReplyRouting};
use super::error::HandlerError;
use super::invocation::{Invocation, InvocationParts};
use super::reply::{Outcome, ReplyMessage};
use crate::app::App;
use crate::broker::PublishedMessage;
use crate::config::UnhandledErrors;
use crate::session::SessionHandle;

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
    app: &Arc<App>,
    session: &Arc<SessionHandle>,
    frame: Frame,
    kind: MappingKind,
    lookup_offset: usize,
) -> Result<(), DispatchError> {
    let router = match kind {
        MappingKind::Message => &app.registry.messages,
        MappingKind::Subscribe => &app.registry.subscriptions,
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
    let descriptor = route.descriptor;
    let invocation = Invocation::new(InvocationParts {
        frame,
        kind,
        lookup_offset,
        variable_names: Arc::clone(&route.variable_names),
        variable_ranges: ranges,
        session: Arc::clone(session),
        app: Arc::clone(app),
    });
    let outcome = (descriptor.thunk)(invocation.clone()).await;
    match outcome {
        Outcome::Nothing => Ok(()),
        Outcome::Reply(reply) => {
            route_reply(&invocation, &descriptor.routing, reply);
            Ok(())
        }
        Outcome::Failed(error) => handle_error(invocation, descriptor.location.module, error).await,
    }
}

/// Offers `error` to the exception handlers in Spring's order, then applies the
/// unhandled-error policy.
async fn handle_error(
    invocation: Invocation,
    module: &str,
    error: HandlerError,
) -> Result<(), DispatchError> {
    let app = Arc::clone(invocation.app());
    app.stats.handler_error();
    let candidates: Vec<ExceptionHandlerDescriptor> = app
        .registry
        .exception_handlers_for(module, &error)
        .copied()
        .collect();
    let mut error = error;
    for candidate in candidates {
        // The thunk takes the invocation by value; a clone is a reference count and keeps
        // one here to route the exception handler's reply.
        match (candidate.thunk)(error, invocation.clone()) {
            Ok(future) => {
                return match future.await {
                    Outcome::Nothing => Ok(()),
                    Outcome::Reply(reply) => {
                        route_reply(&invocation, &candidate.routing, reply);
                        Ok(())
                    }
                    Outcome::Failed(second) => {
                        tracing::warn!(handler = %candidate.location, error = %second, "exception handler failed");
                        unhandled(
                            &app,
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
    unhandled(&app, invocation.session(), invocation.destination(), &error)
}

fn unhandled(
    app: &App,
    session: &SessionHandle,
    destination: &str,
    error: &HandlerError,
) -> Result<(), DispatchError> {
    tracing::warn!(
        session = %session.id,
        destination,
        error_type = error.type_name(),
        error = %error,
        "handler error not handled by any #[message_exception_handler]"
    );
    match &app.config.unhandled_errors {
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
            app.messaging
                .publish_to_session(&session.id, target, message);
            Ok(())
        }
    }
}

/// Sends a handler's reply where its routing says.
pub(crate) fn route_reply(invocation: &Invocation, routing: &ReplyRouting, reply: ReplyMessage) {
    let app = invocation.app();
    let session = invocation.session();
    let mut headers = Vec::with_capacity(reply.headers.len() + 1);
    if !reply.headers.iter().any(|(n, _)| n == names::CONTENT_TYPE) {
        headers.push((
            names::CONTENT_TYPE.to_owned(),
            reply.content_type.to_owned(),
        ));
    }
    headers.extend(reply.headers);
    let message = |destination: String| PublishedMessage {
        destination,
        headers: headers.clone(),
        body: reply.body.clone(),
    };
    let mut sent_somewhere = false;
    for template in routing.send_to {
        sent_somewhere = true;
        match expand(template, invocation) {
            Ok(destination) => publish(app, message(destination)),
            Err(name) => tracing::warn!(
                template,
                name,
                "send_to placeholder has no value; reply dropped"
            ),
        }
    }
    if let Some(target) = routing.send_to_user {
        sent_somewhere = true;
        let defaults;
        let destinations: &[&str] = if target.destinations.is_empty() {
            defaults = [format!("/queue{}", invocation.lookup_destination())];
            &[defaults[0].as_str()]
        } else {
            target.destinations
        };
        for destination in destinations {
            let delivered = match (&session.principal, target.broadcast) {
                (Some(principal), true) => app.messaging.publish_to_user(
                    principal.name(),
                    destination,
                    message(String::new()),
                ),
                _ => app.messaging.publish_to_session(
                    &session.id,
                    destination,
                    message(String::new()),
                ),
            };
            app.stats.delivered(delivered);
        }
    }
    if sent_somewhere {
        return;
    }
    match invocation.kind() {
        MappingKind::Message => {
            publish(
                app,
                message(format!("/topic{}", invocation.lookup_destination())),
            );
        }
        MappingKind::Subscribe => {
            let subscription = invocation.subscription_id().unwrap_or("");
            let mut frame = Frame::new(Command::Message)
                .header(names::DESTINATION, invocation.destination())
                .header(names::SUBSCRIPTION, subscription)
                .header(
                    names::MESSAGE_ID,
                    &format!("{}-{}", session.id, subscription),
                );
            for (name, value) in &headers {
                frame.headers.append(name, value);
            }
            frame.body = reply.body;
            session.outbound.push_frame(&frame, session.version);
        }
    }
}

fn publish(app: &App, message: PublishedMessage) {
    match app.messaging.publish(message) {
        Ok(delivered) => app.stats.delivered(delivered),
        Err(error) => tracing::warn!(%error, "reply dropped"),
    }
}

/// Fills `<name>` and `{name}` placeholders from the invocation's path variables.
fn expand(template: &str, invocation: &Invocation) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(start) = rest.find(['<', '{']) {
        let close = if rest.as_bytes()[start] == b'<' {
            '>'
        } else {
            '}'
        };
        let Some(len) = rest[start..].find(close) else {
            break;
        };
        let name = &rest[start + 1..start + len];
        out.push_str(&rest[..start]);
        out.push_str(
            invocation
                .path_variable(name)
                .ok_or_else(|| name.to_owned())?,
        );
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

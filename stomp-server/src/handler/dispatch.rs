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
                        tracing::warn!(handler = %candidate.location, error = %crate::log::Escaped(&second), "exception handler failed");
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
        error = %crate::log::Escaped(error),
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

/// A reply's headers and body, handed out once per destination: clones for all but the
/// last, which takes them (one destination, the usual case, copies nothing).
struct ReplyParts {
    headers: Vec<(String, String)>,
    body: bytes::Bytes,
    remaining: usize,
}

impl ReplyParts {
    fn message(&mut self, destination: String) -> PublishedMessage {
        self.remaining = self.remaining.saturating_sub(1);
        let (headers, body) = if self.remaining == 0 {
            (
                std::mem::take(&mut self.headers),
                std::mem::take(&mut self.body),
            )
        } else {
            (self.headers.clone(), self.body.clone())
        };
        PublishedMessage {
            destination,
            headers,
            body,
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
    let default_user_destination;
    let user_destinations: &[&str] = match routing.send_to_user {
        Some(target) if target.destinations.is_empty() => {
            default_user_destination = [format!("/queue{}", invocation.lookup_destination())];
            &[default_user_destination[0].as_str()]
        }
        Some(target) => target.destinations,
        None => &[],
    };
    let mut parts = ReplyParts {
        headers,
        body: reply.body,
        remaining: routing.send_to.len() + user_destinations.len(),
    };
    if parts.remaining == 0 {
        // No send_to/send_to_user: Spring's defaults.
        parts.remaining = 1;
        match invocation.kind() {
            MappingKind::Message => {
                let destination = format!("/topic{}", invocation.lookup_destination());
                publish(app, parts.message(destination));
            }
            MappingKind::Subscribe => {
                let subscription = invocation.subscription_id().unwrap_or("");
                let mut frame = Frame::new(Command::Message)
                    .header(names::DESTINATION, invocation.destination())
                    .header(names::SUBSCRIPTION, subscription)
                    .header(
                        names::MESSAGE_ID,
                        &crate::broker::next_message_seq().to_string(),
                    );
                let message = parts.message(String::new());
                for (name, value) in &message.headers {
                    frame.headers.append(name, value);
                }
                frame.body = message.body;
                session.outbound.push_frame(&frame, session.version);
            }
        }
        return;
    }
    for template in routing.send_to {
        match expand(template, invocation) {
            Ok(destination) => publish(app, parts.message(destination)),
            Err(name) => {
                parts.remaining = parts.remaining.saturating_sub(1);
                tracing::warn!(
                    template,
                    name,
                    "send_to placeholder has no value; reply dropped"
                );
            }
        }
    }
    if let Some(target) = routing.send_to_user {
        for destination in user_destinations {
            let message = parts.message(String::new());
            let delivered = match (&session.principal, target.broadcast) {
                (Some(principal), true) => {
                    app.messaging
                        .publish_to_user(principal.name(), destination, message)
                }
                _ => app
                    .messaging
                    .publish_to_session(&session.id, destination, message),
            };
            app.stats.delivered(delivered);
        }
    }
}

fn publish(app: &App, message: PublishedMessage) {
    match app.messaging.publish(message) {
        Ok(delivered) => app.stats.delivered(delivered),
        Err(error) => tracing::warn!(error = %crate::log::Escaped(&error), "reply dropped"),
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

//! Input errors and the exception handlers that answer them.
//!
//! Every bad message (a body that is not the expected JSON, empty or overlong content, an
//! invalid room name) is answered to the sending session only, on `/user/queue/errors`, as
//! `{"error": "..."}`. No `ERROR` frame is sent, the connection stays open and nothing
//! reaches the room. The handlers are `global` (Spring's `@ControllerAdvice`) because the
//! mappings live in another module (`chat`).

use serde::Serialize;
use stomp_server::log::Escaped;
use stomp_server::{message_exception_handler, send_to_user, Destination, PayloadError};

use crate::rooms::ROOM_NAME_MAX;

/// The longest message content, in characters.
pub(crate) const CONTENT_MAX: usize = 2_000;

/// A message the chat refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ChatError {
    /// The room name does not match `^[A-Za-z0-9_-]{1,32}$`.
    #[error(
        "invalid room name `{0}`: use 1 to {ROOM_NAME_MAX} letters (A-Z, a-z), digits, `_` or `-`"
    )]
    InvalidRoom(String),
    /// The content is empty or only whitespace.
    #[error("the message is empty")]
    EmptyContent,
    /// The content is longer than [`CONTENT_MAX`] characters.
    #[error("the message is too long: {0} characters, at most {CONTENT_MAX} are allowed")]
    ContentTooLong(usize),
    /// An anonymous session sent no usable `sender`.
    #[error("invalid sender: {0}")]
    InvalidSender(String),
    /// A `SEND` or `SUBSCRIBE` under `/app/chat/` that is not a chat destination.
    #[error("unknown chat destination `{0}`: send to /app/chat/{{room}}, subscribe to /app/chat/{{room}}/history")]
    UnknownDestination(String),
    /// The history store (Redis, with `--redis`) did not take or give the messages.
    #[error("the chat history store is unavailable, try again: {0}")]
    StoreUnavailable(String),
}

/// The body sent to `/user/queue/errors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ErrorReply {
    pub(crate) error: String,
}

#[message_exception_handler(global)]
#[send_to_user("/queue/errors", broadcast = false)]
fn on_chat_error(error: ChatError, destination: Destination) -> ErrorReply {
    tracing::debug!(destination = &*destination, error = %Escaped(&error), "chat input refused");
    ErrorReply {
        error: error.to_string(),
    }
}

#[message_exception_handler(global)]
#[send_to_user("/queue/errors", broadcast = false)]
fn on_payload_error(error: PayloadError, destination: Destination) -> ErrorReply {
    tracing::debug!(destination = &*destination, error = %Escaped(&error), "unreadable payload");
    ErrorReply {
        error: format!(
            "the message must be JSON like {{\"sender\": \"...\", \"content\": \"...\"}}: {}",
            error.reason
        ),
    }
}

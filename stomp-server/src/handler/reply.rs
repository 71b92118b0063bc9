//! Return values: what a handler call produced ([`Outcome`]), the message it becomes
//! ([`ReplyMessage`]) and a return value with headers ([`Message<T>`]).
//!
//! Conversions live beside it: [`IntoReply`](super::IntoReply) (the open trait, in
//! `into_reply.rs`), the serde probe for plain serializable values (`crate::converter`) and the
//! compile-time choice between the two in the generated code (`return_kinds.rs`).

use bytes::Bytes;

use super::error::HandlerError;

/// What a handler call produced.
#[derive(Debug)]
pub enum Outcome {
    /// Nothing to send (`()`, `None`).
    Nothing,
    /// A message to route (`send_to`, `send_to_user`, the default destination, or back to
    /// the subscriber).
    Reply(ReplyMessage),
    /// An error for the exception handlers.
    Failed(HandlerError),
}

/// A converted return value, ready to be published.
///
/// ```
/// use stomp_server::handler::ReplyMessage;
/// let reply = ReplyMessage::new("a,b\n", "text/csv").header("priority", "9");
/// assert_eq!(reply.content_type, "text/csv");
/// assert_eq!(&reply.body[..], b"a,b\n");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyMessage {
    /// The body.
    pub body: Bytes,
    /// The `content-type` header.
    pub content_type: &'static str,
    /// Extra headers from a [`Message<T>`] return value.
    pub headers: Vec<(String, String)>,
}

impl ReplyMessage {
    /// A message with this body and `content-type`, and no other header.
    pub fn new(body: impl Into<Bytes>, content_type: &'static str) -> ReplyMessage {
        ReplyMessage {
            body: body.into(),
            content_type,
            headers: Vec::new(),
        }
    }

    /// Adds a header (a `content-type` here overrides [`content_type`](Self::content_type)).
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> ReplyMessage {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A return value with headers, like returning Spring's `Message<T>`.
///
/// ```
/// use stomp_server::Message;
/// fn reply() -> Message<String> {
///     Message::new("hello".to_owned()).header("priority", "9")
/// }
/// # assert_eq!(reply().headers()[0], ("priority".to_owned(), "9".to_owned()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<T> {
    payload: T,
    headers: Vec<(String, String)>,
}

impl<T> Message<T> {
    /// A message with this payload and no extra header.
    pub fn new(payload: T) -> Message<T> {
        Message {
            payload,
            headers: Vec::new(),
        }
    }

    /// Adds a header (a `content-type` here overrides the converter's).
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Message<T> {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The payload.
    pub fn payload(&self) -> &T {
        &self.payload
    }

    /// The extra headers.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The payload and the extra headers.
    pub fn into_parts(self) -> (T, Vec<(String, String)>) {
        (self.payload, self.headers)
    }
}

pub use crate::converter::{APPLICATION_JSON, OCTET_STREAM, TEXT_PLAIN};

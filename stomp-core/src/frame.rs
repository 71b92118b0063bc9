//! The frame model: a command, ordered headers and a body.

use bytes::Bytes;

use crate::{Command, Headers};

/// One STOMP frame.
///
/// The body is a [`Bytes`]: a frame decoded from a buffer shares that buffer's memory, and a
/// frame published to many subscribers shares one body between them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The command line.
    pub command: Command,
    /// The headers, in wire order, unescaped.
    pub headers: Headers,
    /// The body (empty for most commands).
    pub body: Bytes,
}

impl Frame {
    /// A frame with no header and no body.
    pub fn new(command: Command) -> Frame {
        Frame {
            command,
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }

    /// Appends a header and returns the frame (builder style).
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Frame {
        self.headers.append(name, value);
        self
    }

    /// Replaces the body and returns the frame (builder style).
    #[must_use]
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Frame {
        self.body = body.into();
        self
    }

    /// The value of the first header called `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// The `destination` header.
    pub fn destination(&self) -> Option<&str> {
        self.headers.get(names::DESTINATION)
    }

    /// The `receipt` header: the client wants a `RECEIPT` for this frame.
    pub fn receipt(&self) -> Option<&str> {
        self.headers.get(names::RECEIPT)
    }

    /// The `content-type` header.
    pub fn content_type(&self) -> Option<&str> {
        self.headers.get(names::CONTENT_TYPE)
    }

    /// The `id` header (subscription id on `SUBSCRIBE`/`UNSUBSCRIBE`, ack id on 1.2 `ACK`).
    pub fn id(&self) -> Option<&str> {
        self.headers.get(names::ID)
    }

    /// The body as text, when it is valid UTF-8.
    pub fn body_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }
}

/// Header names defined by the STOMP specification.
pub mod names {
    /// `accept-version`
    pub const ACCEPT_VERSION: &str = "accept-version";
    /// `ack`
    pub const ACK: &str = "ack";
    /// `content-length`
    pub const CONTENT_LENGTH: &str = "content-length";
    /// `content-type`
    pub const CONTENT_TYPE: &str = "content-type";
    /// `destination`
    pub const DESTINATION: &str = "destination";
    /// `heart-beat`
    pub const HEART_BEAT: &str = "heart-beat";
    /// `host`
    pub const HOST: &str = "host";
    /// `id`
    pub const ID: &str = "id";
    /// `login`
    pub const LOGIN: &str = "login";
    /// `message`
    pub const MESSAGE: &str = "message";
    /// `message-id`
    pub const MESSAGE_ID: &str = "message-id";
    /// `passcode`
    pub const PASSCODE: &str = "passcode";
    /// `receipt`
    pub const RECEIPT: &str = "receipt";
    /// `receipt-id`
    pub const RECEIPT_ID: &str = "receipt-id";
    /// `server`
    pub const SERVER: &str = "server";
    /// `session`
    pub const SESSION: &str = "session";
    /// `subscription`
    pub const SUBSCRIPTION: &str = "subscription";
    /// `transaction`
    pub const TRANSACTION: &str = "transaction";
    /// `user-name`
    pub const USER_NAME: &str = "user-name";
    /// `version`
    pub const VERSION: &str = "version";
}

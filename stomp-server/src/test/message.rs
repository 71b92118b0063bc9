//! What a test session receives: [`TestMessage`] (a `MESSAGE`) and [`TestError`] (an
//! `ERROR`), with accessors that panic with a readable message instead of returning errors.

use serde::de::DeserializeOwned;
use stomp_core::{names, Frame};

/// How much of a body a failure message shows.
const SHOWN_BODY: usize = 200;

/// A `MESSAGE` a [`TestSession`](super::TestSession) received on one of its subscriptions.
#[derive(Debug, Clone)]
pub struct TestMessage {
    /// The destination the session subscribed to (for a user destination, the
    /// `/user/queue/..` the session named).
    subscribed: String,
    frame: Frame,
}

impl TestMessage {
    pub(super) fn new(subscribed: String, frame: Frame) -> TestMessage {
        TestMessage { subscribed, frame }
    }

    /// The body as UTF-8 text; panics (naming the destination) when it is not.
    pub fn text(&self) -> &str {
        match std::str::from_utf8(&self.frame.body) {
            Ok(text) => text,
            Err(error) => panic!(
                "the MESSAGE on `{}` is not UTF-8 text ({error}): {} bytes",
                self.subscribed,
                self.frame.body.len()
            ),
        }
    }

    /// The body decoded from JSON, as a handler's `Payload<T>` would decode it; panics
    /// (naming the destination, the type and the body) when it does not decode.
    pub fn json<T: DeserializeOwned>(&self) -> T {
        match serde_json::from_slice(&self.frame.body) {
            Ok(value) => value,
            Err(error) => panic!(
                "the MESSAGE on `{}` is not the JSON of {}: {error}; body: {}",
                self.subscribed,
                std::any::type_name::<T>(),
                shown(&self.frame.body)
            ),
        }
    }

    /// The body's bytes.
    pub fn body(&self) -> &[u8] {
        &self.frame.body
    }

    /// The first header called `name` (`content-type`, `message-id`, an application's own).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.frame.get(name)
    }

    /// The `content-type` header.
    pub fn content_type(&self) -> Option<&str> {
        self.frame.get(names::CONTENT_TYPE)
    }

    /// The destination the session subscribed to and received this message on.
    pub fn destination(&self) -> &str {
        &self.subscribed
    }

    /// The whole `MESSAGE` frame.
    pub fn frame(&self) -> &Frame {
        &self.frame
    }

    /// The whole `MESSAGE` frame, owned.
    pub fn into_frame(self) -> Frame {
        self.frame
    }
}

/// An `ERROR` frame a [`TestSession`](super::TestSession) received.
#[derive(Debug, Clone)]
pub struct TestError {
    frame: Frame,
}

impl TestError {
    pub(super) fn new(frame: Frame) -> TestError {
        TestError { frame }
    }

    /// The `message` header: what the server says went wrong (empty when absent).
    pub fn message(&self) -> &str {
        self.frame.get(names::MESSAGE).unwrap_or_default()
    }

    /// The body as text (lossy), the details some errors carry.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.frame.body).into_owned()
    }

    /// The `receipt-id` header: the frame with that `receipt` caused the error.
    pub fn receipt_id(&self) -> Option<&str> {
        self.frame.get(names::RECEIPT_ID)
    }

    /// The whole `ERROR` frame.
    pub fn frame(&self) -> &Frame {
        &self.frame
    }
}

/// A body as a failure message shows it: text cut after [`SHOWN_BODY`] bytes, or its size.
pub(super) fn shown(body: &[u8]) -> String {
    let cut = &body[..body.len().min(SHOWN_BODY)];
    let more = if cut.len() < body.len() { "…" } else { "" };
    match std::str::from_utf8(cut) {
        Ok(text) => format!("{text}{more}"),
        // A cut in the middle of a character: show what decodes.
        Err(error) if error.valid_up_to() > 0 && error.error_len().is_none() => {
            format!("{}…", String::from_utf8_lossy(&cut[..error.valid_up_to()]))
        }
        Err(_) => format!("<{} bytes, not UTF-8>", body.len()),
    }
}

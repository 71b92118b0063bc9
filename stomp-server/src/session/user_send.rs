//! Client `SEND`s to user destinations (`/user/{name}/..`).
//!
//! Refused unless the application allows them (`ClientUserSends`, checked by routing): a client writing into
//! another user's private queue could pass for the server (a fake "session expired" error, a
//! forged `sender`). When allowed, the message keeps only what cannot mislead: the body, its
//! `content-type`, and a `sender` header the server sets from the session's principal.

use stomp_core::{names, Frame};

use crate::principal::Principal;

/// The header naming who sent a client's message to a user destination.
pub(super) const SENDER: &str = "sender";

/// The headers a client's message to a user destination carries: its `content-type`, and
/// `sender` set to the sending principal's name (none for an anonymous sender). Whatever
/// else the client wrote, `sender` included, is dropped.
pub(super) fn user_message_headers(
    frame: &Frame,
    principal: Option<&Principal>,
) -> Vec<(String, String)> {
    let content_type = frame
        .get(names::CONTENT_TYPE)
        .map(|value| (names::CONTENT_TYPE.to_owned(), value.to_owned()));
    let sender = principal.map(|p| (SENDER.to_owned(), p.name().to_owned()));
    content_type.into_iter().chain(sender).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use stomp_core::Command;

    #[test]
    fn only_content_type_and_the_real_sender_remain() {
        let frame = Frame::new(Command::Send)
            .header("destination", "/user/bob/queue/errors")
            .header("content-type", "text/plain")
            .header("sender", "admin")
            .header("message", "session expired");
        let alice = Principal::new("alice");
        assert_eq!(
            user_message_headers(&frame, Some(&alice)),
            vec![
                ("content-type".to_owned(), "text/plain".to_owned()),
                ("sender".to_owned(), "alice".to_owned()),
            ]
        );
        assert_eq!(
            user_message_headers(&frame, None),
            vec![("content-type".to_owned(), "text/plain".to_owned())]
        );
    }
}

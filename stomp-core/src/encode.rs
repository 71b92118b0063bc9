//! The encoder. (API fixed; body being written.)

use bytes::BytesMut;

use crate::{Command, Frame, Version};

/// Encodes `frame` for `version` at the end of `dst`.
pub fn encode(frame: &Frame, version: Version, dst: &mut BytesMut) {
    encode_parts(frame.command, frame.headers.iter(), &frame.body, version, dst);
}

/// Encodes a frame given as parts, so a caller can add headers without building a `Frame`.
///
/// Any `content-length` in `headers` is ignored; a correct one is written when `body` is not
/// empty. Headers are escaped per `version`, except for `CONNECT`, `STOMP` and `CONNECTED`.
pub fn encode_parts<'a>(
    command: Command,
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    body: &[u8],
    version: Version,
    dst: &mut BytesMut,
) {
    let _ = (command, headers.into_iter().count(), body, version, dst);
    todo!("encoder")
}

//! What a well-formed answer looks like: STOMP frames a decoder accepts, SockJS frames.

use bytes::BytesMut;
use stomp_core::{Decoder, Frame, FrameLimits, Version};

/// Generous limits: the server's own frames (an `ERROR` quoting a header, a `MESSAGE` of
/// the largest accepted body) must fit.
const LIMITS: FrameLimits = FrameLimits {
    max_frame_size: 1 << 20,
    max_headers: 1024,
    max_header_line: 1 << 20,
    max_content_length: 1 << 20,
};

/// Checks one WebSocket message from the server: a heart-beat (end-of-line bytes only,
/// `None`) or exactly one server frame, decodable under some STOMP version.
pub fn stomp_message(bytes: &[u8]) -> Result<Option<Frame>, String> {
    if bytes.iter().all(|&b| b == b'\n' || b == b'\r') && !bytes.is_empty() {
        return Ok(None);
    }
    let mut errors = Vec::new();
    for version in [Version::V1_2, Version::V1_1, Version::V1_0] {
        match decode_one(bytes, version) {
            Ok(frame) if frame.command.is_server() => return Ok(Some(frame)),
            Ok(frame) => errors.push(format!("{version:?}: client command {:?}", frame.command)),
            Err(error) => errors.push(format!("{version:?}: {error}")),
        }
    }
    Err(format!(
        "server message is not one STOMP frame ({}): {:?}",
        errors.join("; "),
        String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
    ))
}

fn decode_one(bytes: &[u8], version: Version) -> Result<Frame, String> {
    let mut decoder = Decoder::new(LIMITS);
    decoder.set_version(version);
    let mut buf = BytesMut::from(bytes);
    let frame = decoder
        .decode(&mut buf)
        .map_err(|e| e.to_string())?
        .ok_or("incomplete frame")?;
    if buf.iter().any(|&b| b != b'\n' && b != b'\r') {
        return Err(format!("{} bytes after the frame", buf.len()));
    }
    Ok(frame)
}

/// Checks one SockJS frame from the server (without its newline): `o`, `h`,
/// `c[code,"reason"]`, or `a[...]` whose strings are each one STOMP message. Returns the
/// STOMP frames it carried.
pub fn sockjs_frame(text: &str) -> Result<Vec<Frame>, String> {
    match text.as_bytes().first() {
        Some(b'o' | b'h') if text.len() == 1 => Ok(Vec::new()),
        Some(b'c') => match serde_json::from_str::<(u16, String)>(&text[1..]) {
            Ok(_) => Ok(Vec::new()),
            Err(error) => Err(format!("bad SockJS close frame {text:?}: {error}")),
        },
        Some(b'a') => {
            let messages: Vec<String> = serde_json::from_str(&text[1..])
                .map_err(|e| format!("bad SockJS array frame {text:?}: {e}"))?;
            let mut frames = Vec::new();
            for message in messages {
                frames.extend(stomp_message(message.as_bytes())?);
            }
            Ok(frames)
        }
        _ => Err(format!("not a SockJS frame: {text:?}")),
    }
}

/// Watches a session's frames: nothing may follow an `ERROR` (the server closes after one).
#[derive(Debug, Default)]
pub struct AfterError {
    error: Option<String>,
}

impl AfterError {
    /// Sees the next frame from the server.
    pub fn see(&mut self, frame: &Frame) -> Result<(), String> {
        if let Some(error) = &self.error {
            return Err(format!("{:?} sent after ERROR {error:?}", frame.command));
        }
        if frame.command == stomp_core::Command::Error {
            self.error = Some(frame.get("message").unwrap_or_default().to_owned());
        }
        Ok(())
    }
}

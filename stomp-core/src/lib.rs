//! # stomp-core
//!
//! STOMP 1.0, 1.1 and 1.2 without I/O: the frame model, an incremental decoder and an
//! allocation-free encoder, header escaping, heart-beat negotiation and the destination
//! patterns used by `#[message_mapping]` and broker subscriptions.
//!
//! Layout:
//! - [`command`], [`version`], [`headers`], [`frame`]: the frame model.
//! - [`decode`]: [`Decoder`], a sans-IO decoder over `bytes::BytesMut` that checks
//!   [`FrameLimits`] while bytes arrive; its errors are [`DecodeError`].
//! - [`encode`](mod@encode): [`encode`](fn@encode) and [`encode_parts`] into a caller's buffer.
//! - [`escape`]: header escaping rules per version ([`Escaping`](escape::Escaping)).
//! - [`heartbeat`]: the `heart-beat` header and its negotiation.
//! - [`pattern`]: [`DestinationPattern`] (`/chat/<room>`, `/chat/{room}`, `*`, `**`).
#![warn(missing_docs)]
#![warn(clippy::too_many_lines)]

pub mod command;
pub mod decode;
pub mod encode;
mod error;
pub mod escape;
pub mod frame;
pub mod headers;
pub mod heartbeat;
mod limits;
pub mod pattern;
pub mod version;

pub use command::Command;
pub use decode::{DecodeError, Decoder, FrameLimits};
pub use encode::{encode, encode_parts, encoded_len, Decimal};
pub use frame::{names, Frame};
pub use headers::Headers;
pub use heartbeat::{HeartBeat, NegotiatedHeartBeat};
pub use pattern::{Captures, DestinationPattern, PatternError, Segment};
pub use version::Version;

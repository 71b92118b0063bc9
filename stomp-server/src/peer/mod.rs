//! A session's outbound half as the rest of the server sees it: its handle
//! ([`SessionHandle`]), its bounded outbound queue and what it holds, why it closes, and the
//! `ERROR` frame. Brokers, the routing, handlers and the relay reach sessions through this
//! module; it imports none of them, so the session lifecycle above can import them all.

mod error;
mod handle;
mod item;
mod outbound;
mod queue;
mod status;

pub(crate) use error::error_frame;
pub(crate) use handle::SessionHandle;
pub(crate) use item::{encode_frame, to_ws_message, OutboundItem, Withdrawal};
pub(crate) use outbound::{CloseCause, Outbound, OutboundHook};
pub(crate) use queue::{Paced, Receiver};
pub(crate) use status::CloseStatus;

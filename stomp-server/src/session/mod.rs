//! STOMP sessions: the per-connection task, its outbound queue and writer.

mod attributes;
mod connect;
mod frames;
mod handle;
mod outbound;
mod queue;
mod rate;
mod run;
mod split;
mod writer;

pub use attributes::SessionAttributes;
pub(crate) use connect::error_frame;
pub(crate) use handle::SessionHandle;
pub(crate) use outbound::CloseCause;
pub(crate) use outbound::{encode_frame, to_ws_message};
pub(crate) use queue::Paced;
pub(crate) use run::run_session;
#[cfg(test)]
pub(crate) use {outbound::OutboundItem, queue::Receiver};

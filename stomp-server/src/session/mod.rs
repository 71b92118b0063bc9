//! STOMP sessions: the per-connection task, its outbound queue and writer.

mod attributes;
mod before_connect;
mod close;
mod command;
mod connect;
mod context;
mod end;
mod handle;
mod id;
mod item;
mod outbound;
mod queue;
mod rate;
mod run;
mod split;
mod state;
mod user_send;
mod wire;
mod writer;

pub use attributes::SessionAttributes;
pub(crate) use close::CloseStatus;
pub(crate) use connect::error_frame;
pub(crate) use context::SessionContext;
pub(crate) use handle::SessionHandle;
pub(crate) use item::{to_ws_message, Withdrawal};
pub(crate) use outbound::CloseCause;
pub(crate) use queue::Paced;
pub(crate) use run::run_session;
pub(crate) use wire::{MeteredIo, MeteredWebSocket, WireMeter};
#[cfg(test)]
pub(crate) use {item::OutboundItem, queue::Receiver};

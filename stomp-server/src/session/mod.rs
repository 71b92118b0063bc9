//! STOMP sessions: the per-connection task, its outbound queue and writer.

mod authorize;
mod before_connect;
mod close;
mod command;
mod connect;
mod context;
mod end;
mod id;
mod rate;
mod run;
mod split;
mod state;
mod user_send;
mod wire;
mod writer;

pub use crate::attributes::SessionAttributes;
pub(crate) use context::SessionContext;
pub(crate) use run::run_session;
pub(crate) use wire::{MeteredIo, MeteredWebSocket, WireMeter};

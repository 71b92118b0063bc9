//! STOMP sessions: the per-connection task, its outbound queue and writer.

mod authorize;
mod before_connect;
mod close;
mod command;
mod connect;
mod context;
mod end;
mod id;
mod intercept;
mod rate;
mod run;
mod split;
mod start;
mod state;
mod user_send;
mod wire;
mod writer;

pub use crate::attributes::SessionAttributes;
pub(crate) use close::linger;
pub(crate) use context::SessionContext;
pub(crate) use id::new_session_id;
pub(crate) use rate::FrameRate;
pub(crate) use run::run_session_from;
pub(crate) use split::split;
pub(crate) use start::{MockUser, SessionStart};
pub(crate) use wire::{MeteredIo, MeteredWebSocket, WireMeter};
pub(crate) use writer::run_writer;

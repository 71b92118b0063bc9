//! The `stomp-load` tool's engine: load scenarios built on the framework's own client
//! ([`stomp_server::client`]).
//!
//! - [`fanout`]: N subscribers, M publishers; throughput, latency, loss, duplicates, order.
//! - [`conns`]: many idle sessions; connect rate, memory per session, all still answering.
//! - [`churn`]: sessions coming and going; the server's memory must return to its baseline.
//!
//! Shared pieces: [`args`] (a tiny flag parser), [`common`] (connection settings, opening
//! many sessions, the progress line), [`stamp`] (publisher, sequence and send time in every
//! body), [`sequence`] (loss, duplicate and order accounting), [`histogram`] (latency
//! percentiles), [`procfs`] (the server's CPU time and resident memory).
//!
//! Each mode returns one JSON object; the binary prints it as one line.

pub mod args;
pub mod churn;
pub mod common;
pub mod conns;
pub mod fanout;
pub mod histogram;
pub mod procfs;
pub mod sequence;
pub mod stamp;

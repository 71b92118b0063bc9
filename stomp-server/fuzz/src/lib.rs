//! The fuzz harnesses of stomp-server, shared by the cargo-fuzz targets in `fuzz_targets/`
//! and by the stable test `stomp-server/tests/fuzz_corpus.rs`, which includes this file as
//! a module and replays every checked-in `corpus/<target>/` file through the same code.
//!
//! Every input runs on one current-thread tokio runtime with a paused clock (timeouts
//! resolve as soon as nothing else can run), against one server built once per thread,
//! over in-memory pipes (`Server::serve_connection`). Beyond "no panic" (in the harness or
//! in any server task), each input must leave the server as it found it:
//! - every answer is well-formed (an HTTP response, WebSocket frames from a server, STOMP
//!   frames a decoder accepts, SockJS frames), and nothing follows a STOMP `ERROR`;
//! - every connection closes within a bounded (virtual) time once its client is done;
//! - afterwards no session is left open, and a well-behaved session (`CONNECT`,
//!   `SUBSCRIBE`, `SEND` through a handler, `MESSAGE`, `DISCONNECT`) still works.
//!
//! Layout: [`fixture`] (runtime, server, the after-input checks), [`ws`] (a small WebSocket
//! client that checks what it reads), [`check`] (STOMP and SockJS well-formedness), and one
//! module per target: [`session`], [`sockjs`], [`upgrade`].

pub mod check;
pub mod fixture;
pub mod session;
pub mod sockjs;
pub mod upgrade;
pub mod ws;

/// Splits a fuzz input into its parts at every `0xFF` byte (a byte that never occurs in
/// UTF-8 text, so hand-written seeds stay readable).
pub fn parts(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split(|&b| b == 0xFF)
}

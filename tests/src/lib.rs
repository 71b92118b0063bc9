//! Shared code of the `tests` crate: the engine of the `stomp-load` tool ([`load`]) and the
//! skip-or-fail rule for outside prerequisites ([`prerequisite`]), what the test servers
//! share ([`server_support`]), the demo run as a child process ([`demo_process`]), and the
//! module import graph that keeps the library crates free of cycles ([`module_graph`]), and
//! the SockJS browser test's server and script ([`sockjs_browser`]).
//!
//! The integration tests live in `tests/`, the binaries (`interop_server`, `stomp-load`,
//! `bare_broadcaster`) in `src/bin/`.

pub mod demo_process;

pub mod load;

pub mod module_graph;

pub mod prerequisite;

pub mod server_support;

pub mod sockjs_browser;

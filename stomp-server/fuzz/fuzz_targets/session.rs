//! Fuzzes the server through `Server::serve_connection`: `cargo fuzz run session` from
//! `stomp-server/` (`tests/fuzz/run.sh` runs it on stable with `RUSTC_BOOTSTRAP=1`). The
//! harness lives in `src/session.rs`, which the stable test `tests/fuzz_corpus.rs` also runs
//! over `corpus/session/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stomp_server_fuzz::session::run(data));

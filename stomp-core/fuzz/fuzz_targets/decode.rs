//! Fuzzes the incremental decoder: `cargo +nightly fuzz run decode` from `stomp-core/`.
//! The checks live in `src/lib.rs`, which the stable test `tests/fuzz_corpus.rs` also runs
//! over `corpus/decode/`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| stomp_core_fuzz::run(data));

//! Compile-time behaviour of the handler macros (`#[message_mapping]`, `#[send_to]`, ...):
//! what compiles, and the exact errors a user sees when something is wrong.
//!
//! Regenerate the expected `.stderr` files after an intended change with
//! `TRYBUILD=overwrite cargo test -p stomp-server --test ui`, then read every diff.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}

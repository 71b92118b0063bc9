//! Tests that need an outside program (Node, Python, Chromium, RabbitMQ) skip loudly when it
//! is missing, and fail instead when `STOMP_REQUIRE_ALL=1`, which CI sets.

/// True when every optional prerequisite is required (`STOMP_REQUIRE_ALL=1`).
pub fn required() -> bool {
    std::env::var("STOMP_REQUIRE_ALL").is_ok_and(|v| v.trim() == "1")
}

/// Reports a missing prerequisite: panics under `STOMP_REQUIRE_ALL=1`, else prints a loud
/// `SKIPPED` banner on stderr. The caller returns right after (the test then passes).
pub fn missing(test: &str, what: &str, install: &str) {
    let banner = "!".repeat(78);
    if required() {
        panic!(
            "\n{banner}\n{test}: REQUIRED PREREQUISITE MISSING (STOMP_REQUIRE_ALL=1): {what}\n  install with: {install}\n{banner}\n"
        );
    }
    eprintln!(
        "\n{banner}\nSKIPPED: {test}: {what}\n  install with: {install}\n  (set STOMP_REQUIRE_ALL=1 to make this a failure)\n{banner}\n"
    );
}

//! Tests that need an outside program (Node, Python, Chromium, RabbitMQ) skip loudly when it
//! is missing, and fail instead when `STOMP_REQUIRE_ALL=1`, which CI sets.

use std::io::Write as _;

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
    // Straight to the process's stderr: `eprintln!` would be captured by the test harness
    // and shown only for failing tests, so a skip would look like a plain `ok`.
    let _ = writeln!(
        std::io::stderr().lock(),
        "\n{banner}\nSKIPPED: {test}: {what}\n  install with: {install}\n  (set STOMP_REQUIRE_ALL=1 to make this a failure)\n{banner}\n"
    );
}

/// The oldest Node major version the browser and interop scripts run on (playwright-core
/// and the scripts' `engines`).
pub const NODE_MAJOR_MIN: u32 = 20;

/// Why Node cannot run the scripts (absent, failing, or older than [`NODE_MAJOR_MIN`]).
pub fn node_problem() -> Option<String> {
    match std::process::Command::new("node").arg("--version").output() {
        Ok(out) if out.status.success() => {
            let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            let major = version
                .trim_start_matches('v')
                .split('.')
                .next()
                .and_then(|m| m.parse::<u32>().ok());
            match major {
                Some(major) if major >= NODE_MAJOR_MIN => None,
                _ => Some(format!("node >= {NODE_MAJOR_MIN} (found {version})")),
            }
        }
        Ok(out) => Some(format!("`node --version` failed ({})", out.status)),
        Err(error) => Some(format!("node ({error})")),
    }
}

/// Debian's Chromium, the only browser the browser tests drive.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// The workspace root (the `tests` crate sits in it).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(
            || std::path::PathBuf::from("."),
            std::path::Path::to_path_buf,
        )
}

/// What is missing to run a browser test: Node, playwright-core and Chromium, plus the
/// `extra` files (relative to `root`) the test needs.
pub fn missing_for_browser(root: &std::path::Path, extra: &[&str]) -> Vec<String> {
    let mut missing = Vec::new();
    missing.extend(node_problem());
    let files = ["tests/browser/node_modules/playwright-core/package.json"];
    for file in files.iter().chain(extra) {
        if !root.join(file).is_file() {
            missing.push((*file).to_owned());
        }
    }
    if !std::path::Path::new(CHROMIUM).is_file() {
        missing.push(CHROMIUM.to_owned());
    }
    missing
}

/// True when Java and Maven run (the Spring tests); otherwise reports them missing for
/// `test` (a loud SKIPPED, or a failure under `STOMP_REQUIRE_ALL=1`) and returns false.
pub fn java_and_maven(test: &str) -> bool {
    for (tool, arg) in [("java", "-version"), ("mvn", "-v")] {
        let problem = match std::process::Command::new(tool).arg(arg).output() {
            Ok(out) if out.status.success() => continue,
            Ok(out) => format!("`{tool} {arg}` failed ({})", out.status),
            Err(error) => format!("{tool} ({error})"),
        };
        missing(
            test,
            &format!("{problem} missing"),
            "apt-get install -y default-jdk-headless maven; bash tests/spring/install.sh",
        );
        return false;
    }
    true
}

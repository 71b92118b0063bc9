//! The demo chat in a real browser: builds and starts `demo-chat` on a free port, then runs
//! `tests/browser/chat_test.mjs` (Debian's Chromium driven by playwright-core) against it;
//! and again in secure mode (`--jwt-secret`, accounts in a fresh SQLite file) with
//! `tests/browser/secure_test.mjs`: sign-up and login through the page; and the Spring
//! guide's greeting page (`examples/greeting.rs`) with `tests/browser/greeting_test.mjs`.
//!
//! Needs `node`, `tests/browser/node_modules/playwright-core` and `/usr/bin/chromium`
//! (`bash tests/browser/install.sh`). Without them the test prints a loud `SKIPPED` line and
//! passes, unless `STOMP_REQUIRE_ALL=1`, when it fails.
//!
//! Run it alone with `cargo test -p tests --test browser -- --nocapture`. The screenshot of
//! bob's page lands in `tests/artifacts/chat.png`, the demo's log in
//! `tests/artifacts/browser-demo.log`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tests::demo_process::{build, run_with_timeout, DemoProcess, Target};

/// How long the whole browser run may take (the script stops itself after 120 s).
const RUN_TIMEOUT: Duration = Duration::from_secs(180);

/// The demo's start-up line, before its address.
const READY: &str = "demo-chat on http://";

/// The workspace root, the executable of `target` (built) and the artifacts folder; `None`
/// (after a loud SKIPPED, or a failure under `STOMP_REQUIRE_ALL=1`) when the browser is
/// missing.
fn prepare(test: &str, target: Target<'_>) -> Option<(PathBuf, PathBuf, PathBuf)> {
    let root = tests::prerequisite::workspace_root();
    let missing = tests::prerequisite::missing_for_browser(&root, &[]);
    if !missing.is_empty() {
        tests::prerequisite::missing(
            test,
            &format!("{} missing", missing.join(", ")),
            "bash tests/browser/install.sh (apt-get install -y chromium; npm ci --prefix tests/browser)",
        );
        return None;
    }
    let exe = build(&root, target);
    let artifacts = root.join("tests/artifacts");
    std::fs::create_dir_all(&artifacts).expect("cannot create tests/artifacts");
    Some((root, exe, artifacts))
}

#[test]
fn chat_works_in_a_real_browser() {
    let Some((root, exe, artifacts)) = prepare("browser test", Target::Bin("demo-chat")) else {
        return;
    };
    let no_args: [&str; 0] = [];
    let mut demo = DemoProcess::start(&exe, &no_args, &artifacts.join("browser-demo.log"));
    let addr = demo.wait_ready(READY);
    let url = format!("http://{addr}");
    eprintln!("browser test: demo-chat ({}) at {url}", exe.display());
    // Every check of chat_test.mjs, counted: a check that stopped running fails here too.
    let screenshot = artifacts.join("chat.png");
    run_script(
        &root,
        "tests/browser/chat_test.mjs",
        &url,
        &demo,
        10,
        Some(&screenshot),
    );
}

/// Runs `script` with node against `url`; panics with both outputs unless it finishes in time
/// and prints `browser: {expected} passed, 0 failed`.
fn run_script(
    root: &Path,
    script: &str,
    url: &str,
    demo: &DemoProcess,
    expected: usize,
    screenshot: Option<&Path>,
) {
    let mut node = Command::new("node");
    node.arg(root.join(script)).arg(url).current_dir(root);
    if let Some(path) = screenshot {
        node.env("BROWSER_SCREENSHOT", path);
    }
    let (status, output) = run_with_timeout(node, RUN_TIMEOUT);
    println!("{output}");
    match status {
        Some(status) if status.success() => {}
        Some(status) => panic!(
            "{script} failed ({status}):\n{output}\n--- demo-chat output ---\n{}",
            demo.output()
        ),
        None => panic!(
            "{script} did not finish within {} s:\n{output}\n--- demo-chat output ---\n{}",
            RUN_TIMEOUT.as_secs(),
            demo.output()
        ),
    }
    let summary = format!("browser: {expected} passed, 0 failed");
    assert!(
        output.lines().any(|l| l.trim() == summary),
        "{script} printed no `{summary}` line:\n{output}"
    );
}

#[test]
fn secure_mode_signs_up_and_logs_in_through_the_page() {
    let Some((root, exe, artifacts)) =
        prepare("browser test (secure mode)", Target::Bin("demo-chat"))
    else {
        return;
    };
    // A fresh accounts file, removed afterwards.
    let db = std::env::temp_dir().join(format!(
        "demo-chat-browser-accounts-{}.sqlite3",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&db);
    let mut demo = DemoProcess::start(
        &exe,
        &[
            "--jwt-secret".as_ref(),
            "browser-test-secret".as_ref(),
            "--accounts-db".as_ref(),
            db.as_os_str(),
        ],
        &artifacts.join("browser-secure-demo.log"),
    );
    let addr = demo.wait_ready(READY);
    let url = format!("http://{addr}");
    eprintln!("browser test: demo-chat in secure mode at {url}");
    run_script(&root, "tests/browser/secure_test.mjs", &url, &demo, 9, None);
    drop(demo);
    let _ = std::fs::remove_file(&db);
}

#[test]
fn the_greeting_example_page_works_in_a_real_browser() {
    let Some((root, exe, artifacts)) =
        prepare("greeting page browser test", Target::Example("greeting"))
    else {
        return;
    };
    let no_args: [&str; 0] = [];
    let mut greeting = DemoProcess::start(&exe, &no_args, &artifacts.join("browser-greeting.log"));
    let addr = greeting.wait_ready("greeting on http://");
    run_script(
        &root,
        "tests/browser/greeting_test.mjs",
        &format!("http://{addr}"),
        &greeting,
        6,
        None,
    );
}

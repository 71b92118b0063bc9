//! The demo chat in a real browser: builds and starts `demo-chat` on a free port, then runs
//! `tests/browser/chat_test.mjs` (Debian's Chromium driven by playwright-core) against it;
//! and again in secure mode (`--jwt-secret`, accounts in a fresh SQLite file) with
//! `tests/browser/secure_test.mjs`: sign-up and login through the page.
//!
//! Needs `node`, `tests/browser/node_modules/playwright-core` and `/usr/bin/chromium`
//! (`bash tests/browser/install.sh`). Without them the test prints a loud `SKIPPED` line and
//! passes, unless `STOMP_REQUIRE_ALL=1`, when it fails.
//!
//! Run it alone with `cargo test -p tests --test browser -- --nocapture`. The screenshot of
//! bob's page lands in `tests/artifacts/chat.png`, the demo's log in
//! `tests/artifacts/browser-demo.log`.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long the demo may take to listen and answer `GET /`.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the whole browser run may take (the script stops itself after 120 s).
const RUN_TIMEOUT: Duration = Duration::from_secs(180);

/// Builds `demo-chat` (debug profile) and returns its executable, as cargo reports it:
/// wherever the target directory is (`CARGO_TARGET_DIR`, config, default).
fn build_demo(root: &Path) -> PathBuf {
    let out = Command::new(env!("CARGO"))
        .args([
            "build",
            "-p",
            "demo-chat",
            "--bin",
            "demo-chat",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(root)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("cannot run cargo to build demo-chat");
    assert!(
        out.status.success(),
        "`cargo build -p demo-chat` failed ({})",
        out.status
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|msg| msg["reason"] == "compiler-artifact" && msg["target"]["name"] == "demo-chat")
        .find_map(|msg| msg["executable"].as_str().map(PathBuf::from))
        .expect("cargo reported no demo-chat executable")
}

/// The running demo: killed (and reaped) when dropped, even when the test panics.
struct Demo {
    child: Child,
    /// Everything it printed so far, stdout and stderr interleaved by line.
    output: Arc<Mutex<String>>,
}

impl Demo {
    fn start(exe: &Path, log: &Path, extra_args: &[&std::ffi::OsStr]) -> Demo {
        let mut child = Command::new(exe)
            .args(["--addr", "127.0.0.1:0"])
            .args(extra_args)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .env_remove("DEMO_ADDR")
            .env_remove("DEMO_JWT_SECRET")
            .env_remove("DEMO_ACCOUNTS_DB")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", exe.display()));
        let output = Arc::new(Mutex::new(String::new()));
        let file = Arc::new(Mutex::new(File::create(log).ok()));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        spawn_line_copier(stdout, Arc::clone(&output), Arc::clone(&file));
        spawn_line_copier(stderr, Arc::clone(&output), file);
        Demo { child, output }
    }

    fn output(&self) -> String {
        self.output.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Waits for the "demo-chat on http://ADDR/" log line, then until `GET /` answers 200.
    fn wait_ready(&mut self) -> SocketAddr {
        let deadline = Instant::now() + START_TIMEOUT;
        let addr = loop {
            if let Some(addr) = bound_address(&self.output()) {
                break addr;
            }
            self.assert_running();
            assert!(
                Instant::now() < deadline,
                "demo-chat did not log its address (`demo-chat on http://HOST:PORT/`) within {} s; its output:\n{}",
                START_TIMEOUT.as_secs(),
                self.output()
            );
            thread::sleep(Duration::from_millis(50));
        };
        loop {
            let last = match http_get_root(addr) {
                Ok(status) if status.contains(" 200 ") || status.ends_with(" 200") => return addr,
                Ok(status) => format!("answered `{status}`"),
                Err(error) => format!("error: {error}"),
            };
            self.assert_running();
            assert!(
                Instant::now() < deadline,
                "GET http://{addr}/ did not answer 200 within {} s (last: {last}); demo output:\n{}",
                START_TIMEOUT.as_secs(),
                self.output()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "demo-chat exited early ({status}); its output:\n{}",
                self.output()
            );
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_line_copier(
    stream: impl Read + Send + 'static,
    output: Arc<Mutex<String>>,
    file: Arc<Mutex<Option<File>>>,
) {
    thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Ok(mut out) = output.lock() {
                out.push_str(&line);
                out.push('\n');
            }
            if let Ok(mut file) = file.lock() {
                if let Some(file) = file.as_mut() {
                    let _ = writeln!(file, "{line}");
                }
            }
        }
    });
}

/// The address in the demo's start-up line `demo-chat on http://127.0.0.1:PORT/ (...)`.
fn bound_address(output: &str) -> Option<SocketAddr> {
    output.lines().find_map(|line| {
        let rest = &line[line.find("demo-chat on http://")? + "demo-chat on http://".len()..];
        let end = rest.find('/').unwrap_or(rest.len());
        rest[..end].parse().ok()
    })
}

/// `GET /` over a fresh connection; returns the status line.
fn http_get_root(addr: SocketAddr) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    stream.set_write_timeout(Some(Duration::from_secs(2)))?;
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut status = String::new();
    BufReader::new(stream).read_line(&mut status)?;
    Ok(status.trim_end().to_owned())
}

/// Runs `command` to completion or until `timeout`, returning its status and output.
fn run_with_timeout(mut command: Command, timeout: Duration) -> (Option<ExitStatus>, String) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start node");
    let output = Arc::new(Mutex::new(String::new()));
    let no_file = Arc::new(Mutex::new(None));
    spawn_line_copier(
        child.stdout.take().expect("piped stdout"),
        Arc::clone(&output),
        Arc::clone(&no_file),
    );
    spawn_line_copier(
        child.stderr.take().expect("piped stderr"),
        Arc::clone(&output),
        no_file,
    );
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(100)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    // Let the copiers drain what is left in the pipes.
    thread::sleep(Duration::from_millis(200));
    let text = output.lock().map(|s| s.clone()).unwrap_or_default();
    (status, text)
}

#[test]
fn chat_works_in_a_real_browser() {
    let root = tests::prerequisite::workspace_root();
    let missing = tests::prerequisite::missing_for_browser(&root, &[]);
    if !missing.is_empty() {
        tests::prerequisite::missing(
            "browser test",
            &format!("{} missing", missing.join(", ")),
            "bash tests/browser/install.sh (apt-get install -y chromium; npm ci --prefix tests/browser)",
        );
        return;
    }

    let exe = build_demo(&root);
    let artifacts = root.join("tests/artifacts");
    std::fs::create_dir_all(&artifacts).expect("cannot create tests/artifacts");
    let mut demo = Demo::start(&exe, &artifacts.join("browser-demo.log"), &[]);
    let addr = demo.wait_ready();
    let url = format!("http://{addr}");
    eprintln!("browser test: demo-chat ({}) at {url}", exe.display());

    let mut node = Command::new("node");
    node.arg(root.join("tests/browser/chat_test.mjs"))
        .arg(&url)
        .env("BROWSER_SCREENSHOT", artifacts.join("chat.png"))
        .current_dir(&root);
    let (status, output) = run_with_timeout(node, RUN_TIMEOUT);
    println!("{output}");
    match status {
        Some(status) if status.success() => {}
        Some(status) => panic!(
            "the browser test failed ({status}):\n{output}\n--- demo-chat output ---\n{}",
            demo.output()
        ),
        None => panic!(
            "the browser test did not finish within {} s:\n{output}\n--- demo-chat output ---\n{}",
            RUN_TIMEOUT.as_secs(),
            demo.output()
        ),
    }
    // Every check of chat_test.mjs, counted: a check that stopped running fails here too.
    assert!(
        output
            .lines()
            .any(|l| l.trim() == "browser: 10 passed, 0 failed"),
        "the browser test printed no `browser: 10 passed, 0 failed` line:\n{output}"
    );
}

/// Runs `script` with node against `url`; panics with both outputs unless it finishes in time
/// and prints `browser: {expected} passed, 0 failed`.
fn run_script(root: &Path, script: &str, url: &str, demo: &Demo, expected: usize) {
    let mut node = Command::new("node");
    node.arg(root.join(script)).arg(url).current_dir(root);
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
    let root = tests::prerequisite::workspace_root();
    let missing = tests::prerequisite::missing_for_browser(&root, &[]);
    if !missing.is_empty() {
        tests::prerequisite::missing(
            "browser test (secure mode)",
            &format!("{} missing", missing.join(", ")),
            "bash tests/browser/install.sh (apt-get install -y chromium; npm ci --prefix tests/browser)",
        );
        return;
    }
    let exe = build_demo(&root);
    let artifacts = root.join("tests/artifacts");
    std::fs::create_dir_all(&artifacts).expect("cannot create tests/artifacts");
    // A fresh accounts file, removed afterwards.
    let db = std::env::temp_dir().join(format!(
        "demo-chat-browser-accounts-{}.sqlite3",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&db);
    let mut demo = Demo::start(
        &exe,
        &artifacts.join("browser-secure-demo.log"),
        &[
            "--jwt-secret".as_ref(),
            "browser-test-secret".as_ref(),
            "--accounts-db".as_ref(),
            db.as_os_str(),
        ],
    );
    let addr = demo.wait_ready();
    let url = format!("http://{addr}");
    eprintln!("browser test: demo-chat in secure mode at {url}");
    run_script(&root, "tests/browser/secure_test.mjs", &url, &demo, 9);
    drop(demo);
    let _ = std::fs::remove_file(&db);
}

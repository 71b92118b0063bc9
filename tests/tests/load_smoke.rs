//! A small run of the `stomp-load` tool against `interop_server`, so the tool keeps working:
//! a 1 → 5 fan-out of 200 messages (every one delivered to every subscriber, none lost,
//! duplicated or reordered), 50 idle sessions that all answer the final message, and 300
//! sessions over in-memory pipes (`sessions_in_memory`) that do the same.
//!
//! The real benchmark runs are `bench/run.sh`; they are too heavy for `cargo test`.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// `interop_server` on a free port; killed on drop (its stdin pipe closes with it too).
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start() -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_interop_server"))
            .args(["--addr", "127.0.0.1:0"])
            // The server stops when its stdin ends: keep the pipe open while it runs.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("interop_server starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("interop_server prints LISTENING");
        let port = line
            .trim()
            .strip_prefix("LISTENING ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
        Server { child, port }
    }

    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `program ARGS` and parses the JSON line it prints.
fn json_report(program: &str, args: &[&str]) -> Value {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} does not run: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// Runs `stomp-load ARGS` and parses its JSON line.
fn stomp_load(args: &[&str]) -> Value {
    json_report(env!("CARGO_BIN_EXE_stomp-load"), args)
}

fn count(report: &Value, key: &str) -> u64 {
    report[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no `{key}` in {report}"))
}

#[test]
fn fanout_delivers_every_message_once_and_in_order() {
    let server = Server::start();
    let (url, pid) = (server.url(), server.pid());
    let report = stomp_load(&[
        "fanout",
        "--url",
        &url,
        "--subscribers",
        "5",
        "--publishers",
        "1",
        "--messages",
        "200",
        "--window",
        "50",
        "--duration",
        "20",
        "--drain",
        "5",
        "--server-pid",
        &pid,
        "--quiet",
    ]);
    assert_eq!(count(&report, "sent"), 200, "{report}");
    assert_eq!(count(&report, "delivered"), 200 * 5, "{report}");
    for key in [
        "lost",
        "duplicated",
        "out_of_order",
        "unstamped",
        "errors",
        "closed",
    ] {
        assert_eq!(count(&report, key), 0, "{key}: {report}");
    }
    assert!(
        report["latency_us"]["p99"]
            .as_f64()
            .is_some_and(|p| p > 0.0),
        "{report}"
    );
    assert!(report["server"]["cpu_s"].as_f64().is_some(), "{report}");
}

#[test]
fn fifty_idle_sessions_all_answer() {
    let server = Server::start();
    let (url, pid) = (server.url(), server.pid());
    let report = stomp_load(&[
        "conns",
        "--url",
        &url,
        "--count",
        "50",
        "--hold",
        "0.5",
        "--settle",
        "0.2",
        "--probe-timeout",
        "20",
        "--server-pid",
        &pid,
        "--quiet",
    ]);
    assert_eq!(count(&report, "connected"), 50, "{report}");
    assert_eq!(count(&report, "failed"), 0, "{report}");
    assert_eq!(count(&report, "answered"), 50, "{report}");
    assert_eq!(count(&report, "closed_early"), 0, "{report}");
    assert!(
        report["server"]["rss_per_session_kib"].is_number(),
        "{report}"
    );
}

#[test]
fn churn_runs_and_reports_memory() {
    let server = Server::start();
    let (url, pid) = (server.url(), server.pid());
    let report = stomp_load(&[
        "churn",
        "--url",
        &url,
        "--workers",
        "4",
        "--duration",
        "0.5",
        "--warmup",
        "0.2",
        "--settle",
        "0.2",
        "--server-pid",
        &pid,
        "--quiet",
    ]);
    assert!(count(&report, "cycles") > 0, "{report}");
    assert_eq!(count(&report, "failed"), 0, "{report}");
    assert!(report["server"]["growth_kib"].is_number(), "{report}");
}

#[test]
fn in_memory_sessions_all_answer() {
    let report = json_report(
        env!("CARGO_BIN_EXE_sessions_in_memory"),
        &["--count", "300", "--hold", "0.3", "--probe-timeout", "20"],
    );
    assert_eq!(count(&report, "connected"), 300, "{report}");
    assert_eq!(count(&report, "failed"), 0, "{report}");
    assert_eq!(count(&report, "answered"), 300, "{report}");
    assert_eq!(count(&report, "closed_early"), 0, "{report}");
    assert_eq!(count(&report, "sessions_seen_by_server"), 300, "{report}");
    assert!(
        report["server"]["rss_per_session_kib"].is_number(),
        "{report}"
    );
}

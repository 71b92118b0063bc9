//! Real-client interop: the `interop_server` binary against @stomp/stompjs (Node) and
//! stomp.py (Python), each test with its own server on a free port.
//!
//! ```text
//! bash tests/interop/install.sh                      # once: npm ci + pip install
//! cargo test -p tests --test interop -- --nocapture
//! ```
//!
//! A missing client (no `node`, no `tests/interop/node_modules`, no `python3` or no stomp.py)
//! skips its test with a loud `SKIPPED` line on stderr, unless `STOMP_REQUIRE_ALL=1`, which
//! turns it into a failure (CI sets it). `INTEROP_HOLD_MS` (default 12000) is passed on to
//! the scripts: how long they hold an idle connection to see the server's heart-beats.
//! `NODE` and `PYTHON` name other interpreters than `node` and `python3`.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

const SERVER_START_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_HOLD_MS: u64 = 12_000;

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("interop")
}

fn hold_ms() -> u64 {
    std::env::var("INTEROP_HOLD_MS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_HOLD_MS)
}

use tests::prerequisite::missing;

mod tls_common;

/// Collects a pipe's output on a thread.
fn collect<R: Read + Send + 'static>(pipe: R) -> (Arc<Mutex<String>>, thread::JoinHandle<()>) {
    let buffer = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&buffer);
    let handle = thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => sink
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push_str(&line),
            }
        }
    });
    (buffer, handle)
}

fn text(buffer: &Arc<Mutex<String>>) -> String {
    buffer
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone()
}

/// The running `interop_server`; dropping it stops the server (stdin EOF, then kill).
struct ServerGuard {
    child: Child,
    stdin: Option<ChildStdin>,
    port: u16,
    log: Arc<Mutex<String>>,
}

impl ServerGuard {
    fn start() -> ServerGuard {
        ServerGuard::start_with(&[]).0
    }

    /// Starts the server with `args` added; with `--stomp-tcp`, the STOMP-over-TCP port too.
    fn start_with(args: &[&str]) -> (ServerGuard, Option<u16>) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_interop_server"));
        command
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", "stomp_server=info");
        }
        let mut child = command.spawn().expect("cannot start interop_server");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("interop_server stdout is piped");
        let stderr = child.stderr.take().expect("interop_server stderr is piped");
        let (log, _) = collect(stderr);
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut first = String::new();
            let _ = tx.send(reader.read_line(&mut first).map(|_| first));
            let mut second = String::new();
            let _ = tx.send(reader.read_line(&mut second).map(|_| second));
            // Keep draining so that the server never blocks on a full pipe.
            let mut rest = Vec::new();
            let _ = reader.read_to_end(&mut rest);
        });
        let mut guard = ServerGuard {
            child,
            stdin,
            port: 0,
            log,
        };
        let first = match rx.recv_timeout(SERVER_START_TIMEOUT) {
            Ok(Ok(line)) => line,
            Ok(Err(error)) => panic!("reading interop_server's stdout failed: {error}\n{}", guard.log()),
            Err(_) => panic!(
                "interop_server printed no `LISTENING <port>` within {SERVER_START_TIMEOUT:?}\nits stderr:\n{}",
                guard.log()
            ),
        };
        guard.port = first
            .trim()
            .strip_prefix("LISTENING ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "unexpected first line from interop_server: {first:?}\nits stderr:\n{}",
                    guard.log()
                )
            });
        if !args.contains(&"--stomp-tcp") {
            return (guard, None);
        }
        let tcp_port = match rx.recv_timeout(SERVER_START_TIMEOUT) {
            Ok(Ok(line)) => line
                .trim()
                .strip_prefix("STOMP_TCP ")
                .and_then(|p| p.parse().ok()),
            _ => None,
        };
        let tcp_port = tcp_port.unwrap_or_else(|| {
            panic!(
                "interop_server printed no `STOMP_TCP <port>`\nits stderr:\n{}",
                guard.log()
            )
        });
        (guard, Some(tcp_port))
    }

    fn log(&self) -> String {
        text(&self.log)
    }
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        // Closing stdin asks for a graceful stop; kill if it takes too long.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(25));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a client script did.
struct ClientRun {
    status: Option<ExitStatus>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

/// Runs a client script to completion (killed after `limit`).
fn run_client(mut command: Command, limit: Duration) -> ClientRun {
    let started = Instant::now();
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let (stdout, out_thread) = collect(child.stdout.take().expect("stdout is piped"));
    let (stderr, err_thread) = collect(child.stderr.take().expect("stderr is piped"));
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => thread::sleep(Duration::from_millis(50)),
            Err(error) => panic!("waiting for {command:?} failed: {error}"),
        }
    };
    let _ = out_thread.join();
    let _ = err_thread.join();
    ClientRun {
        status,
        stdout: text(&stdout),
        stderr: text(&stderr),
        elapsed: started.elapsed(),
    }
}

/// Prints a client's output and asserts success and its `<name>: N passed, 0 failed` line.
fn report(name: &str, run: &ClientRun, server: &ServerGuard) {
    let indent = |s: &str| s.lines().map(|l| format!("  | {l}\n")).collect::<String>();
    println!(
        "---- {name} ({:.1} s, exit {:?}) ----\n{}",
        run.elapsed.as_secs_f64(),
        run.status.and_then(|s| s.code()),
        indent(&run.stdout)
    );
    if !run.stderr.trim().is_empty() {
        println!("---- {name} stderr ----\n{}", indent(&run.stderr));
    }
    let summary = run
        .stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")).map(str::to_owned));
    let ok = run.status.is_some_and(|s| s.success())
        && summary
            .as_deref()
            .is_some_and(|s| s.ends_with(" 0 failed") && !s.starts_with("0 passed"));
    if !ok {
        panic!(
            "{name} interop FAILED (exit {:?}, summary {summary:?}{})\n---- interop_server stderr ----\n{}",
            run.status.and_then(|s| s.code()),
            if run.status.is_none() { ", killed after its time limit" } else { "" },
            indent(&server.log())
        );
    }
}

fn command_works(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn client_limit() -> Duration {
    Duration::from_millis(hold_ms()) + Duration::from_secs(90)
}

/// The Node.js to run (`$NODE`, default `node`) when it works and `packages` are installed in
/// tests/interop; `None` after a loud SKIPPED line (a failure under `STOMP_REQUIRE_ALL=1`).
fn node_with(test: &str, packages: &[&str]) -> Option<String> {
    let node = std::env::var("NODE").unwrap_or_else(|_| "node".to_owned());
    if !command_works(&node, &["--version"]) {
        missing(
            test,
            &format!("`{node}` (Node.js >= 18) was not found"),
            "apt-get install -y nodejs npm && bash tests/interop/install.sh",
        );
        return None;
    }
    let modules = interop_dir().join("node_modules");
    for package in packages {
        if !modules.join(package).join("package.json").is_file() {
            missing(
                test,
                &format!(
                    "the npm package `{package}` is not installed in {}",
                    modules.display()
                ),
                "npm ci --prefix tests/interop   (or: bash tests/interop/install.sh)",
            );
            return None;
        }
    }
    Some(node)
}

/// The Python to run (`$PYTHON`, default `python3`) when it works and imports `modules`;
/// `None` after a loud SKIPPED line (a failure under `STOMP_REQUIRE_ALL=1`).
fn python_with(test: &str, modules: &str) -> Option<String> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned());
    if !command_works(&python, &["--version"]) {
        missing(
            test,
            &format!("`{python}` was not found"),
            "apt-get install -y python3 python3-pip && bash tests/interop/install.sh",
        );
        return None;
    }
    if !command_works(&python, &["-c", &format!("import {modules}")]) {
        missing(
            test,
            &format!("the Python packages for `import {modules}` are not importable by `{python}`"),
            "pip install -r tests/interop/requirements.txt   (or: bash tests/interop/install.sh)",
        );
        return None;
    }
    Some(python)
}

#[test]
fn stompjs_interop() {
    let Some(node) = node_with("stompjs_interop", &["@stomp/stompjs", "ws"]) else {
        return;
    };
    let dir = interop_dir();
    let server = ServerGuard::start();
    let mut command = Command::new(&node);
    command
        .current_dir(&dir)
        .arg(dir.join("stompjs_test.mjs"))
        .arg(format!("ws://127.0.0.1:{}/ws", server.port))
        .env("INTEROP_HOLD_MS", hold_ms().to_string());
    let run = run_client(command, client_limit());
    report("stompjs", &run, &server);
}

#[test]
fn stomppy_interop() {
    let Some(python) = python_with("stomppy_interop", "stomp, websocket") else {
        return;
    };
    let dir = interop_dir();
    let server = ServerGuard::start();
    let mut command = Command::new(&python);
    command
        .current_dir(&dir)
        .arg(dir.join("stomppy_test.py"))
        .arg(server.port.to_string())
        .env("PYTHONUNBUFFERED", "1")
        .env("INTEROP_HOLD_MS", hold_ms().to_string());
    let run = run_client(command, client_limit());
    report("stomppy", &run, &server);
}

/// stomp.py's plain `stomp.Connection` (STOMP 1.0, 1.1 and 1.2, unchanged) runs the
/// WebSocket suite's cases over STOMP over TCP.
#[test]
fn stomppy_tcp_interop() {
    let Some(python) = python_with("stomppy_tcp_interop", "stomp") else {
        return;
    };
    let dir = interop_dir();
    let (server, tcp_port) = ServerGuard::start_with(&["--stomp-tcp", "127.0.0.1:0"]);
    let tcp_port = tcp_port.expect("asked for");
    for version in ["1.0", "1.1", "1.2"] {
        // The idle hold (to count the server's heart-beats) once, with STOMP 1.2.
        let hold = if version == "1.2" { hold_ms() } else { 0 };
        let mut command = Command::new(&python);
        command
            .current_dir(&dir)
            .arg(dir.join("stomppy_test.py"))
            .arg(tcp_port.to_string())
            .args(["--tcp", version])
            .env("PYTHONUNBUFFERED", "1")
            .env("INTEROP_HOLD_MS", hold.to_string());
        let run = run_client(command, client_limit());
        report("stomppy", &run, &server);
    }
}

/// The npm `stompit` client (Node's STOMP-over-TCP client, unchanged) runs the WebSocket
/// suite's cases over STOMP over TCP.
#[test]
fn stompit_tcp_interop() {
    let Some(node) = node_with("stompit_tcp_interop", &["stompit"]) else {
        return;
    };
    let dir = interop_dir();
    let (server, tcp_port) = ServerGuard::start_with(&["--stomp-tcp", "127.0.0.1:0"]);
    let mut command = Command::new(&node);
    command
        .current_dir(&dir)
        .arg(dir.join("stompit_test.mjs"))
        .arg(tcp_port.expect("asked for").to_string());
    let run = run_client(command, client_limit());
    report("stompit", &run, &server);
}

/// stompjs asking for heart-beats every second both ways gets them: it stays connected
/// 5 s and counts the beats each way.
#[test]
fn stompjs_fast_heart_beats() {
    let Some(node) = node_with("stompjs_fast_heart_beats", &["@stomp/stompjs"]) else {
        return;
    };
    let dir = interop_dir();
    let server = ServerGuard::start();
    let mut command = Command::new(&node);
    command
        .current_dir(&dir)
        .arg(dir.join("stompjs_heartbeat_test.mjs"))
        .arg(format!("ws://127.0.0.1:{}/ws", server.port));
    let run = run_client(command, client_limit());
    report("stompjs-heartbeat", &run, &server);
}

/// A test CA's server certificate for `localhost`/127.0.0.1, as `--tls-cert`/`--tls-key`
/// arguments of `interop_server`.
fn tls_args(ca: &tls_common::TestCa) -> Vec<String> {
    let (cert, key) = ca.write_server_files("server", "interop server", 1);
    vec![
        "--tls-cert".to_owned(),
        cert.display().to_string(),
        "--tls-key".to_owned(),
        key.display().to_string(),
    ]
}

/// stompjs (over the `ws` package) runs the WebSocket suite over `wss://`, trusting the
/// test CA through `NODE_EXTRA_CA_CERTS` (and checking the name `localhost`).
#[test]
fn stompjs_wss_interop() {
    let Some(node) = node_with("stompjs_wss_interop", &["@stomp/stompjs", "ws"]) else {
        return;
    };
    let ca = tls_common::TestCa::new("stompjs");
    let args = tls_args(&ca);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (server, _) = ServerGuard::start_with(&args);
    let dir = interop_dir();
    let mut command = Command::new(&node);
    command
        .current_dir(&dir)
        .arg(dir.join("stompjs_test.mjs"))
        .arg(format!("wss://localhost:{}/ws", server.port))
        .env("NODE_EXTRA_CA_CERTS", ca.ca_file())
        .env("INTEROP_HOLD_MS", "0");
    let run = run_client(command, client_limit());
    report("stompjs", &run, &server);
}

/// stomp.py's plain `stomp.Connection12` with `set_ssl` (the test CA, the certificate
/// checked) runs the suite over STOMP over TLS.
#[test]
fn stomppy_tls_interop() {
    let Some(python) = python_with("stomppy_tls_interop", "stomp, ssl") else {
        return;
    };
    let ca = tls_common::TestCa::new("stomppy");
    let mut args = tls_args(&ca);
    args.extend(["--stomp-tcp".to_owned(), "127.0.0.1:0".to_owned()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (server, tcp_port) = ServerGuard::start_with(&args);
    let dir = interop_dir();
    let mut command = Command::new(&python);
    command
        .current_dir(&dir)
        .arg(dir.join("stomppy_test.py"))
        .arg(tcp_port.expect("asked for").to_string())
        .args(["--tcp", "1.2", "--tls"])
        .arg(ca.ca_file())
        .env("PYTHONUNBUFFERED", "1")
        .env("INTEROP_HOLD_MS", "0");
    let run = run_client(command, client_limit());
    report("stomppy", &run, &server);
}

/// The server binary itself: `LISTENING <port>` first, accepts TCP, stops on stdin EOF.
#[test]
fn interop_server_stops_on_stdin_eof() {
    let mut server = ServerGuard::start();
    assert_ne!(server.port, 0);
    std::net::TcpStream::connect(("127.0.0.1", server.port))
        .expect("interop_server accepts connections");
    drop(server.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = server.child.try_wait().expect("try_wait") {
            assert!(
                status.success(),
                "interop_server exited with {status}\n{}",
                server.log()
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "interop_server still running 10 s after stdin EOF\n{}",
            server.log()
        );
        thread::sleep(Duration::from_millis(25));
    }
}

/// SIGTERM stops the server cleanly too.
#[cfg(unix)]
#[test]
fn interop_server_stops_on_sigterm() {
    let mut server = ServerGuard::start();
    let pid = server.child.id().to_string();
    // The shell's built-in `kill`: no procps needed.
    let sent = Command::new("sh")
        .args(["-c", &format!("kill -TERM {pid}")])
        .status()
        .is_ok_and(|s| s.success());
    assert!(sent, "could not send SIGTERM to {pid}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = server.child.try_wait().expect("try_wait") {
            assert!(
                status.success(),
                "interop_server exited with {status} after SIGTERM\n{}",
                server.log()
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "interop_server still running 10 s after SIGTERM\n{}",
            server.log()
        );
        thread::sleep(Duration::from_millis(25));
    }
}

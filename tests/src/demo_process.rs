//! Builds the demo's binaries with cargo and runs them as child processes on a free port,
//! for the tests that drive them with outside clients (Chromium, Spring's Java client).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long a demo may take to listen and answer `GET /`.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Which demo: a binary of `demo-chat`, or an example of the gallery (`stomp-examples`).
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// `-p demo-chat --bin NAME`.
    Bin(&'a str),
    /// `-p stomp-examples --example NAME`.
    Example(&'a str),
}

/// Builds `target` (debug profile) and returns its executable as cargo reports it, wherever
/// the target directory is. Every demo is built by one cargo invocation (demo-chat's binaries
/// and the gallery's examples together), so that they share one resolution of features and
/// their dependencies are compiled once, not once per package.
pub fn build(root: &Path, target: Target<'_>) -> PathBuf {
    let (kind, name) = match target {
        Target::Bin(name) => ("bin", name),
        Target::Example(name) => ("example", name),
    };
    let args = [
        "build",
        "-p",
        "demo-chat",
        "-p",
        "stomp-examples",
        "--bins",
        "--examples",
    ];
    let out = Command::new(env!("CARGO"))
        .args(args)
        .arg("--message-format=json-render-diagnostics")
        .current_dir(root)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .expect("cannot run cargo to build the demos");
    assert!(
        out.status.success(),
        "`cargo {}` failed ({})",
        args.join(" "),
        out.status
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|msg| msg["reason"] == "compiler-artifact" && msg["target"]["name"] == name)
        .filter(|msg| msg["target"]["kind"][0] == kind)
        .find_map(|msg| msg["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo reported no {kind} executable named {name}"))
}

/// A running demo process: killed (and reaped) when dropped, even when the test panics.
pub struct DemoProcess {
    child: Child,
    name: String,
    /// Everything it printed so far, stdout and stderr interleaved by line.
    output: Arc<Mutex<String>>,
}

impl DemoProcess {
    /// Starts `exe --addr 127.0.0.1:0 ARGS..`, copying its output to `log` as well.
    pub fn start<S: AsRef<std::ffi::OsStr>>(exe: &Path, args: &[S], log: &Path) -> DemoProcess {
        let mut child = Command::new(exe)
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .env_remove("DEMO_ADDR")
            .env_remove("DEMO_JWT_SECRET")
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
        let name = exe
            .file_name()
            .map_or_else(|| "demo".to_owned(), |n| n.to_string_lossy().into_owned());
        DemoProcess {
            child,
            name,
            output,
        }
    }

    /// Everything the process printed so far.
    pub fn output(&self) -> String {
        self.output.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Waits for the start-up line `{marker}HOST:PORT/` (for example `demo-chat on http://`),
    /// then until `GET /` answers 200; returns the address.
    pub fn wait_ready(&mut self, marker: &str) -> SocketAddr {
        let deadline = Instant::now() + START_TIMEOUT;
        let addr = self.wait_logged(marker);
        loop {
            let last = match http_get_root(addr) {
                Ok(status) if status.contains(" 200 ") || status.ends_with(" 200") => return addr,
                Ok(status) => format!("answered `{status}`"),
                Err(error) => format!("error: {error}"),
            };
            self.assert_running();
            assert!(
                Instant::now() < deadline,
                "GET http://{addr}/ did not answer 200 within {} s (last: {last}); output:\n{}",
                START_TIMEOUT.as_secs(),
                self.output()
            );
            thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for the start-up line `{marker}HOST:PORT/` only (a listener that does not speak
    /// plain HTTP, such as `demo-chat on https://`); returns the address.
    pub fn wait_logged(&mut self, marker: &str) -> SocketAddr {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(addr) = bound_address(&self.output(), marker) {
                return addr;
            }
            self.assert_running();
            assert!(
                Instant::now() < deadline,
                "{} did not log `{marker}HOST:PORT/` within {} s; its output:\n{}",
                self.name,
                START_TIMEOUT.as_secs(),
                self.output()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{} exited early ({status}); its output:\n{}",
                self.name,
                self.output()
            );
        }
    }
}

impl Drop for DemoProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Copies `stream` line by line into `output` and, when there is one, `file`.
pub fn spawn_line_copier(
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

/// The address in a start-up line `{marker}127.0.0.1:PORT/ (...)`.
fn bound_address(output: &str, marker: &str) -> Option<SocketAddr> {
    output.lines().find_map(|line| {
        let rest = &line[line.find(marker)? + marker.len()..];
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

/// Runs `command` to completion or until `timeout` (then kills it), returning its status
/// (`None` on a time-out) and its output.
pub fn run_with_timeout(mut command: Command, timeout: Duration) -> (Option<ExitStatus>, String) {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {command:?}: {error}"));
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

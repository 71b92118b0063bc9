//! Behaviour parity with Spring: one scripted conversation (`spring_parity/conversation.rs`)
//! is played against the Spring reference app (`tests/spring`, run by `run.sh`) and against
//! our equivalent of it (`spring_parity/equivalent.rs`); the frames each answers are compared
//! step by step (commands, the headers a client relies on, bodies without ids and times).
//!
//! Every difference must be listed in [`DELIBERATE`] with its reason (and in MIGRATING.md);
//! a new, unlisted difference fails the test, and so does a listed one that no longer
//! occurs. Needs Java 17+ and Maven (`bash tests/spring/install.sh`); without them the test
//! prints a loud `SKIPPED` line and passes, unless `STOMP_REQUIRE_ALL=1`.

#[path = "spring_parity/conversation.rs"]
mod conversation;
#[path = "spring_parity/equivalent.rs"]
mod equivalent;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conversation::{disconnect_script, play, script, Seen, Transcript};
use tests::demo_process::spawn_line_copier;
use tests::prerequisite::{java_and_maven, workspace_root};

/// How long the Spring app may take to build (first run) and start.
const SPRING_START: Duration = Duration::from_secs(300);

/// The differences we keep on purpose: the step and why. MIGRATING.md lists them too.
const DELIBERATE: &[(&str, &str)] = &[
    ("subscribe room", "a SUBSCRIBE with a `receipt` header gets a RECEIPT once the subscription is live; Spring's simple broker sends none"),
    ("post with receipt", "a SEND with a `receipt` header gets a RECEIPT; Spring's simple broker sends none"),
    ("unreadable body", "the error text for a body that is not the expected JSON is serde's, not Jackson's"),
    ("unsubscribe", "an UNSUBSCRIBE with a `receipt` header gets a RECEIPT"),
    ("no handler", "a SEND to an application destination no handler maps gets an ERROR (and the session closes); Spring drops it silently"),
    ("disconnect", "after the RECEIPT of a DISCONNECT the server closes the WebSocket (1000) rather than waiting for the client to"),
];

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The Spring app, stopped (with its JVM: `run.sh` execs it) when dropped.
struct Spring {
    child: std::process::Child,
    output: Arc<Mutex<String>>,
}

impl Drop for Spring {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Spring {
    fn start(port: u16) -> Spring {
        let root = workspace_root();
        let mut child = Command::new("bash")
            .arg(root.join("tests/spring/run.sh"))
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run tests/spring/run.sh");
        let output = Arc::new(Mutex::new(String::new()));
        let no_file = Arc::new(Mutex::new(None));
        spawn_line_copier(
            child.stdout.take().expect("piped"),
            Arc::clone(&output),
            Arc::clone(&no_file),
        );
        spawn_line_copier(
            child.stderr.take().expect("piped"),
            Arc::clone(&output),
            no_file,
        );
        Spring { child, output }
    }

    fn output(&self) -> String {
        self.output.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Waits until the app accepts connections.
    fn wait_ready(&mut self, addr: SocketAddr) {
        let deadline = Instant::now() + SPRING_START;
        while TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the Spring app exited ({status}):\n{}", self.output());
            }
            assert!(
                Instant::now() < deadline,
                "the Spring app did not listen on {addr} within {SPRING_START:?}:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn show(frames: &[Seen]) -> String {
    if frames.is_empty() {
        return "(nothing)".to_owned();
    }
    frames
        .iter()
        .map(|f| format!("{} {:?} {}", f.command, f.headers, f.body))
        .collect::<Vec<_>>()
        .join("\n      ")
}

/// The steps whose answers differ, with both answers.
fn differences(spring: &Transcript, ours: &Transcript) -> Vec<(&'static str, String)> {
    let steps = spring.len().max(ours.len());
    (0..steps)
        .filter_map(|i| {
            let name = spring.get(i).or(ours.get(i)).map(|(n, _)| *n)?;
            let theirs = spring.get(i).map(|(_, f)| f.as_slice()).unwrap_or_default();
            let mine = ours.get(i).map(|(_, f)| f.as_slice()).unwrap_or_default();
            (theirs != mine).then(|| {
                (
                    name,
                    format!(
                        "step `{name}`\n  Spring: {}\n  ours:   {}",
                        show(theirs),
                        show(mine)
                    ),
                )
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_conversation_gets_the_same_answers_as_from_spring() {
    if !java_and_maven("Spring parity test") {
        return;
    }
    let port = free_port();
    let mut spring = Spring::start(port);
    let spring_addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let ours = equivalent::builder().build().expect("a valid server");
    let listener = ours.bind("127.0.0.1:0").await.expect("bind");
    let our_addr = listener.local_addr().expect("local address");
    tokio::spawn(ours.run(listener, std::future::pending()));
    let spring = tokio::task::spawn_blocking(move || {
        spring.wait_ready(spring_addr);
        spring
    })
    .await
    .expect("waiting for Spring");
    let room = "room7q";
    let steps = script(room);
    let mut theirs = play(&format!("ws://{spring_addr}/ws"), room, &steps).await;
    let mut mine = play(&format!("ws://{our_addr}/ws"), room, &steps).await;
    let last = disconnect_script();
    theirs.extend(play(&format!("ws://{spring_addr}/ws"), room, &last).await);
    mine.extend(play(&format!("ws://{our_addr}/ws"), room, &last).await);
    let found = differences(&theirs, &mine);
    let unlisted: Vec<&String> = found
        .iter()
        .filter(|(step, _)| !DELIBERATE.iter().any(|(s, _)| s == step))
        .map(|(_, text)| text)
        .collect();
    let gone: Vec<&str> = DELIBERATE
        .iter()
        .filter(|(step, _)| !found.iter().any(|(s, _)| s == step))
        .map(|(step, _)| *step)
        .collect();
    let all: Vec<&String> = found.iter().map(|(_, text)| text).collect();
    eprintln!(
        "parity: {} of {} steps differ, all listed",
        found.len(),
        steps.len()
    );
    assert!(
        unlisted.is_empty() && gone.is_empty(),
        "differences not listed as deliberate:\n{}\n\nlisted but no longer different: {gone:?}\n\nall differences:\n{}\n--- Spring output ---\n{}",
        unlisted.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n"),
        all.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n"),
        spring.output()
    );
}

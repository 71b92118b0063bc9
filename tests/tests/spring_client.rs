//! Spring's own STOMP client against our server: the JUnit tests of `tests/spring`
//! (`SpringClientTest`: `WebSocketStompClient` over `StandardWebSocketClient` and over
//! `SockJsClient` with its WebSocket and XHR transports) run against `demo-chat` and the
//! `greeting` example, each started on a free port.
//!
//! Needs Java 17+ and Maven (`bash tests/spring/install.sh` fetches the Maven dependencies).
//! Without them the test prints a loud `SKIPPED` line and passes, unless
//! `STOMP_REQUIRE_ALL=1`, when it fails. Run it alone with
//! `cargo test -p tests --test spring_client -- --nocapture`.

use std::process::Command;
use std::time::Duration;

use tests::demo_process::{build, run_with_timeout, DemoProcess, Target};
use tests::prerequisite::{java_and_maven, workspace_root};

/// Maven compiles and runs the JUnit tests: a first run also downloads the dependencies.
const MAVEN_TIMEOUT: Duration = Duration::from_secs(900);

#[test]
fn spring_stomp_client_talks_to_demo_chat_and_the_greeting_example() {
    if !java_and_maven("Spring client test") {
        return;
    }
    let root = workspace_root();
    let artifacts = root.join("tests/artifacts");
    let _ = std::fs::create_dir_all(&artifacts);
    let chat_exe = build(&root, Target::Bin("demo-chat"));
    let greeting_exe = build(&root, Target::Example("greeting"));
    let no_args: [&str; 0] = [];
    let mut chat = DemoProcess::start(
        &chat_exe,
        &no_args,
        &artifacts.join("spring-client-chat.log"),
    );
    let mut greeting = DemoProcess::start(
        &greeting_exe,
        &no_args,
        &artifacts.join("spring-client-greeting.log"),
    );
    let chat_addr = chat.wait_ready("demo-chat on http://");
    let greeting_addr = greeting.wait_ready("greeting on http://");
    let mut maven = Command::new("mvn");
    maven
        .current_dir(root.join("tests/spring"))
        .args(["-B", "-q", "test"])
        .arg(format!("-Dstomp.chat.url=ws://{chat_addr}/ws"))
        .arg(format!("-Dstomp.chat.sockjs=http://{chat_addr}/ws"))
        .arg(format!(
            "-Dstomp.greeting.url=ws://{greeting_addr}/gs-guide-websocket"
        ))
        .arg(format!(
            "-Dstomp.greeting.sockjs=http://{greeting_addr}/gs-guide-websocket"
        ));
    let (status, output) = run_with_timeout(maven, MAVEN_TIMEOUT);
    let report = std::fs::read_to_string(
        root.join("tests/spring/target/surefire-reports/stomprs.reference.SpringClientTest.txt"),
    )
    .unwrap_or_default();
    assert!(
        status.is_some_and(|s| s.success()),
        "Spring's client tests failed ({status:?}):\n{output}\n{report}\n--- demo-chat ---\n{}\n--- greeting ---\n{}",
        chat.output(),
        greeting.output()
    );
    assert!(
        report.contains("Tests run: 11, Failures: 0, Errors: 0, Skipped: 0"),
        "expected all 11 Spring client tests to run and pass:\n{report}"
    );
    eprintln!(
        "Spring client test: {}",
        report.lines().last().unwrap_or("")
    );
}

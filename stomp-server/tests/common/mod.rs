//! Helpers shared by the server's integration tests.
#![allow(dead_code)]

use std::time::Duration;

pub(crate) mod sockjs;
pub(crate) mod tcp;

use stomp_server::client::{ClientError, StompClient, StompSession, Subscription};
use stomp_server::Frame;
use stomp_server::{Server, StompServerBuilder};

/// A builder with no handler (for tests of the session and the broker).
pub(crate) fn no_handlers() -> StompServerBuilder {
    stomp_server::StompServer::builder().handlers(stomp_server::handler::Handlers::new())
}

/// [`no_handlers`] with `config`, serving `/queue/..` as point-to-point queues.
pub(crate) fn point_to_point(config: stomp_server::config::BrokerConfig) -> StompServerBuilder {
    no_handlers().broker_config(config.with_point_to_point_prefixes(vec!["/queue".to_owned()]))
}

/// A running server on 127.0.0.1 with a random port; stops when dropped.
pub(crate) struct TestServer {
    pub(crate) port: u16,
    pub(crate) template: stomp_server::Template,
    pub(crate) stats: std::sync::Arc<stomp_server::stats::Stats>,
    pub(crate) raw_sessions: stomp_server::websocket::RawSessions,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    pub(crate) async fn start(builder: StompServerBuilder) -> TestServer {
        let server: Server = builder
            .stats_log_interval(None)
            .build()
            .expect("server builds");
        let listener = server.bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let template = server.template();
        let stats = server.stats();
        let raw_sessions = server.raw_sessions();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run(listener, async move {
            let _ = stopped.await;
        }));
        TestServer {
            port,
            template,
            stats,
            raw_sessions,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/ws", self.port)
    }

    pub(crate) async fn connect(&self, login: &str) -> StompSession {
        StompClient::new()
            .login(login, "")
            .connect(&self.url())
            .await
            .expect("connect")
    }

    pub(crate) async fn connect_anonymous(&self) -> StompSession {
        StompClient::new()
            .connect(&self.url())
            .await
            .expect("connect")
    }

    pub(crate) async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// An interceptor that makes the CONNECT `login` header the principal.
pub(crate) fn login_interceptor(
    frame: &mut stomp_server::Frame,
    context: &mut stomp_server::interceptor::InterceptorContext<'_>,
) -> Result<(), stomp_server::interceptor::Rejection> {
    if matches!(
        frame.command,
        stomp_server::Command::Connect | stomp_server::Command::Stomp
    ) {
        if let Some(login) = frame.get("login").filter(|l| !l.is_empty()) {
            *context.principal = Some(stomp_server::Principal::new(login));
        }
    }
    Ok(())
}

pub(crate) const WAIT: Duration = Duration::from_secs(5);
pub(crate) const QUIET: Duration = Duration::from_millis(300);

/// The next message of `sub` (within [`WAIT`]) and its body as text.
pub(crate) async fn next_body(sub: &mut Subscription) -> (Frame, String) {
    let frame = sub.next_timeout(WAIT).await.expect("a message in time");
    let body = frame.body_str().expect("a text body").to_owned();
    (frame, body)
}

/// Nothing more arrives on `sub` for [`QUIET`], and the subscription is still open (a
/// closed session is a failure here, not "nothing").
pub(crate) async fn nothing_more(sub: &mut Subscription, why: &str) {
    match sub.next_timeout(QUIET).await {
        Err(ClientError::Timeout(_)) => {}
        other => panic!("{why}: expected nothing, got {other:?}"),
    }
}

/// The next `ERROR` frame the server sends `session`, within [`WAIT`].
pub(crate) async fn error_message(session: &StompSession) -> Frame {
    tokio::time::timeout(WAIT, session.next_error())
        .await
        .expect("an ERROR in time")
        .expect("an ERROR before the end")
}

/// Subscribes with an `ack` mode and an optional `prefetch-count`, waiting for the receipt.
pub(crate) async fn subscribe_acking(
    session: &StompSession,
    destination: &str,
    ack: &str,
    prefetch: Option<usize>,
) -> stomp_server::client::Subscription {
    let mut frame = stomp_server::Frame::new(stomp_server::Command::Subscribe)
        .header("destination", destination)
        .header("ack", ack);
    if let Some(prefetch) = prefetch {
        frame = frame.header("prefetch-count", &prefetch.to_string());
    }
    session
        .subscribe_with(frame, true)
        .await
        .expect("subscribe")
}

/// Sends `bodies` and waits for the receipt of the last one, so all were handled.
pub(crate) async fn send_all<B: AsRef<str>>(
    session: &StompSession,
    destination: &str,
    bodies: &[B],
) {
    for (i, body) in bodies.iter().enumerate() {
        let frame = stomp_server::Frame::new(stomp_server::Command::Send)
            .header("destination", destination)
            .with_body(body.as_ref().to_owned());
        if i + 1 == bodies.len() {
            session.send_with_receipt(frame).await.expect("receipt");
        } else {
            session.send_frame(frame).await.expect("send");
        }
    }
}

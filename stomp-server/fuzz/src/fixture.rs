//! The runtime and the server every input runs against, built once per thread, and the
//! checks that follow each input: no panic anywhere, no session left open, and a
//! well-behaved session that still works.

use std::cell::Cell;
use std::future::Future;
use std::sync::{Arc, Once};
use std::time::Duration;

use stomp_server::{
    config::Limits, handler::Handlers, message_mapping, send_to, Payload, Server, StompServer,
};
use tokio::runtime::Runtime;

use super::ws::Client;

/// How long (virtual time: the clock is paused) a connection may stay open after its
/// client is done, and sessions may take to end after their connections.
pub const LINGER: Duration = Duration::from_secs(600);

/// Sessions at once: few, so that one that never ends is soon seen (its place is never
/// given back).
const MAX_SESSIONS: usize = 4;

/// Small limits, so that inputs reach them.
fn limits() -> Limits {
    Limits::default()
        .with_message_size(4096)
        .with_max_headers(16)
        .with_max_header_line(1024)
        .with_send_buffer_size(32 * 1024)
        .with_max_sessions(MAX_SESSIONS)
        .with_max_subscriptions_per_session(8)
        .with_max_transaction_bytes(16 * 1024)
}

/// Echoes a text payload to `/topic/echo/<room>`: a handler for the inputs (and the probe)
/// to reach through `/app`.
#[message_mapping("/echo/<room>")]
#[send_to("/topic/echo/<room>")]
fn echo(room: String, Payload(text): Payload<String>) -> String {
    if room.is_empty() {
        String::new()
    } else {
        text
    }
}

struct Fixture {
    runtime: Runtime,
    server: Arc<Server>,
    inputs: Cell<u64>,
}

thread_local! {
    static FIXTURE: Fixture = Fixture::new();
}

thread_local! {
    /// Set by the panic hook: a panic in a server task does not reach the harness otherwise
    /// (tokio catches it), but must fail the input. Per thread: the server's tasks run on
    /// the thread of its current-thread runtime, and tests replay corpora in parallel.
    static PANICKED: Cell<bool> = const { Cell::new(false) };
}

fn watch_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICKED.with(|panicked| panicked.set(true));
            previous(info);
        }));
    });
}

impl Fixture {
    fn new() -> Fixture {
        watch_panics();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("tokio runtime");
        let server = runtime.block_on(async {
            StompServer::builder()
                .handlers(Handlers::collected_in(module_path!()))
                .limits(limits())
                .with_sockjs()
                .stats_log_interval(None)
                .build()
                .expect("fuzz server")
        });
        Fixture {
            runtime,
            server: Arc::new(server),
            inputs: Cell::new(0),
        }
    }
}

/// Runs one input: `drive` gets the server and the input's number (for unique names),
/// then the after-input checks run. Panics when any of them fails.
pub fn run_input<F, Fut>(drive: F)
where
    F: FnOnce(Arc<Server>, u64) -> Fut,
    Fut: Future<Output = ()>,
{
    FIXTURE.with(|fixture| {
        let input = fixture.inputs.get() + 1;
        fixture.inputs.set(input);
        let server = Arc::clone(&fixture.server);
        fixture.runtime.block_on(async move {
            drive(Arc::clone(&server), input).await;
            settle(&server).await;
            if let Err(error) = all_places_free(&server).await {
                panic!("a session outlived the input: {error}");
            }
            if let Err(error) = probe(&server, input).await {
                panic!("a well-behaved session failed after the input: {error}");
            }
            settle(&server).await;
        });
        assert!(!PANICKED.with(Cell::get), "a server task panicked");
    });
}

/// Waits (virtual time) until no STOMP session is open; panics after [`LINGER`].
async fn settle(server: &Server) {
    let stats = server.stats();
    let deadline = tokio::time::Instant::now() + LINGER;
    while stats.snapshot().sessions_current > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} sessions still open {LINGER:?} after their clients left",
            stats.snapshot().sessions_current
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits (virtual time, up to [`LINGER`]) until every one of the [`MAX_SESSIONS`] places
/// is free again: that many handshakes at once must all be accepted. A session that never
/// ends keeps its place, so the last handshake is refused with 503 until the deadline. A
/// SockJS session waits for its disconnect delay, a session without `CONNECT` for its
/// client's end; the connections opened here end without a `CONNECT`.
async fn all_places_free(server: &Server) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + LINGER;
    let mut pause = Duration::from_secs(1);
    loop {
        let mut open = Vec::new();
        let mut refused = None;
        for place in 1..=MAX_SESSIONS {
            match tokio::time::timeout(LINGER, Client::open(server, "/ws")).await {
                Ok(Ok(client)) => open.push(client),
                Ok(Err(error)) => {
                    refused = Some(format!("handshake {place} of {MAX_SESSIONS}: {error}"));
                    break;
                }
                Err(_) => return Err(format!("handshake {place} of {MAX_SESSIONS} not answered")),
            }
        }
        drop(open);
        // The sessions see their clients' end and give their places back.
        tokio::time::sleep(Duration::from_secs(1)).await;
        match refused {
            None => return Ok(()),
            Some(error) if tokio::time::Instant::now() >= deadline => {
                return Err(format!("{error} (still, {LINGER:?} after the input)"))
            }
            Some(_) => {
                // Doubling pauses: few rounds of handshakes for a place that frees late.
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
        }
    }
}

/// A well-behaved session: CONNECT, SUBSCRIBE, SEND through the echo handler, MESSAGE,
/// DISCONNECT with a receipt, and the server closes.
async fn probe(server: &Server, input: u64) -> Result<(), String> {
    let session = async {
        let mut client = Client::open(server, "/ws").await?;
        client
            .send("CONNECT\naccept-version:1.2\nhost:localhost\nheart-beat:0,0\n\n\0")
            .await?;
        client.expect("CONNECTED").await?;
        let room = format!("probe{input}");
        client
            .send(&format!(
                "SUBSCRIBE\nid:0\ndestination:/topic/echo/{room}\nreceipt:s\n\n\0"
            ))
            .await?;
        client.expect("RECEIPT").await?;
        let body = format!("ping {input}");
        client
            .send(&format!(
                "SEND\ndestination:/app/echo/{room}\ncontent-type:text/plain\n\n{body}\0"
            ))
            .await?;
        let message = client.expect("MESSAGE").await?;
        if message.body_str() != Some(body.as_str()) {
            return Err(format!("echo carried {:?}", message.body_str()));
        }
        client.send("DISCONNECT\nreceipt:d\n\n\0").await?;
        client.expect("RECEIPT").await?;
        client.expect_end().await
    };
    tokio::time::timeout(LINGER, session)
        .await
        .map_err(|_| format!("no answer within {LINGER:?}"))?
}

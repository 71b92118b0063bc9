//! A plain WebSocket endpoint beside the STOMP one (Spring's `TextWebSocketHandler`
//! registered with `registerWebSocketHandlers`), bridged to STOMP both ways.
//!
//! ```text
//! cargo run -p stomp-examples --example raw [-- --addr 127.0.0.1:8080]
//! ```
//!
//! - `ws://HOST/ws-raw`: each text a raw client sends reaches every raw client, and is
//!   published to the STOMP topic `/topic/raw`.
//! - `ws://HOST/ws` (STOMP): `SEND /app/raw` reaches every raw client, through the same
//!   `RawSessions` registry a STOMP handler gets as state.

use stomp_server::websocket::{RawSessions, TextMessage, WebSocketHandler, WebSocketSession};
use stomp_server::{message_mapping, Payload, State, StompServer};

/// The `/ws-raw` handler.
struct Broadcast;

impl WebSocketHandler for Broadcast {
    async fn handle_text_message(&self, session: &WebSocketSession, message: TextMessage) {
        let text = message.as_str();
        session.sessions().broadcast_text(text);
        if let Err(error) = session.template().convert_and_send("/topic/raw", text) {
            tracing::warn!(%error, "could not publish a raw message to /topic/raw");
        }
    }
}

/// STOMP to raw: every raw client gets the text.
#[message_mapping("/raw")]
fn to_raw_clients(raw: State<RawSessions>, Payload(text): Payload<String>) {
    raw.broadcast_text(text);
}

async fn serve(addr: String) -> Result<(), stomp_server::StartError> {
    let server = StompServer::builder()
        .endpoint("/ws")
        .application_prefix("/app")
        .simple_broker(["/topic"])
        .raw_endpoint("/ws-raw", Broadcast)
        .static_resource(
            "/",
            "text/plain",
            "raw WebSocket at /ws-raw, STOMP at /ws\n",
        )
        .build()?;
    stomp_examples::serve("raw", server, &addr).await
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    stomp_examples::run("raw", serve).await
}

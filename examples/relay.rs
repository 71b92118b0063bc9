//! The broker relay (Spring's `enableStompBrokerRelay`): run two of these on two ports and a
//! message sent to one reaches subscribers of both, through RabbitMQ's STOMP plugin.
//!
//! ```text
//! bash tests/relay/start-rabbitmq.sh
//! cargo run -p stomp-examples --example relay -- --addr 127.0.0.1:8080
//! cargo run -p stomp-examples --example relay -- --addr 127.0.0.1:8081   # another terminal
//! ```
//!
//! RabbitMQ is at `RABBITMQ_STOMP` (`HOST:PORT`, default `127.0.0.1:61613`), guest/guest.
//! `SEND /app/chat/<room>` reaches `/topic/chat.<room>`: RabbitMQ routes topics by dotted
//! words, so broker destinations use dots after `/topic/`.

use serde::{Deserialize, Serialize};
use stomp_server::relay::RelayConfig;
use stomp_server::{message_mapping, send_to, Payload, StompServer};

#[derive(Deserialize, Serialize)]
struct ChatMessage {
    sender: String,
    text: String,
}

#[message_mapping("/chat/<room>")]
#[send_to("/topic/chat.<room>")]
fn chat(room: String, Payload(message): Payload<ChatMessage>) -> ChatMessage {
    tracing::debug!(%room, "relaying a chat message");
    message
}

/// `RABBITMQ_STOMP` as host and port.
fn rabbitmq() -> Result<(String, u16), String> {
    let address = std::env::var("RABBITMQ_STOMP").unwrap_or_else(|_| "127.0.0.1:61613".into());
    let (host, port) = address
        .rsplit_once(':')
        .ok_or_else(|| format!("RABBITMQ_STOMP `{address}` is not HOST:PORT"))?;
    let port = port
        .parse()
        .map_err(|_| format!("RABBITMQ_STOMP `{address}` has no valid port"))?;
    Ok((host.to_owned(), port))
}

async fn serve(addr: String) -> Result<(), String> {
    let (host, port) = rabbitmq()?;
    let server = StompServer::builder()
        .endpoint("/ws")
        .application_prefix("/app")
        .broker_relay(
            RelayConfig::default()
                .with_host(host)
                .with_port(port)
                .with_prefixes(vec!["/topic".to_owned(), "/queue".to_owned()]),
        )
        .static_resource("/", "text/plain", "STOMP at /ws, relayed to RabbitMQ\n")
        .build()
        .map_err(|e| e.to_string())?;
    stomp_examples::serve("relay", server, &addr)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    stomp_examples::run("relay", serve).await
}

//! The Redis backplane: run two of these on two ports and a message sent to one reaches
//! subscribers of both, and `convert_and_send_to_user` reaches a user on either, through
//! Redis Pub/Sub. Each instance keeps its own in-memory broker.
//!
//! ```text
//! bash tests/redis/start-redis.sh
//! cargo run -p stomp-examples --example redis -- --addr 127.0.0.1:8080
//! cargo run -p stomp-examples --example redis -- --addr 127.0.0.1:8081   # another terminal
//! ```
//!
//! Redis is at `REDIS_URL` (default `redis://127.0.0.1:6379`). `SEND /app/chat/<room>`
//! reaches `/topic/chat/<room>` on every instance.

use serde::{Deserialize, Serialize};
use stomp_server::redis::RedisConfig;
use stomp_server::{message_mapping, send_to, Payload, StompServer};

#[derive(Deserialize, Serialize)]
struct ChatMessage {
    sender: String,
    text: String,
}

#[message_mapping("/chat/<room>")]
#[send_to("/topic/chat/<room>")]
fn chat(room: String, Payload(message): Payload<ChatMessage>) -> ChatMessage {
    tracing::debug!(%room, "publishing a chat message");
    message
}

async fn serve(addr: String) -> Result<(), String> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let server = StompServer::builder()
        .endpoint("/ws")
        .application_prefix("/app")
        .simple_broker(["/topic", "/queue"])
        .redis_backplane(RedisConfig::default().with_url(url))
        .static_resource("/", "text/plain", "STOMP at /ws, joined through Redis\n")
        .build()
        .map_err(|e| e.to_string())?;
    stomp_examples::serve("redis", server, &addr)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    stomp_examples::run("redis", serve).await
}

//! An axum application that serves REST routes and mounts the STOMP endpoint beside them
//! (Spring MVC and `@EnableWebSocketMessageBroker` in one app).
//!
//! ```text
//! cargo run -p stomp-examples --example axum [-- --addr 127.0.0.1:8080]
//! ```
//!
//! - `GET /` and `GET /api/health`: plain axum routes.
//! - `POST /api/announcements` with `{"text": ".."}`: publishes to `/topic/announcements`
//!   through the server's `Template` and answers how many subscribers it reached.
//! - `/ws`: STOMP over WebSocket; `SEND /app/chat/<room>` reaches `/topic/chat/<room>`.
//! - `GET /metrics`: the application's own registry in OpenMetrics text, its counter of
//!   announcements beside the server's `stomp_*` metrics (`Server::register_metrics`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use stomp_server::{message_mapping, send_to, Payload, Principal, StompServer, Template};

/// What `/app/chat/<room>` takes.
#[derive(Deserialize)]
struct Post {
    text: String,
}

/// What `/topic/chat/<room>` and `/topic/announcements` receive.
#[derive(Serialize)]
struct ChatMessage {
    room: String,
    sender: String,
    text: String,
}

#[message_mapping("/chat/<room>")]
#[send_to("/topic/chat/<room>")]
fn chat(room: String, user: Option<Principal>, Payload(post): Payload<Post>) -> ChatMessage {
    let sender = user.map_or_else(|| "anonymous".to_owned(), |u| u.name().to_owned());
    ChatMessage {
        room,
        sender,
        text: post.text,
    }
}

/// What the REST routes share: the server's template and the application's own counter.
#[derive(Clone)]
struct App {
    template: Template,
    announcements: Counter,
}

/// `POST /api/announcements`: REST in, STOMP out.
async fn announce(State(app): State<App>, Json(post): Json<Post>) -> Json<usize> {
    app.announcements.inc();
    let message = ChatMessage {
        room: "announcements".to_owned(),
        sender: "the server".to_owned(),
        text: post.text,
    };
    // The count is how many subscriptions the message was handed to.
    Json(
        app.template
            .convert_and_send("/topic/announcements", &message)
            .unwrap_or(0),
    )
}

/// axum keeps the peer address as `ConnectInfo<SocketAddr>`; the STOMP service reads a plain
/// `SocketAddr` from the request's extensions (for its logs and its HTTP handlers).
async fn with_peer_address(mut request: Request) -> Request {
    if let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() {
        let peer = *peer;
        request.extensions_mut().insert(peer);
    }
    request
}

/// `GET /metrics`: everything `registry` holds (the server's metrics and the app's own).
async fn metrics(registry: Arc<Registry>) -> Response {
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &registry) {
        Ok(()) => {
            let content_type = [(header::CONTENT_TYPE, stomp_server::metrics::CONTENT_TYPE)];
            (content_type, text).into_response()
        }
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn serve(addr: String) -> Result<(), Box<dyn std::error::Error>> {
    let stomp = StompServer::builder()
        .endpoint("/ws")
        .application_prefix("/app")
        .simple_broker(["/topic"])
        .build()?;
    // One registry for the application's metrics and the server's.
    let mut registry = Registry::default();
    let announcements = Counter::default();
    let help = "Announcements posted through the REST API";
    registry.register("example_announcements", help, announcements.clone());
    stomp.register_metrics(&mut registry);
    let registry = Arc::new(registry);
    let state = App {
        template: stomp.template(),
        announcements,
    };
    let app = Router::new()
        .route(
            "/",
            get(|| async { "REST and STOMP in one axum app; STOMP at /ws\n" }),
        )
        .route("/api/health", get(|| async { "ok" }))
        .route("/api/announcements", post(announce))
        .route("/metrics", get(move || metrics(Arc::clone(&registry))))
        .with_state(state)
        .route_service("/ws", stomp.into_service())
        .layer(axum::middleware::map_request(with_peer_address));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!("axum on http://{}/", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stomp_server::shutdown_signal())
    .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    stomp_examples::run("axum", serve).await
}

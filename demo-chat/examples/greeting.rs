//! Spring's guide "Using WebSocket to build an interactive web application"
//! (gs-messaging-stomp-websocket), on stomp-server.
//!
//! ```text
//! cargo run -p demo-chat --example greeting [-- --addr 127.0.0.1:8080]
//! ```
//!
//! | Spring (the guide) | here |
//! | --- | --- |
//! | `registry.addEndpoint("/gs-guide-websocket")` | `.endpoint("/gs-guide-websocket")` |
//! | `config.enableSimpleBroker("/topic")` | `.simple_broker(["/topic"])` |
//! | `config.setApplicationDestinationPrefixes("/app")` | `.application_prefix("/app")` |
//! | `@MessageMapping("/hello") @SendTo("/topic/greetings")` | the same two attributes |
//! | `HtmlUtils.htmlEscape(message.getName())` | [`html_escape`] |
//!
//! The guide's handler sleeps a second to simulate latency; this one answers at once.

use serde::{Deserialize, Serialize};
use stomp_server::{message_mapping, send_to, Payload, StompServer};

/// What the page sends to `/app/hello`.
#[derive(Debug, Deserialize)]
struct HelloMessage {
    name: String,
}

/// What `/topic/greetings` receives.
#[derive(Debug, Serialize)]
struct Greeting {
    content: String,
}

#[message_mapping("/hello")]
#[send_to("/topic/greetings")]
fn greeting(Payload(message): Payload<HelloMessage>) -> Greeting {
    Greeting {
        content: format!("Hello, {}!", html_escape(&message.name)),
    }
}

/// Escapes text for HTML like Spring's `HtmlUtils.htmlEscape`: `& < > " '`.
fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `--addr HOST:PORT` (or `--addr=..`), else env `DEMO_ADDR`, else `127.0.0.1:8080`.
fn address() -> Result<String, String> {
    let mut addr = std::env::var("DEMO_ADDR").ok().filter(|a| !a.is_empty());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if let Some(value) = arg.strip_prefix("--addr=") {
            addr = Some(value.to_owned());
        } else if arg == "--addr" {
            addr = Some(args.next().ok_or("--addr needs a value")?);
        } else {
            return Err(format!(
                "unknown argument `{arg}`; usage: greeting [--addr HOST:PORT]"
            ));
        }
    }
    Ok(addr.unwrap_or_else(|| "127.0.0.1:8080".to_owned()))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let addr = match address() {
        Ok(addr) => addr,
        Err(error) => {
            eprintln!("greeting: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    let built = StompServer::builder()
        .endpoint("/gs-guide-websocket")
        // The guide's older versions (and Spring's SockJsClient) connect through SockJS.
        .with_sockjs()
        .application_prefix("/app")
        .simple_broker(["/topic"])
        .static_resource(
            "/",
            "text/html; charset=utf-8",
            include_str!("../static/greeting/index.html"),
        )
        .static_resource(
            "/app.js",
            "text/javascript; charset=utf-8",
            include_str!("../static/greeting/app.js"),
        )
        .static_resource(
            "/stomp.js",
            "text/javascript; charset=utf-8",
            include_str!("../static/stomp.js"),
        )
        .static_resource(
            "/style.css",
            "text/css; charset=utf-8",
            include_str!("../static/style.css"),
        )
        .build();
    match serve(built, &addr).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("greeting: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Binds `addr` (port 0 picks a free one), logs the address it got, serves until Ctrl-C.
async fn serve(
    built: Result<stomp_server::Server, stomp_server::StartError>,
    addr: &str,
) -> Result<(), stomp_server::StartError> {
    let server = built?;
    let listener = server.bind(addr).await?;
    let local = listener
        .local_addr()
        .map_or_else(|_| addr.to_owned(), |a| a.to_string());
    tracing::info!(
        "greeting example on http://{local}/ (STOMP at ws://{local}/gs-guide-websocket)"
    );
    server.run(listener, stomp_server::shutdown_signal()).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_html_escaped_like_spring() {
        assert_eq!(html_escape("Ann"), "Ann");
        assert_eq!(
            html_escape("<b>\"Tom\" & 'Jerry'</b>"),
            "&lt;b&gt;&quot;Tom&quot; &amp; &#39;Jerry&#39;&lt;/b&gt;"
        );
    }
}

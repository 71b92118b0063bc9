//! Spring's guide "Using WebSocket to build an interactive web application"
//! (gs-messaging-stomp-websocket), on stomp-server.
//!
//! ```text
//! cargo run -p stomp-examples --example greeting [-- --addr 127.0.0.1:8080]
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

#[tokio::main]
async fn main() -> std::process::ExitCode {
    stomp_examples::run("greeting", |addr| async move {
        let server = StompServer::builder()
            .endpoint("/gs-guide-websocket")
            // The guide's older versions (and Spring's SockJsClient) connect through SockJS.
            .with_sockjs()
            .application_prefix("/app")
            .simple_broker(["/topic"])
            .static_resource("/", HTML, include_str!("greeting/index.html"))
            .static_resource("/app.js", JAVASCRIPT, include_str!("greeting/app.js"))
            // The page's STOMP client and styles are the demo chat's.
            .static_resource(
                "/stomp.js",
                JAVASCRIPT,
                include_str!("../demo-chat/static/stomp.js"),
            )
            .static_resource(
                "/style.css",
                "text/css; charset=utf-8",
                include_str!("../demo-chat/static/style.css"),
            )
            .build()?;
        stomp_examples::serve("greeting", server, &addr).await
    })
    .await
}

const HTML: &str = "text/html; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

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

//! The SockJS service of a server: its options, its sessions, and how a path is routed to
//! one of its requests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::iframe::IframePage;
use super::session::SockSession;

/// The sockjs-client script the `iframe.html` page loads by default (Spring's
/// `clientLibraryUrl` default, on the jsDelivr CDN).
pub const DEFAULT_CLIENT_LIBRARY_URL: &str =
    "https://cdn.jsdelivr.net/npm/sockjs-client@1.6.1/dist/sockjs.min.js";

/// SockJS settings; the defaults are Spring's.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SockJsOptions {
    /// How long a receiving request or a SockJS WebSocket stays silent before the server
    /// sends an `h` heartbeat frame (Spring: 25 s). Frames of any kind reset it, so STOMP
    /// heart-beats, when negotiated, make SockJS heartbeats unnecessary.
    pub heartbeat: Duration,
    /// How long a session lives without a receiving request before it is closed (Spring's
    /// `disconnectDelay`: 5 s).
    pub disconnect_delay: Duration,
    /// How many bytes one `xhr_streaming` response carries before the server ends it and
    /// the client opens the next one (Spring's `streamBytesLimit`: 128 KiB).
    pub stream_bytes_limit: usize,
    /// Whether `/info` answers `cookie_needed: true` and every HTTP transport response sets
    /// `JSESSIONID` (the client's value, else `dummy`; `Path=/`), so that a load balancer
    /// with sticky sessions on that cookie keeps a SockJS session on one instance (Spring's
    /// `sessionCookieNeeded`). On by default, as in Spring.
    pub session_cookie_needed: bool,
    /// The sockjs-client script that the `iframe.html` page loads, for the iframe-based
    /// transports (`iframe-eventsource`, `iframe-htmlfile`); it must be the same version as
    /// the page's own sockjs-client (Spring's `clientLibraryUrl`).
    pub client_library_url: String,
}

impl Default for SockJsOptions {
    fn default() -> Self {
        SockJsOptions {
            heartbeat: Duration::from_secs(25),
            disconnect_delay: Duration::from_secs(5),
            stream_bytes_limit: 128 * 1024,
            session_cookie_needed: true,
            client_library_url: DEFAULT_CLIENT_LIBRARY_URL.to_owned(),
        }
    }
}

/// The SockJS service of a server: its options and the sessions of the HTTP transports.
pub(crate) struct SockJs {
    pub(crate) options: SockJsOptions,
    /// The `iframe.html` page, built once for `options.client_library_url`.
    pub(crate) iframe: IframePage,
    sessions: Mutex<HashMap<String, Arc<SockSession>>>,
}

/// What a SockJS path asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// `P` without an upgrade: the greeting.
    Greeting,
    /// `P/info`.
    Info,
    /// `P/iframe.html` or `P/iframe-<version>.html`: the page of the iframe transports.
    Iframe,
    /// `P/websocket`: plain STOMP over WebSocket.
    RawWebSocket,
    /// `P/{server}/{session}/{transport}`.
    Transport {
        /// The session id.
        session: String,
        /// The transport name.
        transport: String,
    },
}

impl SockJs {
    /// A SockJS service with `options`.
    pub(crate) fn new(options: SockJsOptions) -> Self {
        SockJs {
            iframe: IframePage::new(&options.client_library_url),
            options,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<SockSession>>> {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The session `id`, if it is open.
    pub(crate) fn session(&self, id: &str) -> Option<Arc<SockSession>> {
        self.sessions().get(id).cloned()
    }

    /// Registers `session` under `id`, unless one exists (returned then).
    pub(crate) fn register(
        &self,
        id: &str,
        session: &Arc<SockSession>,
    ) -> Option<Arc<SockSession>> {
        let mut sessions = self.sessions();
        if let Some(existing) = sessions.get(id) {
            return Some(Arc::clone(existing));
        }
        sessions.insert(id.to_owned(), Arc::clone(session));
        None
    }

    /// Forgets `id` (the session is closed).
    pub(crate) fn remove(&self, id: &str) {
        self.sessions().remove(id);
    }
}

/// Routes `path` under one of `endpoints`; `None` when it is not a SockJS path.
pub(crate) fn route(path: &str, endpoints: &[String]) -> Option<Route> {
    for endpoint in endpoints {
        let Some(rest) = path.strip_prefix(endpoint.trim_end_matches('/')) else {
            continue;
        };
        let rest = rest.trim_start_matches('/');
        if rest.is_empty() {
            return Some(Route::Greeting);
        }
        if path.len() == rest.len() || !path[..path.len() - rest.len()].ends_with('/') {
            continue;
        }
        match rest.split('/').collect::<Vec<_>>().as_slice() {
            ["info"] => return Some(Route::Info),
            [name] if iframe_page(name) => return Some(Route::Iframe),
            ["websocket"] => return Some(Route::RawWebSocket),
            [server, session, transport]
                if valid_id(server) && valid_id(session) && !transport.is_empty() =>
            {
                return Some(Route::Transport {
                    session: (*session).to_owned(),
                    transport: (*transport).to_owned(),
                })
            }
            _ => {}
        }
    }
    None
}

/// `iframe.html`, or `iframe` then `[0-9a-z._-]*` then `.html`, as Spring matches it.
fn iframe_page(name: &str) -> bool {
    name.strip_prefix("iframe")
        .and_then(|rest| rest.strip_suffix(".html"))
        .is_some_and(|version| {
            version.bytes().all(|b| {
                b.is_ascii_digit() || b.is_ascii_lowercase() || matches!(b, b'.' | b'-' | b'_')
            })
        })
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && !id.contains('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let endpoints = vec!["/ws".to_owned()];
        assert_eq!(route("/ws/info", &endpoints), Some(Route::Info));
        assert_eq!(route("/ws", &endpoints), Some(Route::Greeting));
        assert_eq!(
            route("/ws/websocket", &endpoints),
            Some(Route::RawWebSocket)
        );
        assert_eq!(
            route("/ws/123/abc/xhr_send", &endpoints),
            Some(Route::Transport {
                session: "abc".into(),
                transport: "xhr_send".into()
            })
        );
        assert_eq!(route("/wsx/info", &endpoints), None);
        assert_eq!(route("/ws/1/a.b/xhr", &endpoints), None);
        assert_eq!(route("/other", &endpoints), None);
        for page in [
            "iframe.html",
            "iframe-1.6.1.html",
            "iframe-.html",
            "iframe-a_b.html",
        ] {
            assert_eq!(
                route(&format!("/ws/{page}"), &endpoints),
                Some(Route::Iframe)
            );
        }
        for other in [
            "iframe.htm",
            "iframe",
            "IFRAME.HTML",
            "iframe.xml",
            "iframe-/.html",
        ] {
            assert_eq!(route(&format!("/ws/{other}"), &endpoints), None, "{other}");
        }
    }
}

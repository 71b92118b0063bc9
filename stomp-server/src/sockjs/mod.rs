//! SockJS, as Spring's `.withSockJS()`: the `info` request, the `websocket` transport (raw
//! and SockJS-framed), the `xhr_streaming`, `eventsource` and `htmlfile` streaming
//! transports (one response, a framing each), `xhr` (polling) and `xhr_send`, the
//! `iframe.html` page of the iframe-based transports, and the `JSESSIONID` cookie for
//! sticky load balancers. JSONP polling is not served.

mod cookie;
mod flushed;
mod frame;
mod framing;
mod http;
mod iframe;
mod receive;
mod response;
mod service;
mod session;
mod streaming;
mod websocket;
mod xhr;

pub(crate) use self::flushed::{FlushedIo, Flushes};
pub(crate) use self::http::serve;
pub(crate) use self::service::{route, SockJs};
pub use self::service::{SockJsOptions, DEFAULT_CLIENT_LIBRARY_URL};

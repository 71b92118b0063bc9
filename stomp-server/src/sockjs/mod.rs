//! SockJS, as Spring's `.withSockJS()`: the `info` request, the `websocket` transport (raw
//! and SockJS-framed) and the `xhr_streaming`, `xhr` (polling) and `xhr_send` transports.
//! Iframe, eventsource, htmlfile and JSONP transports are not served.

mod flushed;
mod frame;
mod http;
mod response;
mod service;
mod session;
mod websocket;
mod xhr;

pub(crate) use self::flushed::{FlushedIo, Flushes};
pub(crate) use self::http::serve;
pub use self::service::SockJsOptions;
pub(crate) use self::service::{route, SockJs};

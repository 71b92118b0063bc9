//! The HTTP building blocks that STOMP endpoints and SockJS share: response bodies, bounded
//! request bodies, the WebSocket upgrade and the Origin check. Neither side's routing lives
//! here, so both import it and it imports neither.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};

mod context;
mod handshake;
mod intercept;
mod origin;
mod upgrade;

pub(crate) use context::EndpointContext;
pub(crate) use intercept::{acceptable_handshake, intercept_handshake};
pub(crate) use origin::origin_allowed;
pub(crate) use upgrade::{is_upgrade, upgrade, Subprotocols, UpgradedSocket};

/// The error type request bodies may have.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every response the server writes (a whole body, or the stream of a SockJS
/// `xhr_streaming` response).
pub type ResponseBody = BoxBody<Bytes, Infallible>;

/// A whole body.
pub(crate) fn body(bytes: Bytes) -> ResponseBody {
    Full::new(bytes).boxed()
}

/// Why a request body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum BodyError {
    /// Longer than allowed.
    #[error("request body too large")]
    TooLarge,
    /// Not complete within `http_request_time`.
    #[error("request body too slow")]
    TooSlow,
    /// The connection failed while reading it.
    #[error("unreadable request body")]
    Unreadable,
}

impl BodyError {
    /// 413, 408 or 400; the connection is closed after it (the rest of the body is not read).
    pub(crate) fn response(self) -> Response<ResponseBody> {
        let code = match self {
            BodyError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::TooSlow => StatusCode::REQUEST_TIMEOUT,
            BodyError::Unreadable => StatusCode::BAD_REQUEST,
        };
        let text = match self {
            BodyError::TooLarge => "request body too large",
            BodyError::TooSlow => "request body not received in time",
            BodyError::Unreadable => "unreadable request body",
        };
        let mut response = status(code, text);
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        response
    }
}

/// Reads a whole request body of at most `max` bytes within `within`.
pub(crate) async fn read_body<B>(body: B, max: usize, within: Duration) -> Result<Bytes, BodyError>
where
    B: hyper::body::Body,
    B::Error: Into<BoxError>,
{
    let limited = http_body_util::Limited::new(body, max);
    match tokio::time::timeout(within, limited.collect()).await {
        Err(_) => Err(BodyError::TooSlow),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => {
            Err(BodyError::TooLarge)
        }
        Ok(Err(_)) => Err(BodyError::Unreadable),
    }
}

pub(crate) fn status(code: StatusCode, text: &'static str) -> Response<ResponseBody> {
    let mut response = Response::new(body(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = code;
    response
}

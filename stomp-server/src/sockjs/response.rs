//! The responses SockJS answers with: plain text, and the not-cached bodies of the
//! receiving requests, whose messages count as written only once the connection flushed
//! them.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Frame;
use tokio::sync::mpsc;

use super::flushed::Flushes;
use super::session::Delivery;
use crate::web::{body, ResponseBody};

/// Bytes of a response, and the messages they carry.
pub(crate) type Chunk = (Bytes, Option<Delivery>);

/// A `text/plain` response.
pub(crate) fn plain(code: StatusCode, text: &'static str) -> Response<ResponseBody> {
    let mut response = Response::new(body(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = code;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain;charset=UTF-8"),
    );
    response
}

/// A not-cached response of `content_type` whose body is what arrives on `rx`.
pub(crate) fn channel_response(
    rx: mpsc::Receiver<Chunk>,
    flushes: Option<Flushes>,
    content_type: &'static str,
) -> Response<ResponseBody> {
    not_cached(
        Response::new(ChannelBody { rx, flushes }.boxed()),
        content_type,
    )
}

/// A not-cached response of `content_type` with `payload` as its body.
pub(crate) fn full_response(payload: Bytes, content_type: &'static str) -> Response<ResponseBody> {
    not_cached(Response::new(body(payload)), content_type)
}

fn not_cached(
    mut response: Response<ResponseBody>,
    content_type: &'static str,
) -> Response<ResponseBody> {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store, no-cache, must-revalidate, max-age=0"),
    );
    response
}

/// A response body fed by a channel, ending when the sender is dropped. The messages of a
/// chunk hyper takes count as written once the connection flushed it (at once without
/// [`Flushes`]); chunks never taken give theirs back to the session.
struct ChannelBody {
    rx: mpsc::Receiver<Chunk>,
    flushes: Option<Flushes>,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let chunk = std::task::ready!(self.rx.poll_recv(cx));
        Poll::Ready(chunk.map(|(data, delivery)| {
            match (delivery, &self.flushes) {
                (Some(delivery), Some(flushes)) => flushes.after_next_flush(delivery),
                (Some(delivery), None) => delivery.written(),
                (None, _) => {}
            }
            Ok(Frame::data(data))
        }))
    }
}

//! The plain responses SockJS answers with.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

use crate::web::{body, ResponseBody};

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

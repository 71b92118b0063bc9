//! The `iframe.html` page: the iframe-based transports (`iframe-eventsource`,
//! `iframe-htmlfile`, ...) load it from the server's origin, where it loads sockjs-client
//! from `client_library_url` and runs the transport for the page that embeds it. It is
//! strongly cached: `Cache-Control` for a year, `Expires`, and an `ETag` that is the same on
//! every instance serving the same page (a 304 answers a matching `If-None-Match`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Response, StatusCode};

use crate::web::{body, ResponseBody};

/// How long the page may be cached.
const ONE_YEAR: Duration = Duration::from_secs(31_536_000);

/// The page for one `client_library_url`, and its entity tag.
pub(crate) struct IframePage {
    html: Bytes,
    etag: HeaderValue,
}

impl IframePage {
    /// The page that loads sockjs-client from `client_library_url`.
    pub(crate) fn new(client_library_url: &str) -> IframePage {
        let html = format!(
            "<!DOCTYPE html>\n<html>\n<head>\n  \
             <meta http-equiv=\"X-UA-Compatible\" content=\"IE=edge\" />\n  \
             <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n  \
             <script src=\"{}\"></script>\n  <script>\n    \
             document.domain = document.domain;\n    SockJS.bootstrap_iframe();\n  \
             </script>\n</head>\n<body>\n  <h2>Don't panic!</h2>\n  \
             <p>This is a SockJS hidden iframe. It's used for cross domain magic.</p>\n\
             </body>\n</html>",
            attribute(client_library_url)
        );
        // Hex digits only: always a valid header value.
        let etag = HeaderValue::from_str(&format!("\"0{:016x}\"", fnv1a(html.as_bytes())))
            .unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
        IframePage {
            html: Bytes::from(html),
            etag,
        }
    }

    /// The page, or 304 when `request` names its entity tag in `If-None-Match`.
    pub(crate) fn response(&self, request: &HeaderMap) -> Response<ResponseBody> {
        let mut response = if self.matches(request) {
            let mut response = Response::new(body(Bytes::new()));
            *response.status_mut() = StatusCode::NOT_MODIFIED;
            response
        } else {
            let mut response = Response::new(body(self.html.clone()));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html;charset=UTF-8"),
            );
            response
        };
        let headers = response.headers_mut();
        headers.insert(header::ETAG, self.etag.clone());
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000"),
        );
        if let Ok(expires) = HeaderValue::from_str(&http_date(SystemTime::now() + ONE_YEAR)) {
            headers.insert(header::EXPIRES, expires);
        }
        response
    }

    fn matches(&self, request: &HeaderMap) -> bool {
        let ours = self.etag.as_bytes();
        request
            .get_all(header::IF_NONE_MATCH)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|tags| tags.split(','))
            .map(|tag| tag.trim())
            .any(|tag| tag == "*" || tag.trim_start_matches("W/").as_bytes() == ours)
    }
}

/// `text` safe inside a double-quoted HTML attribute.
fn attribute(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// 64-bit FNV-1a: a hash that is the same in every build and on every instance.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// `time` as an HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn http_date(time: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let (year, month, day) = civil_from_days(days);
    let weekday = DAYS[(days % 7) as usize];
    let month = MONTHS[(month - 1) as usize];
    let (h, m, s) = (secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    format!("{weekday}, {day:02} {month} {year} {h:02}:{m:02}:{s:02} GMT")
}

/// Year, month (1-12) and day (1-31) of `days` after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for dates after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        let at = |secs| http_date(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(at(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(at(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(at(1_798_761_599), "Thu, 31 Dec 2026 23:59:59 GMT");
    }

    #[test]
    fn the_page_loads_the_client_library_and_has_a_stable_etag() {
        let page = IframePage::new("/js/sockjs.min.js?a=1&b=\"2\"");
        let html = std::str::from_utf8(&page.html).unwrap_or_default();
        assert!(html.contains("<script src=\"/js/sockjs.min.js?a=1&amp;b=&quot;2&quot;\">"));
        assert!(html.contains("SockJS.bootstrap_iframe();"));
        let again = IframePage::new("/js/sockjs.min.js?a=1&b=\"2\"");
        assert_eq!(page.etag, again.etag);
        assert_ne!(page.etag, IframePage::new("/other.js").etag);
    }

    #[test]
    fn a_matching_if_none_match_is_answered_304() {
        let page = IframePage::new("/sockjs.js");
        let mut request = HeaderMap::new();
        assert_eq!(page.response(&request).status(), StatusCode::OK);
        request.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
        assert_eq!(page.response(&request).status(), StatusCode::OK);
        let tags = format!("\"x\", W/{}", page.etag.to_str().unwrap_or_default());
        request.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(&tags).unwrap_or_else(|_| HeaderValue::from_static("")),
        );
        let not_modified = page.response(&request);
        assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);
        assert!(not_modified.headers().get(header::CONTENT_TYPE).is_none());
        assert_eq!(not_modified.headers().get(header::ETAG), Some(&page.etag));
    }
}

//! The `JSESSIONID` cookie of the HTTP transports (Spring's `sessionCookieNeeded`): a load
//! balancer with sticky sessions on that cookie sends every request of a SockJS session to
//! the same instance. The client's value is echoed, else `dummy`, as Spring and sockjs-node
//! do; the server keeps no HTTP session of its own.

use http::{header, HeaderMap, HeaderValue};

/// The cookie's name.
const NAME: &str = "JSESSIONID";

/// The longest client value echoed; a longer one is replaced by `dummy`.
const MAX_VALUE: usize = 256;

/// The `Set-Cookie` value `JSESSIONID=<value>; Path=/`, `<value>` the one `request`
/// carries when it is a plain cookie value (RFC 6265 `cookie-octet`s, at most 256 bytes),
/// else `dummy`: a value that could add attributes (`;`) or break the header is never
/// echoed.
pub(crate) fn session_cookie(request: &HeaderMap) -> HeaderValue {
    let value = client_value(request).unwrap_or("dummy");
    // Cookie octets only: always a valid header value.
    HeaderValue::from_str(&format!("{NAME}={value}; Path=/"))
        .unwrap_or_else(|_| HeaderValue::from_static("JSESSIONID=dummy; Path=/"))
}

/// The first usable `JSESSIONID` among the request's `Cookie` headers.
fn client_value(request: &HeaderMap) -> Option<&str> {
    request
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == NAME)
        .map(|(_, value)| value.trim_matches('"'))
        .filter(|value| !value.is_empty() && value.len() <= MAX_VALUE)
        .filter(|value| value.bytes().all(cookie_octet))
}

/// RFC 6265 `cookie-octet`: visible ASCII but `"`, `,`, `;` and `\`.
fn cookie_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookie_for(cookies: &[&str]) -> String {
        let mut request = HeaderMap::new();
        for value in cookies {
            request.append(
                header::COOKIE,
                HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static("")),
            );
        }
        session_cookie(&request)
            .to_str()
            .unwrap_or_default()
            .to_owned()
    }

    #[test]
    fn the_clients_value_is_echoed_else_dummy() {
        assert_eq!(cookie_for(&[]), "JSESSIONID=dummy; Path=/");
        assert_eq!(
            cookie_for(&["a=1; JSESSIONID=node-7.abc"]),
            "JSESSIONID=node-7.abc; Path=/"
        );
        assert_eq!(
            cookie_for(&["a=1", "JSESSIONID=\"q1\""]),
            "JSESSIONID=q1; Path=/"
        );
        assert_eq!(cookie_for(&["XJSESSIONID=x"]), "JSESSIONID=dummy; Path=/");
    }

    #[test]
    fn a_value_that_could_add_attributes_is_not_echoed() {
        for bad in [
            "JSESSIONID=a\\b",
            "JSESSIONID=a,Domain=evil",
            "JSESSIONID=",
            "JSESSIONID=a b",
        ] {
            assert_eq!(cookie_for(&[bad]), "JSESSIONID=dummy; Path=/", "{bad}");
        }
        let long = format!("JSESSIONID={}", "a".repeat(MAX_VALUE + 1));
        assert_eq!(cookie_for(&[&long]), "JSESSIONID=dummy; Path=/");
    }
}

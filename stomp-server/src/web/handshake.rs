//! The checks of a WebSocket opening handshake (RFC 6455 section 4.2.1) and the
//! same-origin rule.

use http::{header, HeaderMap, HeaderValue, Method, Uri};

/// Why a handshake is refused before anything else is looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// 400 with this text.
    BadRequest(&'static str),
    /// 426, with `Sec-WebSocket-Version: 13`: the client speaks another version (or none).
    UpgradeRequired,
}

/// The `Sec-WebSocket-Key` of a well-formed opening handshake.
pub(crate) fn check<'h>(
    method: &Method,
    headers: &'h HeaderMap,
) -> Result<&'h HeaderValue, Refusal> {
    if !has_token(headers, header::UPGRADE, "websocket") {
        return Err(Refusal::BadRequest(
            "this endpoint speaks STOMP over WebSocket only",
        ));
    }
    if method != Method::GET {
        return Err(Refusal::BadRequest("a WebSocket handshake must be a GET"));
    }
    if !has_token(headers, header::CONNECTION, "upgrade") {
        return Err(Refusal::BadRequest(
            "a WebSocket handshake needs `Connection: upgrade`",
        ));
    }
    let version = headers.get(header::SEC_WEBSOCKET_VERSION);
    if version.is_none_or(|v| v.as_bytes() != b"13") {
        return Err(Refusal::UpgradeRequired);
    }
    match headers.get(header::SEC_WEBSOCKET_KEY) {
        Some(key) if is_key(key.as_bytes()) => Ok(key),
        _ => Err(Refusal::BadRequest(
            "Sec-WebSocket-Key must be 16 bytes in base64",
        )),
    }
}

/// True when a header `name` (all of its values) lists `token`, case-insensitively.
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// True for the base64 encoding of 16 bytes: 22 characters of the alphabet, the last one
/// carrying no bits past the 128th, then `==`.
fn is_key(key: &[u8]) -> bool {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let [body @ .., b'=', b'='] = key else {
        return false;
    };
    body.len() == 22
        && body.iter().all(|&c| value(c).is_some())
        && body
            .last()
            .and_then(|&c| value(c))
            .is_some_and(|v| v & 0x0f == 0)
}

/// True when `origin` is the origin the request was made to: the same scheme (`http`
/// unless the request URI or an `X-Forwarded-Proto` set by a proxy says otherwise), host
/// and port (default ports filled in) as the `Host` header.
pub(crate) fn same_origin(origin: &str, uri: &Uri, headers: &HeaderMap) -> bool {
    let forwarded = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim);
    let scheme = uri.scheme_str().or(forwarded).unwrap_or("http");
    let Some(default_port) = default_port(scheme) else {
        return false;
    };
    let Some((origin_scheme, origin_authority)) = origin.split_once("://") else {
        return false;
    };
    if !origin_scheme.eq_ignore_ascii_case(scheme) {
        return false;
    }
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let (Some(theirs), Some(ours)) = (
        host_and_port(origin_authority, default_port),
        host.and_then(|h| host_and_port(h, default_port)),
    ) else {
        return false;
    };
    theirs.0.eq_ignore_ascii_case(ours.0) && theirs.1 == ours.1
}

fn default_port(scheme: &str) -> Option<u16> {
    if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("ws") {
        Some(80)
    } else if scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("wss") {
        Some(443)
    } else {
        None
    }
}

/// `host[:port]` (an IPv6 host in brackets) with the port filled in; `None` when malformed
/// or followed by a path.
fn host_and_port(authority: &str, default_port: u16) -> Option<(&str, u16)> {
    if authority.is_empty() || authority.contains(['/', '@', '?', '#']) {
        return None;
    }
    let port_at = match authority.rfind(':') {
        Some(at) if !authority[at..].contains(']') => Some(at),
        _ => None,
    };
    match port_at {
        Some(at) => {
            let port = authority[at + 1..].parse().ok()?;
            Some((&authority[..at], port))
        }
        None => Some((authority, default_port)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    const GOOD: &[(&str, &str)] = &[
        ("upgrade", "websocket"),
        ("connection", "keep-alive, Upgrade"),
        ("sec-websocket-version", "13"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];

    fn without(name: &str) -> HeaderMap {
        let pairs: Vec<_> = GOOD.iter().copied().filter(|(n, _)| *n != name).collect();
        headers(&pairs)
    }

    fn with(name: &str, value: &'static str) -> HeaderMap {
        let mut map = without(name);
        map.insert(
            header::HeaderName::from_bytes(name.as_bytes()).expect("name"),
            HeaderValue::from_static(value),
        );
        map
    }

    #[test]
    fn rfc_6455_handshakes_pass_and_others_are_refused() {
        assert!(check(&Method::GET, &headers(GOOD)).is_ok());
        assert_eq!(
            check(&Method::GET, &with("sec-websocket-version", "8")),
            Err(Refusal::UpgradeRequired)
        );
        assert_eq!(
            check(&Method::GET, &without("sec-websocket-version")),
            Err(Refusal::UpgradeRequired)
        );
        let bad = |r: Result<&HeaderValue, Refusal>| matches!(r, Err(Refusal::BadRequest(_)));
        assert!(bad(check(&Method::POST, &headers(GOOD))));
        assert!(bad(check(&Method::GET, &without("connection"))));
        assert!(bad(check(&Method::GET, &without("upgrade"))));
        assert!(bad(check(&Method::GET, &without("sec-websocket-key"))));
        for key in [
            "not base64",
            "dGhlIHNhbXBsZSBub25jZQ",
            "dGhlIHNhbXBsZSBub25jZR==",
            "dGhlIHNhbXBsZSBub25jZQ=",
            "dGhlIHNhbXBsZSBub25j====",
            "dGhlIHNhbXBsZSBub25jZSE=",
        ] {
            let map = with(
                "sec-websocket-key",
                Box::leak(key.to_owned().into_boxed_str()),
            );
            assert!(bad(check(&Method::GET, &map)), "{key}");
        }
    }

    #[test]
    fn same_origin_compares_scheme_host_and_port() {
        let uri = Uri::from_static("/ws");
        let host = |h: &'static str| headers(&[("host", h)]);
        assert!(same_origin("http://a.example", &uri, &host("a.example")));
        assert!(same_origin("http://a.example:80", &uri, &host("A.example")));
        assert!(same_origin("http://a.example", &uri, &host("a.example:80")));
        assert!(same_origin("http://[::1]:8080", &uri, &host("[::1]:8080")));
        assert!(!same_origin("https://a.example", &uri, &host("a.example")));
        assert!(!same_origin(
            "http://a.example:8080",
            &uri,
            &host("a.example")
        ));
        assert!(!same_origin(
            "http://a.example.evil",
            &uri,
            &host("a.example")
        ));
        assert!(!same_origin("null", &uri, &host("a.example")));
        assert!(!same_origin("http://a.example", &uri, &HeaderMap::new()));
        let proxied = headers(&[("host", "a.example"), ("x-forwarded-proto", "https")]);
        assert!(same_origin("https://a.example", &uri, &proxied));
        assert!(same_origin("https://a.example:443", &uri, &proxied));
        assert!(!same_origin("http://a.example", &uri, &proxied));
    }
}

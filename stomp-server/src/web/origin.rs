//! Which origins may open a WebSocket or use SockJS.

use http::header;

use super::context::EndpointContext;
use super::handshake;

/// Same-origin by default (scheme, host and port, see [`handshake::same_origin`]);
/// otherwise the configured patterns (`*` wildcards, `"*"` for any). A request without
/// `Origin` (a non-browser client) is allowed, as in Spring.
pub(crate) fn origin_allowed(
    app: &EndpointContext,
    uri: &http::Uri,
    headers: &http::HeaderMap,
) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    if app.allowed_origins.is_empty() {
        return handshake::same_origin(origin, uri, headers);
    }
    app.allowed_origins
        .iter()
        .any(|pattern| wildcard_match(pattern, origin))
}

/// Matches `text` against `pattern` where `*` stands for any run of characters.
pub(crate) fn wildcard_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern.eq_ignore_ascii_case(text);
    }
    let text = text.to_ascii_lowercase();
    let mut rest = text.as_str();
    for (i, part) in parts.iter().enumerate() {
        let part = part.to_ascii_lowercase();
        if i == 0 {
            let Some(after) = rest.strip_prefix(part.as_str()) else {
                return false;
            };
            rest = after;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part.as_str());
        } else {
            let Some(at) = rest.find(part.as_str()) else {
                return false;
            };
            rest = &rest[at + part.len()..];
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::wildcard_match;

    #[test]
    fn origin_patterns() {
        assert!(wildcard_match("*", "http://a.example"));
        assert!(wildcard_match(
            "http://*.example.com",
            "http://chat.example.com"
        ));
        assert!(!wildcard_match(
            "http://*.example.com",
            "http://example.org"
        ));
        assert!(wildcard_match(
            "http://localhost:*",
            "http://localhost:8080"
        ));
        assert!(wildcard_match("https://a.b", "HTTPS://A.B"));
    }
}

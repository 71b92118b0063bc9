//! The chat's web page, embedded in the binary: no files to deploy, no CDN.

use stomp_server::StompServerBuilder;

const INDEX_HTML: &str = include_str!("../static/index.html");
const APP_JS: &str = include_str!("../static/app.js");
const STOMP_JS: &str = include_str!("../static/stomp.js");
const STYLE_CSS: &str = include_str!("../static/style.css");
const FAVICON_SVG: &str = include_str!("../static/favicon.svg");

const HTML: &str = "text/html; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// Serves the page at `/` (and `/index.html`) with its script, STOMP client, styles and
/// icon (an SVG, also at `/favicon.ico`, where browsers look when a page names none). In
/// `secure` mode the page's `<body>` says so (`data-auth="secure"`), and the page asks for
/// a password and offers sign-up.
pub(crate) fn register(builder: StompServerBuilder, secure: bool) -> StompServerBuilder {
    let html = index_html(secure);
    builder
        .static_resource("/", HTML, html.clone())
        .static_resource("/index.html", HTML, html)
        .static_resource("/app.js", JAVASCRIPT, APP_JS)
        .static_resource("/stomp.js", JAVASCRIPT, STOMP_JS)
        .static_resource("/style.css", CSS, STYLE_CSS)
        .static_resource("/favicon.svg", SVG, FAVICON_SVG)
        .static_resource("/favicon.ico", SVG, FAVICON_SVG)
}

/// The page, marked for `secure` mode.
fn index_html(secure: bool) -> String {
    let mode = if secure { "secure" } else { "open" };
    INDEX_HTML.replacen("<body>", &format!("<body data-auth=\"{mode}\">"), 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_knows_the_mode() {
        assert!(index_html(true).contains(r#"<body data-auth="secure">"#));
        assert!(index_html(false).contains(r#"<body data-auth="open">"#));
    }
}

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
/// icon (an SVG, also at `/favicon.ico`, where browsers look when a page names none).
pub(crate) fn register(builder: StompServerBuilder) -> StompServerBuilder {
    builder
        .static_resource("/", HTML, INDEX_HTML)
        .static_resource("/index.html", HTML, INDEX_HTML)
        .static_resource("/app.js", JAVASCRIPT, APP_JS)
        .static_resource("/stomp.js", JAVASCRIPT, STOMP_JS)
        .static_resource("/style.css", CSS, STYLE_CSS)
        .static_resource("/favicon.svg", SVG, FAVICON_SVG)
        .static_resource("/favicon.ico", SVG, FAVICON_SVG)
}

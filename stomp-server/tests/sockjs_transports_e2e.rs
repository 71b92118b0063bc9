//! SockJS behind a load balancer, over real sockets: the `JSESSIONID` cookie, the
//! `eventsource` and `htmlfile` streaming transports (framing, callback check, the stream
//! bytes limit) and the `iframe.html` page (caching, ETag, origins).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::sockjs::{
    header, json, messages, open_with, read_head, request, request_with, server, xhr_send, Stream,
    CONNECT, SUBSCRIBE,
};
use common::TestServer;
use stomp_server::{sockjs::SockJsOptions, StompServer};

/// A body that percent-decoding, HTML and JavaScript strings could each get wrong.
const TRICKY: &str = "100% </script><b>\"'\\ \u{2028} %41 & done";
const NO_CACHE: &str = "no-store, no-cache, must-revalidate, max-age=0";

fn send_tricky() -> String {
    format!("SEND\ndestination:/topic/t\ncontent-type:text/plain\n\n{TRICKY}\0")
}

/// Reads the SockJS frames of an `eventsource` response.
struct EventStream(Stream);

impl EventStream {
    async fn open(port: u16, session: &str) -> (EventStream, String) {
        let path = format!("/ws/000/{session}/eventsource");
        let (mut stream, head) = Stream::get(port, &path, "").await;
        assert_eq!(
            stream.until("\r\n").await.as_deref(),
            Some("\r\n"),
            "prelude"
        );
        (EventStream(stream), head)
    }

    /// The next event's data, percent-decoded as sockjs-client's `decodeURI` does.
    async fn frame(&mut self) -> Option<String> {
        let event = self.0.until("\r\n\r\n").await?;
        let data = event
            .strip_prefix("data: ")
            .and_then(|d| d.strip_suffix("\r\n\r\n"))
            .unwrap_or_else(|| panic!("not an event: {event:?}"));
        assert!(!data.contains(['\r', '\n', '\0']), "{data:?}");
        Some(percent_decode(data))
    }
}

fn percent_decode(text: &str) -> String {
    let mut out = Vec::new();
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex: String = [bytes.next().unwrap(), bytes.next().unwrap()]
                .iter()
                .map(|&b| b as char)
                .collect();
            out.push(u8::from_str_radix(&hex, 16).unwrap());
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).unwrap()
}

/// Reads the SockJS frames of an `htmlfile` response (after its page head).
struct HtmlFile(Stream);

impl HtmlFile {
    async fn open(port: u16, session: &str, callback: &str) -> (HtmlFile, String, String) {
        let path = format!("/ws/000/{session}/htmlfile?c={callback}");
        let (mut stream, head) = Stream::get(port, &path, "").await;
        let page = stream.until("\r\n\r\n").await.expect("the page head");
        (HtmlFile(stream), head, page)
    }

    /// The next `p("...")` call's argument, unescaped as JavaScript reads it.
    async fn frame(&mut self) -> Option<String> {
        let script = self.0.until("</script>\r\n").await?;
        let inside = script
            .strip_prefix("<script>\np(\"")
            .and_then(|s| s.strip_suffix("\");\n</script>\r\n"))
            .unwrap_or_else(|| panic!("not a script call: {script:?}"));
        assert!(!inside.contains(['<', '>', '\n']), "{inside:?}");
        Some(js_unescape(inside))
    }
}

/// The value of a double-quoted JavaScript string's inside (the escapes the server uses).
fn js_unescape(inside: &str) -> String {
    let mut out = String::new();
    let mut chars = inside.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            assert_ne!(c, '"', "an unescaped quote ends the string: {inside:?}");
            out.push(c);
            continue;
        }
        match chars.next().unwrap() {
            'u' => {
                let hex: String = chars.by_ref().take(4).collect();
                out.push(char::from_u32(u32::from_str_radix(&hex, 16).unwrap()).unwrap());
            }
            'n' => out.push('\n'),
            other => out.push(other),
        }
    }
    out
}

/// The STOMP MESSAGE body in an `a[...]` frame.
fn message_body(frame: &str) -> String {
    let message = messages(frame).concat();
    assert!(message.starts_with("MESSAGE\n"), "{message:?}");
    let (_, body) = message.split_once("\n\n").unwrap();
    body.trim_end_matches('\0').to_owned()
}

#[tokio::test]
async fn eventsource_round_trip() {
    let server = server(SockJsOptions::default()).await;
    let port = server.port;
    let (mut events, head) = EventStream::open(port, "es1").await;
    assert_eq!(
        header(&head, "content-type"),
        Some("text/event-stream;charset=UTF-8")
    );
    assert_eq!(header(&head, "cache-control"), Some(NO_CACHE));
    assert_eq!(
        header(&head, "set-cookie"),
        Some("JSESSIONID=dummy; Path=/"),
        "on by default, as in Spring"
    );
    assert_eq!(events.frame().await.unwrap(), "o");
    assert_eq!(xhr_send(port, "es1", &[CONNECT]).await, 204);
    assert!(messages(&events.frame().await.unwrap())[0].starts_with("CONNECTED\n"));
    assert_eq!(xhr_send(port, "es1", &[SUBSCRIBE]).await, 204);
    assert!(messages(&events.frame().await.unwrap())[0].starts_with("RECEIPT\n"));
    assert_eq!(xhr_send(port, "es1", &[&send_tricky()]).await, 204);
    assert_eq!(message_body(&events.frame().await.unwrap()), TRICKY);
    // A second receiving request on the same session is refused with a close frame.
    let (mut second, _) = EventStream::open(port, "es1").await;
    assert_eq!(
        second.frame().await.unwrap(),
        "c[2010,\"Another connection still open\"]"
    );
    assert_eq!(second.frame().await, None);
}

#[tokio::test]
async fn htmlfile_round_trip() {
    let server = server(SockJsOptions::default()).await;
    let port = server.port;
    let (mut html, head, page) = HtmlFile::open(port, "hf1", "%63allback").await;
    assert_eq!(
        header(&head, "content-type"),
        Some("text/html;charset=UTF-8")
    );
    assert_eq!(header(&head, "cache-control"), Some(NO_CACHE));
    assert!(page.len() > 1024, "padded: {}", page.len());
    assert!(page.starts_with("<!doctype html>\n"), "{page}");
    assert!(page.contains("    var c = parent.callback;\n    c.start();\n"));
    assert!(page.trim_end().ends_with("</script>"), "{page}");
    assert_eq!(html.frame().await.unwrap(), "o");
    assert_eq!(xhr_send(port, "hf1", &[CONNECT, SUBSCRIBE]).await, 204);
    let mut frames = Vec::new();
    while frames.len() < 2 {
        frames.extend(messages(&html.frame().await.unwrap()));
    }
    assert!(frames[0].starts_with("CONNECTED\n") && frames[1].starts_with("RECEIPT\n"));
    assert_eq!(xhr_send(port, "hf1", &[&send_tricky()]).await, 204);
    assert_eq!(message_body(&html.frame().await.unwrap()), TRICKY);
}

#[tokio::test]
async fn htmlfile_needs_a_valid_callback() {
    let server = server(SockJsOptions::default()).await;
    let missing = request(server.port, "GET", "/ws/000/hf2/htmlfile", "").await;
    assert_eq!(missing.status, 500);
    assert!(missing.body.contains("\"callback\" parameter required"));
    for bad in ["%20", "*", "abc(", "abc%28", "a%3Cscript%3E"] {
        let path = format!("/ws/000/hf2/htmlfile?c={bad}");
        let reply = request(server.port, "GET", &path, "").await;
        assert_eq!(reply.status, 500, "{bad}");
        assert_eq!(reply.body, "invalid \"callback\" parameter", "{bad}");
    }
    // No session was made by the refused requests.
    assert_eq!(xhr_send(server.port, "hf2", &[CONNECT]).await, 404);
}

/// Both new streaming transports end their response after `stream_bytes_limit` bytes of
/// messages, and the session goes on in the next one.
#[tokio::test]
async fn eventsource_and_htmlfile_end_at_the_bytes_limit() {
    let server = server(SockJsOptions::default().with_stream_bytes_limit(64)).await;
    let port = server.port;
    let (mut events, _) = EventStream::open(port, "es-short").await;
    assert_eq!(events.frame().await.unwrap(), "o");
    assert_eq!(xhr_send(port, "es-short", &[CONNECT]).await, 204);
    assert!(messages(&events.frame().await.unwrap())[0].starts_with("CONNECTED\n"));
    assert_eq!(
        events.frame().await,
        None,
        "the response ends after the limit"
    );
    let (mut events, _) = EventStream::open(port, "es-short").await;
    assert_eq!(xhr_send(port, "es-short", &[SUBSCRIBE]).await, 204);
    assert!(messages(&events.frame().await.unwrap())[0].starts_with("RECEIPT\n"));

    let (mut html, _, _) = HtmlFile::open(port, "hf-short", "cb").await;
    assert_eq!(html.frame().await.unwrap(), "o");
    assert_eq!(xhr_send(port, "hf-short", &[CONNECT]).await, 204);
    assert!(messages(&html.frame().await.unwrap())[0].starts_with("CONNECTED\n"));
    assert_eq!(
        html.frame().await,
        None,
        "the response ends after the limit"
    );
    let (mut html, _, _) = HtmlFile::open(port, "hf-short", "cb").await;
    assert_eq!(xhr_send(port, "hf-short", &[SUBSCRIBE]).await, 204);
    assert!(messages(&html.frame().await.unwrap())[0].starts_with("RECEIPT\n"));
}

#[tokio::test]
async fn session_cookie_is_set_on_every_http_transport_when_needed() {
    let options = SockJsOptions::default().with_session_cookie_needed(true);
    let on = server(options).await;
    let port = on.port;
    let info = request(port, "GET", "/ws/info", "").await;
    let info: serde_json::Value = serde_json::from_str(&info.body).unwrap();
    assert_eq!(info["cookie_needed"], true);
    // No cookie from the client: `dummy`, for every HTTP transport.
    let dummy = Some("JSESSIONID=dummy; Path=/");
    let poll = request(port, "POST", "/ws/000/ck1/xhr", "").await;
    assert_eq!(poll.header("set-cookie"), dummy);
    let send = request(port, "POST", "/ws/000/ck1/xhr_send", &json(&[CONNECT])).await;
    assert_eq!((send.status, send.header("set-cookie")), (204, dummy));
    let (_, head) = EventStream::open(port, "ck2").await;
    assert_eq!(header(&head, "set-cookie"), dummy);
    let (_, head, _) = HtmlFile::open(port, "ck3", "cb").await;
    assert_eq!(header(&head, "set-cookie"), dummy);
    // The balancer's (or the client's) value is echoed, so stickiness keeps working.
    let cookie = "Cookie: lang=en; JSESSIONID=node-2.x7\r\n";
    let mut streaming = open_with(port, "POST", "/ws/000/ck5/xhr_streaming", cookie, "").await;
    let (status, head) = read_head(&mut streaming).await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&head, "set-cookie"),
        Some("JSESSIONID=node-2.x7; Path=/")
    );
    let (_, head) = Stream::get(port, "/ws/000/ck5/eventsource", cookie).await;
    assert_eq!(
        header(&head, "set-cookie"),
        Some("JSESSIONID=node-2.x7; Path=/")
    );
    // A value that would add attributes is not echoed.
    let forged = "Cookie: JSESSIONID=a,Domain=evil.example\r\n";
    let poll = request_with(port, "POST", "/ws/000/ck6/xhr", forged, "").await;
    assert_eq!(poll.header("set-cookie"), dummy);
    // Neither `info` nor the iframe page set it.
    let page = request(port, "GET", "/ws/iframe.html", "").await;
    assert_eq!(page.header("set-cookie"), None);
    let info = request(port, "GET", "/ws/info", "").await;
    assert_eq!(info.header("set-cookie"), None);
    // Turned off, no transport sets it and `info` says it is not needed.
    let off = server(SockJsOptions::default().with_session_cookie_needed(false)).await;
    let info = request(off.port, "GET", "/ws/info", "").await;
    let info: serde_json::Value = serde_json::from_str(&info.body).unwrap();
    assert_eq!(info["cookie_needed"], false);
    let poll = request(off.port, "POST", "/ws/000/ck7/xhr", "").await;
    assert_eq!(poll.header("set-cookie"), None);
}

#[tokio::test]
async fn iframe_page_is_cached_and_revalidated() {
    let url = "/static/sockjs-1.6.1.min.js";
    let server = server(SockJsOptions::default().with_client_library_url(url.into())).await;
    let port = server.port;
    let first = request(port, "GET", "/ws/iframe.html", "").await;
    assert_eq!(first.status, 200);
    assert_eq!(
        first.header("content-type"),
        Some("text/html;charset=UTF-8")
    );
    assert_eq!(
        first.header("cache-control"),
        Some("public, max-age=31536000")
    );
    assert!(first.header("expires").is_some_and(|e| e.ends_with(" GMT")));
    assert_eq!(first.header("last-modified"), None);
    assert_eq!(first.header("x-frame-options"), Some("SAMEORIGIN"));
    assert!(first.body.starts_with("<!DOCTYPE html>\n"));
    assert!(first
        .body
        .contains(&format!("<script src=\"{url}\"></script>")));
    assert!(first.body.contains("SockJS.bootstrap_iframe();"));
    let etag = first.header("etag").expect("an ETag").to_owned();
    for versioned in ["/ws/iframe-1.6.1.html", "/ws/iframe-a.html?t=1234"] {
        let again = request(port, "GET", versioned, "").await;
        assert_eq!(
            (again.status, again.header("etag")),
            (200, Some(etag.as_str()))
        );
        assert_eq!(again.body, first.body);
    }
    let if_none_match = format!("If-None-Match: {etag}\r\n");
    let cached = request_with(port, "GET", "/ws/iframe.html", &if_none_match, "").await;
    assert_eq!(cached.status, 304);
    assert_eq!(cached.header("content-type"), None);
    assert_eq!(cached.body, "");
    let stale = request_with(
        port,
        "GET",
        "/ws/iframe.html",
        "If-None-Match: \"0\"\r\n",
        "",
    )
    .await;
    assert_eq!(stale.status, 200);
    for not_a_page in [
        "/ws/iframe.htm",
        "/ws/IFRAME.HTML",
        "/ws/iframe.xml",
        "/ws/iframe-/.html",
    ] {
        let reply = request(port, "GET", not_a_page, "").await;
        assert_eq!(reply.status, 404, "{not_a_page}");
    }
}

/// With allowed origins configured, the page is not served (it cannot check who frames
/// it), as in Spring; with `*` it is, and may be framed by anyone.
#[tokio::test]
async fn iframe_page_follows_the_allowed_origins() {
    let restricted = TestServer::start(
        StompServer::builder()
            .handlers(stomp_server::handler::Handlers::new())
            .allowed_origins(["http://chat.example"])
            .with_sockjs(),
    )
    .await;
    let reply = request(restricted.port, "GET", "/ws/iframe.html", "").await;
    assert_eq!(reply.status, 404);
    let any = TestServer::start(
        StompServer::builder()
            .handlers(stomp_server::handler::Handlers::new())
            .allowed_origins(["*"])
            .with_sockjs(),
    )
    .await;
    let reply = request(any.port, "GET", "/ws/iframe.html", "").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("x-frame-options"), None);
}

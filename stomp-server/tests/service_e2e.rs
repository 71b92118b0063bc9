//! The server mounted as a tower `Service` inside another hyper application, and the HTTP
//! side of the builder (static resources, handlers, body limits).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use stomp_server::client::StompClient;
use stomp_server::{config::Limits, handler::Handlers, http::StompService, StompServer};
use tower_service::Service;

/// An "existing application": `/health` is its own route, everything else goes to STOMP.
async fn host_app(stomp: StompService) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let stomp = stomp.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let mut stomp = stomp.clone();
                    async move {
                        if request.uri().path() == "/health" {
                            return Ok::<_, Infallible>(Response::new(
                                Full::new(Bytes::from_static(b"ok")).boxed(),
                            ));
                        }
                        stomp.call(request).await
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    port
}

async fn get(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    tokio::time::timeout(Duration::from_secs(5), tcp.read_to_string(&mut response))
        .await
        .unwrap()
        .unwrap();
    let status = response.split(' ').nth(1).unwrap().parse().unwrap();
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

#[tokio::test]
async fn stomp_mounted_as_a_tower_service_beside_other_routes() {
    let stomp = StompServer::builder()
        .handlers(Handlers::new())
        .static_resource("/page", "text/html", "<h1>chat</h1>")
        .stats_log_interval(None)
        .build()
        .unwrap()
        .into_service();
    let port = host_app(stomp).await;
    assert_eq!(
        get(port, "GET", "/health", "").await,
        (200, "ok".to_owned())
    );
    assert_eq!(
        get(port, "GET", "/page", "").await,
        (200, "<h1>chat</h1>".to_owned())
    );
    assert_eq!(get(port, "GET", "/nothing", "").await.0, 404);
    let session = StompClient::new()
        .connect(&format!("ws://127.0.0.1:{port}/ws"))
        .await
        .unwrap();
    let mut sub = session.subscribe("/topic/mounted").await.unwrap();
    session
        .send("/topic/mounted", "through the host app")
        .await
        .unwrap();
    let frame = sub.next_timeout(Duration::from_secs(5)).await.unwrap();
    assert_eq!(frame.body_str(), Some("through the host app"));
}

#[tokio::test]
async fn http_handler_bodies_are_bounded() {
    let limits = Limits::default().with_message_size(1024);
    let server = StompServer::builder()
        .handlers(Handlers::new())
        .limits(limits)
        .http_handler("/echo", |request: Request<Bytes>| {
            Response::new(Full::new(request.into_body()))
        })
        .stats_log_interval(None)
        .build()
        .unwrap();
    let listener = server.bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(server.run(listener, std::future::pending()));
    assert_eq!(
        get(port, "POST", "/echo", "small").await,
        (200, "small".to_owned())
    );
    assert_eq!(get(port, "POST", "/echo", &"x".repeat(2000)).await.0, 413);
}

#[tokio::test]
async fn http_handlers_see_the_client_address() {
    let server = StompServer::builder()
        .handlers(Handlers::new())
        .http_handler("/whoami", |request: Request<Bytes>| {
            let remote = request.extensions().get::<std::net::SocketAddr>();
            let text = remote.map_or_else(|| "unknown".to_owned(), |addr| addr.ip().to_string());
            Response::new(Full::new(Bytes::from(text)))
        })
        .stats_log_interval(None)
        .build()
        .unwrap();
    let listener = server.bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(server.run(listener, std::future::pending()));
    assert_eq!(
        get(port, "GET", "/whoami", "").await,
        (200, "127.0.0.1".to_owned())
    );
}

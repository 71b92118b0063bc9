//! [`StompService`]: the server as a `tower::Service`, to mount inside an axum or hyper
//! application that already serves other routes.

use std::convert::Infallible;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};

use crate::endpoint::{serve_request, BoxError, HttpRoutes, ResponseBody};
use crate::server::{never_stop, Server};
use crate::web::EndpointContext;

/// The STOMP endpoints (and the static resources and HTTP handlers of the builder) as a
/// `tower_service::Service<http::Request<B>>`.
///
/// Route it at the endpoint path in your router; the request must still carry hyper's upgrade
/// extension (axum's and hyper's requests do). Sessions started through it live until their
/// client leaves. The client's address, for logs and for `http_handler` routes, is read from a
/// `SocketAddr` in the request's extensions: axum keeps it as `ConnectInfo<SocketAddr>`, so
/// copy it with a `map_request` layer (`examples/axum.rs` in the repository does); without
/// one, every client counts as `0.0.0.0:0`. With axum (the whole program, which the tests
/// run, is `examples/axum.rs` in the repository):
///
/// ```text
/// let stomp = StompServer::builder().endpoint("/ws").build()?.into_service();
/// let app = axum::Router::new()
///     .route("/health", axum::routing::get(|| async { "ok" }))
///     .route_service("/ws", stomp);
/// ```
#[derive(Clone)]
pub struct StompService {
    endpoints: Arc<EndpointContext>,
    routes: Arc<HttpRoutes>,
}

impl Server {
    /// Turns the server into a `tower` service (see [`StompService`]).
    pub fn into_service(self) -> StompService {
        StompService {
            endpoints: self.endpoints,
            routes: self.routes,
        }
    }
}

impl<B> tower_service::Service<Request<B>> for StompService
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The peer address is not part of a plain `http::Request`: it is read from a
        // `SocketAddr` extension (axum keeps it as `ConnectInfo<SocketAddr>`; see
        // `examples/axum.rs` for the one-line layer that copies it).
        let remote = request
            .extensions()
            .get::<SocketAddr>()
            .copied()
            .unwrap_or(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)));
        Box::pin(serve_request(
            request,
            Arc::clone(&self.endpoints),
            Arc::clone(&self.routes),
            remote,
            never_stop(),
        ))
    }
}

impl std::fmt::Debug for StompService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StompService").finish_non_exhaustive()
    }
}

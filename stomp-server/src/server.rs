//! [`StompServer`]: the builder that mirrors Spring's `WebSocketMessageBrokerConfigurer`,
//! and the accept loop.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use stomp_core::HeartBeat;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::accept::{Acceptor, PendingConnections, PendingPlace};
use crate::authorization::{MessageSecurity, SecurityConfigError};
use crate::broker::{Broker, LocalBroker, SimpleBroker, Upstream};
use crate::config::{default_heartbeat, BrokerConfig, ClientUserSends, Limits, UnhandledErrors};
use crate::control::SessionControl;
use crate::endpoint::{serve_request, HttpHandler, HttpRoutes, StaticResource};
use crate::event::{Events, SessionEvent};
use crate::handler::context::HandlerContext;
use crate::handler::registry::{Registry, RegistryError};
use crate::handler::services::Services;
use crate::handler::Handlers;
use crate::handshake::HandshakeInterceptor;
use crate::interceptor::{AsyncChannelInterceptor, ChannelInterceptor, OutboundInterceptor};
use crate::relay::{BrokerRelay, RelayConfig};
use crate::routing::{Prefixes, Routing};
use crate::session::{MockUser, SessionContext};
use crate::sockjs::{FlushedIo, Flushes, SockJs, SockJsOptions};
use crate::stats::Stats;
use crate::template::Template;
use crate::user::UserRegistry;
use crate::web::EndpointContext;
use crate::websocket::{DynHandler, RawContext, RawEndpoint, RawSessions, WebSocketHandler};

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The handlers are invalid (duplicate or ambiguous mappings, bad patterns).
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The authorization rules do not fit the server.
    #[error(transparent)]
    Security(#[from] SecurityConfigError),
}

/// Builds a STOMP server. Names follow Spring's configurer:
///
/// | Spring | here |
/// | --- | --- |
/// | `registry.addEndpoint("/ws")` | [`endpoint`](Self::endpoint) |
/// | `.setAllowedOriginPatterns(..)` | [`allowed_origins`](Self::allowed_origins) |
/// | `enableSimpleBroker("/topic", "/queue")` | [`simple_broker`](Self::simple_broker) |
/// | `enableStompBrokerRelay(..)` | [`broker_relay`](Self::broker_relay) |
/// | `setApplicationDestinationPrefixes("/app")` | [`application_prefix`](Self::application_prefix) |
/// | `setUserDestinationPrefix("/user")` | [`user_prefix`](Self::user_prefix) |
/// | `configureClientInboundChannel` | [`interceptor`](Self::interceptor) |
/// | `setMessageSizeLimit` etc. | [`limits`](Self::limits) |
/// | `new AntPathMatcher(".")` | [`path_separator`](Self::path_separator) |
/// | `.withSockJS()` | [`with_sockjs`](Self::with_sockjs) |
/// | Spring Security's `MessageMatcherDelegatingAuthorizationManager` | [`message_security`](Self::message_security) |
pub struct StompServerBuilder {
    endpoints: Vec<String>,
    application_prefixes: Vec<String>,
    broker_prefixes: Vec<String>,
    broker_config: BrokerConfig,
    relay: Option<RelayConfig>,
    upstream: Option<UpstreamBuilder>,
    user_prefix: String,
    client_user_sends: ClientUserSends,
    allowed_origins: Vec<String>,
    heartbeat: HeartBeat,
    limits: Limits,
    separator: char,
    unhandled_errors: UnhandledErrors,
    handlers: Option<Handlers>,
    state: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    interceptors: Vec<Arc<dyn ChannelInterceptor>>,
    async_interceptors: Vec<Arc<dyn AsyncChannelInterceptor>>,
    handshake_interceptors: Vec<Arc<dyn HandshakeInterceptor>>,
    outbound_interceptors: Vec<Arc<dyn OutboundInterceptor>>,
    listeners: Vec<Arc<crate::event::EventListener>>,
    resources: HashMap<String, StaticResource>,
    http_handlers: HashMap<String, Arc<HttpHandler>>,
    #[cfg(feature = "metrics")]
    metrics_path: Option<String>,
    stats_log_interval: Option<Duration>,
    sockjs: Option<SockJsOptions>,
    stomp_tcp: Option<String>,
    raw_endpoints: Vec<(String, Arc<dyn DynHandler>)>,
    /// TLS on the HTTP listener (`https`, `wss`).
    tls: Option<crate::tls::TlsConfig>,
    /// TLS on the STOMP-over-TCP listener.
    stomp_tcp_tls: Option<crate::tls::TlsConfig>,
    message_security: Option<MessageSecurity>,
}

/// The entry point: `StompServer::builder()`.
pub struct StompServer;

impl StompServer {
    /// A builder with Spring's defaults: endpoint `/ws`, application prefix `/app`, simple
    /// broker on `/topic` and `/queue`, user prefix `/user`, same-origin handshakes only,
    /// heart-beats `10000,10000`, 64 KiB frames, 512 KiB / 10 s send limits.
    pub fn builder() -> StompServerBuilder {
        StompServerBuilder {
            endpoints: Vec::new(),
            application_prefixes: Vec::new(),
            broker_prefixes: Vec::new(),
            broker_config: BrokerConfig::default(),
            relay: None,
            upstream: None,
            user_prefix: "/user".to_owned(),
            client_user_sends: ClientUserSends::default(),
            allowed_origins: Vec::new(),
            heartbeat: default_heartbeat(),
            limits: Limits::default(),
            separator: '/',
            unhandled_errors: UnhandledErrors::default(),
            handlers: None,
            state: HashMap::new(),
            interceptors: Vec::new(),
            async_interceptors: Vec::new(),
            handshake_interceptors: Vec::new(),
            outbound_interceptors: Vec::new(),
            listeners: Vec::new(),
            resources: HashMap::new(),
            http_handlers: HashMap::new(),
            #[cfg(feature = "metrics")]
            metrics_path: None,
            stats_log_interval: Some(Duration::from_secs(30 * 60)),
            sockjs: None,
            stomp_tcp: None,
            raw_endpoints: Vec::new(),
            tls: None,
            stomp_tcp_tls: None,
            message_security: None,
        }
    }
}

impl StompServerBuilder {
    /// Adds a STOMP-over-WebSocket endpoint path (default `/ws` when none is added).
    #[must_use]
    pub fn endpoint(mut self, path: &str) -> Self {
        self.endpoints.push(path.to_owned());
        self
    }

    /// Adds an application destination prefix (default `/app`), routed to handlers.
    #[must_use]
    pub fn application_prefix(mut self, prefix: &str) -> Self {
        self.application_prefixes.push(prefix.to_owned());
        self
    }

    /// Sets the simple broker's prefixes (default `/topic`, `/queue`).
    #[must_use]
    pub fn simple_broker<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        prefixes: I,
    ) -> Self {
        self.broker_prefixes = prefixes.into_iter().map(Into::into).collect();
        self
    }

    /// Serves destinations under these prefixes as point-to-point queues (competing
    /// consumers: each message reaches exactly one subscriber, messages wait for a consumer).
    /// Default: none, every destination broadcasts as in Spring. Shorthand for
    /// [`BrokerConfig::point_to_point_prefixes`].
    #[must_use]
    pub fn point_to_point<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        prefixes: I,
    ) -> Self {
        self.broker_config.point_to_point_prefixes = prefixes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the simple broker's acknowledgement, prefetch, point-to-point and dead-letter
    /// settings (replacing any [`point_to_point`](Self::point_to_point) given before).
    #[must_use]
    pub fn broker_config(mut self, config: BrokerConfig) -> Self {
        self.broker_config = config;
        self
    }

    /// Relays broker destinations to an external STOMP broker (RabbitMQ) instead of the
    /// simple broker (Spring's `enableStompBrokerRelay`); see [`RelayConfig`]. Its
    /// `prefixes` replace [`simple_broker`](Self::simple_broker)'s.
    #[must_use]
    pub fn broker_relay(mut self, config: RelayConfig) -> Self {
        self.relay = Some(config);
        self
    }

    /// Joins the simple broker of this server to other instances through an [`Upstream`]
    /// (a backplane), which `factory` builds from this broker's [`LocalBroker`] handle: the
    /// local fan-out stays this server's, the upstream carries broadcast messages between
    /// instances. Ignored with [`broker_relay`](Self::broker_relay).
    pub fn broker_upstream<F>(mut self, factory: F) -> Self
    where
        F: FnOnce(LocalBroker) -> Arc<dyn Upstream> + Send + 'static,
    {
        self.upstream = Some(Box::new(move |local, _, _| factory(local)));
        self
    }

    /// Joins the simple broker of this server to every other instance on the same Redis
    /// (the Redis backplane, an alternative to [`broker_relay`](Self::broker_relay)):
    /// broadcast destinations (`/topic/..`) reach the subscribers of every instance through
    /// Redis pub/sub, one Redis subscription per destination or pattern per instance;
    /// point-to-point queues, acknowledgements and transactions stay with each instance.
    /// While Redis is down, `CONNECT` is answered with an `ERROR` and publishing fails.
    /// Replaces a [`broker_upstream`](Self::broker_upstream); ignored with
    /// [`broker_relay`](Self::broker_relay). Needs the `redis` cargo feature.
    #[cfg(feature = "redis")]
    pub fn redis_backplane(mut self, config: crate::redis::RedisConfig) -> Self {
        self.upstream = Some(Box::new(move |local, events, stats| {
            crate::redis::upstream_factory(config, Arc::clone(events), Arc::clone(stats))(local)
        }));
        self
    }

    /// Sets the user destination prefix (default `/user`).
    #[must_use]
    pub fn user_prefix(mut self, prefix: &str) -> Self {
        self.user_prefix = prefix.to_owned();
        self
    }

    /// Whether clients may `SEND` to user destinations themselves (default
    /// [`ClientUserSends::Deny`]: only the server writes to users, as in a Spring app whose
    /// Spring Security rules deny `/user/**` to clients).
    #[must_use]
    pub fn client_user_sends(mut self, policy: ClientUserSends) -> Self {
        self.client_user_sends = policy;
        self
    }

    /// Allows handshakes from these origins (patterns with `*`; `"*"` allows all). Without
    /// it only same-origin browser handshakes are accepted: the `Origin`'s scheme, host and
    /// port must be those the request was made to (`http` and the `Host` header, default
    /// ports filled in; behind a proxy that terminates TLS, its `X-Forwarded-Proto: https`
    /// makes the scheme `https`). Clients that send no `Origin` header (non-browser
    /// clients) are always accepted.
    #[must_use]
    pub fn allowed_origins<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        origins: I,
    ) -> Self {
        self.allowed_origins
            .extend(origins.into_iter().map(Into::into));
        self
    }

    /// The heart-beat the server offers in `CONNECTED` (`outgoing,incoming` ms; `0,0` turns
    /// heart-beats off).
    #[must_use]
    pub fn heartbeat(mut self, outgoing_ms: u32, incoming_ms: u32) -> Self {
        self.heartbeat = HeartBeat {
            outgoing_ms,
            incoming_ms,
        };
        self
    }

    /// Sets the limits.
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Uses `.` as the destination separator for mappings and broker patterns
    /// (`/app/chat.room1` matched by `chat.<room>`), like Spring's `AntPathMatcher(".")`.
    #[must_use]
    pub fn path_separator(mut self, separator: char) -> Self {
        self.separator = separator;
        self
    }

    /// What happens to handler errors no exception handler takes.
    #[must_use]
    pub fn unhandled_errors(mut self, policy: UnhandledErrors) -> Self {
        self.unhandled_errors = policy;
        self
    }

    /// Uses exactly these handlers instead of every collected one (tests).
    #[must_use]
    pub fn handlers(mut self, handlers: Handlers) -> Self {
        self.handlers = Some(handlers);
        self
    }

    /// Registers shared state for `State<T>` arguments.
    #[must_use]
    pub fn state<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.state.insert(TypeId::of::<T>(), Arc::new(value));
        self
    }

    /// Adds an inbound interceptor (run in registration order).
    #[must_use]
    pub fn interceptor(mut self, interceptor: impl ChannelInterceptor) -> Self {
        self.interceptors.push(Arc::new(interceptor));
        self
    }

    /// Adds an async inbound interceptor (Spring's `ExecutorChannelInterceptor`): run for
    /// `CONNECT` and every later frame after the plain ones, in registration order, each
    /// call within `Limits::interceptor_time`; see [`AsyncChannelInterceptor`].
    #[must_use]
    pub fn async_interceptor(mut self, interceptor: impl AsyncChannelInterceptor) -> Self {
        self.async_interceptors.push(Arc::new(interceptor));
        self
    }

    /// Adds a handshake interceptor (Spring's `HandshakeInterceptor` and
    /// `HandshakeHandler.determineUser`): it sees the HTTP request opening a session, may
    /// refuse it with a status, or give the session its user, attributes and credential
    /// expiry; see [`crate::handshake`].
    #[must_use]
    pub fn handshake_interceptor(mut self, interceptor: impl HandshakeInterceptor) -> Self {
        self.handshake_interceptors.push(Arc::new(interceptor));
        self
    }

    /// Adds an outbound interceptor, which sees every frame sent to a client (Spring's
    /// `configureClientOutboundChannel`); see [`OutboundInterceptor`] for its cost.
    #[must_use]
    pub fn outbound_interceptor(mut self, interceptor: impl OutboundInterceptor) -> Self {
        self.outbound_interceptors.push(Arc::new(interceptor));
        self
    }

    /// Adds a session event listener.
    #[must_use]
    pub fn on_event(
        mut self,
        listener: impl Fn(&SessionEvent, &Template) + Send + Sync + 'static,
    ) -> Self {
        self.listeners.push(Arc::new(listener));
        self
    }

    /// Serves a fixed resource at `path` (for example the page of a chat).
    #[must_use]
    pub fn static_resource(
        mut self,
        path: &str,
        content_type: &'static str,
        body: impl Into<Bytes>,
    ) -> Self {
        self.resources.insert(
            path.to_owned(),
            StaticResource {
                content_type,
                body: body.into(),
            },
        );
        self
    }

    /// Serves `path` with a plain HTTP handler (any method).
    #[must_use]
    pub fn http_handler(
        mut self,
        path: &str,
        handler: impl Fn(http::Request<Bytes>) -> http::Response<http_body_util::Full<Bytes>>
            + Send
            + Sync
            + 'static,
    ) -> Self {
        self.http_handlers
            .insert(path.to_owned(), Arc::new(handler));
        self
    }

    /// Serves the server's metrics at `path` (for example `/metrics`) on its own HTTP
    /// listener, as Prometheus/OpenMetrics text (see the [`metrics`](crate::metrics) module
    /// for the names), and measures handler durations. Without it there is no such route.
    ///
    /// The route answers anyone who can reach the listener, as Spring Boot's actuator does
    /// once exposed. The exposition names no session or user (its labels are commands,
    /// causes, transports and the mappings as declared), but a server that faces the internet
    /// should keep it from the public: a path the proxy in front does not forward, or
    /// [`Server::register_metrics`] into a registry served on an internal port instead.
    #[cfg(feature = "metrics")]
    #[must_use]
    pub fn metrics_endpoint(mut self, path: &str) -> Self {
        self.metrics_path = Some(path.to_owned());
        self
    }

    /// Serves SockJS under every endpoint, as Spring's `.withSockJS()`: `P/info`, the
    /// `websocket` transport (`P/websocket` raw, `P/{server}/{session}/websocket` framed),
    /// the `xhr_streaming`, `eventsource`, `htmlfile`, `xhr` and `xhr_send` transports, and
    /// `P/iframe.html` for the iframe-based ones. The plain WebSocket endpoint keeps working
    /// at `P`.
    #[must_use]
    pub fn with_sockjs(mut self) -> Self {
        self.sockjs.get_or_insert_with(SockJsOptions::default);
        self
    }

    /// SockJS with these settings (heartbeat, disconnect delay, streaming bytes limit, the
    /// `JSESSIONID` cookie, the iframe page's client library URL).
    #[must_use]
    pub fn sockjs_options(mut self, options: SockJsOptions) -> Self {
        self.sockjs = Some(options);
        self
    }

    /// Also serves STOMP over plain TCP on `addr` (as RabbitMQ and ActiveMQ do on 61613):
    /// the same sessions, handlers, broker, interceptors, limits, events and shutdown as
    /// the WebSocket endpoint, with EOL heart-beats both ways. No origin check (there is
    /// no browser); a connection is held to the pending-connection caps until its first
    /// frame is whole. `"127.0.0.1:0"` picks a free port: [`Server::bind_stomp_tcp`] says
    /// which.
    #[must_use]
    pub fn stomp_tcp(mut self, addr: &str) -> Self {
        self.stomp_tcp = Some(addr.to_owned());
        self
    }

    /// Serves a plain WebSocket endpoint (no STOMP) at `path` with `handler` (Spring's
    /// `WebSocketConfigurer.addHandler(handler, path)`), beside the STOMP endpoints: the same
    /// limits, origin check, session admission and shutdown. See [`crate::websocket`].
    #[must_use]
    pub fn raw_endpoint(mut self, path: &str, handler: impl WebSocketHandler) -> Self {
        self.raw_endpoints
            .push((path.to_owned(), Arc::new(handler)));
        self
    }

    /// Serves the HTTP listener over TLS: the page and SockJS over `https://`, the STOMP
    /// endpoints over `wss://` (Spring Boot's `server.ssl.*`). A handshake is held to
    /// [`TlsConfig::handshake_timeout`](crate::tls::TlsConfig::handshake_timeout) and counts
    /// against the pending-connection caps; requests over it are same-origin for
    /// `https://` origins. Keep a clone of `config` to reload its certificate. Needs the
    /// `tls` cargo feature.
    #[cfg(feature = "tls")]
    #[must_use]
    pub fn tls(mut self, config: crate::tls::TlsConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// Also serves STOMP over TLS on `addr` (as RabbitMQ on 61614): what
    /// [`stomp_tcp`](Self::stomp_tcp) serves, each connection inside TLS (its handshake held
    /// to the handshake timeout and the pending-connection caps). Replaces a plain
    /// `stomp_tcp` address: one STOMP-over-TCP listener per server. Needs the `tls` cargo
    /// feature.
    #[cfg(feature = "tls")]
    #[must_use]
    pub fn stomp_tcp_tls(mut self, addr: &str, config: crate::tls::TlsConfig) -> Self {
        self.stomp_tcp = Some(addr.to_owned());
        self.stomp_tcp_tls = Some(config);
        self
    }

    /// How often the stats line is logged (default 30 min, as Spring; `None` turns it off).
    #[must_use]
    pub fn stats_log_interval(mut self, every: Option<Duration>) -> Self {
        self.stats_log_interval = every;
        self
    }

    /// Authorizes every frame a client sends with these rules, after the interceptors and
    /// before handlers and the broker (Spring Security's message matchers); see
    /// [`authorization`](crate::authorization).
    #[must_use]
    pub fn message_security(mut self, rules: MessageSecurity) -> Self {
        self.message_security = Some(rules);
        self
    }

    /// Validates the configuration and handlers; nothing is bound yet.
    pub fn build(self) -> Result<Server, StartError> {
        if let Some(rules) = &self.message_security {
            rules.fits_separator(self.separator)?;
        }
        let registry = handler_registry(self.handlers, self.separator)?;
        // Built in order: stats and events, the broker (given both), the routing the
        // template and handlers publish through, the handlers, the session and endpoint
        // contexts.
        let stats = Arc::new(Stats::with_mappings(registry.mapping_labels()));
        #[cfg(feature = "metrics")]
        let http_handlers = with_metrics_endpoint(self.http_handlers, self.metrics_path, &stats);
        #[cfg(not(feature = "metrics"))]
        let http_handlers = self.http_handlers;
        let broker_prefixes = or_default(self.broker_prefixes, &["/topic", "/queue"]);
        let (separator, broker_config, relay) = (self.separator, self.broker_config, self.relay);
        let upstream = self.upstream;
        let listeners = self.listeners;
        let prefixes = Prefixes {
            application: or_default(self.application_prefixes, &["/app"]),
            user: self.user_prefix,
            client_user_sends: self.client_user_sends,
        };
        let (routing, events) = build_routing(
            listeners,
            relay,
            (upstream, broker_prefixes, separator, broker_config),
            prefixes,
            &stats,
        );
        let template = Template {
            routing: Arc::clone(&routing),
        };
        let control = SessionControl::new(Arc::clone(&routing.users), Arc::clone(&stats));
        let mut state = self.state;
        state.insert(TypeId::of::<SessionControl>(), Arc::new(control.clone()));
        let raw = (self.limits, self.heartbeat, &stats, &template);
        let (raw_sessions, raw_endpoints) = raw_endpoints(self.raw_endpoints, raw, &mut state);
        let sessions = Arc::new(SessionContext {
            limits: self.limits,
            heartbeat: self.heartbeat,
            server_name: format!("stomp-rs/{}", env!("CARGO_PKG_VERSION")),
            handlers: Arc::new(HandlerContext {
                registry,
                services: Arc::new(Services {
                    state,
                    template: template.clone(),
                    routing: Arc::clone(&routing),
                    stats: Arc::clone(&stats),
                    unhandled_errors: self.unhandled_errors,
                    unhandled_log: Default::default(),
                }),
            }),
            routing,
            interceptors: self.interceptors,
            async_interceptors: self.async_interceptors,
            outbound_interceptors: self.outbound_interceptors,
            security: self.message_security,
            events,
            stats,
        });
        let endpoints = or_default(self.endpoints, &["/ws"]);
        Ok(Server {
            endpoints: Arc::new(
                EndpointContext::new(endpoints, self.allowed_origins, sessions)
                    .with_handshake_interceptors(self.handshake_interceptors),
            ),
            template,
            control,
            routes: Arc::new(HttpRoutes {
                resources: self.resources,
                handlers: http_handlers,
                sockjs: self.sockjs.map(|options| Arc::new(SockJs::new(options))),
                raw: raw_endpoints,
            }),
            raw_sessions,
            stats_log_interval: self.stats_log_interval,
            stomp_tcp: self.stomp_tcp.map(|addr| StompTcp {
                addr,
                listener: None,
                tls: self.stomp_tcp_tls,
            }),
            tls: self.tls,
        })
    }

    /// Builds, binds `addr` and serves until Ctrl-C.
    pub async fn serve(self, addr: &str) -> Result<(), StartError> {
        let mut server = self.build()?;
        let listener = server.bind(addr).await?;
        server.bind_stomp_tcp().await?;
        server.run(listener, shutdown_signal()).await;
        Ok(())
    }
}

/// The raw WebSocket endpoints by path, and the registry of their sessions, which STOMP
/// handlers reach as `State<RawSessions>` (put in `state`).
fn raw_endpoints(
    handlers: Vec<(String, Arc<dyn DynHandler>)>,
    (limits, heartbeat, stats, template): (Limits, HeartBeat, &Arc<Stats>, &Template),
    state: &mut HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
) -> (RawSessions, HashMap<String, Arc<RawEndpoint>>) {
    let incoming = u64::from(heartbeat.incoming_ms);
    let context = Arc::new(RawContext {
        limits,
        idle: (incoming > 0).then(|| Duration::from_millis(incoming)),
        stats: Arc::clone(stats),
        template: template.clone(),
        sessions: RawSessions::default(),
    });
    let endpoints = handlers
        .into_iter()
        .map(|(path, handler)| {
            let context = Arc::clone(&context);
            (path, Arc::new(RawEndpoint { handler, context }))
        })
        .collect();
    let sessions = context.sessions.clone();
    state.insert(TypeId::of::<RawSessions>(), Arc::new(sessions.clone()));
    (sessions, endpoints)
}

/// The routing, with the broker and the events built for it: the events reach the routing
/// weakly (`Arc::new_cyclic`), since it owns the broker that reports to them.
fn build_routing(
    listeners: Vec<Arc<crate::event::EventListener>>,
    relay: Option<RelayConfig>,
    simple: SimpleSettings,
    prefixes: Prefixes,
    stats: &Arc<Stats>,
) -> (Arc<Routing>, Arc<Events>) {
    let mut events = None;
    let routing = Arc::new_cyclic(|weak| {
        let shared = Arc::new(Events::new(listeners, weak.clone()));
        events = Some(Arc::clone(&shared));
        Routing {
            broker: build_broker(relay, simple, shared, stats),
            users: Arc::new(UserRegistry::default()),
            prefixes,
            stats: Arc::clone(stats),
        }
    });
    let events = events.expect("Arc::new_cyclic runs its closure before returning");
    (routing, events)
}

/// The simple broker's settings: its upstream, prefixes, separator and configuration.
type SimpleSettings = (Option<UpstreamBuilder>, Vec<String>, char, BrokerConfig);

/// Builds the simple broker's upstream from its local part, with the events and stats to
/// report its availability to.
type UpstreamBuilder =
    Box<dyn FnOnce(LocalBroker, &Arc<Events>, &Arc<Stats>) -> Arc<dyn Upstream> + Send>;

/// The relay when one is configured, else the simple broker (joined to its upstream, if
/// any); each is given the events and stats it reports to.
fn build_broker(
    relay: Option<RelayConfig>,
    (upstream, prefixes, separator, config): SimpleSettings,
    events: Arc<Events>,
    stats: &Arc<Stats>,
) -> Arc<dyn Broker> {
    if let Some(relay) = relay {
        return Arc::new(BrokerRelay::new(relay, (separator, config), events, stats));
    }
    let simple = match upstream {
        Some(build) => {
            let stats = Arc::clone(stats);
            let factory = Box::new(move |local| build(local, &events, &stats));
            SimpleBroker::with_upstream(prefixes, separator, config, factory)
        }
        None => Arc::new(SimpleBroker::with_config(prefixes, separator, config)),
    };
    stats.watch_broker(simple.load());
    simple
}

/// A validated server, ready to run on a listener.
pub struct Server {
    /// What the STOMP endpoints (and through them the sessions) are given.
    pub(crate) endpoints: Arc<EndpointContext>,
    /// The messaging template.
    template: Template,
    /// Ends sessions from application code.
    control: SessionControl,
    pub(crate) routes: Arc<HttpRoutes>,
    stats_log_interval: Option<Duration>,
    /// The STOMP-over-TCP endpoint, when one was asked for.
    stomp_tcp: Option<StompTcp>,
    /// The open raw WebSocket sessions.
    raw_sessions: RawSessions,
    /// TLS on the HTTP listener.
    tls: Option<crate::tls::TlsConfig>,
}

/// The STOMP-over-TCP address, and its listener once bound.
struct StompTcp {
    addr: String,
    listener: Option<(TcpListener, SocketAddr)>,
    tls: Option<crate::tls::TlsConfig>,
}

impl Server {
    /// The messaging template, to send from outside handlers.
    pub fn template(&self) -> Template {
        self.template.clone()
    }

    /// The open raw WebSocket sessions ([`StompServerBuilder::raw_endpoint`]), to send to
    /// them from any task.
    pub fn raw_sessions(&self) -> RawSessions {
        self.raw_sessions.clone()
    }

    /// Ends sessions from application code (also a handler's `State<SessionControl>`).
    pub fn sessions(&self) -> SessionControl {
        self.control.clone()
    }

    /// The live counters.
    pub fn stats(&self) -> Arc<Stats> {
        Arc::clone(&self.endpoints.sessions.stats)
    }

    /// Binds `addr` (`"127.0.0.1:0"` picks a free port).
    pub async fn bind(&self, addr: &str) -> Result<TcpListener, StartError> {
        TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind {
                addr: addr.to_owned(),
                source,
            })
    }

    /// Binds the STOMP-over-TCP address given to [`StompServerBuilder::stomp_tcp`] (once;
    /// [`Server::run`] binds it otherwise) and returns the address it listens on, or `None`
    /// when no STOMP-over-TCP endpoint was asked for.
    pub async fn bind_stomp_tcp(&mut self) -> Result<Option<SocketAddr>, StartError> {
        let Some(tcp) = &mut self.stomp_tcp else {
            return Ok(None);
        };
        if tcp.listener.is_none() {
            tcp.listener = Some(crate::tcp::bind(&tcp.addr).await?);
        }
        Ok(tcp.listener.as_ref().map(|(_, local)| *local))
    }

    /// Starts the STOMP-over-TCP accept loop, binding its address first if
    /// [`Server::bind_stomp_tcp`] was not called (a failure is logged).
    async fn start_stomp_tcp(
        &mut self,
        pending: &PendingConnections,
        stop: &watch::Receiver<bool>,
    ) {
        if let Err(error) = self.bind_stomp_tcp().await {
            tracing::error!(%error, "STOMP over TCP not started");
            return;
        }
        let Some(tcp) = self.stomp_tcp.as_mut() else {
            return;
        };
        let Some((listener, local)) = tcp.listener.take() else {
            return;
        };
        let tls = tcp.tls.clone();
        tracing::info!(addr = %local, tls = tls.is_some(), "serving STOMP over TCP");
        let app = Arc::clone(&self.endpoints);
        tokio::spawn(crate::tcp::accept_loop(
            listener,
            app,
            (pending.clone(), tls),
            stop.clone(),
        ));
    }

    /// Serves connections from `listener` until `shutdown` resolves; then every session is
    /// told (an `ERROR` frame saying the server is shutting down), its queued frames are
    /// flushed and it is closed.
    pub async fn run(mut self, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        let (stop_tx, stop_rx) = watch::channel(false);
        let stats_task = self.stats_log_interval.map(|every| {
            let stats = Arc::clone(&self.endpoints.sessions.stats);
            tokio::spawn(async move {
                let mut ticker = tokio::time::interval_at(
                    tokio::time::Instant::now() + every.min(Duration::from_secs(60)),
                    every,
                );
                loop {
                    ticker.tick().await;
                    tracing::info!(stats = %stats.snapshot(), "stomp stats");
                }
            })
        });
        tokio::pin!(shutdown);
        let limits = self.endpoints.limits();
        let pending = PendingConnections::new(
            limits.max_pending_connections,
            limits.max_pending_connections_per_address,
        );
        self.start_stomp_tcp(&pending, &stop_rx).await;
        if let Ok(local) = listener.local_addr() {
            tracing::info!(addr = %local, tls = self.tls.is_some(), "serving HTTP and WebSocket");
        }
        let mut acceptor = Acceptor::new(&pending, "HTTP");
        while let Some((tcp, remote, place)) = acceptor
            .next(&listener, &mut shutdown, refuse_connection)
            .await
        {
            let _ = tcp.set_nodelay(true);
            self.spawn_connection(tcp, remote, stop_rx.clone(), place);
        }
        let open = |s: crate::stats::StatsSnapshot| s.sessions_current + s.raw_sessions_current;
        let sessions = open(self.endpoints.stats().snapshot());
        tracing::info!(sessions, "shutting down: telling every session");
        let _ = stop_tx.send(true);
        if let Some(task) = stats_task {
            task.abort();
        }
        // Give sessions a moment to flush and close.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while open(self.endpoints.stats().snapshot()) > 0 && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let left = open(self.endpoints.stats().snapshot());
        tracing::info!(sessions_left_open = left, "stopped");
    }

    fn spawn_connection(
        &self,
        tcp: tokio::net::TcpStream,
        remote: SocketAddr,
        stop: watch::Receiver<bool>,
        place: PendingPlace,
    ) {
        let (app, routes) = (Arc::clone(&self.endpoints), Arc::clone(&self.routes));
        let Some(tls) = self.tls.clone() else {
            let connection = Connection {
                remote,
                secure: false,
                mock_user: None,
            };
            tokio::spawn(serve_http(app, routes, tcp, connection, stop, Some(place)));
            return;
        };
        // The place is held through the handshake: a client that never finishes it holds
        // one for at most the handshake timeout.
        tokio::spawn(async move {
            if let Some(stream) = tls.accept(tcp, remote).await {
                let connection = Connection {
                    remote,
                    secure: true,
                    mock_user: None,
                };
                serve_http(app, routes, stream, connection, stop, Some(place)).await;
            }
        });
    }

    /// Serves HTTP (and so the STOMP endpoints) over one already-open byte stream: an
    /// in-memory `tokio::io::duplex` pipe in tests and benchmarks, a Unix socket, or a
    /// connection accepted elsewhere. The future resolves when the HTTP exchange ends (for a
    /// WebSocket upgrade: once the STOMP session task has started); the session then lives
    /// until its client leaves. [`Server::run`]'s shutdown does not reach it.
    pub fn serve_connection<I>(
        &self,
        io: I,
        remote: SocketAddr,
    ) -> impl Future<Output = ()> + Send + 'static
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        self.serve_connection_with(io, remote, None)
    }

    /// [`Server::serve_connection`], where every STOMP session the connection opens starts
    /// as `mock_user` (`stomp_server::test`'s `with_mock_user`).
    pub(crate) fn serve_connection_with<I>(
        &self,
        io: I,
        remote: SocketAddr,
        mock_user: Option<MockUser>,
    ) -> impl Future<Output = ()> + Send + 'static
    where
        I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let connection = Connection {
            remote,
            secure: false,
            mock_user,
        };
        serve_http(
            Arc::clone(&self.endpoints),
            Arc::clone(&self.routes),
            io,
            connection,
            never_stop(),
            None,
        )
    }
}

/// The handlers' registry (the collected ones unless the builder was given some), with a
/// warning when there is none.
fn handler_registry(handlers: Option<Handlers>, separator: char) -> Result<Registry, StartError> {
    let handlers = handlers.unwrap_or_else(Handlers::collected);
    let registry = Registry::build(&handlers, separator)?;
    if registry.is_empty() {
        tracing::warn!(
            "no #[message_mapping], #[subscribe_mapping] or #[message_exception_handler] is registered; \
             if your handlers live in another crate, name it where the server is built (`use my_handlers as _;`)"
        );
    }
    Ok(registry)
}

/// The application's HTTP handlers, with the metrics endpoint at `path` when one was asked
/// for.
#[cfg(feature = "metrics")]
fn with_metrics_endpoint(
    mut handlers: HashMap<String, Arc<HttpHandler>>,
    path: Option<String>,
    stats: &Arc<Stats>,
) -> HashMap<String, Arc<HttpHandler>> {
    if let Some(path) = path {
        handlers.insert(path, Arc::new(crate::metrics::endpoint(stats)));
    }
    handlers
}

/// `values`, or `defaults` when it is empty.
fn or_default(values: Vec<String>, defaults: &[&str]) -> Vec<String> {
    if values.is_empty() {
        defaults.iter().map(|s| (*s).to_owned()).collect()
    } else {
        values
    }
}

/// A shutdown receiver that never fires: its sender lives for the whole process.
pub(crate) fn never_stop() -> watch::Receiver<bool> {
    static NEVER: std::sync::OnceLock<watch::Sender<bool>> = std::sync::OnceLock::new();
    NEVER.get_or_init(|| watch::channel(false).0).subscribe()
}

/// Where an HTTP connection comes from, and whether it is TLS this server terminates.
#[derive(Debug, Clone)]
struct Connection {
    remote: SocketAddr,
    /// Over the server's own TLS: every request on it is made to `https://`, which is what
    /// its `X-Forwarded-Proto` is set to (the header a TLS-terminating proxy sets, which
    /// the same-origin check reads); a client's own value is not believed.
    secure: bool,
    /// The user every session on it starts as, given by the test harness in process
    /// (never by anything a client sends).
    mock_user: Option<MockUser>,
}

async fn serve_http<I>(
    app: Arc<EndpointContext>,
    routes: Arc<HttpRoutes>,
    io: I,
    Connection {
        remote,
        secure,
        mock_user,
    }: Connection,
    stop: watch::Receiver<bool>,
    place: Option<PendingPlace>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    // A client that opens a connection and never finishes its request headers (or leaves a
    // kept-alive connection idle) is cut off after the time allowed to a request, or to the
    // first STOMP frame if that is shorter (hyper only enforces a header-read timeout when it
    // has a timer). Bodies are timed where they are read.
    let limits = *app.limits();
    let header_read_timeout = limits.http_request_time.min(limits.time_to_first_frame);
    // The place is held until this function returns: the connection closed, or was
    // upgraded. SockJS sessions release it earlier, through the request.
    // SockJS responses count as written once the connection flushed them.
    let flushes = routes.sockjs.is_some().then(Flushes::default);
    let io = FlushedIo::new(io, flushes.clone());
    let service = service_fn(move |mut request: http::Request<hyper::body::Incoming>| {
        if let Some(place) = &place {
            request.extensions_mut().insert(place.clone());
        }
        if let Some(flushes) = &flushes {
            request.extensions_mut().insert(flushes.clone());
        }
        if let Some(user) = &mock_user {
            request.extensions_mut().insert(user.clone());
        }
        if secure {
            let https = http::HeaderValue::from_static("https");
            request.headers_mut().insert("x-forwarded-proto", https);
        }
        serve_request(
            request,
            Arc::clone(&app),
            Arc::clone(&routes),
            remote,
            stop.clone(),
        )
    });
    if let Err(error) = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades()
        .await
    {
        tracing::debug!(%remote, %error, "http connection error");
    }
}

/// Answers a connection over the cap with 503 if its socket takes the bytes at once, and
/// closes it.
fn refuse_connection(tcp: &tokio::net::TcpStream) {
    const BUSY: &[u8] =
        b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
    let _ = tcp.try_write(BUSY);
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM (what systemd and container runtimes send);
/// never when neither signal can be installed.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

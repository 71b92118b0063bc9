//! `demo-chat`: a multi-room chat on stomp-server.
//!
//! ```text
//! cargo run --release -p demo-chat [-- --addr 127.0.0.1:8080] [--jwt-secret SECRET]
//!                                   [--accounts-db FILE] [--relay 127.0.0.1:61613]
//!                                   [--redis redis://127.0.0.1:6379]
//!                                   [--stomp-tcp 127.0.0.1:61623]
//!                                   [--tls-cert cert.pem --tls-key key.pem]
//!                                   [--no-metrics]
//! ```
//!
//! With `--tls-cert` and `--tls-key` everything is served over TLS: the page and SockJS
//! over `https://`, STOMP over `wss://` (and `--stomp-tcp` as STOMP over TLS). The files
//! are read again when they change (checked every 10 s): new connections get the new
//! certificate, open ones keep theirs.
//!
//! With `--jwt-secret` (secure mode) users sign up and log in with a password; accounts
//! live in the SQLite file `--accounts-db` (default `demo-chat-accounts.sqlite3` in the
//! working directory, created on first run).
//!
//! Open http://127.0.0.1:8080, pick a name and a room. STOMP clients connect to
//! `ws://127.0.0.1:8080/ws`: `SEND /app/chat/{room}` with `{"content": ".."}`, subscribe to
//! `/topic/chat/{room}` (messages), `/topic/chat/{room}/members`, `/topic/chat/{room}/events`
//! (join/leave), `/topic/rooms`, `/user/queue/errors`, and once to
//! `/app/chat/{room}/history` and `/app/rooms`.
//!
//! With `--relay HOST:PORT` the broker is RabbitMQ (its STOMP plugin) instead of the embedded
//! one, and several instances behind one RabbitMQ serve the same rooms: messages, join and
//! leave notices, member lists and room lists cross instances (each instance publishes its
//! own members, tagged with an instance id, every few seconds; the page merges them). The
//! history stays per instance: `/app/chat/{room}/history` returns the messages posted
//! through the instance the client is connected to.
//!
//! With `--redis URL` the instances share Redis instead (the Redis backplane): the same
//! lists cross instances, and each room's history is a Redis Stream (`archive`), the same on
//! every instance and kept across restarts of all of them.
//!
//! Without `--jwt-secret`, plain WebSocket clients (no STOMP) chat at
//! `ws://127.0.0.1:8080/ws-raw?name=NAME`: plain text in, `name: text` out, bridged both
//! ways to the STOMP room `raw` (`raw_chat`).
//!
//! Prometheus/OpenMetrics metrics are served at `/metrics` (sessions, frames, deliveries,
//! handler latency per mapping, ...; see `stomp_server::metrics`); `--no-metrics` or
//! `DEMO_METRICS=off` turns them off (for the A/B benchmark of their cost).
//!
//! Layout: `chat` (handlers), `raw_chat` (the `/ws-raw` handler), `rooms` (state: history, members), `presence` (session events
//! → member lists and notices), `auth` (the `CONNECT` interceptor, accounts, JWT, the
//! `/signup`, `/login` and `/logout` endpoints, the authorization rules), `errors`
//! (error types and exception handlers), `page` (the embedded web page).

mod archive;
mod auth;
mod chat;
#[cfg(test)]
mod chat_tests;
#[cfg(test)]
mod e2e_tests;
mod errors;
#[cfg(test)]
mod metrics_tests;
mod page;
mod presence;
mod raw_chat;
mod rooms;
#[cfg(test)]
mod token_e2e_tests;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use stomp_server::{
    config::{Limits, UnhandledErrors},
    redis::RedisConfig,
    relay::RelayConfig,
    tls::TlsConfig,
    Server, StompServer,
};

use crate::archive::Archive;
use crate::auth::Auth;
use crate::rooms::Rooms;

const USAGE: &str = "\
usage: demo-chat [--addr HOST:PORT] [--jwt-secret SECRET] [--accounts-db FILE]
                 [--relay HOST:PORT | --redis URL] [--stomp-tcp HOST:PORT]
                 [--tls-cert FILE --tls-key FILE] [--no-metrics]

  --addr HOST:PORT     where to listen (env DEMO_ADDR; default 127.0.0.1:8080)
  --jwt-secret SECRET  secure mode: accounts with passwords (POST /signup, POST /login
                       with {\"name\", \"password\"}); CONNECT needs
                       `Authorization: Bearer <HS256 JWT>` from POST /login, valid 15
                       minutes, or the handshake the token as `?access_token=` or the
                       `chat_token` cookie /login sets (a bad one: 401); a session ends
                       when its token expires; POST /logout revokes it and ends its
                       sessions (env DEMO_JWT_SECRET; default: names from `login`, no
                       passwords)
  --accounts-db FILE   secure mode's SQLite accounts file, created on first run (env
                       DEMO_ACCOUNTS_DB; default demo-chat-accounts.sqlite3 in the
                       working directory)
  --relay HOST:PORT    use RabbitMQ's STOMP plugin at HOST:PORT (e.g. 127.0.0.1:61613,
                       guest/guest) instead of the embedded broker, so that several
                       instances serve the same rooms (env DEMO_RELAY; default: embedded).
                       Start one with `bash tests/relay/start-rabbitmq.sh`.
                       Across instances: messages, notices, member and room lists are
                       shared (lists refresh every 5 s); the history of a room holds only
                       the messages posted through the instance you are connected to,
                       and room member counts add up each instance's count (a user with
                       tabs on two instances counts twice).
  --redis URL          join the other instances on the Redis at URL (e.g.
                       redis://127.0.0.1:6379) through the Redis backplane (env
                       DEMO_REDIS). Start one with `bash tests/redis/start-redis.sh`.
                       Shared as with --relay, and each room's history lives in a
                       Redis Stream (the last 50 messages), the same on every instance
                       and kept when all of them restart.
  --stomp-tcp HOST:PORT  also serve STOMP over plain TCP there (e.g. 127.0.0.1:61623),
                       for STOMP clients that speak TCP, as to RabbitMQ's 61613 (env
                       DEMO_STOMP_TCP; default: WebSocket only)
  --tls-cert FILE      serve over TLS with this PEM certificate chain (the server's
                       certificate first): the page and SockJS over https://, STOMP over
                       wss:// and --stomp-tcp as STOMP over TLS (env DEMO_TLS_CERT;
                       needs --tls-key). Changed files are picked up within 10 s.
  --tls-key FILE       the PEM private key of --tls-cert (env DEMO_TLS_KEY)
  --no-metrics         do not serve Prometheus metrics at /metrics nor time handlers
                       (env DEMO_METRICS=off)
  -h, --help           this text

environment only:
  DEMO_EXTRA_RULES=N   put N (at most 20) extra authorization rules that no chat frame
                       matches ahead of the chat's own, to measure what rules cost
                       (bench/run.sh; BENCHMARKS.md)";

/// How often each instance republishes its members in relay mode; the page forgets an
/// instance it has not heard from for three periods.
const PRESENCE_REFRESH: Duration = Duration::from_secs(5);

/// How often the TLS certificate and key files are checked for changes.
const TLS_FILES_CHECK: Duration = Duration::from_secs(10);

/// Where secure mode keeps its accounts unless told otherwise.
const DEFAULT_ACCOUNTS_DB: &str = "demo-chat-accounts.sqlite3";

/// The command line and environment, resolved.
#[derive(Debug, PartialEq, Eq)]
struct Options {
    addr: String,
    jwt_secret: Option<String>,
    /// Secure mode's accounts database file.
    accounts_db: PathBuf,
    /// RabbitMQ's STOMP host and port, for the broker relay.
    relay: Option<(String, u16)>,
    /// The Redis URL, for the Redis backplane and the history streams.
    redis: Option<String>,
    /// Where to serve STOMP over plain TCP too.
    stomp_tcp: Option<String>,
    /// The PEM certificate chain and key files, to serve over TLS.
    tls: Option<(PathBuf, PathBuf)>,
    /// Whether `/metrics` is served (and handlers timed).
    metrics: bool,
}

/// Parses `HOST:PORT` (`[::1]:61613` for IPv6).
fn parse_host_port(text: &str) -> Result<(String, u16), String> {
    let bad = || format!("--relay wants HOST:PORT (like 127.0.0.1:61613), not `{text}`");
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port: u16 = port.parse().map_err(|_| bad())?;
    if host.is_empty() || port == 0 {
        return Err(bad());
    }
    Ok((host.to_owned(), port))
}

/// Parses `args` (without the program name); flags win over the environment (`env`).
fn parse_args(
    args: impl IntoIterator<Item = String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Options>, String> {
    let mut addr = env("DEMO_ADDR").filter(|a| !a.is_empty());
    let mut jwt_secret = env("DEMO_JWT_SECRET").filter(|s| !s.is_empty());
    let mut relay = env("DEMO_RELAY").filter(|r| !r.is_empty());
    let mut accounts_db = env("DEMO_ACCOUNTS_DB").filter(|p| !p.is_empty());
    let mut redis = env("DEMO_REDIS").filter(|r| !r.is_empty());
    let mut stomp_tcp = env("DEMO_STOMP_TCP").filter(|a| !a.is_empty());
    let mut tls_cert = env("DEMO_TLS_CERT").filter(|p| !p.is_empty());
    let mut tls_key = env("DEMO_TLS_KEY").filter(|p| !p.is_empty());
    let mut metrics = env("DEMO_METRICS").is_none_or(|m| m.trim() != "off");
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match flag.as_str() {
            "--addr" => addr = Some(value("--addr")?),
            "--jwt-secret" => jwt_secret = Some(value("--jwt-secret")?),
            "--relay" => relay = Some(value("--relay")?),
            "--redis" => redis = Some(value("--redis")?),
            "--accounts-db" => accounts_db = Some(value("--accounts-db")?),
            "--stomp-tcp" => stomp_tcp = Some(value("--stomp-tcp")?),
            "--tls-cert" => tls_cert = Some(value("--tls-cert")?),
            "--tls-key" => tls_key = Some(value("--tls-key")?),
            "--no-metrics" => metrics = false,
            "-h" | "--help" => return Ok(None),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if relay.is_some() && redis.is_some() {
        return Err("choose one of --relay (RabbitMQ) and --redis".to_owned());
    }
    if let Some(url) = redis.as_deref().filter(|u| !u.starts_with("redis://")) {
        return Err(format!(
            "--redis wants a URL like redis://127.0.0.1:6379, not `{url}`"
        ));
    }
    Ok(Some(Options {
        addr: addr.unwrap_or_else(|| "127.0.0.1:8080".to_owned()),
        jwt_secret,
        accounts_db: PathBuf::from(accounts_db.unwrap_or_else(|| DEFAULT_ACCOUNTS_DB.to_owned())),
        relay: relay.as_deref().map(parse_host_port).transpose()?,
        redis,
        stomp_tcp,
        tls: match (tls_cert, tls_key) {
            (Some(cert), Some(key)) => Some((PathBuf::from(cert), PathBuf::from(key))),
            (None, None) => None,
            _ => return Err("--tls-cert and --tls-key go together".to_owned()),
        },
        metrics,
    }))
}

/// The TLS configuration of `files`, watched for changes; `Err` says why it cannot be used.
fn load_tls(files: Option<&(PathBuf, PathBuf)>) -> Result<Option<TlsConfig>, String> {
    let Some((cert, key)) = files else {
        return Ok(None);
    };
    let tls =
        TlsConfig::from_pem_files(cert, key).map_err(|e| format!("--tls-cert/--tls-key: {e}"))?;
    // Lives as long as the configuration, which the server holds until it stops.
    drop(tls.watch_files(TLS_FILES_CHECK));
    Ok(Some(tls))
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        // Colours for a terminal only: not as escape codes into a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let options = match parse_args(std::env::args().skip(1), |key| std::env::var(key).ok()) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("demo-chat: {error}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let auth = match &options.jwt_secret {
        None => Auth::open(),
        Some(secret) => match Auth::jwt(secret, &options.accounts_db) {
            Ok(auth) => {
                tracing::info!("accounts: {}", options.accounts_db.display());
                auth
            }
            Err(error) => {
                eprintln!("demo-chat: {error}");
                return ExitCode::from(2);
            }
        },
    };
    let tls = match load_tls(options.tls.as_ref()) {
        Ok(tls) => tls,
        Err(error) => {
            eprintln!("demo-chat: {error}");
            return ExitCode::from(2);
        }
    };
    let broker = match (options.relay, options.redis) {
        (Some(relay), _) => Broker::Relay(relay),
        (None, Some(url)) => Broker::Redis(url),
        (None, None) => Broker::Embedded,
    };
    let listeners = Listeners {
        stomp_tcp: options.stomp_tcp,
        tls,
        metrics: options.metrics,
    };
    match run(&options.addr, auth, broker, listeners).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("demo-chat: {error}");
            ExitCode::FAILURE
        }
    }
}

/// What is served besides the page and WebSocket, and how.
#[derive(Debug, Default)]
struct Listeners {
    /// Where STOMP over TCP is served too.
    stomp_tcp: Option<String>,
    /// TLS on every listener.
    tls: Option<TlsConfig>,
    /// Serve Prometheus metrics at `/metrics`.
    metrics: bool,
}

/// Where the rooms' topics live.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Broker {
    /// This process alone.
    Embedded,
    /// RabbitMQ's STOMP host and port.
    Relay((String, u16)),
    /// The Redis backplane at this URL, with the history in Redis Streams.
    Redis(String),
}

impl Broker {
    /// True when other instances share the rooms.
    fn shared(&self) -> bool {
        !matches!(self, Broker::Embedded)
    }
}

async fn run(
    addr: &str,
    auth: Auth,
    broker: Broker,
    listeners: Listeners,
) -> Result<(), stomp_server::StartError> {
    // With several instances, member lists are tagged with this instance's id so pages can
    // merge the lists of every instance.
    let rooms = if broker.shared() {
        Rooms::for_instance(&format!("{:x}-{:x}", rooms::now_ms(), std::process::id()))
    } else {
        Rooms::new()
    };
    let secure = auth.requires_token();
    let changes_rooms = rooms.clone();
    let refresh_rooms = rooms.clone();
    let (http, ws) = if listeners.tls.is_some() {
        ("https", "wss")
    } else {
        ("http", "ws")
    };
    let mut server = build_server(auth, &broker, rooms, listeners)?;
    let listener = server.bind(addr).await?;
    if let Some(tcp) = server.bind_stomp_tcp().await? {
        tracing::info!("STOMP over TCP at {tcp}");
    }
    let local = listener
        .local_addr()
        .map_or_else(|_| addr.to_owned(), |a| a.to_string());
    let mode = if secure {
        "secure mode: accounts with passwords; CONNECT needs a bearer JWT from POST /login"
    } else {
        "default mode: the CONNECT `login` header names the user"
    };
    tracing::info!("demo-chat on {http}://{local}/ (STOMP at {ws}://{local}/ws; {mode})");
    if !secure {
        tracing::info!("raw WebSocket chat (room `raw`) at {ws}://{local}/ws-raw?name=NAME");
    }
    let changes = {
        let template = server.template();
        tokio::spawn(async move { presence::publish_changes(&changes_rooms, &template).await })
    };
    let refresh = match &broker {
        Broker::Embedded => None,
        shared => {
            match shared {
                Broker::Relay((host, port)) => tracing::info!(
                    "broker: RabbitMQ at {host}:{port} (relay; other instances on it share the rooms)"
                ),
                _ => tracing::info!(
                    "broker: Redis backplane (other instances on it share the rooms; history in Redis Streams)"
                ),
            }
            let template = server.template();
            let stats = server.stats();
            Some(tokio::spawn(async move {
                presence::republish_every(&refresh_rooms, &template, &stats, PRESENCE_REFRESH)
                    .await;
            }))
        }
    };
    server.run(listener, shutdown()).await;
    changes.abort();
    if let Some(task) = refresh {
        task.abort();
    }
    tracing::info!("demo-chat stopped");
    Ok(())
}

/// Most messages a relaying instance puts in one RabbitMQ message: `DEMO_RELAY_BATCH`, 64
/// by default.
fn relay_batch() -> usize {
    std::env::var("DEMO_RELAY_BATCH")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(64)
}

/// How many of the benchmark's extra authorization rules go ahead of the chat's own:
/// `DEMO_EXTRA_RULES` (0 to 20, more counts as 20), none by default.
fn extra_rules() -> usize {
    let extra = std::env::var("DEMO_EXTRA_RULES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    if extra > 0 {
        tracing::info!(
            "{} extra authorization rules (DEMO_EXTRA_RULES)",
            extra.min(auth::EXTRA_RULES)
        );
    }
    extra
}

/// The chat server: endpoint, broker (embedded or `relay`), handlers, the authentication of
/// `auth` with its HTTP endpoints, and the page.
fn build_server(
    auth: Auth,
    broker: &Broker,
    rooms: Rooms,
    listeners: Listeners,
) -> Result<Server, stomp_server::StartError> {
    let listener_rooms = rooms.clone();
    let raw_rooms = rooms.clone();
    let builder = StompServer::builder()
        .endpoint("/ws")
        // Browsers without WebSocket, and Spring's SockJsClient, connect at /ws through SockJS.
        .with_sockjs()
        .application_prefix("/app");
    let (builder, archive) = match broker {
        // enableStompBrokerRelay: RabbitMQ owns /topic and /queue. Only demo instances read
        // the demo's topics, so they may batch what they publish to RabbitMQ
        // (DEMO_RELAY_BATCH=1 turns it off, to compare).
        Broker::Relay((host, port)) => (
            builder.broker_relay(
                RelayConfig::default()
                    .with_host(host.clone())
                    .with_port(*port)
                    .with_publish_batch(relay_batch()),
            ),
            Archive::default(),
        ),
        // The simple broker joined to the other instances through Redis pub/sub.
        Broker::Redis(url) => (
            builder
                .simple_broker(["/topic", "/queue"])
                .redis_backplane(RedisConfig::default().with_url(url.clone())),
            Archive::redis(url),
        ),
        Broker::Embedded => (
            builder.simple_broker(["/topic", "/queue"]),
            Archive::default(),
        ),
    };
    let raw_archive = archive.clone();
    let mut builder = builder
        .user_prefix("/user")
        .heartbeat(10_000, 10_000)
        // A chat message is at most 2,000 characters: 16 KiB frames are plenty.
        .limits(Limits::default().with_message_size(16 * 1024))
        // A handler error nobody expected still answers the sender instead of closing it.
        .unhandled_errors(UnhandledErrors::UserDestination("/queue/errors".to_owned()))
        .state(rooms)
        .state(archive)
        .interceptor(auth::connect_interceptor(auth.clone()))
        .message_security(auth::broker_rules(extra_rules())?)
        .on_event(move |event, template| {
            presence::on_session_event(&listener_rooms, event, template);
        })
        .http_handler("/login", auth::login_handler(auth.clone()));
    let secure = auth.requires_token();
    // Logout ends the sessions of the token it revokes, through the server being built.
    let sessions = Arc::new(OnceLock::new());
    if secure {
        builder = builder
            .handshake_interceptor(auth::handshake_interceptor(auth.clone()))
            .http_handler("/signup", auth::signup_handler(auth.clone()))
            .http_handler("/logout", auth::logout_handler(auth, Arc::clone(&sessions)));
    } else {
        // Raw clients name themselves: served only where STOMP clients may do so too.
        let raw = raw_chat::RawChat {
            rooms: raw_rooms,
            archive: raw_archive,
        };
        builder = builder.raw_endpoint("/ws-raw", raw);
    }
    if listeners.metrics {
        builder = builder.metrics_endpoint("/metrics");
    }
    builder = match (listeners.stomp_tcp, listeners.tls) {
        (None, None) => builder,
        (Some(addr), None) => builder.stomp_tcp(&addr),
        (None, Some(tls)) => builder.tls(tls),
        (Some(addr), Some(tls)) => builder.tls(tls.clone()).stomp_tcp_tls(&addr, tls),
    };
    let server = page::register(builder, secure).build()?;
    let _ = sessions.set(server.sessions());
    Ok(server)
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM (what `kill` and container runtimes send).
async fn shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                () = stomp_server::shutdown_signal() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    stomp_server::shutdown_signal().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], env: &[(&str, &str)]) -> Result<Option<Options>, String> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        parse_args(args.iter().map(|a| (*a).to_owned()), move |key| {
            env.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn the_handlers_are_collected_and_valid() {
        let handlers = stomp_server::handler::Handlers::collected();
        let mut patterns: Vec<&str> = handlers.mappings().iter().map(|d| d.pattern).collect();
        patterns.sort_unstable();
        assert_eq!(
            patterns,
            [
                "/chat/**",
                "/chat/**",
                "/chat/<room>",
                "/chat/<room>/history",
                "/chat/<room>/members",
                "/rooms"
            ]
        );
        assert_eq!(handlers.exception_handlers().len(), 2);
        // Building validates them: no duplicate or ambiguous mapping.
        assert!(StompServer::builder().handlers(handlers).build().is_ok());
    }

    #[test]
    fn arguments_and_environment() {
        let defaults = Options {
            addr: "127.0.0.1:8080".into(),
            jwt_secret: None,
            accounts_db: PathBuf::from("demo-chat-accounts.sqlite3"),
            relay: None,
            redis: None,
            stomp_tcp: None,
            tls: None,
            metrics: true,
        };
        assert_eq!(parse(&[], &[]), Ok(Some(defaults)));
        let got = parse(
            &["--addr", "0.0.0.0:9000", "--jwt-secret=k"],
            &[("DEMO_ADDR", "1.1.1.1:1")],
        );
        assert_eq!(
            got,
            Ok(Some(Options {
                addr: "0.0.0.0:9000".into(),
                jwt_secret: Some("k".into()),
                accounts_db: PathBuf::from("demo-chat-accounts.sqlite3"),
                relay: None,
                redis: None,
                stomp_tcp: None,
                tls: None,
                metrics: true,
            }))
        );
        let got = parse(
            &[],
            &[("DEMO_ADDR", "127.0.0.1:1"), ("DEMO_JWT_SECRET", "s")],
        );
        assert_eq!(
            got,
            Ok(Some(Options {
                addr: "127.0.0.1:1".into(),
                jwt_secret: Some("s".into()),
                accounts_db: PathBuf::from("demo-chat-accounts.sqlite3"),
                relay: None,
                redis: None,
                stomp_tcp: None,
                tls: None,
                metrics: true,
            }))
        );
        let db = |args: &[&str], env: &[(&str, &str)]| {
            parse(args, env).map(|o| o.map(|o| o.accounts_db))
        };
        assert_eq!(
            db(&["--accounts-db", "a.db"], &[("DEMO_ACCOUNTS_DB", "b.db")]),
            Ok(Some(PathBuf::from("a.db")))
        );
        assert_eq!(
            db(&[], &[("DEMO_ACCOUNTS_DB", "b.db")]),
            Ok(Some(PathBuf::from("b.db")))
        );
        assert!(USAGE.contains("--accounts-db FILE") && USAGE.contains("DEMO_ACCOUNTS_DB"));
        assert_eq!(parse(&["--help"], &[]), Ok(None));
        assert!(parse(&["--addr"], &[])
            .unwrap_err()
            .contains("needs a value"));
        assert!(parse(&["--bogus"], &[]).unwrap_err().contains("unknown"));
    }

    #[test]
    fn relay_address_from_flag_or_environment() {
        let relay =
            |args: &[&str], env: &[(&str, &str)]| parse(args, env).map(|o| o.and_then(|o| o.relay));
        assert_eq!(
            relay(&["--relay", "127.0.0.1:61613"], &[]),
            Ok(Some(("127.0.0.1".into(), 61613)))
        );
        assert_eq!(
            relay(&["--relay=rabbit.internal:61614"], &[("DEMO_RELAY", "x:1")]),
            Ok(Some(("rabbit.internal".into(), 61614)))
        );
        assert_eq!(
            relay(&[], &[("DEMO_RELAY", "[::1]:61613")]),
            Ok(Some(("::1".into(), 61613)))
        );
        assert_eq!(relay(&[], &[("DEMO_RELAY", "")]), Ok(None));
        for bad in [
            "61613",
            "host:",
            ":61613",
            "host:port",
            "host:70000",
            "host:0",
        ] {
            assert!(
                relay(&["--relay", bad], &[])
                    .unwrap_err()
                    .contains("HOST:PORT"),
                "{bad}"
            );
        }
        assert!(parse(&["--relay"], &[])
            .unwrap_err()
            .contains("needs a value"));
        assert!(USAGE.contains("--relay HOST:PORT") && USAGE.contains("DEMO_RELAY"));
    }

    #[test]
    fn redis_url_from_flag_or_environment() {
        let redis =
            |args: &[&str], env: &[(&str, &str)]| parse(args, env).map(|o| o.and_then(|o| o.redis));
        assert_eq!(
            redis(&["--redis", "redis://127.0.0.1:6379"], &[]),
            Ok(Some("redis://127.0.0.1:6379".into()))
        );
        assert_eq!(
            redis(&["--redis=redis://a:1"], &[("DEMO_REDIS", "redis://b:2")]),
            Ok(Some("redis://a:1".into()))
        );
        assert_eq!(
            redis(&[], &[("DEMO_REDIS", "redis://b:2")]),
            Ok(Some("redis://b:2".into()))
        );
        assert_eq!(redis(&[], &[("DEMO_REDIS", "")]), Ok(None));
        assert!(redis(&["--redis", "127.0.0.1:6379"], &[])
            .unwrap_err()
            .contains("redis://"));
        assert!(parse(&["--redis", "redis://x", "--relay", "h:1"], &[])
            .unwrap_err()
            .contains("one of"));
        assert!(USAGE.contains("--redis URL") && USAGE.contains("DEMO_REDIS"));
    }

    #[test]
    fn stomp_tcp_comes_from_the_flag_or_the_environment() {
        let tcp = |args: &[&str], env: &[(&str, &str)]| {
            parse(args, env).map(|o| o.and_then(|o| o.stomp_tcp))
        };
        assert_eq!(tcp(&[], &[]), Ok(None));
        let flag = tcp(
            &["--stomp-tcp", "127.0.0.1:61623"],
            &[("DEMO_STOMP_TCP", "x:1")],
        );
        assert_eq!(flag, Ok(Some("127.0.0.1:61623".to_owned())));
        assert_eq!(
            tcp(&[], &[("DEMO_STOMP_TCP", "0.0.0.0:61623")]),
            Ok(Some("0.0.0.0:61623".to_owned()))
        );
        assert!(USAGE.contains("--stomp-tcp HOST:PORT"));
    }

    #[test]
    fn tls_files_come_from_the_flags_or_the_environment_and_go_together() {
        let tls =
            |args: &[&str], env: &[(&str, &str)]| parse(args, env).map(|o| o.and_then(|o| o.tls));
        assert_eq!(tls(&[], &[]), Ok(None));
        let both = Some((PathBuf::from("c.pem"), PathBuf::from("k.pem")));
        assert_eq!(
            tls(&["--tls-cert", "c.pem", "--tls-key=k.pem"], &[]),
            Ok(both.clone())
        );
        let env = [("DEMO_TLS_CERT", "c.pem"), ("DEMO_TLS_KEY", "k.pem")];
        assert_eq!(tls(&[], &env), Ok(both));
        assert!(tls(&["--tls-cert", "c.pem"], &[]).is_err());
        assert!(tls(&[], &[("DEMO_TLS_KEY", "k.pem")]).is_err());
        let missing = load_tls(Some(&(
            PathBuf::from("no-such.pem"),
            PathBuf::from("no-such.key"),
        )));
        assert!(missing.is_err_and(|e| e.contains("no-such.pem")));
        assert!(USAGE.contains("--tls-cert FILE") && USAGE.contains("--tls-key FILE"));
    }
}

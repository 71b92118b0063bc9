//! What every example of the gallery shares: the `--addr` argument, logging, and serving
//! until Ctrl-C (or SIGTERM) with a start-up line that says where.
//!
//! Each example is a small program of its own:
//!
//! ```text
//! cargo run -p stomp-examples --example greeting   # Spring's guide, with its page
//! cargo run -p stomp-examples --example axum       # mounted in axum beside REST routes
//! cargo run -p stomp-examples --example jwt        # a JWT checked on CONNECT
//! cargo run -p stomp-examples --example relay      # the broker relay to RabbitMQ
//! cargo run -p stomp-examples --example redis      # the Redis backplane
//! cargo run -p stomp-examples --example raw        # a plain WebSocket handler beside STOMP
//! ```
//!
//! and `tests/tests/examples.rs` starts each one on a free port and talks to it.

use std::future::Future;

/// The address to listen on: `--addr HOST:PORT` (or `--addr=HOST:PORT`), else the
/// environment variable `DEMO_ADDR`, else `127.0.0.1:8080`. Port 0 picks a free port.
pub fn address(example: &str) -> Result<String, String> {
    let mut addr = std::env::var("DEMO_ADDR").ok().filter(|a| !a.is_empty());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if let Some(value) = arg.strip_prefix("--addr=") {
            addr = Some(value.to_owned());
        } else if arg == "--addr" {
            addr = Some(args.next().ok_or("--addr needs a value")?);
        } else {
            return Err(format!(
                "unknown argument `{arg}`; usage: {example} [--addr HOST:PORT]"
            ));
        }
    }
    Ok(addr.unwrap_or_else(|| "127.0.0.1:8080".to_owned()))
}

/// Logs to stderr at `info`, or as `RUST_LOG` says.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// Runs an example's `main`: logging, the address, then `serve(address)`, whose error (or an
/// argument error) ends the process with a failure status and a line on stderr.
pub async fn run<F, Fut, E>(example: &str, serve: F) -> std::process::ExitCode
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    init_logging();
    let addr = match address(example) {
        Ok(addr) => addr,
        Err(error) => {
            eprintln!("{example}: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    match serve(addr).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{example}: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Binds `addr`, logs `{example} on http://HOST:PORT/` (the line the gallery's tests wait
/// for), and serves until Ctrl-C or SIGTERM.
pub async fn serve(
    example: &str,
    server: stomp_server::Server,
    addr: &str,
) -> Result<(), stomp_server::StartError> {
    let listener = server.bind(addr).await?;
    let local = listener
        .local_addr()
        .map_or_else(|_| addr.to_owned(), |a| a.to_string());
    tracing::info!("{example} on http://{local}/");
    server.run(listener, stomp_server::shutdown_signal()).await;
    Ok(())
}

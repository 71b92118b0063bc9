//! What every mode shares: connection settings, spreading connections over source
//! addresses, connecting many sessions at once, the progress line and `/proc` readings.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stomp_server::client::{ClientError, StompClient, StompSession, Subscription};
use stomp_server::{Command, Frame};
use tokio::sync::Semaphore;

use super::args::Args;
use super::procfs::{self, ProcSample};

/// How to reach the server, shared by every mode.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// `ws://host:port/path`.
    pub url: String,
    /// `login` and `passcode` of `CONNECT`.
    pub login: Option<(String, String)>,
    /// The `host` header of `CONNECT` (RabbitMQ reads it as the virtual host: use `/`).
    pub host: Option<String>,
    /// Extra `CONNECT` headers.
    pub headers: Vec<(String, String)>,
    /// The `heart-beat` asked for, in ms.
    pub heartbeat: (u32, u32),
    /// The client's WebSocket read buffer per connection.
    pub read_buffer: usize,
    /// Messages buffered per subscription in the client.
    pub subscription_capacity: usize,
    /// Connections per source address (`127.0.0.1`, `127.0.0.2`, ...); 0: let the kernel
    /// choose (one address, about 28,000 ephemeral ports).
    pub per_ip: usize,
    /// Connections being opened at once.
    pub concurrency: usize,
    /// Time allowed for one connection (TCP, handshake, `CONNECTED`).
    pub connect_timeout: Duration,
    /// True when a `SUBSCRIBE` waits for its `RECEIPT` (false for servers that send none).
    pub subscribe_receipts: bool,
    /// What `wss://` connections trust (`--tls-ca FILE`); default the webpki roots.
    pub tls: Option<stomp_server::tls::TlsClientConfig>,
}

impl ConnectOptions {
    /// Reads `--url --login --passcode --host --header NAME:VALUE --heartbeat OUT,IN
    /// --read-buffer --subscription-capacity --per-ip --connect-concurrency
    /// --connect-timeout --no-subscribe-receipts --tls-ca FILE`.
    pub fn from_args(args: &mut Args, default_per_ip: usize) -> Result<ConnectOptions, String> {
        let url = args
            .opt_str("url")
            .ok_or("--url ws://HOST:PORT/PATH is required")?;
        let login = match (args.opt_str("login"), args.opt_str("passcode")) {
            (Some(login), passcode) => Some((login, passcode.unwrap_or_default())),
            (None, Some(_)) => return Err("--passcode needs --login".into()),
            (None, None) => None,
        };
        let headers = args
            .all("header")
            .into_iter()
            .map(|h| {
                h.split_once(':')
                    .map(|(n, v)| (n.to_owned(), v.to_owned()))
                    .ok_or_else(|| format!("--header `{h}`: expected NAME:VALUE"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let heartbeat = args.str("heartbeat", "10000,10000");
        let heartbeat = heartbeat
            .split_once(',')
            .and_then(|(o, i)| Some((o.trim().parse().ok()?, i.trim().parse().ok()?)))
            .ok_or_else(|| format!("--heartbeat `{heartbeat}`: expected OUT_MS,IN_MS"))?;
        Ok(ConnectOptions {
            url,
            login,
            host: args.opt_str("host"),
            headers,
            heartbeat,
            read_buffer: args.get("read-buffer", 4 * 1024)?,
            subscription_capacity: args.get("subscription-capacity", 1024)?,
            per_ip: args.get("per-ip", default_per_ip)?,
            concurrency: args.get::<usize>("connect-concurrency", 64)?.max(1),
            connect_timeout: args.secs("connect-timeout", 30.0)?,
            subscribe_receipts: !args.flag("no-subscribe-receipts")?,
            tls: args
                .opt_str("tls-ca")
                .map(|file| {
                    stomp_server::tls::TlsClientConfig::from_ca_pem_file(&file)
                        .map_err(|e| format!("--tls-ca: {e}"))
                })
                .transpose()?,
        })
    }

    /// The client for connection number `index`, bound to its source address when
    /// connections are spread.
    pub fn client(&self, index: usize) -> StompClient {
        let mut client = StompClient::new()
            .heartbeat(self.heartbeat.0, self.heartbeat.1)
            .read_buffer_size(self.read_buffer)
            .subscription_capacity(self.subscription_capacity)
            .connect_timeout(self.connect_timeout)
            .receipt_timeout(self.connect_timeout)
            // Nothing reads unrouted frames in a load run.
            .unrouted_capacity(0);
        if let Some((login, passcode)) = &self.login {
            client = client.login(login, passcode);
        }
        if let Some(host) = &self.host {
            client = client.host(host);
        }
        for (name, value) in &self.headers {
            client = client.header(name, value);
        }
        if let Some(addr) = self.source_addr(index) {
            client = client.bind_addr(addr);
        }
        if let Some(tls) = &self.tls {
            client = client.tls(tls.clone());
        }
        client
    }

    /// `127.0.0.(1 + index / per_ip)` when spreading (at most 254 addresses).
    pub fn source_addr(&self, index: usize) -> Option<IpAddr> {
        if self.per_ip == 0 {
            return None;
        }
        let host = 1 + (index / self.per_ip).min(253) as u8;
        Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, host)))
    }
}

/// Subscribes `session` to `destination`: live when this returns if `receipts` (the server
/// sends them), else sent without waiting (see [`SUBSCRIBE_SETTLE`]).
pub async fn subscribe(
    session: &StompSession,
    destination: &str,
    receipts: bool,
) -> Result<Subscription, ClientError> {
    if receipts {
        return session.subscribe(destination).await;
    }
    let frame = Frame::new(Command::Subscribe).header("destination", destination);
    session.subscribe_with(frame, false).await
}

/// How long a run waits after subscribing without receipts before it counts on the
/// subscriptions being live.
pub const SUBSCRIBE_SETTLE: Duration = Duration::from_secs(1);

/// Runs `open(index)` for `0..count`, at most `concurrency` at once, each in its own task,
/// and returns the results in index order, errors as text.
pub async fn open_many<T, E, F, Fut>(
    count: usize,
    concurrency: usize,
    open: F,
) -> Vec<Result<T, String>>
where
    T: Send + 'static,
    E: std::fmt::Display + Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Result<T, E>> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut handles = Vec::with_capacity(count);
    for index in 0..count {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            break;
        };
        let fut = open(index);
        handles.push(tokio::spawn(async move {
            let result = fut.await.map_err(|error| error.to_string());
            drop(permit);
            result
        }));
    }
    let mut results = Vec::with_capacity(count);
    for handle in handles {
        results.push(match handle.await {
            Ok(result) => result,
            Err(error) => Err(format!("connection task failed: {error}")),
        });
    }
    results
}

/// Keeps the first few distinct error messages, for the report.
#[derive(Debug, Default)]
pub struct FirstErrors {
    messages: std::sync::Mutex<Vec<String>>,
}

impl FirstErrors {
    /// How many distinct messages are kept.
    const LIMIT: usize = 5;

    /// Remembers `message` if it is new and there is room.
    pub fn add(&self, message: String) {
        let mut messages = self
            .messages
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if messages.len() < FirstErrors::LIMIT && !messages.contains(&message) {
            messages.push(message);
        }
    }

    /// The messages kept.
    pub fn list(&self) -> Vec<String> {
        self.messages
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// The progress line task; dropping it stops the line.
#[derive(Debug)]
pub struct Progress(Option<tokio::task::JoinHandle<()>>);

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

/// Prints `line()` to stderr every `every` (when `enabled`) until the result is dropped.
pub fn progress<F>(enabled: bool, every: Duration, line: F) -> Progress
where
    F: Fn() -> String + Send + 'static,
{
    Progress(enabled.then(|| {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                eprintln!("{}", line());
            }
        })
    }))
}

/// Readings of the server (when `--server-pid` was given) and of this process.
#[derive(Debug, Clone, Copy)]
pub struct Readings {
    /// When they were taken.
    pub at: Instant,
    /// The server process.
    pub server: Option<ProcSample>,
    /// The load tool itself.
    pub load: Option<ProcSample>,
}

impl Readings {
    /// Reads both processes now.
    pub fn take(server_pid: Option<u32>) -> Readings {
        Readings {
            at: Instant::now(),
            server: server_pid.and_then(procfs::sample),
            load: procfs::sample(0),
        }
    }
}

/// `1234567` as `1,234,567`, for progress lines.
pub fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Rounds to `places` decimals, for JSON that stays readable.
pub fn round(value: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_helpers() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(round(1.23456, 2), 1.23);
    }

    #[test]
    fn source_addresses_spread() {
        let mut args = Args::parse(
            ["--url", "ws://127.0.0.1:1/ws", "--per-ip", "10"]
                .into_iter()
                .map(str::to_owned),
            &[],
        )
        .expect("parses");
        let options = ConnectOptions::from_args(&mut args, 0).expect("options");
        assert_eq!(
            options.source_addr(0).map(|a| a.to_string()).as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(
            options.source_addr(25).map(|a| a.to_string()).as_deref(),
            Some("127.0.0.3")
        );
        let none = ConnectOptions {
            per_ip: 0,
            ..options
        };
        assert_eq!(none.source_addr(25), None);
    }
}

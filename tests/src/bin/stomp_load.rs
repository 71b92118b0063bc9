//! `stomp-load`: a load generator for STOMP over WebSocket servers, built on the
//! framework's own client. Runs one scenario, prints a progress line every second on stderr
//! and one JSON line on stdout at the end. See `USAGE` below, and BENCHMARKS.md for the
//! scenarios it is used for.

use std::process::ExitCode;

use tests::load::args::Args;
use tests::load::{churn, conns, fanout};

const USAGE: &str = "\
usage: stomp-load MODE --url ws://HOST:PORT/PATH [flags]

modes:
  fanout   N subscribers, M publishers; every message to every subscriber
  conns    many idle sessions with one subscription each, held, then probed
  churn    sessions connecting, subscribing and leaving in a loop

connection (every mode):
  --url URL                  ws:// or wss:// endpoint (required)
  --tls-ca FILE              PEM CA certificates wss:// trusts (default: webpki roots)
  --login NAME --passcode PW CONNECT credentials
  --host VHOST               CONNECT `host` header (RabbitMQ: `/`)
  --header NAME:VALUE        extra CONNECT header (repeatable)
  --heartbeat OUT,IN         heart-beat asked for, ms (default 10000,10000)
  --read-buffer BYTES        client WebSocket read buffer (default 4096)
  --subscription-capacity N  messages buffered per subscription (default 1024)
  --per-ip N                 connections per source address 127.0.0.x
                             (default: conns 20000, churn 10000, fanout 0 = no binding)
  --connect-concurrency N    connections opened at once (default 64)
  --connect-timeout SECS     per connection (default 30)
  --no-subscribe-receipts    SUBSCRIBE without waiting for a RECEIPT (Spring's simple
                             broker sends none), then wait a second before publishing
  --server-pid PID           read the server's CPU time and memory from /proc
  --label TEXT               copied into the report
  --quiet                    no progress line

fanout:
  --subscribers N (10)  --publishers M (1)
  --rate MSGS_PER_S     aggregate over all publishers; 0 = as fast as the window allows (0)
  --window N            most messages in flight, not yet received by all (1000)
  --body-size BYTES (64)  --body raw|json (raw; json = {\"content\":\"<stamp>..\"})
  --sub-dest DEST (/topic/bench)  --send-dest DEST (= sub-dest; e.g. /app/chat/room)
  --publish-url URL     publishers connect here instead of --url (another instance)
  --duration SECS (10)  --messages N: per publisher, then stop (0 = until --duration)
  --drain SECS: wait this long without progress at the end (5)

conns:
  --count N (1000)  --sub-dest DEST (/topic/idle)  --probe-dest DEST (= sub-dest)
  --hold SECS (10)  --settle SECS (2)  --probe-timeout SECS (30)

churn:
  --workers N (50)  --duration SECS (10)  --warmup SECS (2)  --settle SECS (3)
  --sub-dest DEST (/topic/churn)  --abrupt-every K: every K-th leaves without DISCONNECT (4)
  --tolerance-kib N: growth over the baseline still called returned (1024)";

const SWITCHES: &[&str] = &["quiet", "help", "no-subscribe-receipts"];

async fn run(mode: &str, mut args: Args) -> Result<serde_json::Value, String> {
    match mode {
        "fanout" => {
            let options = fanout::FanoutOptions::from_args(&mut args)?;
            args.finish()?;
            fanout::run(options).await
        }
        "conns" => {
            let options = conns::ConnsOptions::from_args(&mut args)?;
            args.finish()?;
            conns::run(options).await
        }
        "churn" => {
            let options = churn::ChurnOptions::from_args(&mut args)?;
            args.finish()?;
            churn::run(options).await
        }
        other => Err(format!("unknown mode `{other}`")),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut argv = std::env::args().skip(1);
    let Some(mode) = argv.next() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    if matches!(mode.as_str(), "-h" | "--help" | "help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let args = match Args::parse(argv, SWITCHES) {
        Ok(args) => args,
        Err(error) => {
            eprintln!("stomp-load: {error}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&mode, args).await {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("stomp-load: {error}");
            ExitCode::FAILURE
        }
    }
}

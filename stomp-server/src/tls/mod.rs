//! TLS (cargo feature `tls`): `https://` and `wss://` on the HTTP listener
//! ([`StompServerBuilder::tls`](crate::StompServerBuilder::tls)), STOMP over TLS on a TCP
//! listener ([`StompServerBuilder::stomp_tcp_tls`](crate::StompServerBuilder::stomp_tcp_tls),
//! as RabbitMQ's port 61614), the client's `wss://` and `stomp+ssl://` URLs
//! ([`StompClient::tls`](crate::client::StompClient::tls)) and the relay's TLS connection to
//! RabbitMQ ([`RelayConfig::tls`](crate::relay::RelayConfig::tls)).
//!
//! Built on rustls (through tokio-rustls) with its `ring` provider only: TLS 1.2 and 1.3,
//! no OpenSSL, no aws-lc-rs. A server's certificate chain and key come from PEM files
//! ([`TlsConfig::from_pem_files`]) and are read again by [`TlsConfig::reload`] (or by
//! [`TlsConfig::watch_files`] when the files change): new handshakes use the new
//! certificate, sessions already open keep theirs. A client trusts the CA certificates of a
//! PEM file ([`TlsClientConfig::from_ca_pem_file`]) or the Mozilla roots compiled in
//! ([`TlsClientConfig::webpki_roots`]).
//!
//! A TLS handshake is held to [`TlsConfig::handshake_timeout`] (default 10 s) and counts
//! against the pending-connection caps (`Limits::max_pending_connections` and its per-address
//! cap) while it runs, as a request that is not yet a session does: a client that opens TCP
//! and never finishes its handshake holds a place for at most that long.

mod client;
mod error;
mod pem;
mod relay;
mod server;
mod stream;

pub use client::TlsClientConfig;
pub use error::TlsError;
pub use relay::RelayTls;
pub use server::TlsConfig;

pub(crate) use relay::connect_relay;
pub(crate) use stream::ClientIo;

/// `tcp` as is without `tls`, else inside TLS to `server_name`.
pub(crate) async fn connect(
    tcp: tokio::net::TcpStream,
    tls: Option<&TlsClientConfig>,
    server_name: &str,
) -> std::io::Result<ClientIo> {
    match tls {
        None => Ok(ClientIo::Plain(tcp)),
        Some(tls) => tls.connect(tcp, server_name).await,
    }
}

/// The crypto provider every configuration here is built with: rustls' `ring` provider,
/// named explicitly so that no process-wide default has to be installed (and another
/// crate enabling aws-lc-rs cannot make the choice ambiguous).
// rustls 0.23.48 deprecates the ring provider for lacking post-quantum key exchange (only
// aws-lc-rs has it); ring is chosen for a build without cmake or NASM. The classical
// groups (X25519, P-256, P-384) are what browsers, Node, Python and RabbitMQ offer too.
#[allow(deprecated)]
fn provider() -> std::sync::Arc<tokio_rustls::rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(tokio_rustls::rustls::crypto::ring::default_provider())
}

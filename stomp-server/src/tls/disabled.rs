//! Built without the `tls` cargo feature: the TLS types the server, client and relay name
//! are stand-ins that no value can exist of, so every TLS branch is dead code the compiler
//! removes.

use std::net::SocketAddr;

/// No server TLS configuration can exist without the `tls` feature.
#[derive(Debug, Clone)]
pub(crate) enum TlsConfig {}

impl TlsConfig {
    /// Never called: there is no value to call it on.
    pub(crate) async fn accept<IO>(&self, _io: IO, _remote: SocketAddr) -> Option<IO> {
        match *self {}
    }
}

/// No client TLS configuration can exist without the `tls` feature.
#[derive(Debug, Clone)]
pub(crate) enum TlsClientConfig {}

/// The relay's TLS settings do not exist without the `tls` feature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RelayTls {}

/// Never called: no relay TLS settings exist.
pub(crate) async fn connect_relay(
    _tcp: tokio::net::TcpStream,
    tls: &RelayTls,
    _host: &str,
) -> Result<ClientIo, String> {
    match *tls {}
}

/// Without the `tls` feature there is no TLS to enter: `tcp` as is.
pub(crate) async fn connect(
    tcp: tokio::net::TcpStream,
    tls: Option<&TlsClientConfig>,
    _server_name: &str,
) -> std::io::Result<ClientIo> {
    match tls {
        None => Ok(tcp),
        Some(never) => match *never {},
    }
}

/// Without TLS a client connection is plain TCP.
pub(crate) type ClientIo = tokio::net::TcpStream;

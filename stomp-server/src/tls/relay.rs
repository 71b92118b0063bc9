//! [`RelayTls`]: how the broker relay reaches RabbitMQ over TLS.

use super::{ClientIo, TlsClientConfig, TlsError};

/// How the relay connects to the broker over TLS: whom it trusts, and the name the broker's
/// certificate must carry. Read at every connection, so a CA file that changes is picked up
/// by the next one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelayTls {
    /// A PEM file of the CA certificates to trust (and nothing else). Default `None`: the
    /// Mozilla roots compiled in (`webpki-roots`).
    pub ca_file: Option<std::path::PathBuf>,
    /// The name checked against the broker's certificate (a DNS name or an IP address).
    /// Default `None`: the relay's host (`RelayConfig::host`).
    pub server_name: Option<String>,
}

impl RelayTls {
    /// TLS trusting the CA certificates of the PEM file at `path`.
    pub fn with_ca_file(path: impl Into<std::path::PathBuf>) -> RelayTls {
        RelayTls {
            ca_file: Some(path.into()),
            server_name: None,
        }
    }

    /// Checks the broker's certificate against `name` instead of the relay's host.
    #[must_use]
    pub fn with_server_name(mut self, name: &str) -> RelayTls {
        self.server_name = Some(name.to_owned());
        self
    }

    /// What the connection trusts.
    pub(crate) fn client_config(&self) -> Result<TlsClientConfig, TlsError> {
        match &self.ca_file {
            Some(path) => TlsClientConfig::from_ca_pem_file(path),
            None => Ok(TlsClientConfig::webpki_roots()),
        }
    }

    /// The name the broker's certificate must carry when it is reached at `host`.
    pub(crate) fn expected_name<'a>(&'a self, host: &'a str) -> &'a str {
        self.server_name.as_deref().unwrap_or(host)
    }
}

/// The relay's connection to the broker at `host` inside TLS, or why not (a CA file that
/// cannot be used, a failed handshake).
pub(crate) async fn connect_relay(
    tcp: tokio::net::TcpStream,
    tls: &RelayTls,
    host: &str,
) -> Result<ClientIo, String> {
    let config = tls.client_config().map_err(|e| format!("TLS: {e}"))?;
    let name = tls.expected_name(host);
    config
        .connect(tcp, name)
        .await
        .map_err(|e| format!("TLS handshake with `{name}`: {e}"))
}

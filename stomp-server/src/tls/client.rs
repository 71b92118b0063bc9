//! [`TlsClientConfig`]: what the client and the relay trust when they connect over TLS.

use std::path::Path;
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use super::{pem, provider, ClientIo, TlsError};

/// The certificate authorities a client trusts, with rustls' defaults otherwise (TLS 1.2
/// and 1.3, the server's name checked against its certificate). Cheap to clone.
#[derive(Clone)]
pub struct TlsClientConfig {
    config: Arc<ClientConfig>,
}

impl std::fmt::Debug for TlsClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClientConfig").finish_non_exhaustive()
    }
}

impl TlsClientConfig {
    /// Trusts the Mozilla root certificates compiled into this build (`webpki-roots`),
    /// which public CAs (Let's Encrypt and the like) chain to. The default for `wss://`.
    pub fn webpki_roots() -> TlsClientConfig {
        let roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        TlsClientConfig::with_roots(roots)
    }

    /// Trusts the CA certificates of a PEM file (and nothing else): a private CA, or a
    /// test CA.
    pub fn from_ca_pem_file(path: impl AsRef<Path>) -> Result<TlsClientConfig, TlsError> {
        let path = path.as_ref();
        TlsClientConfig::from_ca_pem_named(&pem::read(path)?, &path.display().to_string())
    }

    /// Trusts the CA certificates of PEM text (and nothing else).
    pub fn from_ca_pem(pem: &[u8]) -> Result<TlsClientConfig, TlsError> {
        TlsClientConfig::from_ca_pem_named(pem, "CA certificates")
    }

    fn from_ca_pem_named(pem: &[u8], what: &str) -> Result<TlsClientConfig, TlsError> {
        let mut roots = RootCertStore::empty();
        for certificate in pem::certificates(pem, what)? {
            roots.add(certificate)?;
        }
        Ok(TlsClientConfig::with_roots(roots))
    }

    fn with_roots(roots: RootCertStore) -> TlsClientConfig {
        let config = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports rustls' default protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        TlsClientConfig {
            config: Arc::new(config),
        }
    }

    /// Runs the client side of a handshake over `tcp` with `server_name` (a DNS name or
    /// an IP address, checked against the certificate).
    pub(crate) async fn connect(
        &self,
        tcp: TcpStream,
        server_name: &str,
    ) -> std::io::Result<ClientIo> {
        // `[::1]` in a URL is `::1` in a certificate.
        let name = server_name.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(name.to_owned()).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("`{server_name}` is not a valid TLS server name"),
            )
        })?;
        let stream = TlsConnector::from(Arc::clone(&self.config))
            .connect(name, tcp)
            .await?;
        Ok(ClientIo::Tls(Box::new(stream)))
    }
}

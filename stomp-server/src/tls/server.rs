//! [`TlsConfig`]: a server's certificate and key, swapped in place on reload.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::{pem, provider, TlsError};

/// The time a client has to finish its TLS handshake, unless
/// [`handshake_timeout`](TlsConfig::handshake_timeout) says otherwise.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A server's TLS settings: its certificate chain and private key (Spring Boot's
/// `server.ssl.certificate` and `server.ssl.certificate-private-key`). Clones share the
/// certificate: keep one to [`reload`](Self::reload) it while the server runs.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use stomp_server::{tls::TlsConfig, StompServer};
///
/// let tls = TlsConfig::from_pem_files("cert.pem", "key.pem")?;
/// let _watcher = tls.watch_files(std::time::Duration::from_secs(60));
/// StompServer::builder().tls(tls).serve("0.0.0.0:8443").await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    shared: Arc<Shared>,
    handshake_timeout: Duration,
}

struct Shared {
    /// The certificate chain and key files, when made from files.
    files: Option<(PathBuf, PathBuf)>,
    /// What new handshakes use. Why a `std` lock: it is held only to clone or replace an
    /// `Arc`, never across an `.await`.
    current: RwLock<Arc<ServerConfig>>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("files", &self.shared.files)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

/// A rustls server configuration for the chain and key in `cert_pem` and `key_pem`.
fn server_config(
    cert_pem: &[u8],
    key_pem: &[u8],
    names: (&str, &str),
) -> Result<ServerConfig, TlsError> {
    let chain = pem::certificates(cert_pem, names.0)?;
    let key = pem::private_key(key_pem, names.1)?;
    // `with_single_cert` also checks that the key is the certificate's.
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(config)
}

fn read_files(cert: &Path, key: &Path) -> Result<ServerConfig, TlsError> {
    let cert_pem = pem::read(cert)?;
    let key_pem = pem::read(key)?;
    let names = (cert.display().to_string(), key.display().to_string());
    server_config(&cert_pem, &key_pem, (&names.0, &names.1))
}

impl TlsConfig {
    /// Reads a PEM certificate chain (the server's certificate first, then the
    /// intermediates) and its PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem_files(
        cert_chain: impl AsRef<Path>,
        private_key: impl AsRef<Path>,
    ) -> Result<TlsConfig, TlsError> {
        let (cert, key) = (cert_chain.as_ref(), private_key.as_ref());
        let config = read_files(cert, key)?;
        Ok(TlsConfig::new(
            config,
            Some((cert.to_owned(), key.to_owned())),
        ))
    }

    /// The same from PEM text held in memory; such a configuration is changed with
    /// [`reload_pem`](Self::reload_pem) ([`reload`](Self::reload) has no files to read).
    pub fn from_pem(cert_chain: &[u8], private_key: &[u8]) -> Result<TlsConfig, TlsError> {
        let config = server_config(
            cert_chain,
            private_key,
            ("certificate chain", "private key"),
        )?;
        Ok(TlsConfig::new(config, None))
    }

    fn new(config: ServerConfig, files: Option<(PathBuf, PathBuf)>) -> TlsConfig {
        TlsConfig {
            shared: Arc::new(Shared {
                files,
                current: RwLock::new(Arc::new(config)),
            }),
            handshake_timeout: HANDSHAKE_TIMEOUT,
        }
    }

    /// The time a client has to finish its TLS handshake (default 10 s); past it the
    /// connection is closed and its pending-connection place given back.
    #[must_use]
    pub fn handshake_timeout(mut self, limit: Duration) -> TlsConfig {
        self.handshake_timeout = limit;
        self
    }

    /// Reads the certificate and key files again. New handshakes use them from now on;
    /// connections already open keep the certificate they were made with. On an error the
    /// certificate in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let (cert, key) = self.shared.files.as_ref().ok_or(TlsError::NoFiles)?;
        self.replace(read_files(cert, key)?);
        tracing::info!(cert = %cert.display(), "TLS certificate reloaded");
        Ok(())
    }

    /// Uses this PEM chain and key for new handshakes from now on (the certificate in use
    /// stays on an error).
    pub fn reload_pem(&self, cert_chain: &[u8], private_key: &[u8]) -> Result<(), TlsError> {
        self.replace(server_config(
            cert_chain,
            private_key,
            ("certificate chain", "private key"),
        )?);
        tracing::info!("TLS certificate replaced");
        Ok(())
    }

    /// Checks the files' modification times every `every` and [`reload`](Self::reload)s
    /// when either changed (a failed reload is logged and tried again at the next change).
    /// The task ends when every clone of this configuration is dropped; aborting the handle
    /// ends it earlier. Needs a tokio runtime.
    pub fn watch_files(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(&self.shared);
        let timeout = self.handshake_timeout;
        tokio::spawn(watch(weak, every, timeout))
    }

    fn replace(&self, config: ServerConfig) {
        *self
            .shared
            .current
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(config);
    }

    fn current(&self) -> Arc<ServerConfig> {
        Arc::clone(
            &self
                .shared
                .current
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// Runs the server side of a handshake on `io` within the handshake timeout; `None`
    /// (logged at debug: scanners make many) when it fails or takes too long.
    pub(crate) async fn accept<IO>(&self, io: IO, remote: SocketAddr) -> Option<TlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let acceptor = TlsAcceptor::from(self.current());
        match tokio::time::timeout(self.handshake_timeout, acceptor.accept(io)).await {
            Ok(Ok(stream)) => Some(stream),
            Ok(Err(error)) => {
                tracing::debug!(%remote, %error, "TLS handshake failed");
                None
            }
            Err(_) => {
                tracing::debug!(%remote, limit = ?self.handshake_timeout, "TLS handshake not finished in time; closing");
                None
            }
        }
    }
}

/// The modification times of the two files (`None` for one that cannot be read now).
fn modified(files: &(PathBuf, PathBuf)) -> [Option<SystemTime>; 2] {
    let time = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    [time(&files.0), time(&files.1)]
}

async fn watch(weak: Weak<Shared>, every: Duration, handshake_timeout: Duration) {
    let Some(files) = weak.upgrade().and_then(|shared| shared.files.clone()) else {
        return;
    };
    let mut seen = modified(&files);
    let mut ticker = tokio::time::interval(every);
    loop {
        ticker.tick().await;
        let Some(shared) = weak.upgrade() else {
            return;
        };
        let now = modified(&files);
        if now == seen {
            continue;
        }
        seen = now;
        let config = TlsConfig {
            shared,
            handshake_timeout,
        };
        if let Err(error) = config.reload() {
            tracing::warn!(%error, "TLS certificate files changed but could not be used; keeping the certificate in use");
        }
    }
}

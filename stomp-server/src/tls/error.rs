//! [`TlsError`]: why a TLS configuration could not be made.

use std::path::PathBuf;

/// Why a certificate, key or CA file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A PEM text holds no usable certificate or key, or is malformed.
    #[error("{what}: {detail}")]
    Pem {
        /// What was read (`certificate chain`, `private key`, `CA certificates`, or a file).
        what: String,
        /// What is wrong with it.
        detail: String,
    },
    /// rustls refused the configuration (for example a key that does not match the
    /// certificate, or a CA certificate it cannot parse).
    #[error("TLS configuration refused: {0}")]
    Rustls(#[from] tokio_rustls::rustls::Error),
    /// [`TlsConfig::reload`](super::TlsConfig::reload) on a configuration made from PEM text
    /// rather than files: there is nothing to read again.
    #[error("this TLS configuration was made from PEM text, not files: nothing to reload")]
    NoFiles,
}

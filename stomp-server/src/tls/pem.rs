//! Reading certificates and keys from PEM text and files.

use std::path::Path;

use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::TlsError;

/// The bytes of `path`.
pub(super) fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Every `CERTIFICATE` block of `pem`, in order (a chain: the leaf first); at least one.
pub(super) fn certificates(
    pem: &[u8],
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| malformed(what, &error))?;
    if certificates.is_empty() {
        return Err(TlsError::Pem {
            what: what.to_owned(),
            detail: "no `BEGIN CERTIFICATE` block".to_owned(),
        });
    }
    Ok(certificates)
}

/// The first private key of `pem` (PKCS#8, PKCS#1 RSA or SEC1 EC).
pub(super) fn private_key(pem: &[u8], what: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|error| match error {
        tokio_rustls::rustls::pki_types::pem::Error::NoItemsFound => TlsError::Pem {
            what: what.to_owned(),
            detail: "no `BEGIN PRIVATE KEY` (or RSA / EC PRIVATE KEY) block".to_owned(),
        },
        other => malformed(what, &other),
    })
}

fn malformed(what: &str, error: &tokio_rustls::rustls::pki_types::pem::Error) -> TlsError {
    TlsError::Pem {
        what: what.to_owned(),
        detail: format!("malformed PEM: {error:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_without_pem_blocks_is_refused_with_what_was_missing() {
        let error = certificates(b"not a certificate", "cert.pem").expect_err("refused");
        assert!(
            error
                .to_string()
                .contains("cert.pem: no `BEGIN CERTIFICATE`"),
            "{error}"
        );
        let error = private_key(b"", "key.pem").expect_err("refused");
        assert!(
            error
                .to_string()
                .contains("key.pem: no `BEGIN PRIVATE KEY`"),
            "{error}"
        );
    }

    #[test]
    fn a_missing_file_names_its_path() {
        let error = read(Path::new("no/such/file.pem")).expect_err("missing");
        assert!(error.to_string().contains("no/such/file.pem"), "{error}");
    }
}

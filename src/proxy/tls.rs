//! TLS to an `https://` backend: rustls (with ring), trusting Mozilla's
//! roots (webpki-roots) and the operator's own certificate authorities
//! (`--app-ca-file`), such as a private CA or a backend's self-signed
//! certificate. Plain `http://` backends never touch it.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, TrustAnchor};
use rustls::{ClientConfig, RootCertStore};

/// Certificate authorities trusted for the backend besides Mozilla's roots:
/// the certificates of a PEM file (`--app-ca-file`). Empty by default.
#[derive(Clone, Default)]
pub struct ExtraRoots(Vec<TrustAnchor<'static>>);

impl std::fmt::Debug for ExtraRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ExtraRoots({} certificates)", self.0.len())
    }
}

/// Why a CA file was refused: the file, and what was wrong with it
/// (unreadable, no certificate, a certificate that does not parse).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaFileError(String);

impl std::fmt::Display for CaFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CaFileError {}

impl ExtraRoots {
    /// The certificates of the PEM file at `path` (`-----BEGIN
    /// CERTIFICATE-----` blocks; anything else in the file is skipped).
    ///
    /// # Errors
    /// [`CaFileError`], naming the file, when it cannot be read, holds no
    /// certificate, or holds one that is not valid X.509 DER.
    pub fn from_pem_file(path: &Path) -> Result<Self, CaFileError> {
        let pem = std::fs::read(path)
            .map_err(|e| CaFileError(format!("cannot read the CA file {}: {e}", path.display())))?;
        Self::from_pem(&pem)
            .map_err(|CaFileError(e)| CaFileError(format!("the CA file {}: {e}", path.display())))
    }

    /// The certificates of PEM text, as [`ExtraRoots::from_pem_file`].
    ///
    /// # Errors
    /// [`CaFileError`] when the text holds no certificate, or one that
    /// does not parse.
    pub fn from_pem(pem: &[u8]) -> Result<Self, CaFileError> {
        let mut anchors = Vec::new();
        for (n, cert) in CertificateDer::pem_slice_iter(pem).enumerate() {
            let cert =
                cert.map_err(|e| CaFileError(format!("certificate {}: not PEM: {e}", n + 1)))?;
            let anchor = webpki_anchor(&cert).map_err(|e| {
                CaFileError(format!(
                    "certificate {}: not a usable X.509 certificate: {e}",
                    n + 1
                ))
            })?;
            anchors.push(anchor);
        }
        if anchors.is_empty() {
            return Err(CaFileError(
                "no PEM certificate (-----BEGIN CERTIFICATE-----) in it".into(),
            ));
        }
        Ok(Self(anchors))
    }

    /// How many certificates are trusted besides Mozilla's roots.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether only Mozilla's roots are trusted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `cert` as a trust anchor, through a throwaway store (the same check
/// rustls makes when it is given a root).
fn webpki_anchor(cert: &CertificateDer<'_>) -> Result<TrustAnchor<'static>, rustls::Error> {
    let mut store = RootCertStore::empty();
    store.add(cert.clone())?;
    // `add` succeeded, so the store holds exactly this anchor.
    store
        .roots
        .pop()
        .ok_or_else(|| rustls::Error::General("the certificate was not added".into()))
}

/// The client's TLS configuration: Mozilla's roots and `extra`, TLS 1.2
/// and 1.3, ALPN offering HTTP/2 and HTTP/1.1 (awc picks by the answer).
pub(super) fn client_config(extra: &ExtraRoots) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    roots.roots.extend(extra.0.iter().cloned());
    // ring, not rustls' default aws-lc-rs: no large C library to build.
    // rustls marks ring's provider deprecated for lacking post-quantum key
    // exchange; TLS 1.3 with X25519 and TLS 1.2's suites remain.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    #[allow(clippy::expect_used)]
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        // ring's default provider has suites for both safe versions.
        .expect("ring supports TLS 1.2 and 1.3");
    let mut config = builder.with_root_certificates(roots).with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

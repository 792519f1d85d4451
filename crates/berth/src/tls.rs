//! HTTPS: the certificate and key of `http.tls`, checked at start (they parse, the key matches the
//! certificate, no certificate of the chain is expired or not yet valid) and read again on SIGHUP
//! or when the files change. Connections pick the certificate when they start, so swapping it
//! leaves open ones alone; a new pair that does not load is logged and the old one kept.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::crypto::{CryptoProvider, aws_lc_rs};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{Error as TlsError, InconsistentKeys, ServerConfig};
use tokio_util::sync::CancellationToken;

use crate::config::Tls;

/// How often the files are checked for a change.
const POLL: Duration = Duration::from_secs(2);

/// The certificate in use, swapped whole by a reload.
#[derive(Debug)]
pub struct Certificates {
    certificate: PathBuf,
    private_key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().expect("certificate lock").clone())
    }
}

impl Certificates {
    /// Loads the files of `tls`; errors name the file and what is wrong with it.
    pub fn load(tls: &Tls) -> anyhow::Result<Arc<Certificates>> {
        let current = certified_key(&tls.certificate, &tls.private_key)?;
        Ok(Arc::new(Certificates {
            certificate: tls.certificate.clone(),
            private_key: tls.private_key.clone(),
            current: RwLock::new(Arc::new(current)),
        }))
    }

    /// TLS 1.2 and 1.3 with this certificate, offering HTTP/2 and HTTP/1.1.
    pub fn acceptor(self: &Arc<Self>) -> anyhow::Result<TlsAcceptor> {
        let mut config = ServerConfig::builder_with_provider(Arc::new(provider()))
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    /// Reloads the files on SIGHUP and when they change, until `stop`.
    pub async fn keep_current(self: Arc<Self>, stop: CancellationToken) {
        let mut hangup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(signal) => Some(signal),
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP: certificates reload on file changes only");
                None
            }
        };
        let mut seen = self.stamps();
        loop {
            let asked = tokio::select! {
                _ = stop.cancelled() => return,
                Some(()) = async { hangup.as_mut()?.recv().await } => true,
                () = tokio::time::sleep(POLL) => false,
            };
            let stamps = self.stamps();
            if asked || stamps != seen {
                seen = stamps;
                self.reload(if asked { "SIGHUP" } else { "the files changed" });
            }
        }
    }

    fn reload(&self, why: &str) {
        match certified_key(&self.certificate, &self.private_key) {
            Ok(key) => {
                *self.current.write().expect("certificate lock") = Arc::new(key);
                tracing::info!(certificate = %self.certificate.display(), why, "TLS certificate reloaded");
            }
            Err(e) => tracing::error!(
                error = format!("{e:#}"),
                why,
                "TLS certificate not reloaded: still serving the previous one"
            ),
        }
    }

    /// What tells a file changed: its modification time, size and inode (a file replaced by a
    /// rename has a new inode even when the time is the same).
    fn stamps(&self) -> [Option<(SystemTime, u64, u64)>; 2] {
        use std::os::unix::fs::MetadataExt;
        let stamp = |p: &Path| std::fs::metadata(p).ok().and_then(|m| Some((m.modified().ok()?, m.len(), m.ino())));
        [stamp(&self.certificate), stamp(&self.private_key)]
    }
}

fn provider() -> CryptoProvider {
    aws_lc_rs::default_provider()
}

/// The certificate chain of `certificate` with the key of `private_key`, checked.
fn certified_key(certificate: &Path, private_key: &Path) -> anyhow::Result<CertifiedKey> {
    let (cert_name, key_name) = (certificate.display(), private_key.display());
    let chain = CertificateDer::pem_file_iter(certificate)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("http.tls.certificate {cert_name}: not a readable PEM file of certificates"))?;
    if chain.is_empty() {
        bail!("http.tls.certificate {cert_name}: no certificate in it (expected PEM \"CERTIFICATE\" blocks)");
    }
    for (i, cert) in chain.iter().enumerate() {
        check_validity(cert).with_context(|| {
            let which = if i == 0 { "the server certificate".to_owned() } else { format!("chain certificate {i}") };
            format!("http.tls.certificate {cert_name}: {which}")
        })?;
    }
    let key = PrivateKeyDer::from_pem_file(private_key)
        .with_context(|| format!("http.tls.private_key {key_name}: not a readable PEM private key"))?;
    CertifiedKey::from_der(chain, key, &provider()).map_err(|e| match e {
        TlsError::InconsistentKeys(InconsistentKeys::KeyMismatch) => {
            anyhow::anyhow!("http.tls.private_key {key_name}: not the key of the certificate in {cert_name}")
        }
        e => anyhow::anyhow!("http.tls.private_key {key_name} with {cert_name}: {e}"),
    })
}

/// Refuses a certificate outside its validity period: clients would refuse every connection.
fn check_validity(der: &CertificateDer<'_>) -> anyhow::Result<()> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|e| anyhow::anyhow!("does not parse: {e}"))?;
    let validity = cert.validity();
    let now = x509_parser::time::ASN1Time::now();
    if now < validity.not_before {
        bail!("{} is not valid before {}", cert.subject(), validity.not_before);
    }
    if now > validity.not_after {
        bail!("{} expired on {}", cert.subject(), validity.not_after);
    }
    Ok(())
}

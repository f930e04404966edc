//! The server's TLS: which certificate it presents, where that certificate
//! comes from, and swapping it on SIGHUP.
//!
//! With a certificate and key configured (`[tls] cert`, `key`) those PEM
//! files are used. Without, a self-signed certificate is generated on first
//! start and kept in `<data_dir>/tls/` (key file mode 0600), so it — and its
//! SHA-256 fingerprint, which LAN users pin — stays the same across restarts.
//!
//! The certificate sits behind a `ResolvesServerCert` whose slot is swapped
//! by [`Tls::reload`]: new handshakes get the new certificate, connections
//! already established keep their session untouched. A file that fails to
//! load never replaces a working certificate.
//!
//! This module must not accept connections or read from them (the accept
//! loop in `server.rs` does, with the handshake timeout); it only prepares
//! the `TlsAcceptor`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use anyhow::{Context, bail};
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

use chatroom_config::Config;

/// File names inside `<data_dir>/tls/` for the generated certificate.
const GENERATED_CERT: &str = "cert.pem";
const GENERATED_KEY: &str = "key.pem";

/// The crypto provider used everywhere in this crate (server and client):
/// ring, chosen because it builds quickly and needs no C toolchain extras.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub use chatroom_proto::certfp::fingerprint;

/// Asks every client for a certificate without requiring one, and accepts
/// any (self-signed ones included): a client certificate here is not a
/// proof of identity by itself but a key the client holds, which an
/// account may list by fingerprint (SASL EXTERNAL). The handshake
/// signature is still checked, so only the holder of the private key can
/// present a certificate.
#[derive(Debug)]
struct AnyClientCert(Arc<CryptoProvider>);

impl rustls::server::danger::ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Where the certificate came from (for the start-up message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Configured by the operator.
    Configured,
    /// Self-signed, generated now.
    Generated,
    /// Self-signed, generated on an earlier start and reused.
    Reused,
}

/// The certificate slot the handshakes read from.
#[derive(Debug)]
struct CertSlot(RwLock<Arc<CertifiedKey>>);

impl CertSlot {
    fn get(&self) -> Arc<CertifiedKey> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, key: Arc<CertifiedKey>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = key;
    }
}

impl ResolvesServerCert for CertSlot {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.get())
    }
}

/// The server's TLS state: the acceptor for the listener and the slot that
/// SIGHUP refreshes.
pub struct Tls {
    acceptor: TlsAcceptor,
    /// For the web listener: the same certificate, no client certificate
    /// asked for (a browser would offer the user a picker), and HTTP/1.1
    /// named in ALPN.
    web_acceptor: TlsAcceptor,
    slot: Arc<CertSlot>,
    cert_path: PathBuf,
    key_path: PathBuf,
    origin: Origin,
}

impl Tls {
    /// Loads the configured certificate, or the generated one from the data
    /// directory, generating it first if there is none.
    pub fn setup(cfg: &Config) -> anyhow::Result<Tls> {
        let (cert_path, key_path, origin) = match (&cfg.tls.cert, &cfg.tls.key) {
            (Some(c), Some(k)) => (c.clone(), k.clone(), Origin::Configured),
            (None, None) => {
                let dir = cfg.data_dir.join("tls");
                let cert = dir.join(GENERATED_CERT);
                let key = dir.join(GENERATED_KEY);
                let origin = if cert.exists() && key.exists() {
                    Origin::Reused
                } else {
                    generate(&dir, &cert, &key, cfg)?;
                    Origin::Generated
                };
                (cert, key, origin)
            }
            _ => bail!("tls.cert and tls.key must be given together"),
        };
        let key = load(&cert_path, &key_path)?;
        let slot = Arc::new(CertSlot(RwLock::new(key)));
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_client_cert_verifier(Arc::new(AnyClientCert(provider())))
            .with_cert_resolver(slot.clone());
        let mut web = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?
            .with_no_client_auth()
            .with_cert_resolver(slot.clone());
        web.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            web_acceptor: TlsAcceptor::from(Arc::new(web)),
            slot,
            cert_path,
            key_path,
            origin,
        })
    }

    pub fn acceptor(&self) -> TlsAcceptor {
        self.acceptor.clone()
    }

    pub fn web_acceptor(&self) -> TlsAcceptor {
        self.web_acceptor.clone()
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    pub fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// SHA-256 fingerprint of the certificate presented now (the leaf).
    pub fn fingerprint(&self) -> String {
        self.slot
            .get()
            .cert
            .first()
            .map(|c| fingerprint(c))
            .unwrap_or_default()
    }

    /// Re-reads the certificate and key files. On success new handshakes use
    /// them; on failure the current certificate stays and the error is
    /// returned for the log.
    pub fn reload(&self) -> anyhow::Result<String> {
        let key = load(&self.cert_path, &self.key_path)?;
        self.slot.set(key);
        Ok(self.fingerprint())
    }
}

/// Reads a PEM certificate chain and its private key, and checks that they
/// belong together (a mismatched pair would fail every handshake).
fn load(cert_path: &Path, key_path: &Path) -> anyhow::Result<Arc<CertifiedKey>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .with_context(|| format!("cannot read certificate {}", cert_path.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("{} is not a PEM certificate", cert_path.display()))?;
    if certs.is_empty() {
        bail!("{} holds no certificate", cert_path.display());
    }
    let key = PrivateKeyDer::from_pem_file(key_path)
        .with_context(|| format!("cannot read a private key from {}", key_path.display()))?;
    let key = CertifiedKey::from_der(certs, key, &provider()).with_context(|| {
        format!(
            "{} and {} do not make a usable certificate and key",
            cert_path.display(),
            key_path.display()
        )
    })?;
    Ok(Arc::new(key))
}

/// Creates a self-signed certificate for this machine: names it `localhost`,
/// the server name and the machine's current addresses, which matters little
/// since LAN clients check it by fingerprint, not by name.
fn generate(dir: &Path, cert_path: &Path, key_path: &Path, cfg: &Config) -> anyhow::Result<()> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    if cfg.server_name != "localhost" {
        names.push(cfg.server_name.clone());
    }
    for iface in if_addrs::get_if_addrs().unwrap_or_default() {
        let ip = iface.ip().to_string();
        if !names.contains(&ip) {
            names.push(ip);
        }
    }
    let generated =
        rcgen::generate_simple_self_signed(names).context("cannot generate a certificate")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // Key first and the certificate last: a crash in between leaves no
    // certificate, so the next start generates a fresh pair instead of
    // loading a certificate without its key.
    write_atomically(
        key_path,
        generated.signing_key.serialize_pem().as_bytes(),
        true,
    )?;
    write_atomically(cert_path, generated.cert.pem().as_bytes(), false)?;
    Ok(())
}

/// Writes through a temporary file and a rename, so a crash never leaves a
/// half-written PEM file that would stop the next start.
fn write_atomically(path: &Path, bytes: &[u8], private: bool) -> anyhow::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // The key is created unreadable to others from its first byte.
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("chatroom-tls-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn generates_once_then_reuses() {
        let dir = temp_dir("gen");
        let cfg = Config {
            data_dir: dir.clone(),
            ..Config::default()
        };
        let first = Tls::setup(&cfg).expect("generates");
        assert_eq!(first.origin(), &Origin::Generated);
        let again = Tls::setup(&cfg).expect("reuses");
        assert_eq!(again.origin(), &Origin::Reused);
        assert_eq!(first.fingerprint(), again.fingerprint());
        assert_eq!(first.fingerprint().len(), 32 * 3 - 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("tls").join(GENERATED_KEY))
                .expect("key file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn bad_reload_keeps_the_old_certificate() {
        let dir = temp_dir("reload");
        let cfg = Config {
            data_dir: dir.clone(),
            ..Config::default()
        };
        let tls = Tls::setup(&cfg).expect("generates");
        let before = tls.fingerprint();
        std::fs::write(tls.cert_path(), "not a certificate").expect("overwrite");
        assert!(tls.reload().is_err());
        assert_eq!(tls.fingerprint(), before);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn fingerprint_format() {
        let fp = fingerprint(b"");
        assert!(fp.starts_with("E3:B0:C4:42"), "{fp}");
    }
}

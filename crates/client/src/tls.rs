//! TLS for the terminal client: how the server's certificate is checked.
//!
//! Three ways, chosen by flags of `chatroom join`:
//! - verified against the system's trusted roots (`--tls`), as for any
//!   public IRC network;
//! - pinned (`--tls-fingerprint AB:CD:...`): the leaf certificate's SHA-256
//!   must be the one the server printed at start. This is how a LAN server's
//!   self-signed certificate is checked; names and dates are not, since such
//!   a certificate names no host the client could verify;
//! - not checked (`--tls-insecure`): encrypted but open to anyone on the
//!   path, for a LAN where nobody has the fingerprint; the client says so.
//!
//! In every mode the handshake signature is verified, so the server must
//! hold the private key of the certificate it shows. This module only
//! builds configurations and explains failures; it must not open
//! connections (`conn.rs` does).

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};

use chatroom_proto::certfp::fingerprint;

/// How the server's certificate is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verify {
    /// Against the system's trusted roots, with the host name.
    System,
    /// The leaf certificate's SHA-256 must be this.
    Pin([u8; 32]),
    /// Not at all (still encrypted).
    Insecure,
}

impl Verify {
    /// How the connection is described to the user once it is up.
    pub fn describe(&self) -> &'static str {
        match self {
            Verify::System => "TLS, certificate verified",
            Verify::Pin(_) => "TLS, certificate fingerprint matches",
            Verify::Insecure => "TLS, certificate NOT checked (--tls-insecure)",
        }
    }
}

/// Parses `AB:CD:...` (colons, spaces and case optional; an `SHA256:`
/// prefix is allowed) into the 32 bytes of a SHA-256 fingerprint.
pub fn parse_fingerprint(s: &str) -> anyhow::Result<[u8; 32]> {
    let trimmed = s.trim();
    let body = trimmed
        .strip_prefix("SHA256:")
        .or_else(|| trimmed.strip_prefix("sha256:"))
        .unwrap_or(trimmed);
    let hex: String = body
        .chars()
        .filter(|c| !matches!(c, ':' | ' ' | '-'))
        .collect();
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!(
            "{s:?} is not a SHA-256 fingerprint (64 hex digits, usually written AB:CD:... as the server prints it)"
        );
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16)
            .with_context(|| format!("bad hex in fingerprint {s:?}"))?;
    }
    Ok(out)
}

/// A TLS client certificate and its key, shown to the server during the
/// handshake (for SASL EXTERNAL, the server's NickServ `CERT` list).
#[derive(Debug)]
pub struct ClientCert {
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Clone for ClientCert {
    fn clone(&self) -> Self {
        ClientCert {
            certs: self.certs.clone(),
            key: self.key.clone_key(),
        }
    }
}

/// Reads a PEM certificate chain from `cert` and its private key from
/// `key` (or from `cert` too, when both are in one file).
pub fn load_client_cert(cert: &Path, key: Option<&Path>) -> anyhow::Result<ClientCert> {
    let certs = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read the client certificate {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} holds no readable PEM certificate", cert.display()))?;
    if certs.is_empty() {
        bail!("{} holds no PEM certificate", cert.display());
    }
    let key_path = key.unwrap_or(cert);
    let key = PrivateKeyDer::from_pem_file(key_path).with_context(|| {
        format!(
            "no private key in {} (give it with --tls-key)",
            key_path.display()
        )
    })?;
    Ok(ClientCert { certs, key })
}

/// The rustls configuration for `verify`, without a client certificate.
pub fn client_config(verify: &Verify) -> anyhow::Result<Arc<ClientConfig>> {
    client_config_with(verify, None)
}

/// The rustls configuration for `verify`, showing `cert` when given.
pub fn client_config_with(
    verify: &Verify,
    cert: Option<&ClientCert>,
) -> anyhow::Result<Arc<ClientConfig>> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let config = match verify {
        Verify::System => {
            let mut roots = RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                bail!(
                    "no trusted root certificates found on this system; use --tls-fingerprint (the server prints it) or --tls-insecure"
                );
            }
            builder.with_root_certificates(roots)
        }
        Verify::Pin(pin) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned {
                pin: Some(*pin),
                provider,
            })),
        Verify::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned {
                pin: None,
                provider,
            })),
    };
    let config = match cert {
        Some(c) => config
            .with_client_auth_cert(c.certs.clone(), c.key.clone_key())
            .context("the client certificate and key do not go together")?,
        None => config.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// Whether a failed handshake failed on the server's certificate (not
/// the expected one, or not trusted): trying again cannot change that.
pub fn is_certificate_error(err: &std::io::Error) -> bool {
    matches!(
        err.get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>()),
        Some(rustls::Error::InvalidCertificate(_) | rustls::Error::General(_))
    )
}

/// Turns a failed handshake into a message that says what to do.
pub fn explain(err: &std::io::Error, verify: &Verify) -> String {
    let inner = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>());
    match (inner, verify) {
        (Some(rustls::Error::InvalidCertificate(e)), Verify::System) => format!(
            "TLS: the server's certificate is not trusted ({e}). For a LAN server with a self-signed certificate, pin the fingerprint it prints at start: --tls-fingerprint AB:CD:... (or, knowing the risk, --tls-insecure)"
        ),
        (Some(rustls::Error::General(msg)), Verify::Pin(_)) => format!("TLS: {msg}"),
        (Some(e @ rustls::Error::InvalidMessage(_)), _) => format!(
            "TLS handshake failed: {e} (is this a TLS port? IRC over TLS is usually 6697, plain IRC 6667)"
        ),
        (Some(e), _) => format!("TLS handshake failed: {e}"),
        (None, _) => format!(
            "TLS handshake failed: {err} (is this a TLS port? IRC over TLS is usually 6697)"
        ),
    }
}

/// Checks the leaf certificate's fingerprint (or, with no pin, nothing),
/// and always the handshake signature.
#[derive(Debug)]
struct Pinned {
    pin: Option<[u8; 32]>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(pin) = self.pin else {
            return Ok(ServerCertVerified::assertion());
        };
        let got: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        if got == pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "the server's certificate fingerprint is {}, not the {} given with --tls-fingerprint; if the server's certificate really changed, use the fingerprint it prints now",
                fingerprint(end_entity.as_ref()),
                fingerprint_text(&pin),
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// `AB:CD:...` for 32 raw bytes (the pin as the user gave it).
fn fingerprint_text(bytes: &[u8; 32]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_in_common_spellings() {
        let colons = "01:FD:02:89:83:CD:26:C9:D7:F7:9D:7B:40:C7:0E:1E:07:9B:F1:39:BA:65:1D:88:44:B8:57:1D:5E:33:A2:5D";
        let parsed = parse_fingerprint(colons).expect("parses");
        assert_eq!(fingerprint_text(&parsed), colons);
        let plain = colons.replace(':', "").to_lowercase();
        assert_eq!(parse_fingerprint(&plain).ok(), Some(parsed));
        assert_eq!(
            parse_fingerprint(&format!("SHA256:{colons}")).ok(),
            Some(parsed)
        );
        assert!(parse_fingerprint("AB:CD").is_err());
        assert!(parse_fingerprint(&"zz".repeat(32)).is_err());
    }
}

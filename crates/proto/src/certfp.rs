//! How a TLS certificate is named: the SHA-256 of its DER bytes in
//! colon-separated upper-case hex. The server prints its own this way, IRC's
//! WHOIS and SASL EXTERNAL use it for client certificates, and the terminal
//! client pins a server's with it.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

/// `AB:CD:...`: the SHA-256 of a certificate's DER bytes, as browsers and
/// `openssl x509 -fingerprint -sha256` show it.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let mut s = String::with_capacity(digest.len() * 3);
    for (i, b) in digest.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{b:02X}");
    }
    s
}

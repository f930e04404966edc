//! Password hashing: argon2id hashes in the PHC string format
//! (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`), produced by `chatroom
//! hash-password` and checked when someone logs in (IRC `OPER` today).
//!
//! Hashing is deliberately slow and memory-hard, so callers on the async
//! runtime must run [`verify_password`] on a blocking thread, never in the
//! hub's task or a reader loop directly. This module must not log or keep
//! a password anywhere.

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Hashes `password` with argon2id, the crate's recommended parameters
/// and a random salt.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// True when `password` matches the PHC string `hash`. A hash that does not
/// parse matches nothing (the configuration is checked at start-up, see
/// [`check_hash`]).
pub fn verify_password(password: &str, hash: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// Checks that `hash` is an argon2id PHC string, so that a mistyped
/// configuration is refused at start-up instead of locking operators out.
pub fn check_hash(hash: &str) -> Result<(), String> {
    let parsed = PasswordHash::new(hash).map_err(|e| e.to_string())?;
    if parsed.algorithm.as_str() != "argon2id" {
        return Err(format!(
            "expected an argon2id hash, got {}",
            parsed.algorithm
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_reject() {
        let h = hash_password("hunter2").expect("hashes");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(check_hash(&h).is_ok());
        assert!(verify_password("hunter2", &h));
        assert!(!verify_password("hunter3", &h));
        assert!(!verify_password("hunter2", "not a hash"));
        assert!(check_hash("plain").is_err());
        // Two hashes of one password differ (random salt).
        assert_ne!(h, hash_password("hunter2").expect("hashes"));
    }
}

//! Operator authentication, the same for every protocol: who may try
//! (credentials only over TLS or from this machine), which operator login a
//! name refers to, and what a refusal is. A protocol turns `OPER name
//! password` (IRC) or `/oper name password` (line) into a check here; the
//! runtime runs the slow password check off the hub's task and tells the
//! hub `Command::Oper` only when it passed.
//!
//! Must not check a password (argon2 is the runtime's, on the blocking
//! pool) nor log one.

use serde::{Deserialize, Serialize};

use crate::error::HubError;

/// One server operator login (`[[opers]]` in the configuration). The
/// password is kept only as an argon2id hash; `chatroom hash-password`
/// makes one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Oper {
    pub name: String,
    /// PHC string: `$argon2id$v=19$...`.
    pub password_hash: String,
}

/// What to do with an operator login attempt before any password is
/// checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperCheck<'a> {
    /// Check the password against this hash; on success tell the hub
    /// `Command::Oper`, on failure refuse with
    /// [`HubError::PasswordMismatch`].
    Verify { hash: &'a str },
    /// Refused without checking anything; `pause` when the refusal should
    /// cost the client time (a guess at a name), `plaintext` when it came
    /// over an insecure link (the client is told why).
    Refuse {
        error: HubError,
        pause: bool,
        plaintext: bool,
    },
}

/// Decides an operator login attempt for `name` over a link that is
/// `secure_enough` (see [`super::accounts::secure_enough`]).
pub fn check<'a>(opers: &'a [Oper], name: &str, secure_enough: bool) -> OperCheck<'a> {
    if !secure_enough {
        return OperCheck::Refuse {
            error: HubError::NoOperHost,
            pause: false,
            plaintext: true,
        };
    }
    match opers.iter().find(|o| o.name == name) {
        Some(o) => OperCheck::Verify {
            hash: &o.password_hash,
        },
        None => OperCheck::Refuse {
            error: HubError::NoOperHost,
            pause: true,
            plaintext: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_links_decide_before_any_password() {
        let opers = vec![Oper {
            name: "root".into(),
            password_hash: "$argon2id$x".into(),
        }];
        assert_eq!(
            check(&opers, "root", true),
            OperCheck::Verify {
                hash: "$argon2id$x"
            }
        );
        assert!(matches!(
            check(&opers, "root", false),
            OperCheck::Refuse {
                plaintext: true,
                ..
            }
        ));
        assert!(matches!(
            check(&opers, "nobody", true),
            OperCheck::Refuse {
                error: HubError::NoOperHost,
                pause: true,
                ..
            }
        ));
    }
}

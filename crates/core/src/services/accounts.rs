//! The rules of accounts that every protocol shares: what a new account's
//! name and password must be, why a login or a registration fails, the
//! guest name a protected nickname's holder is renamed to, and what the
//! sender of a message held for an offline account is told.
//!
//! Pure: the runtime's accounts service checks passwords (argon2) and
//! talks to the store; protocols word the failures for their users. Must
//! not hash, store or log a password.

use std::net::IpAddr;
use std::time::SystemTime;

use crate::event::Event;
use crate::names::{same, validate_nick};

/// Why a login failed. The wording for the client is the protocol's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginError {
    /// Wrong password, unknown account or certificate (never said apart).
    Invalid,
    /// Too many failures (or attempts in flight) for this account from
    /// this address, or from this address in all: try again in `secs`
    /// seconds. Nothing was checked.
    Locked { secs: u64 },
    /// The store could not be read.
    Unavailable,
}

/// Why a registration failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterError {
    Disabled,
    /// This address registered too many accounts lately, or is locked for
    /// failed logins: try again in `secs` seconds.
    TooMany {
        secs: u64,
    },
    Exists,
    BadName(&'static str),
    WeakPassword(usize),
    Unavailable,
}

/// What a new account must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRules {
    /// Registration is open.
    pub registration: bool,
    /// Account names follow the nickname rules, with this length.
    pub nick_len: usize,
    /// Names kept for the server's own services (NickServ, ChanServ).
    pub reserved: Vec<String>,
    /// Fewest characters a password may have.
    pub min_password_len: usize,
}

impl AccountRules {
    /// Whether `name` and `password` make an acceptable new account (not
    /// whether the name is free: the store decides that).
    pub fn check_new(&self, name: &str, password: &str) -> Result<(), RegisterError> {
        if !self.registration {
            return Err(RegisterError::Disabled);
        }
        validate_nick(name, self.nick_len).map_err(|e| RegisterError::BadName(e.0))?;
        if self.reserved.iter().any(|r| same(r, name)) {
            return Err(RegisterError::BadName("it is reserved for services"));
        }
        self.check_password(password)
    }

    /// Whether `password` is long enough for an account.
    pub fn check_password(&self, password: &str) -> Result<(), RegisterError> {
        if password.chars().count() < self.min_password_len {
            return Err(RegisterError::WeakPassword(self.min_password_len));
        }
        Ok(())
    }
}

/// Credentials travel only over TLS or from this machine, unless the
/// configuration allows plain text (a LAN without TLS). Applies to every
/// password: accounts, operators, the connection password.
pub fn secure_enough(secure: bool, peer: IpAddr, allow_plaintext: bool) -> bool {
    secure || allow_plaintext || peer.is_loopback()
}

/// What the client is told when it sent a password where it may not.
pub fn plaintext_refused() -> Event {
    Event::ServerNotice {
        text: "Passwords are only accepted over TLS (the ircs port) or from this machine; \
               nothing was checked"
            .into(),
    }
}

/// `Guest` and five digits taken from `now` (no real random source is
/// needed: a taken one is skipped by the hub).
pub fn guest_nick(now: SystemTime, attempt: u32) -> String {
    let n = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ (d.as_secs() as u32))
        .unwrap_or(0)
        .wrapping_add(attempt.wrapping_mul(7919));
    format!("Guest{:05}", n % 100_000)
}

/// How keeping a message for an offline account went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    Kept,
    /// The account has as many messages waiting as it may.
    Full,
    /// The store failed.
    Failed,
}

/// A notice on behalf of the nickname service, which every protocol shows
/// (on IRC `:server NOTICE nick :NickServ: ...`).
pub fn service_notice(text: &str) -> Event {
    Event::ServerNotice {
        text: format!("NickServ: {text}").into(),
    }
}

/// What the sender of a message for offline `account` is told.
pub fn held_notice(account: &str, held: Held) -> Event {
    service_notice(&match held {
        Held::Kept => format!(
            "{account} is not connected; your message is held for {account} and will be delivered at their next login"
        ),
        Held::Full => format!(
            "{account} is not connected and has too many messages waiting; your message was not kept"
        ),
        Held::Failed => {
            format!("{account} is not connected and your message could not be kept (storage error)")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> AccountRules {
        AccountRules {
            registration: true,
            nick_len: 30,
            reserved: vec!["NickServ".into()],
            min_password_len: 8,
        }
    }

    #[test]
    fn new_accounts_follow_the_nickname_rules() {
        let r = rules();
        assert_eq!(r.check_new("alice", "long enough"), Ok(()));
        assert!(matches!(
            r.check_new("nickserv", "long enough"),
            Err(RegisterError::BadName(_))
        ));
        assert!(matches!(
            r.check_new("#room", "long enough"),
            Err(RegisterError::BadName(_))
        ));
        assert_eq!(
            r.check_new("alice", "short"),
            Err(RegisterError::WeakPassword(8))
        );
        let closed = AccountRules {
            registration: false,
            ..rules()
        };
        assert_eq!(
            closed.check_new("alice", "long enough"),
            Err(RegisterError::Disabled)
        );
    }

    #[test]
    fn credentials_need_tls_or_loopback_unless_allowed() {
        let lan: IpAddr = [192, 168, 1, 9].into();
        let local: IpAddr = [127, 0, 0, 1].into();
        let local6: IpAddr = std::net::Ipv6Addr::LOCALHOST.into();
        assert!(!secure_enough(false, lan, false));
        assert!(secure_enough(true, lan, false));
        assert!(secure_enough(false, lan, true));
        assert!(secure_enough(false, local, false));
        assert!(secure_enough(false, local6, false));
    }

    #[test]
    fn guest_names_are_valid_nicknames() {
        let now = SystemTime::now();
        for attempt in 0..5 {
            let g = guest_nick(now, attempt);
            assert!(validate_nick(&g, 30).is_ok(), "{g}");
        }
    }
}

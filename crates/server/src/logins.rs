//! The login throttle every password check goes through (accounts over
//! SASL, NickServ and the line protocol's `/login`, registrations, and
//! operator logins): `chatroom_core::services::guard` behind a lock, with
//! its numbers from the configuration.
//!
//! A check holds a [`Slot`] from before the password is looked at until
//! its outcome is known; a slot dropped unfinished (the connection went
//! away during the check) counts as a failure, so hanging up mid-check
//! gives no free guess. It also runs the password checks and hashings
//! themselves (argon2, on the blocking pool), a few at a time server-wide.
//! Must not decide who may try nor word replies.

use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chatroom_config::Config;
use chatroom_core::services::guard::{Attempt, Guard, GuardLimits, Registrations, Target};

/// The throttle: one per server, shared by every connection.
#[derive(Debug)]
pub struct Logins {
    limits: GuardLimits,
    max_registrations: u32,
    guard: Mutex<Guard>,
    registrations: Mutex<Registrations>,
    /// Password checks and hashings running at once, server-wide
    /// (`[accounts] password_checks_at_once`): each argon2 run takes tens
    /// of milliseconds and about 19 MiB, so many connections guessing at
    /// once must wait instead of exhausting memory or the blocking pool.
    hashing: tokio::sync::Semaphore,
}

/// A login attempt's place under the limits, taken before its password
/// is checked.
#[derive(Debug)]
pub struct Slot<'a> {
    logins: &'a Logins,
    attempt: Option<Attempt>,
}

impl Logins {
    pub fn new(cfg: &Config) -> Logins {
        let a = &cfg.accounts;
        Logins {
            limits: GuardLimits {
                per_account: a.max_failures_per_account,
                per_ip: a.max_failures_per_ip,
                window: Duration::from_secs(a.failure_window_secs),
                lockout: Duration::from_secs(a.lockout_secs),
                max_lockout: Duration::from_secs(a.max_lockout_secs),
                ipv6_prefix: cfg.limits.ipv6_prefix,
            },
            max_registrations: a.max_registrations_per_ip_per_hour,
            guard: Mutex::new(Guard::default()),
            registrations: Mutex::new(Registrations::default()),
            hashing: tokio::sync::Semaphore::new(a.password_checks_at_once.max(1)),
        }
    }

    /// Checks a password against an argon2id hash on a blocking thread.
    pub async fn verify(&self, password: String, hash: String) -> bool {
        let Ok(_permit) = self.hashing.acquire().await else {
            return false;
        };
        tokio::task::spawn_blocking(move || {
            chatroom_core::password::verify_password(&password, &hash)
        })
        .await
        .unwrap_or(false)
    }

    /// Hashes a new password (argon2id) on a blocking thread.
    pub async fn hash(&self, password: String) -> Option<String> {
        let _permit = self.hashing.acquire().await.ok()?;
        tokio::task::spawn_blocking(move || chatroom_core::password::hash_password(&password).ok())
            .await
            .ok()
            .flatten()
    }

    fn guard(&self) -> MutexGuard<'_, Guard> {
        self.guard.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A slot for a login to `target` from `ip`, or the seconds to wait.
    pub fn begin(&self, ip: IpAddr, target: Target<'_>) -> Result<Slot<'_>, u64> {
        let attempt = self
            .guard()
            .begin(ip, target, Instant::now(), &self.limits)?;
        Ok(Slot {
            logins: self,
            attempt: Some(attempt),
        })
    }

    /// Whether `ip` may register an account now: not while it is locked
    /// for failed logins, nor past the registrations per hour. `Err`: the
    /// seconds to wait.
    pub fn may_register(&self, ip: IpAddr) -> Result<(), u64> {
        let now = Instant::now();
        if let Some(secs) = self.guard().address_locked(ip, now, &self.limits) {
            return Err(secs);
        }
        self.registrations
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .allow(ip, now, self.max_registrations, &self.limits)
    }
}

impl Slot<'_> {
    /// The password was right (`true`) or wrong; true when a failure
    /// started a lock.
    pub fn finish(mut self, ok: bool) -> bool {
        self.end(Some(ok))
    }

    /// Nothing was checked (the store could not be read): the slot is
    /// given back without counting.
    pub fn release(mut self) {
        self.end(None);
    }

    fn end(&mut self, ok: Option<bool>) -> bool {
        let Some(attempt) = self.attempt.take() else {
            return false;
        };
        let (l, now) = (&self.logins.limits, Instant::now());
        let mut guard = self.logins.guard();
        match ok {
            Some(ok) => guard.finish(attempt, ok, now, l),
            None => {
                guard.release(attempt);
                false
            }
        }
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.end(Some(false));
    }
}

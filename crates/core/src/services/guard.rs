//! Brute-force limits on logins and on account registration: failures
//! counted per account and per address, locks that double with each
//! repeat, and registrations per address per hour.
//!
//! Pure bookkeeping: every call is given the time (a monotonic `Instant`)
//! and answers yes or no; the runtime checks passwords and keeps the
//! clock. Must not check a password or log anything.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::names::Key;

/// Failed logins of one account or one address.
#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    since: Instant,
    locked_until: Option<Instant>,
    /// Locks so far: each one doubles the next.
    locks: u32,
}

/// Counting failures and locking, per account and per address. Pure but
/// for the `now` it is given, so it is unit-tested without waiting.
#[derive(Debug, Default)]
pub struct Guard {
    by_account: HashMap<String, Failures>,
    by_ip: HashMap<IpAddr, Failures>,
}

/// The numbers [`Guard`] works with (from `[accounts]`).
#[derive(Debug, Clone, Copy)]
pub struct GuardLimits {
    pub per_account: u32,
    pub per_ip: u32,
    pub window: Duration,
    pub lockout: Duration,
    pub max_lockout: Duration,
}

/// Entries kept at most per map; past it, the ones not locked are dropped
/// (an attacker cycling names must not grow memory without bound).
const GUARD_ENTRIES: usize = 100_000;

impl Guard {
    /// Seconds left of a lock on this account or address, if any.
    pub fn locked(&self, ip: IpAddr, account: &str, now: Instant) -> Option<u64> {
        let left = |f: Option<&Failures>| {
            f.and_then(|f| f.locked_until)
                .filter(|&t| t > now)
                .map(|t| (t - now).as_secs().max(1))
        };
        left(self.by_account.get(Key::of(account).as_str())).max(left(self.by_ip.get(&ip)))
    }

    /// Counts a failure; true when it started a lock.
    pub fn failed(&mut self, ip: IpAddr, account: &str, now: Instant, l: &GuardLimits) -> bool {
        if self.by_account.len() > GUARD_ENTRIES {
            self.by_account.retain(|_, f| f.locked_until.is_some());
        }
        if self.by_ip.len() > GUARD_ENTRIES {
            self.by_ip.retain(|_, f| f.locked_until.is_some());
        }
        let key = Key::of(account).as_str().to_string();
        let a = bump(
            self.by_account.entry(key).or_insert_with(|| fresh(now)),
            now,
            l.per_account,
            l,
        );
        let i = bump(
            self.by_ip.entry(ip).or_insert_with(|| fresh(now)),
            now,
            l.per_ip,
            l,
        );
        a || i
    }

    /// A success clears the account's count (not its address's: one good
    /// password must not reset guessing at other accounts).
    pub fn succeeded(&mut self, account: &str) {
        self.by_account.remove(Key::of(account).as_str());
    }
}

fn fresh(now: Instant) -> Failures {
    Failures {
        count: 0,
        since: now,
        locked_until: None,
        locks: 0,
    }
}

fn bump(f: &mut Failures, now: Instant, max: u32, l: &GuardLimits) -> bool {
    if now.duration_since(f.since) > l.window {
        f.count = 0;
        f.since = now;
    }
    f.count += 1;
    if f.count < max {
        return false;
    }
    let lock = l
        .lockout
        .saturating_mul(1u32 << f.locks.min(16))
        .min(l.max_lockout);
    f.locked_until = Some(now + lock);
    f.locks = f.locks.saturating_add(1);
    f.count = 0;
    f.since = now;
    true
}

/// Accounts registered per address within the last hour.
#[derive(Debug, Default)]
pub struct Registrations {
    by_ip: HashMap<IpAddr, Vec<Instant>>,
}

impl Registrations {
    /// Counts a registration attempt from `ip`; false past `max` in the
    /// last hour (`max` 0: no limit).
    pub fn allow(&mut self, ip: IpAddr, now: Instant, max: u32) -> bool {
        if max == 0 {
            return true;
        }
        let hour = Duration::from_secs(3600);
        if self.by_ip.len() > GUARD_ENTRIES {
            self.by_ip
                .retain(|_, times| times.iter().any(|t| now.duration_since(*t) < hour));
        }
        let times = self.by_ip.entry(ip).or_default();
        times.retain(|t| now.duration_since(*t) < hour);
        if times.len() >= max as usize {
            return false;
        }
        times.push(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> GuardLimits {
        GuardLimits {
            per_account: 3,
            per_ip: 5,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(10),
            max_lockout: Duration::from_secs(25),
        }
    }

    #[test]
    fn failures_lock_the_account_then_expire_and_grow() {
        let mut g = Guard::default();
        let ip: IpAddr = [10, 0, 0, 1].into();
        let t0 = Instant::now();
        assert!(!g.failed(ip, "Alice", t0, &limits()));
        assert!(!g.failed(ip, "alice", t0, &limits()));
        assert!(g.locked(ip, "alice", t0).is_none());
        assert!(g.failed(ip, "ALICE", t0, &limits()));
        assert_eq!(g.locked(ip, "alice", t0), Some(10));
        // Another account from another address is not affected.
        let other: IpAddr = [10, 0, 0, 2].into();
        assert!(g.locked(other, "bob", t0).is_none());
        let t1 = t0 + Duration::from_secs(11);
        assert!(g.locked(ip, "alice", t1).is_none());
        for _ in 0..2 {
            g.failed(other, "alice", t1, &limits());
        }
        assert!(g.failed(other, "alice", t1, &limits()));
        // The second lock is twice as long.
        assert_eq!(g.locked(other, "alice", t1), Some(20));
        g.succeeded("alice");
        assert!(g.locked(other, "alice", t1).is_none());
    }

    #[test]
    fn an_address_trying_many_accounts_is_locked() {
        let mut g = Guard::default();
        let ip: IpAddr = [10, 0, 0, 9].into();
        let t0 = Instant::now();
        for i in 0..4 {
            assert!(!g.failed(ip, &format!("user{i}"), t0, &limits()));
        }
        assert!(g.failed(ip, "user4", t0, &limits()));
        assert!(g.locked(ip, "someone-else", t0).is_some());
        assert!(g.locked([10, 0, 0, 8].into(), "someone-else", t0).is_none());
    }

    #[test]
    fn registrations_per_address_per_hour() {
        let mut r = Registrations::default();
        let ip: IpAddr = [10, 0, 0, 1].into();
        let t0 = Instant::now();
        assert!(r.allow(ip, t0, 2));
        assert!(r.allow(ip, t0, 2));
        assert!(!r.allow(ip, t0, 2));
        assert!(r.allow([10, 0, 0, 2].into(), t0, 2));
        assert!(r.allow(ip, t0 + Duration::from_secs(3601), 2));
        assert!(r.allow(ip, t0, 0), "0 is no limit");
    }
}

//! Brute-force limits on logins (accounts and operators) and on account
//! registration.
//!
//! Failures are counted per (what is logged in to, address) and per
//! address, never per account alone: someone guessing at an account from
//! elsewhere must not lock its owner out. Each attempt takes a slot in both
//! counts *before* the password is checked and gives it back (or turns it
//! into a failure) afterwards, so N guesses sent in parallel count as N
//! however they interleave: at most `per_account` passwords of one target
//! and `per_ip` passwords in all are ever checked for one address within a
//! window. Locks double per key each time (up to a ceiling) and are
//! forgotten after a quiet spell; every refusal says how long to wait.
//! Addresses are grouped by [`crate::addr::group`] (IPv6 by prefix).
//!
//! Pure bookkeeping: every call is given the time (a monotonic `Instant`)
//! and answers yes or no; the runtime checks passwords and keeps the
//! clock. Must not check a password or log anything.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::addr;
use crate::names::Key;

/// What a login is for. Accounts and operator blocks are counted apart:
/// guessing at one does not lock the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    Account(&'a str),
    Oper(&'a str),
    /// The server's connection password (IRC `PASS`).
    ServerPassword,
}

impl Target<'_> {
    fn key(self) -> String {
        match self {
            Target::Account(name) => format!("a {}", Key::of(name).as_str()),
            // Operator names are matched exactly (see `oper`).
            Target::Oper(name) => format!("o {name}"),
            Target::ServerPassword => "s".into(),
        }
    }
}

/// Failed and in-flight logins of one key.
#[derive(Debug, Clone, Copy)]
struct Failures {
    /// Failures since `since`.
    count: u32,
    /// Attempts that hold a slot and have not finished.
    pending: u32,
    since: Instant,
    last_failure: Instant,
    locked_until: Option<Instant>,
    /// Locks so far: each one doubles the next.
    locks: u32,
}

impl Failures {
    fn fresh(now: Instant) -> Failures {
        Failures {
            count: 0,
            pending: 0,
            since: now,
            last_failure: now,
            locked_until: None,
            locks: 0,
        }
    }

    /// Forgets what is old: a count past its window, locks after a spell
    /// without failures as long as the longest lock.
    fn age(&mut self, now: Instant, l: &GuardLimits) {
        if now.saturating_duration_since(self.since) > l.window {
            self.count = 0;
            self.since = now;
        }
        if self.locked_until.is_none_or(|t| t <= now)
            && now.saturating_duration_since(self.last_failure) > l.max_lockout + l.window
        {
            self.locks = 0;
            self.locked_until = None;
        }
    }

    fn lock_len(&self, l: &GuardLimits) -> Duration {
        l.lockout
            .saturating_mul(1u32 << self.locks.min(16))
            .min(l.max_lockout)
    }

    /// Seconds to wait before an attempt may take a slot, if any.
    fn wait(&self, now: Instant, max: u32, l: &GuardLimits) -> Option<u64> {
        if let Some(t) = self.locked_until.filter(|&t| t > now) {
            return Some(secs(t - now));
        }
        // Every slot is held by attempts in flight: if they all fail, the
        // lock that follows is how long this one would wait.
        (max > 0 && self.count + self.pending >= max).then(|| secs(self.lock_len(l)))
    }

    fn fail(&mut self, now: Instant, max: u32, l: &GuardLimits) -> bool {
        self.count += 1;
        self.last_failure = now;
        if max == 0 || self.count < max {
            return false;
        }
        self.locked_until = Some(now + self.lock_len(l));
        self.locks = self.locks.saturating_add(1);
        self.count = 0;
        self.since = now;
        true
    }
}

fn secs(d: Duration) -> u64 {
    d.as_secs_f64().ceil().max(1.0) as u64
}

/// Counting attempts and failures, and locking, per (target, address) and
/// per address. Pure but for the `now` it is given, so it is unit-tested
/// without waiting.
#[derive(Debug, Default)]
pub struct Guard {
    by_pair: HashMap<(String, IpAddr), Failures>,
    by_ip: HashMap<IpAddr, Failures>,
}

/// The numbers [`Guard`] works with (from `[accounts]` and `[limits]`).
#[derive(Debug, Clone, Copy)]
pub struct GuardLimits {
    /// Failures of one target from one address before a lock (0: none).
    pub per_account: u32,
    /// Failures from one address, whatever the target, before a lock.
    pub per_ip: u32,
    pub window: Duration,
    pub lockout: Duration,
    pub max_lockout: Duration,
    /// IPv6 addresses sharing this many bits are one address.
    pub ipv6_prefix: u8,
}

/// A login attempt holding a slot in both of its counts until
/// [`Guard::finish`] is given it. Dropping one unfinished leaves its slot
/// taken until the window passes: callers finish every attempt (the
/// runtime counts an abandoned one as a failure).
#[derive(Debug, PartialEq, Eq)]
#[must_use = "an attempt holds a slot until it is finished"]
pub struct Attempt {
    pair: (String, IpAddr),
}

/// Entries kept at most per map; past it, the idle ones not locked are
/// dropped (an attacker cycling names must not grow memory without bound).
const GUARD_ENTRIES: usize = 100_000;

impl Guard {
    /// Takes a slot for a login to `target` from `ip`, or says how many
    /// seconds to wait.
    pub fn begin(
        &mut self,
        ip: IpAddr,
        target: Target<'_>,
        now: Instant,
        l: &GuardLimits,
    ) -> Result<Attempt, u64> {
        self.prune(now);
        let ip = addr::group(ip, l.ipv6_prefix);
        let pair_key = (target.key(), ip);
        let by_ip = self.by_ip.entry(ip).or_insert_with(|| Failures::fresh(now));
        by_ip.age(now, l);
        let ip_wait = by_ip.wait(now, l.per_ip, l);
        let pair = self
            .by_pair
            .entry(pair_key.clone())
            .or_insert_with(|| Failures::fresh(now));
        pair.age(now, l);
        if let Some(w) = ip_wait.max(pair.wait(now, l.per_account, l)) {
            return Err(w);
        }
        pair.pending += 1;
        if let Some(by_ip) = self.by_ip.get_mut(&ip) {
            by_ip.pending += 1;
        }
        Ok(Attempt { pair: pair_key })
    }

    /// Ends an attempt. A failure counts towards both limits; a success
    /// clears the pair's count (not the address's: one good password must
    /// not reset guessing at other accounts). True when a lock started.
    pub fn finish(&mut self, attempt: Attempt, ok: bool, now: Instant, l: &GuardLimits) -> bool {
        let (target, ip) = attempt.pair;
        let mut locked = false;
        if let Some(f) = self.by_ip.get_mut(&ip) {
            f.pending = f.pending.saturating_sub(1);
            if !ok {
                locked |= f.fail(now, l.per_ip, l);
            }
        }
        let key = (target, ip);
        if let Some(f) = self.by_pair.get_mut(&key) {
            f.pending = f.pending.saturating_sub(1);
            if ok {
                f.count = 0;
                f.locks = 0;
                if f.pending == 0 {
                    self.by_pair.remove(&key);
                }
            } else {
                locked |= f.fail(now, l.per_account, l);
            }
        }
        locked
    }

    /// Ends an attempt whose password was never checked (the store failed):
    /// its slots are given back and nothing is counted.
    pub fn release(&mut self, attempt: Attempt) {
        let (target, ip) = attempt.pair;
        if let Some(f) = self.by_ip.get_mut(&ip) {
            f.pending = f.pending.saturating_sub(1);
        }
        if let Some(f) = self.by_pair.get_mut(&(target, ip)) {
            f.pending = f.pending.saturating_sub(1);
        }
    }

    /// Seconds left of a lock on this address (for whatever target), if
    /// any: an address locked for guessing may not register accounts
    /// either.
    pub fn address_locked(&self, ip: IpAddr, now: Instant, l: &GuardLimits) -> Option<u64> {
        let f = self.by_ip.get(&addr::group(ip, l.ipv6_prefix))?;
        f.locked_until.filter(|&t| t > now).map(|t| secs(t - now))
    }

    fn prune(&mut self, now: Instant) {
        let busy = |f: &Failures| f.pending > 0 || f.locked_until.is_some_and(|t| t > now);
        if self.by_pair.len() > GUARD_ENTRIES {
            self.by_pair.retain(|_, f| busy(f));
        }
        if self.by_ip.len() > GUARD_ENTRIES {
            self.by_ip.retain(|_, f| busy(f));
        }
    }
}

/// Accounts registered per address within the last hour.
#[derive(Debug, Default)]
pub struct Registrations {
    by_ip: HashMap<IpAddr, Vec<Instant>>,
}

impl Registrations {
    /// Counts a registration attempt from `ip` (grouped as the guard
    /// groups it); past `max` in the last hour, the seconds until one more
    /// is allowed (`max` 0: no limit).
    pub fn allow(
        &mut self,
        ip: IpAddr,
        now: Instant,
        max: u32,
        l: &GuardLimits,
    ) -> Result<(), u64> {
        if max == 0 {
            return Ok(());
        }
        let ip = addr::group(ip, l.ipv6_prefix);
        let hour = Duration::from_secs(3600);
        let recent = |t: &Instant| now.saturating_duration_since(*t) < hour;
        if self.by_ip.len() > GUARD_ENTRIES {
            self.by_ip.retain(|_, times| times.iter().any(recent));
        }
        let times = self.by_ip.entry(ip).or_default();
        times.retain(recent);
        if times.len() >= max as usize {
            let oldest = times.iter().min().copied().unwrap_or(now);
            return Err(secs(
                hour.saturating_sub(now.saturating_duration_since(oldest)),
            ));
        }
        times.push(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests;

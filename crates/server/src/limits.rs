//! Per-connection flood control and per-address connection counting.
//!
//! Pure bookkeeping with no I/O: the token bucket says how long to wait, the
//! address limiter says yes or no; the connection code acts on the answer.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A token bucket: `burst` commands at once, refilled at `rate` per second.
/// A rate of 0 disables it.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn new(rate: f64, burst: u32) -> TokenBucket {
        let burst = f64::from(burst.max(1));
        TokenBucket {
            rate,
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Takes one token at time `now`. Returns how long the caller must wait
    /// before the command may go through (zero when a token was available).
    pub fn take(&mut self, now: Instant) -> Duration {
        if self.rate <= 0.0 {
            return Duration::ZERO;
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

/// Counts open connections per address and in total.
#[derive(Debug, Default)]
pub struct ConnLimiter {
    per_ip: usize,
    total: usize,
    open: Mutex<(HashMap<IpAddr, usize>, usize)>,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    ServerFull,
    TooManyFromAddress,
}

impl Refusal {
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::ServerFull => "Server is full, try again later",
            Refusal::TooManyFromAddress => "Too many connections from your address",
        }
    }
}

/// Held while a connection is open; gives its place back when dropped.
#[derive(Debug)]
pub struct ConnPermit {
    limiter: Arc<ConnLimiter>,
    ip: IpAddr,
}

impl ConnLimiter {
    /// `0` means no limit for either.
    pub fn new(total: usize, per_ip: usize) -> Arc<ConnLimiter> {
        Arc::new(ConnLimiter {
            per_ip,
            total,
            open: Mutex::default(),
        })
    }

    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Result<ConnPermit, Refusal> {
        let mut guard = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let (per_ip, total) = &mut *guard;
        if self.total > 0 && *total >= self.total {
            return Err(Refusal::ServerFull);
        }
        let n = per_ip.entry(ip).or_insert(0);
        if self.per_ip > 0 && *n >= self.per_ip {
            return Err(Refusal::TooManyFromAddress);
        }
        *n += 1;
        *total += 1;
        Ok(ConnPermit {
            limiter: self.clone(),
            ip,
        })
    }

    /// Connections open right now.
    pub fn open(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).1
    }
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        let mut guard = self.limiter.open.lock().unwrap_or_else(|p| p.into_inner());
        let (per_ip, total) = &mut *guard;
        *total -= 1;
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_paces() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(2.0, 3);
        for _ in 0..3 {
            assert_eq!(b.take(t0), Duration::ZERO);
        }
        let wait = b.take(t0);
        assert_eq!(wait, Duration::from_millis(500));
        // After waiting as told, the next one needs another half second.
        let t1 = t0 + wait;
        assert_eq!(b.take(t1), Duration::from_millis(500));
        // A long pause refills only up to the burst.
        let t2 = t1 + Duration::from_secs(100);
        for _ in 0..3 {
            assert_eq!(b.take(t2), Duration::ZERO);
        }
        assert!(b.take(t2) > Duration::ZERO);
    }

    #[test]
    fn bucket_off_when_rate_zero() {
        let mut b = TokenBucket::new(0.0, 1);
        let t = Instant::now();
        for _ in 0..1000 {
            assert_eq!(b.take(t), Duration::ZERO);
        }
    }

    #[test]
    fn limiter_counts_per_address_and_total() {
        let l = ConnLimiter::new(3, 2);
        let a: IpAddr = [127, 0, 0, 1].into();
        let b: IpAddr = [127, 0, 0, 2].into();
        let p1 = l.try_acquire(a).expect("first");
        let _p2 = l.try_acquire(a).expect("second");
        assert_eq!(l.try_acquire(a).err(), Some(Refusal::TooManyFromAddress));
        let _p3 = l.try_acquire(b).expect("other address");
        assert_eq!(l.try_acquire(b).err(), Some(Refusal::ServerFull));
        drop(p1);
        assert_eq!(l.open(), 2);
        assert!(l.try_acquire(a).is_ok());
        let unlimited = ConnLimiter::new(0, 0);
        let permits: Vec<_> = (0..100).map(|_| unlimited.try_acquire(a)).collect();
        assert!(permits.iter().all(Result::is_ok));
    }
}

//! Per-connection flood control and admission at accept time: open
//! connections per address and in total, unfinished handshakes per address,
//! new connections per address per window, the server-wide ceiling kept
//! below the open-file limit, and the accept loop's back-off when the
//! system runs out of descriptors.
//!
//! Pure bookkeeping with no I/O: the token bucket says how long to wait,
//! admission says yes or no, the back-off says how long to sleep and when
//! to log; the accept loop acts on the answers. Time is always passed in.

use std::collections::HashMap;
use std::net::IpAddr;

use chatroom_config::Net;
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

/// The admission rules, from `[limits]` and the descriptor limit.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    /// Connections at once, server-wide; 0: no limit.
    pub total: usize,
    /// Connections at once from one address; 0: no limit.
    pub per_addr: usize,
    /// Unfinished handshakes (TLS, WebSocket upgrade) at once from one
    /// address; 0: no limit.
    pub handshakes_per_addr: usize,
    /// New connections one address may open per `window`; 0: no limit.
    pub connects_per_window: u32,
    pub window: Duration,
    /// IPv6 prefix length that counts as one address (see `addr::group`).
    pub ipv6_prefix: u8,
    /// Addresses the per-address rules do not apply to.
    pub exempt: Vec<Net>,
}

impl Rules {
    /// The rules of `limits`, with the server-wide ceiling `total` (see
    /// [`ceiling`]). Fails on an unusable `exempt` entry.
    pub fn from_config(
        limits: &chatroom_config::Limits,
        total: usize,
    ) -> Result<Rules, chatroom_config::ConfigError> {
        Ok(Rules {
            total,
            per_addr: limits.max_connections_per_ip,
            handshakes_per_addr: limits.max_handshakes_per_ip,
            connects_per_window: limits.max_connects_per_ip,
            window: limits.connect_window(),
            ipv6_prefix: limits.ipv6_prefix,
            exempt: limits.exempt_nets()?,
        })
    }
}

/// The most connections the server may hold so that it never runs out of
/// descriptors: `configured` (0: no limit), but never more than the
/// open-file limit `nofile` (`None`: unlimited) less `reserve`. A limit
/// at or below the reserve leaves half of it to connections rather than
/// none. Never 0 (which would mean no limit at all).
pub fn ceiling(configured: usize, nofile: Option<u64>, reserve: usize) -> usize {
    let from_files = nofile.map(|n| {
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        if n > reserve.saturating_mul(2) {
            n - reserve
        } else {
            (n / 2).max(1)
        }
    });
    match (configured, from_files) {
        (0, None) => 0,
        (0, Some(f)) => f,
        (c, None) => c,
        (c, Some(f)) => c.min(f),
    }
}

/// Decides admission at accept time and keeps the counts. Shared by every
/// listener: one address's connections count together whatever the
/// protocol.
#[derive(Debug)]
pub struct Admission {
    /// Replaced whole when the configuration is reloaded.
    rules: std::sync::RwLock<Rules>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    total: usize,
    addrs: HashMap<IpAddr, Entry>,
    /// When entries that hold nothing any more were last let go.
    swept: Option<Instant>,
}

/// What is known of one address (its `group` key).
#[derive(Debug)]
struct Entry {
    open: usize,
    handshaking: usize,
    /// The start of the current connect window and the connections
    /// admitted in it (a fixed window, as ergo's connection throttle).
    window_start: Instant,
    connects: u32,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    ServerFull,
    TooManyFromAddress,
    TooManyHandshakes,
    TooFast,
}

impl Refusal {
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::ServerFull => "Server is full, try again later",
            Refusal::TooManyFromAddress => "Too many connections from your address",
            Refusal::TooManyHandshakes => "Too many unfinished connections from your address",
            Refusal::TooFast => "Too many new connections from your address, try again later",
        }
    }
}

/// Held while a connection is open, from its accept to its end however it
/// ends; gives its place back when dropped.
#[derive(Debug)]
pub struct ConnPermit {
    admission: Arc<Admission>,
    /// The address's key; `None` for an exempt address (counted in the
    /// total only).
    key: Option<IpAddr>,
}

/// Held while a connection's TLS handshake or WebSocket upgrade is under
/// way; dropped when it ends, whichever way.
#[derive(Debug)]
pub struct HandshakePermit {
    admission: Arc<Admission>,
    key: Option<IpAddr>,
}

/// What an admitted connection holds.
#[derive(Debug)]
pub struct Admitted {
    pub conn: ConnPermit,
    /// Present when a handshake was asked for.
    pub handshake: Option<HandshakePermit>,
}

impl Admission {
    pub fn new(rules: Rules) -> Arc<Admission> {
        Arc::new(Admission {
            rules: std::sync::RwLock::new(rules),
            state: Mutex::default(),
        })
    }

    /// The rules in force.
    pub fn rules(&self) -> Rules {
        self.rules.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// New rules (a reloaded configuration): they apply from the next
    /// connection; connections already admitted keep their places.
    pub fn set_rules(&self, rules: Rules) {
        *self.rules.write().unwrap_or_else(|p| p.into_inner()) = rules;
    }

    /// Admits a connection from `ip` accepted at `now`, which will go through
    /// a handshake first when `handshake` is set; or says why not. Nothing is
    /// counted for a refused connection.
    pub fn admit(
        self: &Arc<Self>,
        ip: IpAddr,
        handshake: bool,
        now: Instant,
    ) -> Result<Admitted, Refusal> {
        let r = self.rules.read().unwrap_or_else(|p| p.into_inner());
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let st = &mut *guard;
        if r.total > 0 && st.total >= r.total {
            return Err(Refusal::ServerFull);
        }
        let key = if r.exempt.iter().any(|n| n.contains(ip)) {
            None
        } else {
            Some(chatroom_core::addr::group(ip, r.ipv6_prefix))
        };
        if let Some(key) = key {
            Self::sweep(st, now, &r);
            let e = st.addrs.entry(key).or_insert(Entry {
                open: 0,
                handshaking: 0,
                window_start: now,
                connects: 0,
            });
            if now.saturating_duration_since(e.window_start) >= r.window {
                e.window_start = now;
                e.connects = 0;
            }
            let refusal = if r.per_addr > 0 && e.open >= r.per_addr {
                Some(Refusal::TooManyFromAddress)
            } else if handshake
                && r.handshakes_per_addr > 0
                && e.handshaking >= r.handshakes_per_addr
            {
                Some(Refusal::TooManyHandshakes)
            } else if r.connects_per_window > 0 && e.connects >= r.connects_per_window {
                Some(Refusal::TooFast)
            } else {
                None
            };
            if let Some(refusal) = refusal {
                if e.open == 0 && e.handshaking == 0 && e.connects == 0 {
                    st.addrs.remove(&key);
                }
                return Err(refusal);
            }
            e.open += 1;
            e.connects += 1;
            if handshake {
                e.handshaking += 1;
            }
        }
        st.total += 1;
        Ok(Admitted {
            conn: ConnPermit {
                admission: self.clone(),
                key,
            },
            handshake: handshake.then(|| HandshakePermit {
                admission: self.clone(),
                key,
            }),
        })
    }

    /// Lets go, once per window, of the addresses that hold nothing and
    /// whose window is over: the map stays as large as the connections open
    /// plus the addresses seen in the last window.
    fn sweep(st: &mut State, now: Instant, rules: &Rules) {
        let window = rules.window;
        // Without a rate, an address is let go as soon as it holds nothing.
        if rules.connects_per_window == 0 {
            return;
        }
        if st
            .swept
            .is_some_and(|t| now.saturating_duration_since(t) < window)
        {
            return;
        }
        st.swept = Some(now);
        st.addrs.retain(|_, e| {
            e.open > 0
                || e.handshaking > 0
                || now.saturating_duration_since(e.window_start) < window
        });
    }

    /// Connections open right now.
    pub fn open(&self) -> usize {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).total
    }

    /// Addresses remembered right now (open connections or a current
    /// connect window).
    pub fn addresses(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .addrs
            .len()
    }

    fn release(&self, key: Option<IpAddr>, conn: bool) {
        // Read before the state is locked, as `admit` does: the two locks
        // are always taken in that order.
        let no_rate = self
            .rules
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .connects_per_window
            == 0;
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let st = &mut *guard;
        if conn {
            st.total = st.total.saturating_sub(1);
        }
        let Some(key) = key else { return };
        let Some(e) = st.addrs.get_mut(&key) else {
            return;
        };
        if conn {
            e.open = e.open.saturating_sub(1);
        } else {
            e.handshaking = e.handshaking.saturating_sub(1);
        }
        // Kept while its connect window runs (the sweep lets it go later),
        // so that closing connections does not reset the rate.
        if e.open == 0 && e.handshaking == 0 && no_rate {
            st.addrs.remove(&key);
        }
    }
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        self.admission.release(self.key, true);
    }
}

impl Drop for HandshakePermit {
    fn drop(&mut self) {
        self.admission.release(self.key, false);
    }
}

/// Counts events for a log line written at most once per interval: the
/// first event is told at once, later ones in one line with their number.
#[derive(Debug, Default)]
pub struct Tally {
    count: u64,
    logged: Option<Instant>,
}

impl Tally {
    /// Counts one event at `now`; the number to log (this one included) if
    /// it is time to log.
    pub fn hit(&mut self, now: Instant, every: Duration) -> Option<u64> {
        self.count += 1;
        let due = self
            .logged
            .is_none_or(|t| now.saturating_duration_since(t) >= every);
        due.then(|| {
            self.logged = Some(now);
            std::mem::take(&mut self.count)
        })
    }

    /// The events not yet told, if there are any and it is time to log
    /// (asked when something else happens, so that the tail of a burst is
    /// told too once it is over).
    pub fn flush(&mut self, now: Instant, every: Duration) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        self.count -= 1;
        self.hit(now, every)
    }
}

/// The accept loop's answer to an accept that failed for want of
/// resources (no descriptor, no buffer memory): sleep, from 50 ms doubling
/// up to a second while it keeps failing, and log once per `LOG_EVERY`
/// with the number of failures since the last log line.
#[derive(Debug, Default)]
pub struct AcceptBackoff {
    delay: Duration,
    failures: Tally,
}

/// What to do after a failed accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffStep {
    pub sleep: Duration,
    /// Failures to report now (including this one), if it is time to log.
    pub log: Option<u64>,
}

impl AcceptBackoff {
    pub const FIRST: Duration = Duration::from_millis(50);
    pub const MAX: Duration = Duration::from_secs(1);
    pub const LOG_EVERY: Duration = Duration::from_secs(10);

    pub fn failed(&mut self, now: Instant) -> BackoffStep {
        self.delay = if self.delay.is_zero() {
            Self::FIRST
        } else {
            (self.delay * 2).min(Self::MAX)
        };
        BackoffStep {
            sleep: self.delay,
            log: self.failures.hit(now, Self::LOG_EVERY),
        }
    }

    /// An accept succeeded: the next failure starts from the shortest sleep
    /// (failures not yet logged are kept for the next log line).
    pub fn succeeded(&mut self) {
        self.delay = Duration::ZERO;
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

    fn rules() -> Rules {
        Rules {
            total: 0,
            per_addr: 0,
            handshakes_per_addr: 0,
            connects_per_window: 0,
            window: Duration::from_secs(10),
            ipv6_prefix: 64,
            exempt: Vec::new(),
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn counts_per_address_and_total_from_accept() {
        let l = Admission::new(Rules {
            total: 3,
            per_addr: 2,
            ..rules()
        });
        let t = Instant::now();
        let (a, b) = (ip("127.0.0.1"), ip("127.0.0.2"));
        let p1 = l.admit(a, false, t).expect("first");
        // A connection about to start a handshake counts at once.
        let _p2 = l.admit(a, true, t).expect("second");
        assert_eq!(
            l.admit(a, false, t).err(),
            Some(Refusal::TooManyFromAddress)
        );
        let _p3 = l.admit(b, false, t).expect("other address");
        assert_eq!(l.admit(b, false, t).err(), Some(Refusal::ServerFull));
        drop(p1);
        assert_eq!(l.open(), 2);
        assert!(l.admit(a, false, t).is_ok());
        let unlimited = Admission::new(rules());
        let permits: Vec<_> = (0..100).map(|_| unlimited.admit(a, true, t)).collect();
        assert!(permits.iter().all(Result::is_ok));
        drop(permits);
        assert_eq!(unlimited.open(), 0);
        assert_eq!(unlimited.addresses(), 0);
    }

    #[test]
    fn unfinished_handshakes_have_their_own_smaller_limit() {
        let l = Admission::new(Rules {
            per_addr: 10,
            handshakes_per_addr: 2,
            ..rules()
        });
        let t = Instant::now();
        let a = ip("192.0.2.1");
        let h1 = l.admit(a, true, t).expect("first handshake");
        let h2 = l.admit(a, true, t).expect("second handshake");
        assert_eq!(l.admit(a, true, t).err(), Some(Refusal::TooManyHandshakes));
        // Plain connections are not handshakes.
        let _plain = l.admit(a, false, t).expect("plain");
        // A handshake that finishes gives back its handshake place and keeps
        // its connection place.
        let Admitted { conn, handshake } = h1;
        drop(handshake);
        let h3 = l.admit(a, true, t).expect("room for another handshake");
        assert_eq!(l.open(), 4);
        // One that fails or times out gives back both.
        drop(h2);
        drop(h3);
        assert_eq!(l.open(), 2);
        assert!(l.admit(a, true, t).is_ok());
        drop(conn);
        assert!(l.admit(ip("192.0.2.2"), true, t).is_ok());
    }

    #[test]
    fn new_connections_per_window() {
        let l = Admission::new(Rules {
            connects_per_window: 3,
            window: Duration::from_secs(10),
            ..rules()
        });
        let t0 = Instant::now();
        let a = ip("198.51.100.7");
        for _ in 0..3 {
            // Closed at once: the rate counts connections made, not held.
            drop(l.admit(a, false, t0).expect("within the rate"));
        }
        assert_eq!(l.admit(a, false, t0).err(), Some(Refusal::TooFast));
        let t1 = t0 + Duration::from_secs(9);
        assert_eq!(l.admit(a, true, t1).err(), Some(Refusal::TooFast));
        // Another address has its own window.
        assert!(l.admit(ip("198.51.100.8"), false, t1).is_ok());
        // The window over, the address may connect again.
        let t2 = t0 + Duration::from_secs(10);
        for _ in 0..3 {
            drop(l.admit(a, false, t2).expect("next window"));
        }
        assert_eq!(l.admit(a, false, t2).err(), Some(Refusal::TooFast));
        // Addresses that hold nothing are let go once their window is over.
        assert_eq!(l.addresses(), 2);
        let t3 = t2 + Duration::from_secs(20);
        assert!(l.admit(ip("203.0.113.1"), false, t3).is_ok());
        assert_eq!(l.addresses(), 1);
    }

    #[test]
    fn exempt_addresses_skip_the_per_address_limits_but_not_the_total() {
        let l = Admission::new(Rules {
            total: 5,
            per_addr: 1,
            handshakes_per_addr: 1,
            connects_per_window: 1,
            exempt: vec![
                "127.0.0.1".parse().expect("net"),
                "::1/128".parse().expect("net"),
            ],
            ..rules()
        });
        let t = Instant::now();
        let mut held = Vec::new();
        for _ in 0..4 {
            held.push(l.admit(ip("127.0.0.1"), true, t).expect("exempt"));
        }
        held.push(l.admit(ip("::1"), true, t).expect("exempt too"));
        assert_eq!(
            l.admit(ip("127.0.0.1"), false, t).err(),
            Some(Refusal::ServerFull)
        );
        held.clear();
        // Loopback addresses not listed are not exempt.
        let _one = l.admit(ip("127.0.0.2"), false, t).expect("first");
        assert_eq!(
            l.admit(ip("127.0.0.2"), false, t).err(),
            Some(Refusal::TooManyFromAddress)
        );
    }

    #[test]
    fn addresses_are_grouped_as_addr_group_says() {
        let l = Admission::new(Rules {
            per_addr: 2,
            ..rules()
        });
        let t = Instant::now();
        // One /64 is one client, however many addresses it uses.
        let _a = l.admit(ip("2001:db8:1:2::1"), false, t).expect("first");
        let _b = l
            .admit(ip("2001:db8:1:2:ffff::9"), false, t)
            .expect("second");
        assert_eq!(
            l.admit(ip("2001:db8:1:2::abcd"), false, t).err(),
            Some(Refusal::TooManyFromAddress)
        );
        assert!(l.admit(ip("2001:db8:1:3::1"), false, t).is_ok());
        // A mapped IPv4 address is the IPv4 address.
        let _c = l.admit(ip("192.0.2.9"), false, t).expect("v4");
        let _d = l.admit(ip("::ffff:192.0.2.9"), false, t).expect("mapped");
        assert_eq!(
            l.admit(ip("192.0.2.9"), false, t).err(),
            Some(Refusal::TooManyFromAddress)
        );
    }

    #[test]
    fn ceiling_keeps_a_reserve_below_the_descriptor_limit() {
        assert_eq!(ceiling(10_000, Some(1024), 128), 896);
        assert_eq!(ceiling(500, Some(1024), 128), 500);
        assert_eq!(ceiling(0, Some(1024), 128), 896);
        assert_eq!(ceiling(0, None, 128), 0);
        assert_eq!(ceiling(10_000, None, 128), 10_000);
        // A limit below twice the reserve leaves half to connections.
        assert_eq!(ceiling(10_000, Some(200), 128), 100);
        assert_eq!(ceiling(10_000, Some(1), 128), 1);
        assert_eq!(ceiling(10_000, Some(u64::MAX), 128), 10_000);
    }

    #[test]
    fn tally_tells_the_first_at_once_and_the_rest_counted() {
        let every = Duration::from_secs(10);
        let mut t = Tally::default();
        let t0 = Instant::now();
        assert_eq!(t.flush(t0, every), None);
        assert_eq!(t.hit(t0, every), Some(1));
        for i in 1..=5 {
            assert_eq!(t.hit(t0 + Duration::from_secs(i), every), None);
        }
        // Nothing more comes: the tail is told once the interval is over.
        assert_eq!(t.flush(t0 + Duration::from_secs(9), every), None);
        assert_eq!(t.flush(t0 + every, every), Some(5));
        assert_eq!(t.flush(t0 + every * 3, every), None);
    }

    #[test]
    fn accept_backoff_grows_and_logs_once_per_interval() {
        let mut b = AcceptBackoff::default();
        let t0 = Instant::now();
        let first = b.failed(t0);
        assert_eq!(first.sleep, Duration::from_millis(50));
        assert_eq!(first.log, Some(1));
        let mut sleeps = Vec::new();
        for i in 1..10 {
            let step = b.failed(t0 + Duration::from_millis(i));
            assert_eq!(step.log, None);
            sleeps.push(step.sleep);
        }
        assert_eq!(sleeps[0], Duration::from_millis(100));
        assert_eq!(sleeps[4], Duration::from_secs(1));
        assert_eq!(*sleeps.last().expect("some"), AcceptBackoff::MAX);
        // The next log line, an interval later, counts every failure since.
        b.succeeded();
        let later = b.failed(t0 + AcceptBackoff::LOG_EVERY);
        assert_eq!(later.sleep, AcceptBackoff::FIRST);
        assert_eq!(later.log, Some(10));
    }
}

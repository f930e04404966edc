//! What the bench counts and measures: latency histograms (HdrHistogram),
//! per-second series, event counters, and readers of a process's CPU time
//! and memory from `/proc`.
//!
//! Everything here can be merged (parts of a run, worker processes) and
//! serialized (workers send their results to the parent as JSON), so the
//! numbers of a multi-process run are computed exactly as a single
//! process's would be. No I/O except the `/proc` readers.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Largest latency recorded: an hour, in nanoseconds. Anything slower is
/// recorded as this (it is a stall, and counted as one elsewhere too).
const MAX_NS: u64 = 3_600_000_000_000;

/// A latency histogram in nanoseconds, 3 significant digits.
///
/// Serialized as the list of (value, count) pairs that were recorded, which
/// merges losslessly (each value lands back in its own bucket).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(into = "Vec<(u64, u64)>", try_from = "Vec<(u64, u64)>")]
pub struct Hist(Histogram<u64>);

impl Default for Hist {
    fn default() -> Self {
        Hist::new()
    }
}

impl Hist {
    pub fn new() -> Hist {
        // Bounds and precision are constants that hdrhistogram accepts.
        Hist(Histogram::new_with_bounds(1, MAX_NS, 3).expect("valid histogram bounds"))
    }

    pub fn record(&mut self, ns: u64) {
        self.0.saturating_record(ns.clamp(1, MAX_NS));
    }

    pub fn merge(&mut self, other: &Hist) {
        // Same bounds on both sides, so adding cannot fail; if it ever did,
        // losing a merge must not abort a run.
        let _ = self.0.add(&other.0);
    }

    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// The latency at `q` (0..=1), in nanoseconds; 0 when empty.
    pub fn quantile_ns(&self, q: f64) -> u64 {
        if self.0.is_empty() {
            0
        } else {
            self.0.value_at_quantile(q)
        }
    }

    pub fn summary(&self) -> LatencySummary {
        let us = |ns: u64| ns as f64 / 1000.0;
        LatencySummary {
            count: self.count(),
            p50_us: us(self.quantile_ns(0.5)),
            p90_us: us(self.quantile_ns(0.9)),
            p99_us: us(self.quantile_ns(0.99)),
            p999_us: us(self.quantile_ns(0.999)),
            max_us: us(if self.0.is_empty() { 0 } else { self.0.max() }),
            mean_us: if self.0.is_empty() {
                0.0
            } else {
                self.0.mean() / 1000.0
            },
        }
    }
}

impl From<Hist> for Vec<(u64, u64)> {
    fn from(h: Hist) -> Self {
        h.0.iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect()
    }
}

impl TryFrom<Vec<(u64, u64)>> for Hist {
    type Error = String;
    fn try_from(pairs: Vec<(u64, u64)>) -> Result<Self, String> {
        let mut h = Hist::new();
        for (v, n) in pairs {
            h.0.record_n(v.clamp(1, MAX_NS), n)
                .map_err(|e| format!("bad histogram entry {v}: {e:?}"))?;
        }
        Ok(h)
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
}

/// Events per second since the start of the run phase: `0[i]` counts the
/// events in second `i`. Bounded: events after `MAX_SECS` go in the last slot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Series(pub Vec<u64>);

impl Series {
    /// A bench run lasts at most `--max-time`; this bounds the memory of a
    /// series against a wrong clock.
    const MAX_SECS: usize = 86_400;

    pub fn add(&mut self, sec: usize, n: u64) {
        let sec = sec.min(Self::MAX_SECS);
        if self.0.len() <= sec {
            self.0.resize(sec + 1, 0);
        }
        self.0[sec] += n;
    }

    /// Adds an event at `t_ns`, counted from `start_ns` (earlier: second 0).
    pub fn add_at(&mut self, start_ns: u64, t_ns: u64, n: u64) {
        let sec = (t_ns.saturating_sub(start_ns) / 1_000_000_000) as usize;
        self.add(sec, n);
    }

    pub fn merge(&mut self, other: &Series) {
        for (i, &n) in other.0.iter().enumerate() {
            if n > 0 {
                self.add(i, n);
            }
        }
    }

    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
}

/// Counters of one run (or one part of it); all add up across parts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Clients this part was asked to run.
    pub planned: u64,
    /// TCP connections established.
    pub connected: u64,
    /// Clients whose registration the server accepted.
    pub registered: u64,
    /// Clients that joined their room.
    pub joined: u64,
    pub connect_errors: u64,
    pub register_errors: u64,
    pub join_errors: u64,
    /// Waits that ran out of time during setup (connect, register, join).
    pub setup_timeouts: u64,
    /// Connections the server closed (or that failed) before the bench was done.
    pub disconnects: u64,
    /// Writes that did not complete within `--timeout` (server not reading).
    pub write_stalls: u64,
    /// Times a window sender saw no progress for `--timeout` and wrote off
    /// its in-flight messages.
    pub window_stalls: u64,
    /// Receivers still short of their expected messages when the drain
    /// wait ran out.
    pub drain_timeouts: u64,
    /// Messages written to the server.
    pub sent: u64,
    /// Bench messages received (deliveries).
    pub received: u64,
    /// A message with a sequence number at or below one already seen from
    /// the same sender, to the same receiver.
    pub duplicates: u64,
    /// A message that skipped ahead of a sequence number never seen (a gap:
    /// lost or reordered).
    pub gaps: u64,
    /// A client's own messages that came back to it (the line protocol
    /// echoes; IRC does not). Not deliveries, not errors.
    pub echoes: u64,
    /// Deliveries that should have happened: for each receiver, what the
    /// others in its room sent.
    pub expected: u64,
    /// PINGs answered.
    pub pings: u64,
    /// Clients the server told it was delaying or dropping their input for
    /// flood control (our server's notice, or an "Excess Flood" close):
    /// the run measured that pacing, not the server's speed.
    pub flood_notices: u64,
}

impl Counts {
    pub fn merge(&mut self, o: &Counts) {
        self.planned += o.planned;
        self.connected += o.connected;
        self.registered += o.registered;
        self.joined += o.joined;
        self.connect_errors += o.connect_errors;
        self.register_errors += o.register_errors;
        self.join_errors += o.join_errors;
        self.setup_timeouts += o.setup_timeouts;
        self.disconnects += o.disconnects;
        self.write_stalls += o.write_stalls;
        self.window_stalls += o.window_stalls;
        self.drain_timeouts += o.drain_timeouts;
        self.sent += o.sent;
        self.received += o.received;
        self.duplicates += o.duplicates;
        self.gaps += o.gaps;
        self.echoes += o.echoes;
        self.expected += o.expected;
        self.pings += o.pings;
        self.flood_notices += o.flood_notices;
    }

    /// Deliveries that never arrived.
    pub fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.received)
    }

    /// Anything that went wrong, as one number (0 for a clean run).
    pub fn errors(&self) -> u64 {
        self.connect_errors
            + self.register_errors
            + self.join_errors
            + self.disconnects
            + self.write_stalls
            + self.window_stalls
            + self.drain_timeouts
    }
}

/// A few distinct error messages, with how often each happened: enough to
/// tell what went wrong without flooding the report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorSamples(pub BTreeMap<String, u64>);

impl ErrorSamples {
    const KINDS: usize = 8;

    pub fn add(&mut self, msg: impl Into<String>) {
        self.add_n(msg.into(), 1);
    }

    fn add_n(&mut self, msg: String, n: u64) {
        if let Some(c) = self.0.get_mut(&msg) {
            *c += n;
        } else if self.0.len() < Self::KINDS {
            self.0.insert(msg, n);
        } else {
            *self.0.entry("(other errors)".to_string()).or_insert(0) += n;
        }
    }

    pub fn merge(&mut self, o: &ErrorSamples) {
        for (k, &n) in &o.0 {
            self.add_n(k.clone(), n);
        }
    }
}

/// One reading of a process's CPU time and memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcSample {
    /// User plus system CPU time since the process started, in seconds.
    pub cpu_s: f64,
    /// Resident memory now (VmRSS), in KiB.
    pub rss_kb: u64,
    /// Peak resident memory since the process started (VmHWM), in KiB.
    pub hwm_kb: u64,
}

impl ProcSample {
    /// Reads `/proc/PID/stat` and `/proc/PID/status`.
    pub fn read(pid: u32) -> std::io::Result<ProcSample> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let ticks = rustix::param::clock_ticks_per_second().max(1) as f64;
        let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "unreadable /proc entry");
        let cpu_ticks = parse_stat_cpu_ticks(&stat).ok_or_else(bad)?;
        Ok(ProcSample {
            cpu_s: cpu_ticks as f64 / ticks,
            rss_kb: parse_status_kb(&status, "VmRSS:").ok_or_else(bad)?,
            hwm_kb: parse_status_kb(&status, "VmHWM:").ok_or_else(bad)?,
        })
    }

    /// This process.
    pub fn read_self() -> std::io::Result<ProcSample> {
        ProcSample::read(std::process::id())
    }
}

/// utime + stime (fields 14 and 15) of a `/proc/PID/stat` line, in clock
/// ticks. The command name (field 2) is in parentheses and may itself hold
/// spaces and parentheses, so counting starts after the last `)`.
pub fn parse_stat_cpu_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    // After the name: field 3 (state) is the first; utime is field 14.
    let mut fields = after.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// A `Key:   1234 kB` line of `/proc/PID/status`, in KiB.
pub fn parse_status_kb(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_percentiles_and_merge() {
        let mut a = Hist::new();
        for v in 1..=1000u64 {
            a.record(v * 1000); // 1 µs .. 1 ms
        }
        let s = a.summary();
        assert_eq!(s.count, 1000);
        assert!((s.p50_us - 500.0).abs() < 1.0, "{s:?}");
        assert!((s.p99_us - 990.0).abs() < 1.0, "{s:?}");
        assert!((s.max_us - 1000.0).abs() < 1.0, "{s:?}");

        let mut b = Hist::new();
        b.record(5_000_000_000); // 5 s
        a.merge(&b);
        assert_eq!(a.count(), 1001);
        assert!(a.summary().max_us >= 4_990_000.0);

        // Out-of-range values are clamped, not lost.
        let mut c = Hist::new();
        c.record(0);
        c.record(u64::MAX);
        assert_eq!(c.count(), 2);
        assert_eq!(Hist::new().summary(), LatencySummary::default());
    }

    #[test]
    fn histogram_serializes_losslessly() {
        let mut a = Hist::new();
        for v in [1u64, 10, 10, 12345, 999_999_999] {
            a.record(v);
        }
        let json = serde_json::to_string(&a).expect("serializes");
        let b: Hist = serde_json::from_str(&json).expect("parses");
        assert_eq!(a.summary(), b.summary());
        assert_eq!(a.count(), b.count());
        assert!(
            serde_json::from_str::<Hist>("[[0, 1]]").is_ok(),
            "0 is clamped"
        );
        assert!(serde_json::from_str::<Hist>("{}").is_err());
    }

    #[test]
    fn series_adds_and_merges() {
        let mut s = Series::default();
        s.add_at(1_000, 500, 1); // before start: second 0
        s.add_at(1_000, 1_000 + 2_500_000_000, 3);
        assert_eq!(s.0, vec![1, 0, 3]);
        let mut t = Series(vec![1, 1]);
        t.merge(&s);
        assert_eq!(t.0, vec![2, 1, 3]);
        assert_eq!(t.total(), 6);
        let mut big = Series::default();
        big.add(usize::MAX, 1);
        assert_eq!(big.0.len(), Series::MAX_SECS + 1);
    }

    #[test]
    fn counts_merge_and_errors() {
        let mut a = Counts {
            sent: 3,
            disconnects: 1,
            ..Counts::default()
        };
        let b = Counts {
            sent: 4,
            join_errors: 2,
            ..Counts::default()
        };
        a.merge(&b);
        assert_eq!(a.sent, 7);
        assert_eq!(a.errors(), 3);
    }

    #[test]
    fn error_samples_are_bounded() {
        let mut e = ErrorSamples::default();
        for i in 0..20 {
            e.add(format!("kind {i}"));
            e.add("kind 0");
        }
        assert_eq!(e.0.len(), ErrorSamples::KINDS + 1);
        assert_eq!(e.0["kind 0"], 21);
        assert_eq!(e.0["(other errors)"], 12);
    }

    #[test]
    fn parses_proc_files() {
        let stat = "1234 (we ird) name)) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0";
        assert_eq!(parse_stat_cpu_ticks(stat), Some(300));
        assert_eq!(parse_stat_cpu_ticks("garbage"), None);
        let status = "Name:\tx\nVmHWM:\t   2048 kB\nVmRSS:\t   1024 kB\n";
        assert_eq!(parse_status_kb(status, "VmRSS:"), Some(1024));
        assert_eq!(parse_status_kb(status, "VmHWM:"), Some(2048));
        assert_eq!(parse_status_kb(status, "VmSwap:"), None);
    }

    #[test]
    fn reads_own_process() {
        let s = ProcSample::read_self().expect("/proc/self");
        assert!(s.rss_kb > 0);
        assert!(s.hwm_kb >= s.rss_kb);
        assert!(s.cpu_s >= 0.0);
    }
}

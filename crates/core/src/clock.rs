//! The time the hub stamps things with (messages, topics, sign-on, bans,
//! WHOWAS), passed in rather than read, so that the core does no I/O and
//! tests decide what time it is.
//!
//! The runtime gives the hub a clock that reads the system's wall clock;
//! tests use a [`ManualClock`]. Must not be used for deadlines or
//! intervals: those are the runtime's, on a monotonic clock.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where the hub gets "now" from.
pub trait Clock: Send + Sync {
    fn now(&self) -> SystemTime;
}

/// A clock that says what it is told: starts at a given moment and moves
/// only when advanced.
#[derive(Debug)]
pub struct ManualClock(Mutex<SystemTime>);

impl ManualClock {
    pub fn at(time: SystemTime) -> ManualClock {
        ManualClock(Mutex::new(time))
    }

    /// A fixed, recognisable moment: 2026-01-01 00:00:00 UTC.
    pub fn new_year() -> ManualClock {
        ManualClock::at(UNIX_EPOCH + Duration::from_secs(1_767_225_600))
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

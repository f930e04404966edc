//! The timers of every connection, kept by one task: the registration
//! timeout (a connection that has not registered when its time is up is
//! cut off) and the liveness check of the protocols that ask for one (a
//! probe after a silence, such as IRC's PING, and giving up after another).
//!
//! One task and two queues for all connections instead of a timer in each
//! connection's own state: a tokio timer is over a hundred bytes, held by
//! every connection for its whole life (measured with `chatroom bench
//! idle`), where an entry here is 16 to 24 bytes. The registration timeout
//! is the same for every connection, so its queue is in deadline order by
//! construction; liveness alarms move with what each client sends, so they
//! are kept in a heap. A session says it heard its client by storing a
//! number in its queue's allocation (`outbound::Control::heard`): no lock
//! and no timer per line; the alarm looks at that number when it rings and
//! sets itself again from it.
//!
//! It must not wait on any connection: probing one only queues an event,
//! cutting one off only marks it and wakes its task (see `outbound`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::outbound::Control;

/// What a connection is told when it did not register in time.
pub const REGISTRATION_TIMED_OUT: &str = "Registration timed out";

/// Seconds since the first time anything asked: the clock of the liveness
/// alarms, small enough to sit in a connection's queue allocation.
pub fn now_secs() -> u32 {
    u32::try_from(epoch().elapsed().as_secs()).unwrap_or(u32::MAX)
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

pub use chatroom_proto::Liveness;

/// One connection's liveness alarm. Ordered by when it is due only (the
/// heap keeps the earliest on top through `Reverse`).
struct Alarm {
    due: u32,
    /// The probe was sent when the alarm last rang.
    probed: bool,
    conn: Control,
}

impl PartialEq for Alarm {
    fn eq(&self, other: &Self) -> bool {
        self.due == other.due
    }
}

impl Eq for Alarm {}

impl PartialOrd for Alarm {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Alarm {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.due.cmp(&other.due)
    }
}

/// What an alarm does when it rings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ring {
    /// The client spoke within `after`: ring again at this second.
    Again(u32),
    /// Silent for `after`: send the probe, ring again at this second.
    Probe(u32),
    /// Silent since the probe: cut it off.
    Dead,
}

/// The alarm's rule, apart from the clock and the queues: `now`, `heard`
/// and `due` (when the alarm was set to ring) in [`now_secs`], `after` in
/// seconds. After a probe the client is alive if it spoke at the second of
/// the probe or later (an answer usually comes within the same second).
pub fn ring(now: u32, heard: u32, probed: bool, due: u32, after: u32) -> Ring {
    let after = after.max(1);
    let alive = if probed {
        heard >= due.saturating_sub(after)
    } else {
        now.saturating_sub(heard) < after
    };
    if alive {
        Ring::Again(heard.saturating_add(after))
    } else if !probed {
        Ring::Probe(now.saturating_add(after))
    } else {
        Ring::Dead
    }
}

/// The connections waiting to register, oldest first, and the liveness
/// alarms.
pub struct Deadlines {
    timeout: Duration,
    queue: Mutex<VecDeque<(Instant, Control)>>,
    liveness: Option<Liveness>,
    alarms: Mutex<BinaryHeap<Reverse<Alarm>>>,
    added: Notify,
}

impl Deadlines {
    /// Starts the task that enforces `timeout` and, when given, `liveness`
    /// for the connections that ask ([`Deadlines::keep_alive`]); it ends
    /// with the runtime or when the returned handle's task is aborted.
    pub fn start(
        timeout: Duration,
        liveness: Option<Liveness>,
    ) -> (Arc<Deadlines>, tokio::task::JoinHandle<()>) {
        let d = Arc::new(Deadlines {
            timeout,
            queue: Mutex::new(VecDeque::new()),
            liveness,
            alarms: Mutex::new(BinaryHeap::new()),
            added: Notify::new(),
        });
        let task = tokio::spawn(d.clone().run());
        (d, task)
    }

    /// Starts the clock for a new connection.
    pub fn watch(&self, conn: Control) {
        let deadline = Instant::now() + self.timeout;
        let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        q.push_back((deadline, conn));
        if q.len() == 1 {
            self.added.notify_one();
        }
    }

    /// Checks that the connection's client is still there, for as long as
    /// the connection lasts (nothing, when the server has no liveness
    /// check). The session tells of input with `Control::heard`.
    pub fn keep_alive(&self, conn: Control) {
        let Some(live) = &self.liveness else {
            return;
        };
        let now = now_secs();
        conn.heard(now);
        let due = now.saturating_add(secs(live.after));
        let mut alarms = self.alarms.lock().unwrap_or_else(PoisonError::into_inner);
        // Every new alarm is due `after` from now, later than any already
        // set unless there is none: only then must the task hear of it.
        let first = alarms.is_empty();
        alarms.push(Reverse(Alarm {
            due,
            probed: false,
            conn,
        }));
        if first {
            self.added.notify_one();
        }
    }

    async fn run(self: Arc<Deadlines>) {
        loop {
            let next_reg = {
                let q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
                q.front().map(|(at, _)| *at)
            };
            let next_alarm = {
                let a = self.alarms.lock().unwrap_or_else(PoisonError::into_inner);
                a.peek().map(|Reverse(a)| a.due)
            };
            let next = match (next_reg, next_alarm.map(alarm_instant)) {
                (Some(r), Some(a)) => Some(r.min(a)),
                (r, a) => r.or(a),
            };
            match next {
                None => self.added.notified().await,
                Some(at) => {
                    // A new entry earlier than everything may arrive while
                    // sleeping (the first of its queue): wake for it too.
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = self.added.notified() => {}
                    }
                }
            }
            self.registrations_due();
            self.alarms_due();
        }
    }

    fn registrations_due(&self) {
        let now = Instant::now();
        let due: Vec<Control> = {
            let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            let n = q.iter().take_while(|(at, _)| *at <= now).count();
            let due = q.drain(..n).map(|(_, c)| c).collect();
            // As the alarms below: a burst of connections leaves its size.
            if q.capacity() > 64 && q.len() < q.capacity() / 4 {
                let keep = q.len() * 2;
                q.shrink_to(keep);
            }
            due
        };
        for conn in due {
            if !conn.is_registered() {
                conn.kill(REGISTRATION_TIMED_OUT);
            }
        }
    }

    fn alarms_due(&self) {
        let Some(live) = &self.liveness else {
            return;
        };
        let now = now_secs();
        let after = secs(live.after);
        let mut alarms = self.alarms.lock().unwrap_or_else(PoisonError::into_inner);
        while alarms.peek().is_some_and(|Reverse(a)| a.due <= now) {
            let Some(Reverse(mut alarm)) = alarms.pop() else {
                break;
            };
            // The connection ended: its alarm goes with it.
            if alarm.conn.is_closed() {
                continue;
            }
            match ring(now, alarm.conn.last_heard(), alarm.probed, alarm.due, after) {
                Ring::Again(due) => {
                    alarm.due = due;
                    alarm.probed = false;
                }
                Ring::Probe(due) => {
                    // A full queue is a client that does not read: the
                    // next ring cuts it off if it stays silent.
                    let _ = alarm.conn.push(live.probe.clone());
                    alarm.due = due;
                    alarm.probed = true;
                }
                Ring::Dead => {
                    alarm.conn.kill(&live.reason);
                    continue;
                }
            }
            alarms.push(Reverse(alarm));
        }
        // Many connections let go at once leave spare room behind.
        if alarms.capacity() > 64 && alarms.len() < alarms.capacity() / 4 {
            let keep = alarms.len() * 2;
            alarms.shrink_to(keep);
        }
    }
}

fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs().max(1)).unwrap_or(u32::MAX)
}

/// When the alarm clock reads `due`.
fn alarm_instant(due: u32) -> Instant {
    epoch() + Duration::from_secs(u64::from(due))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_heard_lately_is_left_alone_until_its_silence_is_long() {
        assert_eq!(ring(100, 95, false, 100, 90), Ring::Again(185));
    }

    #[test]
    fn silence_earns_a_probe_then_the_end() {
        assert_eq!(ring(190, 100, false, 190, 90), Ring::Probe(280));
        assert_eq!(ring(280, 100, true, 280, 90), Ring::Dead);
        // An answer to the probe, even within the probe's second, puts the
        // alarm back to sleep.
        assert_eq!(ring(280, 200, true, 280, 90), Ring::Again(290));
        assert_eq!(ring(280, 190, true, 280, 90), Ring::Again(280));
        // Set again for now: the next look finds it silent since the
        // answer, and probes again (as the session did with its own timer).
        assert_eq!(ring(280, 190, false, 280, 90), Ring::Probe(370));
    }
}

//! The registration timeout of every connection, kept by one task: a
//! connection that has not registered when its time is up is cut off. And
//! the alarms the sessions set for themselves (the IRC liveness check): at
//! its time, a connection's alarm is rung and its task woken; the session
//! decides what it means.
//!
//! One task and one queue for all connections instead of a timer in each
//! connection's own state: a tokio timer is over a hundred bytes, held by
//! every connection for its whole life (measured with `chatroom bench
//! idle`), where an entry here is a few dozen bytes and only until the
//! deadline passes. The timeout is the same for every connection, so the
//! queue is in deadline order by construction. Alarms are set for any
//! time, so they are kept in a heap, earliest on top; the task sleeps until
//! the earliest is due and never looks at the others.
//!
//! It must not wait on any connection: cutting one off only marks it and
//! wakes its task (see `outbound::Control::kill`).

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::outbound::Control;

/// What a connection is told when it did not register in time.
pub const REGISTRATION_TIMED_OUT: &str = "Registration timed out";

/// The connections waiting to register, oldest first.
pub struct Deadlines {
    timeout: Duration,
    queue: Mutex<VecDeque<(Instant, Control)>>,
    added: Notify,
    alarms: Mutex<BinaryHeap<Alarm>>,
    /// A new alarm is earlier than every other.
    earlier: Notify,
}

/// One connection's alarm; the heap orders alarms earliest first.
struct Alarm {
    at: Instant,
    conn: Control,
}

impl PartialEq for Alarm {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at
    }
}

impl Eq for Alarm {}

impl PartialOrd for Alarm {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Alarm {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: `BinaryHeap` keeps the greatest on top.
        other.at.cmp(&self.at)
    }
}

impl Deadlines {
    /// Starts the task that enforces `timeout`; it ends with the runtime or
    /// when the returned handle's task is aborted.
    pub fn start(timeout: Duration) -> (Arc<Deadlines>, tokio::task::JoinHandle<()>) {
        let d = Arc::new(Deadlines {
            timeout,
            queue: Mutex::new(VecDeque::new()),
            added: Notify::new(),
            alarms: Mutex::new(BinaryHeap::new()),
            earlier: Notify::new(),
        });
        let both = d.clone();
        let task = tokio::spawn(async move {
            tokio::join!(both.clone().run(), both.run_alarms());
        });
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

    /// Rings `conn`'s alarm at `at` (see `outbound::Control::alarmed`). A
    /// connection keeps at most one alarm set at a time by setting the next
    /// only once the last has rung; one that ends leaves its alarm to ring
    /// for nobody.
    pub fn alarm(&self, conn: Control, at: Instant) {
        let mut heap = self.alarms.lock().unwrap_or_else(PoisonError::into_inner);
        let first = heap.peek().is_none_or(|top| at < top.at);
        heap.push(Alarm { at, conn });
        if first {
            self.earlier.notify_one();
        }
    }

    async fn run_alarms(self: Arc<Deadlines>) {
        loop {
            let next = {
                let heap = self.alarms.lock().unwrap_or_else(PoisonError::into_inner);
                heap.peek().map(|a| a.at)
            };
            match next {
                None => self.earlier.notified().await,
                Some(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = self.earlier.notified() => continue,
                    }
                }
            }
            let now = Instant::now();
            let mut due = Vec::new();
            {
                let mut heap = self.alarms.lock().unwrap_or_else(PoisonError::into_inner);
                while heap.peek().is_some_and(|a| a.at <= now) {
                    if let Some(a) = heap.pop() {
                        due.push(a.conn);
                    }
                }
                // Let the storage go when a crowd has left.
                if heap.capacity() > 64 && heap.len() < heap.capacity() / 4 {
                    heap.shrink_to_fit();
                }
            }
            for conn in due {
                conn.ring();
            }
        }
    }

    async fn run(self: Arc<Deadlines>) {
        loop {
            let next = {
                let q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
                q.front().map(|(at, _)| *at)
            };
            match next {
                None => self.added.notified().await,
                Some(at) => tokio::time::sleep_until(at).await,
            }
            let now = Instant::now();
            let due: Vec<Control> = {
                let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
                let n = q.iter().take_while(|(at, _)| *at <= now).count();
                q.drain(..n).map(|(_, c)| c).collect()
            };
            for conn in due {
                if !conn.is_registered() {
                    conn.kill(REGISTRATION_TIMED_OUT);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::outbound;

    /// An alarm set after a later one still rings first: the task, asleep
    /// until the later one, is told. (Were it not, this would wait an hour.)
    #[tokio::test]
    async fn an_earlier_alarm_rings_without_waiting_for_a_later_one() {
        let (d, task) = Deadlines::start(Duration::from_secs(3600));
        let (_out_late, late) = outbound::queue(4);
        let (_out_soon, soon) = outbound::queue(4);
        d.alarm(late.control(), Instant::now() + Duration::from_secs(3600));
        tokio::task::yield_now().await;
        d.alarm(soon.control(), Instant::now() + Duration::from_millis(20));
        let rang = tokio::time::timeout(Duration::from_secs(30), soon.control().alarmed()).await;
        assert!(rang.is_ok(), "the earlier alarm did not ring");
        // The hour-long one has not rung, and it is still kept.
        let early = tokio::time::timeout(Duration::from_millis(1), late.control().alarmed()).await;
        assert!(early.is_err(), "the later alarm rang early");
        assert_eq!(d.alarms.lock().expect("heap").len(), 1);
        task.abort();
    }

    /// A ring is kept until the session looks, so one that comes while the
    /// session is busy elsewhere is not lost.
    #[tokio::test]
    async fn a_ring_waits_for_the_session_to_look() {
        let (_out, inc) = outbound::queue(4);
        let c = inc.control();
        c.ring();
        tokio::time::timeout(Duration::from_secs(30), c.alarmed())
            .await
            .expect("the ring was kept");
        // Taken once: the next look waits for the next ring.
        assert!(
            tokio::time::timeout(Duration::from_millis(1), c.alarmed())
                .await
                .is_err()
        );
    }
}

//! Precise wake-ups for the bench's fixed-rate senders.
//!
//! A fixed-rate message is stamped with the time it was *due*, so whatever
//! delays its departure counts as latency. tokio's timer has a granularity
//! of one millisecond (a sleep ends at the first millisecond tick at or
//! after its deadline), which alone would put 0–1 ms of the bench's own
//! slop into every fixed-rate latency. The [`Pacer`] instead arms one
//! `timerfd` (an absolute `CLOCK_MONOTONIC` timer — the clock of
//! [`mono_ns`] — which the kernel fires as a high-resolution timer, with no
//! timer slack) at the earliest due time of all waiting senders, watches it
//! through tokio's reactor like a socket, and wakes every sender whose time
//! has come. No extra thread, and no spinning: the bench runs pinned to one
//! CPU, and a spinning waiter would take it from the receivers it measures.
//!
//! Whatever is left (the runtime finishing the task it is running when the
//! timer fires, the write itself) is measured, not assumed: senders record
//! their *send lateness* (written minus due) next to the latency.
//!
//! Must not send, stamp or count messages (the senders do), and must never
//! leave a sender waiting without bound: when the timerfd cannot be set up
//! or fails, or the pacing task is gone, waits fall back to
//! `tokio::time::sleep_until`.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::io;
use std::os::fd::OwnedFd;

use rustix::time::{Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags};
use rustix::time::{timerfd_create, timerfd_settime};
use serde::{Deserialize, Serialize};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, oneshot};

use super::payload::{instant_at, mono_ns};

/// How fixed-rate senders wait for their next message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Pacing {
    /// One timerfd per bench process: wake-ups within microseconds of the
    /// due time when the process is not busy.
    #[default]
    Precise,
    /// tokio's timer (1 ms granularity): what the bench did before; kept
    /// to measure the difference.
    Tokio,
}

impl Pacing {
    pub fn name(self) -> &'static str {
        match self {
            Pacing::Precise => "precise",
            Pacing::Tokio => "tokio",
        }
    }
}

/// One sender waiting for `due`.
struct Wait {
    due: u64,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Wait {
    fn eq(&self, o: &Self) -> bool {
        self.due == o.due
    }
}
impl Eq for Wait {}
impl PartialOrd for Wait {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Wait {
    fn cmp(&self, o: &Self) -> Ordering {
        self.due.cmp(&o.due)
    }
}

/// Wakes waiting senders at their due times; see the module doc. Cheap to
/// share (`Arc`); the pacing task ends once every handle is dropped and no
/// sender is waiting.
pub struct Pacer {
    /// `None`: tokio's timer.
    tx: Option<mpsc::UnboundedSender<Wait>>,
}

impl Pacer {
    /// A pacer of the given kind on the current tokio runtime. A precise
    /// pacer whose timer cannot be set up is an error (the caller decides
    /// whether to fall back to [`Pacer::tokio`]).
    pub fn start(kind: Pacing) -> io::Result<Pacer> {
        match kind {
            Pacing::Tokio => Ok(Pacer::tokio()),
            Pacing::Precise => {
                let fd = timerfd_create(
                    TimerfdClockId::Monotonic,
                    TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
                )?;
                let fd = watch(fd)?;
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(run(fd, rx));
                Ok(Pacer { tx: Some(tx) })
            }
        }
    }

    /// A pacer that uses tokio's timer.
    pub fn tokio() -> Pacer {
        Pacer { tx: None }
    }

    /// Returns at `due_ns` (on the [`mono_ns`] clock) or just after; at
    /// once when it has passed.
    pub async fn until(&self, due_ns: u64) {
        if due_ns <= mono_ns() {
            return;
        }
        if let Some(tx) = &self.tx {
            let (wake, woken) = oneshot::channel();
            if tx.send(Wait { due: due_ns, wake }).is_ok() && woken.await.is_ok() {
                return;
            }
        }
        // tokio's timer, or the pacing task is gone: never wait less.
        tokio::time::sleep_until(instant_at(due_ns)).await;
    }
}

/// Registers the timerfd with tokio's reactor. tokio's safe constructors
/// (`AsyncFd::new`, `with_interest`) are deprecated as unsound, and it has
/// no safe one for an `OwnedFd`.
#[allow(unsafe_code)]
fn watch(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: `register_with_interest` needs the descriptor to stay open and
    // the same for the `AsyncFd`'s whole life. The `OwnedFd` moves into the
    // `AsyncFd`, which closes it only when dropped; the one user, `run`,
    // binds it immutably (no `get_mut` that could swap the `OwnedFd`) and
    // reaches it only through `get_ref` and `get_inner`.
    Ok(unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }?)
}

/// Arms `fd` to fire once at `due_ns` on `CLOCK_MONOTONIC`.
fn arm(fd: &OwnedFd, due_ns: u64) -> io::Result<()> {
    let spec = Itimerspec {
        it_interval: rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        // A zero value would disarm the timer; a due time is never zero.
        it_value: rustix::time::Timespec {
            tv_sec: (due_ns / 1_000_000_000) as _,
            tv_nsec: (due_ns % 1_000_000_000).max(1) as _,
        },
    };
    timerfd_settime(fd, TimerfdTimerFlags::ABSTIME, &spec)?;
    Ok(())
}

/// The pacing task: a heap of waiting senders and one timer armed at the
/// earliest of them.
async fn run(fd: AsyncFd<OwnedFd>, mut rx: mpsc::UnboundedReceiver<Wait>) {
    let mut heap: BinaryHeap<Reverse<Wait>> = BinaryHeap::new();
    // The due time the timer is armed for (0: not armed).
    let mut armed: u64 = 0;
    // Once the timer fails, the rest of the run uses tokio's timer here.
    let mut precise = true;
    let mut open = true;
    loop {
        let now = mono_ns();
        while heap.peek().is_some_and(|w| w.0.due <= now) {
            if let Some(Reverse(w)) = heap.pop() {
                // A sender that gave up waiting is no error.
                let _ = w.wake.send(());
            }
        }
        if !open && heap.is_empty() {
            break;
        }
        let next = heap.peek().map(|w| w.0.due);
        if let Some(next) = next
            && precise
            && next != armed
        {
            match arm(fd.get_ref(), next) {
                Ok(()) => armed = next,
                Err(_) => precise = false,
            }
        }
        let coarse = instant_at(next.unwrap_or(now));
        tokio::select! {
            r = fd.readable(), if next.is_some() && precise => match r {
                Ok(mut guard) => {
                    // Consume the expiry count; a stale readiness (the timer
                    // was re-armed since) reads nothing, which is fine too.
                    let mut ticks = [0u8; 8];
                    let _ = rustix::io::read(guard.get_inner(), &mut ticks);
                    guard.clear_ready();
                    armed = 0;
                }
                Err(_) => precise = false,
            },
            _ = tokio::time::sleep_until(coarse), if next.is_some() && !precise => {}
            m = rx.recv(), if open => match m {
                Some(w) => heap.push(Reverse(w)),
                None => open = false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    /// Never early, in either mode, and in the order of the due times
    /// whatever the order of the requests. (No bound on lateness: the
    /// machine is shared.)
    #[test]
    fn wakes_no_earlier_than_due_in_due_order() {
        for kind in [Pacing::Precise, Pacing::Tokio] {
            rt().block_on(async {
                let p = std::sync::Arc::new(Pacer::start(kind).expect("pacer"));
                let base = mono_ns() + 20_000_000;
                let (tx, mut rx) = mpsc::unbounded_channel();
                let mut tasks = Vec::new();
                for k in [5u64, 1, 4, 2, 3] {
                    let (p, tx) = (p.clone(), tx.clone());
                    let due = base + k * 3_000_000;
                    tasks.push(tokio::spawn(async move {
                        p.until(due).await;
                        let now = mono_ns();
                        let _ = tx.send((k, due, now));
                    }));
                }
                drop(tx);
                for t in tasks {
                    t.await.expect("task");
                }
                let mut order = Vec::new();
                while let Some((k, due, now)) = rx.recv().await {
                    assert!(now >= due, "{kind:?}: woke {} ns early", due - now);
                    order.push(k);
                }
                assert_eq!(order, vec![1, 2, 3, 4, 5], "{kind:?}");
                // A due time in the past returns at once.
                p.until(1).await;
            });
        }
    }

    /// The pacing task ends once its handles are gone.
    #[test]
    fn task_ends_with_its_handles() {
        rt().block_on(async {
            let p = Pacer::start(Pacing::Precise).expect("pacer");
            p.until(mono_ns() + 1_000_000).await;
            drop(p);
            // Until the task has seen the closed channel and ended; the
            // bound only turns a task that never ends into a failure.
            let m = tokio::runtime::Handle::current().metrics();
            let ended = tokio::time::timeout(std::time::Duration::from_secs(10), async {
                while m.num_alive_tasks() > 0 {
                    tokio::task::yield_now().await;
                }
            })
            .await;
            assert!(ended.is_ok(), "{} tasks alive", m.num_alive_tasks());
        });
    }
}

//! One connection's outbound queue: the hub (or the persist stage) pushes
//! shared events into it without ever waiting, and the connection's task
//! takes everything queued at once to render and write it in one call.
//!
//! One small shared allocation per connection holds the queue, the waker of
//! the connection's task, the reason it was cut off (if it was), the
//! registration flag the registration timeout reads, and when the session
//! last heard from its client (which the liveness check reads). It
//! replaces a bounded `mpsc` channel, a kill switch with its own `Notify`,
//! a cancellation token and a flag, each of which was a separate
//! allocation held for the whole life of every connection (measured with
//! `chatroom bench idle`).
//! The queue's storage is let go whenever it is drained, so an idle
//! connection holds no buffer here at all.
//!
//! Nothing here knows a protocol, a socket or the hub's rules; it must not
//! block (the lock is held only to push or take, never across an await).

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};

use chatroom_proto::Shared;

/// Why a push did not queue the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// The queue holds its limit already: the connection is a slow consumer.
    Full,
    /// The connection is gone (or was cut off); nothing will read the event.
    Closed,
}

struct State {
    queue: VecDeque<Shared>,
    /// The connection's task, while it waits for something to write.
    waker: Option<Waker>,
    /// Set once; the first reason wins.
    killed: Option<Box<str>>,
    /// The connection's side is gone.
    closed: bool,
    /// The hub let go of the queue (the connection was detached, or the
    /// hub stopped): once drained, the connection's writing ends.
    hub_gone: bool,
    /// How many events the last batch taken held. An idle queue holds no
    /// storage; the first push after that reserves this much at once, so
    /// a burst does not grow the queue from nothing by doubling (each
    /// step a reallocation and a copy: 8% of the server's CPU at
    /// saturation). Fits in the padding of this struct.
    hint: u32,
}

struct Slot {
    state: Mutex<State>,
    limit: usize,
    registered: AtomicBool,
    /// When the session last heard from its client, in
    /// `deadlines::now_secs` (for the liveness check; it fits in what
    /// would be padding).
    heard: AtomicU32,
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; if something ever did, the
        // queue itself is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The hub's end of a connection's queue. There is one: dropping it (the
/// hub detached the connection, or stopped) tells the connection that
/// nothing more will come, like the last sender of a channel going away.
pub struct Outgoing(Arc<Slot>);

/// The connection's end of its queue.
pub struct Incoming(Arc<Slot>);

/// The connection's own handle on its queue: to cut itself off and to mark
/// itself registered.
#[derive(Clone)]
pub struct Control(Arc<Slot>);

/// A new queue that holds at most `limit` events (at least one).
pub fn queue(limit: usize) -> (Outgoing, Incoming) {
    let slot = Arc::new(Slot {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            waker: None,
            killed: None,
            closed: false,
            hub_gone: false,
            hint: 0,
        }),
        limit: limit.max(1),
        registered: AtomicBool::new(false),
        heard: AtomicU32::new(0),
    });
    (Outgoing(slot.clone()), Incoming(slot))
}

impl Outgoing {
    /// Queues `event` unless the queue is full or closed; never waits.
    pub fn try_send(&self, event: Shared) -> Result<(), PushError> {
        push(&self.0, event)
    }

    /// Cuts the connection off (slow consumer, shutdown); see [`Control::kill`].
    pub fn kill(&self, reason: &str) {
        kill(&self.0, reason);
    }
}

impl Drop for Outgoing {
    fn drop(&mut self) {
        let waker = {
            let mut st = self.0.lock();
            st.hub_gone = true;
            st.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// Queues `event` unless the queue is full or closed; never waits.
#[inline]
fn push(slot: &Slot, event: Shared) -> Result<(), PushError> {
    let waker = {
        let mut st = slot.lock();
        if st.closed || st.killed.is_some() {
            return Err(PushError::Closed);
        }
        if st.queue.len() >= slot.limit {
            return Err(PushError::Full);
        }
        if st.queue.capacity() == 0 {
            // Never past the limit (which may be below 4).
            let want = std::cmp::min(slot.limit, (st.hint as usize).max(4));
            st.queue.reserve_exact(want);
        }
        st.queue.push_back(event);
        // The task takes everything each time it wakes: only the first
        // event after it emptied the queue needs to wake it.
        if st.queue.len() == 1 {
            st.waker.take()
        } else {
            None
        }
    };
    if let Some(w) = waker {
        w.wake();
    }
    Ok(())
}

/// Queued events are dropped and the connection's task is woken to write
/// a farewell and close. The first reason wins.
fn kill(slot: &Slot, reason: &str) {
    let waker = {
        let mut st = slot.lock();
        if st.killed.is_some() {
            return;
        }
        st.killed = Some(reason.into());
        st.queue = VecDeque::new();
        st.waker.take()
    };
    if let Some(w) = waker {
        w.wake();
    }
}

impl Control {
    /// Cuts the connection off (registration timeout).
    pub fn kill(&self, reason: &str) {
        kill(&self.0, reason);
    }

    /// Marks the connection registered (the registration timeout stops).
    pub fn set_registered(&self) {
        self.0.registered.store(true, Ordering::Release);
    }

    pub fn is_registered(&self) -> bool {
        self.0.registered.load(Ordering::Acquire)
    }

    /// The session heard from its client at `secs` (`deadlines::now_secs`):
    /// one store, no lock, so it costs nothing per line.
    pub fn heard(&self, secs: u32) {
        self.0.heard.store(secs, Ordering::Relaxed);
    }

    pub fn last_heard(&self) -> u32 {
        self.0.heard.load(Ordering::Relaxed)
    }

    /// Queues an event of the connection's own (a liveness probe) without
    /// passing through the hub; never waits.
    pub fn push(&self, event: Shared) -> Result<(), PushError> {
        push(&self.0, event)
    }

    /// The connection's side is gone.
    pub fn is_closed(&self) -> bool {
        self.0.lock().closed
    }
}

/// What the connection's task takes from its queue. One byte, so that
/// the writer keeps nothing of it while it writes (see `write_loop`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// Events to write, in order (the batch given in is filled).
    Events,
    /// Cut off ([`Incoming::kill_reason`] says why); nothing more will be
    /// queued.
    Killed,
    /// The hub let go and everything queued was taken: nothing more comes.
    Closed,
}

impl Incoming {
    /// Waits until something is queued (or the connection is cut off), then
    /// moves everything queued into `batch`. A plain function returning the
    /// poll, not an `async fn`, whose state would be larger: the writer
    /// holds this future all the time it is idle.
    pub fn take<'a>(
        &'a self,
        batch: &'a mut VecDeque<Shared>,
    ) -> impl Future<Output = Taken> + Send + 'a {
        poll_fn(move |cx| {
            let mut st = self.0.lock();
            if st.killed.is_some() {
                return Poll::Ready(Taken::Killed);
            }
            if st.queue.is_empty() && st.hub_gone {
                return Poll::Ready(Taken::Closed);
            }
            if st.queue.is_empty() {
                // Idle: hold no storage (it came back from an earlier batch).
                if st.queue.capacity() > 0 {
                    st.queue = VecDeque::new();
                }
                match &st.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => st.waker = Some(cx.waker().clone()),
                }
                return Poll::Pending;
            }
            // Swap rather than copy: the queue's storage moves to the batch
            // and back, so a busy connection reuses one buffer.
            std::mem::swap(&mut st.queue, batch);
            st.hint = u32::try_from(batch.len()).unwrap_or(u32::MAX);
            Poll::Ready(Taken::Events)
        })
    }

    /// The reason the connection was cut off with, if it was.
    pub fn kill_reason(&self) -> Option<String> {
        self.0.lock().killed.as_deref().map(str::to_string)
    }

    /// Whether nothing is queued right now.
    pub fn is_empty(&self) -> bool {
        self.0.lock().queue.is_empty()
    }

    /// Waits until the connection is cut off; the reason.
    pub async fn killed(&self) -> String {
        poll_fn(|cx| {
            let mut st = self.0.lock();
            match &st.killed {
                Some(reason) => Poll::Ready(reason.to_string()),
                None => {
                    st.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// The connection's own handle (registration flag, cutting itself off).
    pub fn control(&self) -> Control {
        Control(self.0.clone())
    }

    /// Waits for the next single event (for tests and tools that read one
    /// at a time); `None` once the connection is cut off or the hub let go
    /// and nothing is left.
    pub async fn recv(&self) -> Option<Shared> {
        poll_fn(|cx| {
            let mut st = self.0.lock();
            if st.killed.is_some() {
                return Poll::Ready(None);
            }
            match st.queue.pop_front() {
                Some(ev) => Poll::Ready(Some(ev)),
                None if st.hub_gone => Poll::Ready(None),
                None => {
                    st.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        st.closed = true;
        st.queue = VecDeque::new();
        st.waker = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatroom_core::Event;
    use chatroom_proto::Envelope;

    fn ev(text: &str) -> Shared {
        Envelope::new(Event::ServerNotice { text: text.into() })
    }

    #[tokio::test]
    async fn a_full_queue_refuses_and_taking_empties_it() {
        let (out, inc) = queue(2);
        assert_eq!(out.try_send(ev("a")), Ok(()));
        assert_eq!(out.try_send(ev("b")), Ok(()));
        assert_eq!(out.try_send(ev("c")), Err(PushError::Full));
        let mut batch = VecDeque::new();
        assert_eq!(inc.take(&mut batch).await, Taken::Events);
        assert_eq!(batch.len(), 2);
        assert!(inc.is_empty());
        assert_eq!(out.try_send(ev("d")), Ok(()));
    }

    #[tokio::test]
    async fn a_kill_wins_over_queued_events_and_closes_the_queue() {
        let (out, inc) = queue(8);
        out.try_send(ev("a")).expect("queued");
        inc.control().kill("first");
        out.kill("second");
        let mut batch = VecDeque::new();
        assert_eq!(inc.take(&mut batch).await, Taken::Killed);
        assert_eq!(inc.kill_reason().as_deref(), Some("first"));
        assert!(batch.is_empty());
        assert_eq!(out.try_send(ev("b")), Err(PushError::Closed));
    }

    #[tokio::test]
    async fn the_hub_letting_go_ends_the_queue_after_what_was_queued() {
        let (out, inc) = queue(8);
        out.try_send(ev("last")).expect("queued");
        drop(out);
        let mut batch = VecDeque::new();
        assert_eq!(inc.take(&mut batch).await, Taken::Events);
        assert_eq!(batch.len(), 1);
        batch.clear();
        assert_eq!(inc.take(&mut batch).await, Taken::Closed);
    }

    #[tokio::test]
    async fn a_waiting_task_is_woken_by_a_push() {
        let (out, inc) = queue(8);
        let waiter = tokio::spawn(async move {
            let mut batch = VecDeque::new();
            let got = inc.take(&mut batch).await;
            (got, batch.len())
        });
        tokio::task::yield_now().await;
        out.try_send(ev("wake")).expect("queued");
        assert_eq!(waiter.await.expect("task"), (Taken::Events, 1));
    }

    #[test]
    fn a_dropped_connection_refuses_pushes() {
        let (out, inc) = queue(8);
        drop(inc);
        assert_eq!(out.try_send(ev("a")), Err(PushError::Closed));
    }
}

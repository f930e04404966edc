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
//! It also keeps the connection's account of bytes not yet written to its
//! socket (what is queued, by estimate, and the batch being written), which
//! is what the slow-consumer limit and the pacing of the connection's own
//! input are measured in (see `docs/security.md`, "Slow consumers"):
//! - past `pause` bytes the connection's reading waits ([`Control::paced`])
//!   until its writer has caught up, so replies to its own commands are
//!   paced by its own reading instead of piling up;
//! - past `limit` bytes a delivery it did not cause (someone else's
//!   message) is refused and the connection is a slow consumer; replies
//!   to its own commands are never refused (pacing bounds them).
//!
//! Nothing here knows a protocol, a socket or the hub's rules; it must not
//! block (the lock is held only to push or take, never across an await).

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};

use chatroom_core::Event;
use chatroom_proto::{Body, Shared};

/// Why a push did not queue the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// The connection has its limit of bytes unread already: it is a slow
    /// consumer.
    Full,
    /// The connection is gone (or was cut off); nothing will read the event.
    Closed,
}

struct State {
    queue: VecDeque<Shared>,
    /// Estimated bytes of what `queue` holds (saturating: `u32` keeps
    /// this allocation in a smaller size class, see `docs/perf.md`).
    queued: u32,
    /// Estimated bytes of the batch the writer took and has not finished
    /// writing (it takes the next one only once this one is written).
    writing: u32,
    /// The connection's task, while it waits for something to write (or,
    /// its reading, for the writer to catch up: the session and the writer
    /// are one task, see `connection::drive`).
    waker: Option<Waker>,
    /// Set once; the first reason wins.
    killed: Option<Box<str>>,
    /// The connection's side is gone.
    closed: bool,
    /// The hub let go of the queue (the connection was detached, or the
    /// hub stopped): once drained, the connection's writing ends.
    hub_gone: bool,
    /// The connection's reading has ended (the client quit or went away)
    /// and its detach is on its way to the hub: deliveries it did not
    /// cause are refused from now on. In a quit storm they were queued to
    /// every leaver until the hub got to its detach (10,000 quits in a
    /// room of 10,000: 300 MB of queued events, measured).
    leaving: bool,
    /// How many events the last batch taken held. An idle queue holds no
    /// storage; the first push after that reserves this much at once, so
    /// a burst does not grow the queue from nothing by doubling (each
    /// step a reallocation and a copy: 8% of the server's CPU at
    /// saturation). Fits in the padding of this struct.
    hint: u32,
}

struct Slot {
    state: Mutex<State>,
    budget: Budget,
    /// Unread bytes are at `budget.pause` or more: the connection's reading
    /// waits. Written only under the lock (on crossing, not per push), read
    /// without it once per command by the session.
    paused: AtomicBool,
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

/// A connection's limits in bytes not yet written to its socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Past this, deliveries the connection did not cause are refused (it
    /// is a slow consumer).
    pub limit: u32,
    /// At or past this, the connection's reading waits (see [`Control::paced`]).
    pub pause: u32,
}

impl Budget {
    /// `pause` counts for at most half of `limit`, so that pacing starts
    /// well before the cut. Both are capped at 4 GiB.
    pub fn new(limit: usize, pause: usize) -> Budget {
        let limit = u32::try_from(limit).unwrap_or(u32::MAX).max(1);
        let pause = u32::try_from(pause).unwrap_or(u32::MAX);
        Budget {
            limit,
            pause: pause.clamp(1, (limit / 2).max(1)),
        }
    }
}

/// Prefix, command, target and CR LF of a typical IRC line (a room message
/// is about 128 bytes with its text, see `connection::write_loop`): what
/// an event is taken to need at the least.
pub const LINE: usize = 64;

/// How many bytes one event is taken to need on the wire, decided without
/// rendering it (the writer renders later, per protocol): exact for bytes
/// a session queued, a typical IRC line for an event, plus its text or one
/// line's worth per entry of a list. O(1): it runs once per delivery, on
/// the hub task.
pub fn estimate(env: &Shared) -> usize {
    match env.body() {
        Body::Raw(bytes) => bytes.len(),
        Body::Irc(_) => LINE,
        Body::Event(event) => match event {
            Event::Message { text, tags, .. } => LINE + text.len() + 32 * tags.len(),
            Event::TagMsg { tags, .. } => LINE + 32 * tags.len(),
            Event::ServerNotice { text } => LINE + text.len(),
            Event::Names { members, .. } | Event::WhoReply { members, .. } => {
                LINE + LINE * members.len()
            }
            Event::RoomList { rooms } => LINE + LINE * rooms.len(),
            Event::MonOnline(who) => LINE + LINE * who.len(),
            Event::MonOffline(nicks) | Event::MonList(nicks) => LINE + 32 * nicks.len(),
            Event::ModeList { entries, .. } => LINE + LINE * entries.len(),
            Event::WhowasReply { entries, .. } => LINE + 2 * LINE * entries.len(),
            Event::WhoisReply { rooms, .. } => 8 * LINE + 32 * rooms.len(),
            Event::History { lines, .. } | Event::Found { lines, .. } => {
                LINE + 2 * LINE * lines.len()
            }
            _ => LINE,
        },
    }
}

/// The most events the first push into an empty queue reserves room for
/// (8 KiB of storage): past it the queue grows by doubling. Unbounded, a
/// connection that once took a large batch (a join storm into a big room)
/// reserved that much again for the next single event.
const MAX_HINT: usize = 1024;

/// A new queue with `budget` (see [`Budget`]).
pub fn queue(budget: Budget) -> (Outgoing, Incoming) {
    let slot = Arc::new(Slot {
        state: Mutex::new(State {
            queue: VecDeque::new(),
            queued: 0,
            writing: 0,
            waker: None,
            killed: None,
            closed: false,
            hub_gone: false,
            leaving: false,
            hint: 0,
        }),
        budget,
        paused: AtomicBool::new(false),
        registered: AtomicBool::new(false),
        heard: AtomicU32::new(0),
    });
    (Outgoing(slot.clone()), Incoming(slot))
}

impl Outgoing {
    /// Queues `event`, a delivery the connection did not cause, unless it
    /// has its limit of bytes unread or is closed; never waits.
    pub fn try_send(&self, event: Shared) -> Result<(), PushError> {
        push(&self.0, event, false)
    }

    /// Queues `event`, with `own` when it answers the connection's own
    /// command (then it is queued whatever is unread: pacing bounds those).
    #[inline]
    pub fn push(&self, event: Shared, own: bool) -> Result<(), PushError> {
        push(&self.0, event, own)
    }

    /// Bytes not yet written to the socket (queued, by estimate, and being
    /// written).
    pub fn unread(&self) -> usize {
        let st = self.0.lock();
        st.queued.saturating_add(st.writing) as usize
    }

    /// The bytes unread past which it is a slow consumer.
    pub fn limit(&self) -> u32 {
        self.0.budget.limit
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

/// Queues `event` unless the connection has its limit of bytes unread
/// (and `own` is false) or is closed; never waits.
#[inline]
fn push(slot: &Slot, event: Shared, own: bool) -> Result<(), PushError> {
    let size = u32::try_from(estimate(&event)).unwrap_or(u32::MAX);
    let waker = {
        let mut st = slot.lock();
        if st.closed || st.killed.is_some() || (st.leaving && !own) {
            return Err(PushError::Closed);
        }
        let unread = st.queued.saturating_add(st.writing);
        let after = unread.saturating_add(size);
        // Whatever its size, an event is taken when nothing is unread: a
        // connection that keeps up is never cut.
        if !own && unread > 0 && after > slot.budget.limit {
            return Err(PushError::Full);
        }
        st.queued = st.queued.saturating_add(size);
        if after >= slot.budget.pause && !slot.paused.load(Ordering::Relaxed) {
            slot.paused.store(true, Ordering::Release);
        }
        if st.queue.capacity() == 0 {
            let want = (st.hint as usize).clamp(4, MAX_HINT);
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
        st.queued = 0;
        st.waker.take()
    };
    if let Some(w) = waker {
        w.wake();
    }
}

/// Lets the connection's reading go on if the unread bytes are below the
/// pause mark; whether it did. Called with the lock held.
fn resume_if_below(slot: &Slot, st: &State) -> bool {
    if st.queued.saturating_add(st.writing) < slot.budget.pause
        && slot.paused.load(Ordering::Relaxed)
    {
        slot.paused.store(false, Ordering::Release);
        true
    } else {
        false
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
        push(&self.0, event, true)
    }

    /// Waits while the connection has `pause` bytes or more unread (see
    /// [`Budget`]); ready at once otherwise, or once it is cut off or
    /// detached. The session awaits this before carrying out each command,
    /// so a client that does not read what it asked for stops being read
    /// (and TCP slows it down) instead of growing its queue.
    ///
    /// It must be awaited by the task that runs the connection's writer
    /// (`connection::drive` polls both): it is woken through that task,
    /// when the writer comes back for more (see [`Incoming::take`]) or when
    /// the connection is cut off. A waker of its own would be 16 bytes more
    /// in every connection's allocation, idle or not.
    pub fn paced(&self) -> impl Future<Output = ()> + Send + '_ {
        poll_fn(move |cx| {
            if !self.0.paused.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            let mut st = self.0.lock();
            // Set and cleared under the lock only: checked again here, a
            // wake between the two cannot be missed.
            if !self.0.paused.load(Ordering::Relaxed)
                || st.killed.is_some()
                || st.hub_gone
                || st.closed
            {
                return Poll::Ready(());
            }
            // The writer, mid-write, may hold no waker here: then a cut-off
            // must still reach this task.
            if st.waker.is_none() {
                st.waker = Some(cx.waker().clone());
            }
            Poll::Pending
        })
    }

    /// The connection's reading has ended: deliveries it did not cause
    /// are refused from now on (replies to its own commands, such as the
    /// farewell to a QUIT, are still queued).
    pub fn leave(&self) {
        self.0.lock().leaving = true;
    }

    /// Whether the connection's reading waits for its writer now.
    pub fn is_paused(&self) -> bool {
        self.0.paused.load(Ordering::Relaxed)
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
            // The writer takes again only once the last batch is written.
            st.writing = 0;
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
                if resume_if_below(&self.0, &st) {
                    // The reading waits in this same task: poll it again.
                    cx.waker().wake_by_ref();
                }
                return Poll::Pending;
            }
            // Swap rather than copy: the queue's storage moves to the batch
            // and back, so a busy connection reuses one buffer.
            std::mem::swap(&mut st.queue, batch);
            st.hint = u32::try_from(batch.len()).unwrap_or(u32::MAX);
            st.writing = std::mem::take(&mut st.queued);
            if resume_if_below(&self.0, &st) {
                cx.waker().wake_by_ref();
            }
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

    /// The writer wrote a batch: if the connection's reading is paused
    /// (so its client's input, a PONG included, is not being read), that
    /// progress is what shows the client is there (`now` gives
    /// `deadlines::now_secs`, read only then).
    pub fn wrote(&self, now: impl FnOnce() -> u32) {
        if self.0.paused.load(Ordering::Relaxed) {
            self.0.heard.store(now(), Ordering::Relaxed);
        }
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
                Some(ev) => {
                    let size = u32::try_from(estimate(&ev)).unwrap_or(u32::MAX);
                    st.queued = st.queued.saturating_sub(size);
                    resume_if_below(&self.0, &st);
                    Poll::Ready(Some(ev))
                }
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
        st.queued = 0;
        st.waker = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chatroom_core::Event;
    use chatroom_proto::Envelope;
    use futures_util::poll;

    fn ev(text: &str) -> Shared {
        Envelope::new(Event::ServerNotice { text: text.into() })
    }

    fn raw(n: usize) -> Shared {
        Envelope::new(bytes::Bytes::from(vec![b'x'; n]))
    }

    /// Room for plenty of events, never paused.
    fn roomy() -> Budget {
        Budget::new(1 << 30, 1 << 29)
    }

    #[tokio::test]
    async fn past_the_limit_in_bytes_others_deliveries_are_refused_until_written() {
        let (out, inc) = queue(Budget::new(250, 125));
        assert_eq!(out.try_send(raw(100)), Ok(()));
        assert_eq!(out.try_send(raw(100)), Ok(()));
        assert_eq!(out.unread(), 200);
        assert_eq!(out.try_send(raw(100)), Err(PushError::Full));
        let mut batch = VecDeque::new();
        assert_eq!(inc.take(&mut batch).await, Taken::Events);
        assert_eq!(batch.len(), 2);
        assert!(inc.is_empty());
        // Taken is not written: still unread while the writer writes.
        assert_eq!(out.unread(), 200);
        assert_eq!(out.try_send(raw(100)), Err(PushError::Full));
        // The writer comes back for more once the batch is written.
        batch.clear();
        assert_eq!(poll!(Box::pin(inc.take(&mut batch))), Poll::Pending);
        assert_eq!(out.unread(), 0);
        assert_eq!(out.try_send(raw(100)), Ok(()));
    }

    #[test]
    fn replies_to_the_connections_own_commands_are_never_refused() {
        let (out, _inc) = queue(Budget::new(100, 50));
        for _ in 0..100 {
            assert_eq!(out.push(raw(64), true), Ok(()));
        }
        assert_eq!(out.unread(), 6400);
        // Someone else's message is refused: that is a slow consumer.
        assert_eq!(out.push(raw(10), false), Err(PushError::Full));
    }

    #[test]
    fn an_event_into_an_empty_queue_is_taken_whatever_its_size() {
        let (out, _inc) = queue(Budget::new(100, 50));
        assert_eq!(out.try_send(raw(1000)), Ok(()));
        assert_eq!(out.try_send(raw(1)), Err(PushError::Full));
    }

    #[tokio::test]
    async fn reading_waits_past_the_pause_mark_until_the_writer_catches_up() {
        let (out, inc) = queue(Budget::new(10_000, 300));
        let control = inc.control();
        out.push(raw(200), true).expect("queued");
        assert!(!control.is_paused());
        assert_eq!(poll!(Box::pin(control.paced())), Poll::Ready(()));
        out.push(raw(200), true).expect("queued");
        assert!(control.is_paused());
        // The reading and the writer in one task, as a connection runs them.
        let mut reading = Box::pin(control.paced());
        assert_eq!(poll!(reading.as_mut()), Poll::Pending);
        // Taken but not yet written: still paused.
        let mut batch = VecDeque::new();
        assert_eq!(inc.take(&mut batch).await, Taken::Events);
        assert!(control.is_paused());
        assert_eq!(poll!(reading.as_mut()), Poll::Pending);
        // Written, and the writer back for more: reading goes on.
        batch.clear();
        assert_eq!(poll!(Box::pin(inc.take(&mut batch))), Poll::Pending);
        assert!(!control.is_paused());
        assert_eq!(poll!(reading.as_mut()), Poll::Ready(()));
    }

    #[tokio::test]
    async fn resuming_wakes_the_task_the_writer_and_the_reading_share() {
        let (out, inc) = queue(Budget::new(10_000, 100));
        let control = inc.control();
        let task = tokio::spawn(async move {
            let mut batch = VecDeque::new();
            let mut reading = Box::pin(control.paced());
            loop {
                tokio::select! {
                    () = &mut reading => return batch.len(),
                    _ = inc.take(&mut batch) => {}
                }
            }
        });
        // Queued and taken in one go; the next take finds the queue empty
        // and lets the reading go on.
        out.push(raw(500), true).expect("queued");
        assert_eq!(task.await.expect("task"), 1);
    }

    #[tokio::test]
    async fn a_cut_connection_does_not_keep_its_reading_waiting() {
        let (out, inc) = queue(Budget::new(1000, 10));
        let control = inc.control();
        out.push(raw(100), true).expect("queued");
        assert!(control.is_paused());
        let mut reading = Box::pin(control.paced());
        assert_eq!(poll!(reading.as_mut()), Poll::Pending);
        out.kill("slow");
        assert_eq!(poll!(reading.as_mut()), Poll::Ready(()));
        drop(inc);
    }

    #[test]
    fn pacing_starts_by_half_the_limit_at_the_latest() {
        assert_eq!(Budget::new(1000, 100).pause, 100);
        assert_eq!(Budget::new(1000, 5000).pause, 500);
        assert_eq!(Budget::new(0, 0), Budget { limit: 1, pause: 1 });
    }

    #[test]
    fn estimates_count_the_text_and_bytes_exactly() {
        assert_eq!(estimate(&raw(37)), 37);
        let short = estimate(&ev("a"));
        let long = estimate(&ev(&"a".repeat(400)));
        assert_eq!(long - short, 399);
    }

    #[tokio::test]
    async fn a_kill_wins_over_queued_events_and_closes_the_queue() {
        let (out, inc) = queue(roomy());
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
        let (out, inc) = queue(roomy());
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
        let (out, inc) = queue(roomy());
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
    fn a_leaving_connection_refuses_others_deliveries_but_not_its_own() {
        let (out, inc) = queue(roomy());
        out.try_send(ev("before")).expect("queued");
        inc.control().leave();
        assert_eq!(out.try_send(ev("someone quit")), Err(PushError::Closed));
        assert_eq!(out.push(ev("your farewell"), true), Ok(()));
        let mut st = out.0.lock();
        let texts: Vec<String> = st
            .queue
            .drain(..)
            .filter_map(|e| match e.event() {
                Some(Event::ServerNotice { text }) => Some(text.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(texts, ["before", "your farewell"]);
    }

    #[test]
    fn an_empty_queue_reserves_a_bounded_room_whatever_the_last_batch() {
        let (out, _inc) = queue(roomy());
        out.0.lock().hint = 1_000_000;
        out.try_send(ev("one")).expect("queued");
        assert!(out.0.lock().queue.capacity() <= 2 * MAX_HINT);
    }

    #[test]
    fn a_dropped_connection_refuses_pushes() {
        let (out, inc) = queue(roomy());
        drop(inc);
        assert_eq!(out.try_send(ev("a")), Err(PushError::Closed));
    }
}

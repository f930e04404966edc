//! The registration timeout of every connection, kept by one task: a
//! connection that has not registered when its time is up is cut off.
//!
//! One task and one queue for all connections instead of a timer in each
//! connection's own state: a tokio timer is over a hundred bytes, held by
//! every connection for its whole life (measured with `chatroom bench
//! idle`), where an entry here is a few dozen bytes and only until the
//! deadline passes. The timeout is the same for every connection, so the
//! queue is in deadline order by construction.
//!
//! It must not wait on any connection: cutting one off only marks it and
//! wakes its task (see `outbound::Control::kill`).

use std::collections::VecDeque;
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
}

impl Deadlines {
    /// Starts the task that enforces `timeout`; it ends with the runtime or
    /// when the returned handle's task is aborted.
    pub fn start(timeout: Duration) -> (Arc<Deadlines>, tokio::task::JoinHandle<()>) {
        let d = Arc::new(Deadlines {
            timeout,
            queue: Mutex::new(VecDeque::new()),
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

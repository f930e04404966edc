//! The stage's background work, off the delivery path: the maintenance
//! thread (WAL checkpoints every second, retention compaction) and the
//! search indexer (at the lowest priority), and the thread priorities
//! they run at.
//!
//! Must not hold a lock the applier or a reader waits on for long (each
//! step is a short transaction).

use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::Duration;
use std::time::Instant;
use std::time::SystemTime;

use chatroom_config::History;
use chatroom_store::HistoryStore;
use chatroom_store::Retention;
use chatroom_store::SearchStore;

/// How often the WAL is checkpointed in the background.
pub(super) const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// The server-wide retention policy.
pub fn retention(cfg: &History) -> Retention {
    let limits = cfg.server_limits();
    Retention {
        rooms: limits,
        private: limits,
        ..Retention::default()
    }
}

/// The background thread that checkpoints and compacts, and the one that
/// fills the search index. Both stop when this is dropped.
pub(super) struct Maintenance {
    pub(super) stop: Option<std_mpsc::Sender<()>>,
    pub(super) thread: Option<JoinHandle<()>>,
    pub(super) indexer: Option<Indexer>,
}

/// Puts the calling thread in the idle scheduling class (Linux
/// `SCHED_IDLE`): it runs only when nothing else of ours (or anyone's) wants
/// the CPU, and a waking delivery thread preempts it at once. Where that is
/// refused, nice 19. Neither needs privileges (both only lower priority).
pub(super) fn lowest_priority() {
    if sched_idle() {
        return;
    }
    let me = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(me), 19) {
        tracing::debug!("history: search indexer keeps normal priority: {e}");
    }
}

/// `sched_setscheduler(0, SCHED_IDLE)`: whether the calling thread is now
/// in the idle class. The one call into libc of this crate: rustix has no
/// wrapper for it (it leaves the scheduler calls to libc).
#[allow(unsafe_code)]
pub(super) fn sched_idle() -> bool {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: the kernel reads one `sched_param` through the pointer during
    // the call and keeps nothing; `param` is an initialised local that
    // outlives the call. pid 0 is the calling thread, and the call changes
    // nothing but its scheduling class.
    unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) == 0 }
}

/// Lowers the calling thread's priority to nice [`BACKGROUND_NICE`]: for
/// work that must keep up but that nobody waits for (copying the journal
/// into SQLite, checkpoints). It then takes mostly the CPU that delivery
/// leaves idle, yet still a fair share when there is none (unlike
/// `SCHED_IDLE`, under which a saturated server would starve it, and the
/// journal back up until the hub task waits).
pub(super) fn background_priority() {
    let me = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(me), BACKGROUND_NICE) {
        tracing::debug!("history: background thread keeps normal priority: {e}");
    }
}

/// The niceness of [`background_priority`] threads: a tenth of the weight of
/// a normal thread.
pub(super) const BACKGROUND_NICE: i32 = 10;

/// How often the search indexer looks for rows to index.
pub(super) const INDEX_EVERY: Duration = Duration::from_millis(500);

/// The search indexer: adds stored rows to the full-text index behind the
/// writer, at the lowest scheduling priority there is (`SCHED_IDLE`), so
/// that on a busy machine it takes the CPU only when delivery leaves some.
/// It may fall behind under a long flood; a search catches the index up
/// itself before it looks (see `store/search.rs`), so results never lag.
pub(super) struct Indexer {
    pub(super) stop: std_mpsc::Sender<()>,
}

impl Indexer {
    pub(super) fn start(search: Arc<dyn SearchStore>) -> std::io::Result<Indexer> {
        let (stop, stopped) = std_mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("history-search".into())
            .spawn(move || {
                lowest_priority();
                loop {
                    match stopped.recv_timeout(INDEX_EVERY) {
                        Err(std_mpsc::RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                    loop {
                        match search.index_search(chatroom_store::SEARCH_PASS_ROWS) {
                            Ok(0) => break,
                            Ok(_) => {}
                            Err(e) => {
                                tracing::error!("history: search indexing failed: {e}");
                                break;
                            }
                        }
                        if !matches!(stopped.try_recv(), Err(std_mpsc::TryRecvError::Empty)) {
                            return;
                        }
                    }
                }
            })?;
        Ok(Indexer { stop })
    }
}

impl Maintenance {
    pub(super) fn start(
        history: Arc<dyn HistoryStore>,
        search: Arc<dyn SearchStore>,
        cfg: &History,
    ) -> std::io::Result<Maintenance> {
        let (stop, stopped) = std_mpsc::channel::<()>();
        let policy = retention(cfg);
        let every = cfg.compact_interval();
        let thread = std::thread::Builder::new()
            .name("history-maintenance".into())
            .spawn(move || {
                background_priority();
                let mut next_compaction = Instant::now() + every;
                loop {
                    match stopped.recv_timeout(CHECKPOINT_EVERY) {
                        Err(std_mpsc::RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                    if let Err(e) = history.checkpoint() {
                        tracing::error!("history: checkpoint failed: {e}");
                    }
                    if Instant::now() >= next_compaction {
                        next_compaction = Instant::now() + every;
                        match history.compact(&policy, SystemTime::now()) {
                            Ok(s) if s.by_age + s.by_count > 0 => tracing::info!(
                                by_age = s.by_age,
                                by_count = s.by_count,
                                "history: compaction deleted {} message(s)",
                                s.by_age + s.by_count
                            ),
                            Ok(_) => tracing::debug!("history: compaction found nothing to delete"),
                            Err(e) => tracing::error!("history: compaction failed: {e}"),
                        }
                    }
                }
            })?;
        Ok(Maintenance {
            stop: Some(stop),
            thread: Some(thread),
            indexer: Some(Indexer::start(search)?),
        })
    }
}

impl Drop for Maintenance {
    fn drop(&mut self) {
        // Not joined: the hub task must not block, and a compaction cut
        // short by the process ending loses nothing (each step is a
        // transaction of its own).
        drop(self.stop.take());
        drop(self.thread.take());
        if let Some(indexer) = self.indexer.take() {
            drop(indexer.stop);
        }
    }
}

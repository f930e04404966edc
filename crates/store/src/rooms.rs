//! [`RoomStore`]: the saved state of rooms (topic, modes, founder,
//! registration, history limits), which registered rooms are restored from
//! at start.
//!
//! # What it promises
//! - **Keyed by the case-folded name**, the name coming back as first
//!   given; saving replaces the whole state, forgetting a room that is not
//!   saved is not an error.
//! - **Times in whole milliseconds** (topic time, registration time, a
//!   limit's age), as the history keeps them.
//! - **Limits take effect at once.** A room saved with limits that keep
//!   nothing has its next records dropped by
//!   [`crate::HistoryStore::append`]; a room's own limits replace the
//!   server's in [`crate::HistoryStore::compact`]. Forgetting a room leaves
//!   its history, under the server's retention.
//! - **Each call is atomic.** A failed call changes nothing.
//!
//! # What it must not do
//! It must not decide who founds or may change a room, nor which rooms are
//! restored (the caller filters by [`RoomState::registered`]). Every method
//! may block; call it from a blocking thread.

use super::RoomState;
use super::error::StoreError;

/// Saved room state. Object safe: shared as `Arc<dyn RoomStore>`.
pub trait RoomStore: Send + Sync {
    /// Creates or replaces a room's state (keyed by its case-folded name).
    fn save_room(&self, state: &RoomState) -> Result<(), StoreError>;

    /// Removes a room's saved state (its history stays, under retention).
    fn forget_room(&self, name: &str) -> Result<(), StoreError>;

    /// Every saved room, in case-folded name order.
    fn load_rooms(&self) -> Result<Vec<RoomState>, StoreError>;
}

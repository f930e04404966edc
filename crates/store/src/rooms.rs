//! [`RoomStore`]: the saved state of rooms (topic, modes, founder,
//! registration, history limits), which registered rooms are restored from
//! at start; and the read markers (IRCv3 `draft/read-marker`): for each
//! account and room or conversation, the time of the last message read,
//! restored at start too.
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
//! - **A read marker only moves forward.** Saving an earlier time than the
//!   one stored keeps the stored one; markers are keyed by the case-folded
//!   account and target, the names coming back as last saved.
//! - **Each call is atomic.** A failed call changes nothing.
//!
//! # What it must not do
//! It must not decide who founds or may change a room, nor which rooms are
//! restored (the caller filters by [`RoomState::registered`]). Every method
//! may block; call it from a blocking thread.

use std::time::SystemTime;

use super::RoomState;
use super::error::StoreError;

/// Where an account has read to in one room or private conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadMarker {
    pub account: String,
    /// A room name or a nickname.
    pub target: String,
    /// The `time` of the last message read (whole milliseconds).
    pub at: SystemTime,
}

/// Saved room state. Object safe: shared as `Arc<dyn RoomStore>`.
pub trait RoomStore: Send + Sync {
    /// Creates or replaces a room's state (keyed by its case-folded name).
    fn save_room(&self, state: &RoomState) -> Result<(), StoreError>;

    /// Removes a room's saved state (its history stays, under retention).
    fn forget_room(&self, name: &str) -> Result<(), StoreError>;

    /// Every saved room, in case-folded name order.
    fn load_rooms(&self) -> Result<Vec<RoomState>, StoreError>;

    /// Moves an account's read marker for a target forward to `at` (a
    /// marker already later stays).
    fn save_read_marker(&self, marker: &ReadMarker) -> Result<(), StoreError>;

    /// Every read marker, by case-folded account then target.
    fn load_read_markers(&self) -> Result<Vec<ReadMarker>, StoreError>;
}

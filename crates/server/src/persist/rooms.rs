//! Registered rooms between the hub and the store: the state a room is
//! saved with, reading them back at start, and keeping each room's own
//! retention limits in step with the configuration.
//!
//! Must not decide anything about a room (the hub does).

use chatroom_config::History;
use chatroom_core::registry::SavedRoom;
use chatroom_store::RoomState;
use chatroom_store::RoomStore;

/// A room's row with nothing in it but its name.
pub(super) fn unregistered(name: &str) -> RoomState {
    RoomState {
        name: name.to_string(),
        topic: None,
        modes: String::new(),
        founder: None,
        registered: false,
        registered_at: None,
        limits: None,
    }
}

/// The store's row for a registered room (limits as the configuration says).
pub(super) fn room_state(cfg: &History, saved: SavedRoom) -> RoomState {
    let limits = cfg.room(&saved.name).map(|_| cfg.limits_for(&saved.name));
    RoomState {
        name: saved.name.to_string(),
        topic: saved.topic,
        modes: saved.modes,
        founder: Some(saved.founder.to_string()),
        registered: true,
        registered_at: Some(saved.since),
        limits,
    }
}

/// The registered rooms of the store, for the hub to restore at start.
pub fn saved_rooms(store: &dyn RoomStore) -> Result<Vec<SavedRoom>, chatroom_store::StoreError> {
    Ok(store
        .load_rooms()?
        .into_iter()
        .filter(|r| r.registered)
        .filter_map(|r| {
            Some(SavedRoom {
                founder: r.founder?.into(),
                name: r.name.into(),
                topic: r.topic,
                modes: r.modes,
                since: r.registered_at.unwrap_or(std::time::UNIX_EPOCH),
            })
        })
        .collect())
}

/// Makes the store's per-room limits match the configuration, so that
/// compaction and the store's "keep nothing" rooms follow the file. Rooms
/// the file no longer names go back to the server-wide limits.
pub fn sync_room_limits(
    store: &dyn RoomStore,
    cfg: &History,
) -> Result<(), chatroom_store::StoreError> {
    let saved = store.load_rooms()?;
    for state in &saved {
        if state.limits.is_some() && cfg.room(&state.name).is_none() {
            store.save_room(&RoomState {
                limits: None,
                ..state.clone()
            })?;
        }
    }
    for name in cfg.rooms.keys() {
        let limits = cfg.limits_for(name);
        let state = match saved
            .iter()
            .find(|s| chatroom_core::names::same(&s.name, name))
        {
            Some(s) if s.limits == Some(limits) => continue,
            Some(s) => RoomState {
                limits: Some(limits),
                ..s.clone()
            },
            None => RoomState {
                limits: Some(limits),
                ..unregistered(name)
            },
        };
        store.save_room(&state)?;
    }
    Ok(())
}

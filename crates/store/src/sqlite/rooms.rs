//! [`RoomStore`] for [`SqliteStore`]: the `rooms` table, and the set of
//! rooms that keep nothing, which `append` consults on every record. This
//! file must not decide which rooms are restored.

use std::sync::PoisonError;
use std::time::Duration;

use rusqlite::params;

use super::SqliteStore;
use crate::error::StoreError;
use crate::keys::{from_ms, room_conv, to_ms};
use crate::{Limits, ReadMarker, RoomState, RoomStore};
use chatroom_core::Topic;
use chatroom_core::names::Key;

impl RoomStore for SqliteStore {
    fn save_room(&self, state: &RoomState) -> Result<(), StoreError> {
        let topic = state.topic.as_ref();
        let limits = state.limits.unwrap_or_default();
        let max_age_ms = limits
            .max_age
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let max_count = limits
            .max_count
            .map(|c| i64::try_from(c).unwrap_or(i64::MAX));
        let key = Key::of(&state.name);
        self.writer().execute(
            "INSERT OR REPLACE INTO rooms (key, name, topic, topic_setter, topic_time_ms, \
             modes, founder, registered, own_limits, max_age_ms, max_count, registered_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                key.as_str(),
                state.name,
                topic.map(|t| &*t.text),
                topic.map(|t| &*t.setter),
                topic.map(|t| to_ms(t.time)),
                state.modes,
                state.founder,
                state.registered,
                state.limits.is_some(),
                max_age_ms,
                max_count,
                state.registered_at.map(to_ms),
            ],
        )?;
        let conv = room_conv(&state.name);
        let mut silent = self.silent.write().unwrap_or_else(PoisonError::into_inner);
        if state.limits.is_some_and(|l| l.keeps_nothing()) {
            silent.insert(conv);
        } else {
            silent.remove(&conv);
        }
        Ok(())
    }

    fn forget_room(&self, name: &str) -> Result<(), StoreError> {
        self.writer()
            .execute("DELETE FROM rooms WHERE key = ?1", [Key::of(name).as_str()])?;
        self.silent
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&room_conv(name));
        Ok(())
    }

    fn load_rooms(&self) -> Result<Vec<RoomState>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT name, topic, topic_setter, topic_time_ms, modes, founder, registered, \
                 own_limits, max_age_ms, max_count, registered_ms FROM rooms ORDER BY key",
            )?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                let name: String = row.get(0)?;
                let topic: Option<String> = row.get(1)?;
                let setter: Option<String> = row.get(2)?;
                let topic_time: Option<i64> = row.get(3)?;
                let nonnegative = |v: Option<i64>, what: &str| -> Result<Option<u64>, StoreError> {
                    v.map(|v| {
                        u64::try_from(v).map_err(|_| {
                            StoreError::Damaged(format!("room {name:?} has a negative {what}"))
                        })
                    })
                    .transpose()
                };
                let own_limits: bool = row.get(7)?;
                let max_age = nonnegative(row.get(8)?, "max age")?;
                let max_count = nonnegative(row.get(9)?, "max count")?;
                out.push(RoomState {
                    topic: topic.map(|text| Topic {
                        text: text.into(),
                        setter: setter.unwrap_or_default().into(),
                        time: from_ms(topic_time.unwrap_or(0)),
                    }),
                    modes: row.get(4)?,
                    founder: row.get(5)?,
                    registered: row.get(6)?,
                    registered_at: row.get::<_, Option<i64>>(10)?.map(from_ms),
                    limits: own_limits.then_some(Limits {
                        max_age: max_age.map(Duration::from_millis),
                        max_count,
                    }),
                    name,
                });
            }
            Ok(out)
        })
    }

    fn save_read_marker(&self, m: &ReadMarker) -> Result<(), StoreError> {
        self.writer().execute(
            "INSERT INTO read_markers (account_key, target_key, account, target, at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (account_key, target_key) DO UPDATE SET \
             account = excluded.account, target = excluded.target, \
             at_ms = max(at_ms, excluded.at_ms)",
            params![
                Key::of(&m.account).as_str(),
                Key::of(&m.target).as_str(),
                m.account,
                m.target,
                to_ms(m.at),
            ],
        )?;
        Ok(())
    }

    fn load_read_markers(&self) -> Result<Vec<ReadMarker>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT account, target, at_ms FROM read_markers \
                 ORDER BY account_key, target_key",
            )?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(ReadMarker {
                    account: row.get(0)?,
                    target: row.get(1)?,
                    at: from_ms(row.get(2)?),
                });
            }
            Ok(out)
        })
    }
}

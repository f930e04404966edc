//! Read markers (IRCv3 `draft/read-marker`): for each person and room or
//! private conversation, the time of the last message they have read, kept
//! in step across their connections so that a phone stops notifying about
//! what was read on a laptop.
//!
//! A person is their account when logged in: the marker outlives the
//! connection, reaches every connection logged in to the account, and is
//! noted for the runtime to store. Someone not logged in has markers of
//! the connection alone, forgotten when it leaves. A marker only moves
//! forward, and never past the hub's clock. Markers are never shown to
//! anyone else.
//!
//! Part of the hub's state machine; no I/O and no wording here.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;

/// Every marker the hub holds.
#[derive(Default)]
pub(super) struct Markers {
    /// By folded account name, then folded target.
    accounts: HashMap<Key, HashMap<Key, SystemTime>>,
    /// Of connections not logged in, by connection then folded target.
    conns: HashMap<ConnId, HashMap<Key, SystemTime>>,
}

/// Times as the history keeps them: whole milliseconds, so that a marker
/// read back from the store equals the one set.
fn whole_ms(t: SystemTime) -> SystemTime {
    let ms = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

impl Hub {
    /// Restores an account's marker read back from the store (at start).
    pub fn seed_read_marker(&mut self, account: &str, target: &str, at: SystemTime) {
        let slot = self
            .markers
            .accounts
            .entry(Key::of(account))
            .or_default()
            .entry(Key::of(target))
            .or_insert(at);
        *slot = (*slot).max(at);
    }

    /// The marker of `conn`'s person for the target of folded name `target`.
    pub(super) fn read_marker(&self, conn: ConnId, target: &Key) -> Option<SystemTime> {
        let of = match self.account_of(conn) {
            Some(account) => self.markers.accounts.get(&Key::of(&account)),
            None => self.markers.conns.get(&conn),
        };
        of.and_then(|m| m.get(target)).copied()
    }

    /// Forgets the markers of a connection that was not logged in.
    pub(super) fn forget_read_markers(&mut self, conn: ConnId) {
        self.markers.conns.remove(&conn);
    }

    pub(super) fn mark_read(
        &mut self,
        conn: ConnId,
        target: String,
        at: Option<SystemTime>,
        out: &mut impl Outbox,
    ) -> Outcome {
        let key = if target.starts_with(['#', '&']) {
            self.room_key(&target)?
        } else {
            names::validate_nick(&target, self.cfg.nick_len).map_err(|e| {
                HubError::ErroneousNick {
                    nick: target.as_str().into(),
                    reason: e.0,
                }
            })?;
            Key::of(&target)
        };
        let stored = self.read_marker(conn, &key);
        let target: Name = target.as_str().into();
        let Some(at) = at else {
            send(out, conn, Event::ReadMarker { target, at: stored });
            return Ok(());
        };
        let at = whole_ms(at.min(self.now()));
        if stored.is_some_and(|s| s >= at) {
            // Not a move: the stored marker stands, and is the answer.
            send(out, conn, Event::ReadMarker { target, at: stored });
            return Ok(());
        }
        let account = self.account_of(conn);
        let map = match &account {
            Some(a) => self.markers.accounts.entry(Key::of(a)).or_default(),
            None => self.markers.conns.entry(conn).or_default(),
        };
        map.insert(key, at);
        let env = out.wrap(Event::ReadMarker {
            target: target.clone(),
            at: Some(at),
        });
        let Some(account) = account else {
            out.send(conn, &env);
            return Ok(());
        };
        // Every connection of the person: a scan, because markers move at
        // reading speed (far rarer than messages) and an index of
        // connections by account would have to follow every login.
        let same: Vec<ConnId> = self
            .members
            .iter()
            .filter(|(_, m)| {
                m.info
                    .account
                    .as_ref()
                    .is_some_and(|a| names::same(a, &account))
            })
            .map(|(&c, _)| c)
            .collect();
        for to in same {
            out.send(to, &env);
        }
        self.note(Note::ReadMarker {
            account,
            target,
            at,
        });
        Ok(())
    }
}

//! Rooms that outlive their members: an emptied room kept for a while
//! with its topic, modes and lists, the accounts of the operators it had
//! (who get operator status back when they return, so that whoever comes
//! first after everyone left does not take the room over), and the rooms
//! the configuration names (`[[rooms]]`), which exist from start with
//! their topic, modes, founder and operators.
//!
//! Part of the hub's state machine; no I/O, no clock other than the hub's
//! and no timers: a kept room past its time is forgotten the next time a
//! room is joined, emptied or listed ([`Hub::forget_expired_rooms`]), so nothing
//! needs waking up, and the number kept is bounded by
//! `HubConfig::max_empty_rooms`.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use super::room::{Registration, Room, Status};
use super::{Hub, Outbox, clean_text};
use crate::command::ConnId;
use crate::event::{Event, Topic};
use crate::modes::{self, ModeChange};
use crate::names::{self, Key, Name};
use crate::registry::parse_modes;

/// Operator accounts remembered per room: the most recent leavers.
const LEFT_OPS_MAX: usize = 16;

/// A room as the configuration names it (`[[rooms]]`).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RoomSpec {
    /// `#name`.
    pub name: String,
    /// The topic it is given when created and whenever this changes in
    /// the configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// Its modes (`+ntm`, `+k KEY`, `+l N`), applied like the topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modes: Option<String>,
    /// The account it is registered to (as through ChanServ).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub founder: Option<String>,
    /// Accounts made operators on joining, logged in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operators: Vec<String>,
}

/// What keeps a room beyond its members, other than a registration.
/// Boxed in the room, and absent for most rooms.
#[derive(Debug, Default)]
pub(super) struct Lasting {
    /// When the last member left, while it is kept empty.
    pub(super) emptied: Option<SystemTime>,
    /// Accounts of operators who left while operators, most recent last.
    pub(super) left_ops: Vec<Name>,
    /// Operator accounts from the configuration.
    pub(super) cfg_ops: Vec<Name>,
    /// Named in the configuration: it exists while empty.
    pub(super) configured: bool,
}

impl Room {
    fn lasting_mut(&mut self) -> &mut Lasting {
        self.lasting.get_or_insert_with(Box::default)
    }

    pub(super) fn is_configured(&self) -> bool {
        self.lasting.as_ref().is_some_and(|l| l.configured)
    }

    fn emptied(&self) -> Option<SystemTime> {
        self.lasting.as_ref().and_then(|l| l.emptied)
    }

    /// Accounts that get operator status on joining: the founder's, the
    /// configured operators', and those of operators who left as such.
    pub(super) fn op_account(&self, account: &str) -> bool {
        let listed = |l: &[Name]| l.iter().any(|a| names::same(a, account));
        self.reg
            .as_ref()
            .is_some_and(|r| names::same(&r.founder, account))
            || self
                .lasting
                .as_ref()
                .is_some_and(|l| listed(&l.cfg_ops) || listed(&l.left_ops))
    }

    /// Someone is known to run this room (a founder, configured or
    /// remembered operators): the first to join is then not made an
    /// operator for being first.
    pub(super) fn has_keepers(&self) -> bool {
        self.reg.is_some()
            || self
                .lasting
                .as_ref()
                .is_some_and(|l| !l.cfg_ops.is_empty() || !l.left_ops.is_empty())
    }

    /// Anything an emptied room would lose that someone set.
    fn worth_keeping(&self, default_flags: &BTreeSet<char>) -> bool {
        self.topic.is_some()
            || self.flags != *default_flags
            || self.key.is_some()
            || self.limit.is_some()
            || !self.bans.is_empty()
            || !self.excepts.is_empty()
            || !self.invex.is_empty()
            || self.has_keepers()
    }
}

impl Hub {
    /// The flag modes a new room starts with.
    pub(super) fn default_flags(&self) -> BTreeSet<char> {
        self.cfg
            .default_modes
            .chars()
            .filter(|c| modes::FLAG_MODES.contains(*c))
            .collect()
    }

    /// Takes `conn` out of `key`'s room: an operator logged in to an
    /// account is remembered as one (anyone else leaving is not, and
    /// stops being remembered), and a room left empty is kept or goes.
    pub(super) fn leave_room(&mut self, conn: ConnId, key: &Key) {
        let account = self.members.get(&conn).and_then(|m| m.info.account.clone());
        let Some(room) = self.rooms.get_mut(key) else {
            return;
        };
        let Some(status) = room.members.shift_remove(&conn) else {
            return;
        };
        if let Some(account) = account {
            note_leaver(room, &account, status);
        }
        if room.members.is_empty() {
            self.room_emptied(key);
        }
    }

    /// The last member left `key`'s room: it stays when registered or
    /// configured; else it is kept for `empty_room_keep_secs` when it has
    /// anything worth keeping, at most `max_empty_rooms` of them (the
    /// longest empty goes first); else it goes now.
    pub(super) fn room_emptied(&mut self, key: &Key) {
        self.forget_expired_rooms();
        let default_flags = self.default_flags();
        let keep = self.cfg.empty_room_keep_secs > 0 && self.cfg.max_empty_rooms > 0;
        let now = self.now();
        let Some(room) = self.rooms.get_mut(key) else {
            return;
        };
        if !room.members.is_empty() || room.reg.is_some() || room.is_configured() {
            return;
        }
        if !keep || !room.worth_keeping(&default_flags) {
            self.rooms.remove(key);
            return;
        }
        room.lasting_mut().emptied = Some(now);
        room.invited.clear();
        self.kept.insert(key.clone());
        while self.kept.len() > self.cfg.max_empty_rooms {
            if let Some(oldest) = self.kept.shift_remove_index(0) {
                self.rooms.remove(&oldest);
            }
        }
    }

    /// Forgets the kept rooms empty for longer than `empty_room_keep_secs`
    /// (the oldest are first in `kept`).
    pub fn forget_expired_rooms(&mut self) {
        let keep = Duration::from_secs(self.cfg.empty_room_keep_secs);
        let now = self.now();
        while let Some(key) = self.kept.first().cloned() {
            let expired = match self.rooms.get(&key) {
                Some(room) => match room.emptied() {
                    Some(t) => now.duration_since(t).unwrap_or_default() >= keep,
                    None => true,
                },
                None => true,
            };
            if !expired {
                break;
            }
            self.kept.shift_remove_index(0);
            if let Some(room) = self.rooms.get(&key)
                && room.members.is_empty()
                && room.reg.is_none()
                && !room.is_configured()
            {
                self.rooms.remove(&key);
            }
        }
    }

    /// Someone is about to join `key`'s room: one kept empty is in use
    /// again (after forgetting the expired ones, this one among them).
    pub(super) fn reopen(&mut self, key: &Key) {
        self.forget_expired_rooms();
        if self.kept.shift_remove(key)
            && let Some(room) = self.rooms.get_mut(key)
            && let Some(l) = &mut room.lasting
        {
            l.emptied = None;
        }
    }

    /// How many rooms are kept while empty (neither registered nor
    /// configured).
    pub fn kept_room_count(&self) -> usize {
        self.kept.len()
    }

    /// Puts the configuration's rooms in force, at start and on every
    /// reload. A room new to the configuration gets its topic and modes
    /// (at start, one restored from the store keeps its own); a room whose
    /// topic or modes changed in the configuration since the last call
    /// gets the new ones, told to whoever is in it; the founder and
    /// operators always follow the configuration, and those present who
    /// now qualify are made operators. A room no longer named stays as
    /// any other room would. Returns what could not be applied.
    pub fn configure_rooms(&mut self, specs: &[RoomSpec], out: &mut impl Outbox) -> Vec<String> {
        let mut problems = Vec::new();
        let first = self.room_specs.is_none();
        let previous = self.room_specs.take().unwrap_or_default();
        let named: BTreeSet<Key> = specs.iter().map(|s| Key::of(&s.name)).collect();
        for old in &previous {
            let key = Key::of(&old.name);
            if named.contains(&key) {
                continue;
            }
            if let Some(room) = self.rooms.get_mut(&key)
                && let Some(l) = &mut room.lasting
            {
                l.configured = false;
                l.cfg_ops.clear();
            }
            if self.rooms.get(&key).is_some_and(|r| r.members.is_empty()) {
                self.room_emptied(&key);
            }
        }
        let mut applied = Vec::new();
        for spec in specs {
            let key = match self.room_key(&spec.name) {
                Ok(k) => k,
                Err(e) => {
                    problems.push(format!("room {}: {e}", spec.name));
                    continue;
                }
            };
            let before = previous.iter().find(|p| Key::of(&p.name) == key);
            self.configure_room(key, spec, before, first, out);
            applied.push(spec.clone());
        }
        self.room_specs = Some(applied);
        problems
    }

    fn configure_room(
        &mut self,
        key: Key,
        spec: &RoomSpec,
        before: Option<&RoomSpec>,
        first: bool,
        out: &mut impl Outbox,
    ) {
        self.reopen(&key);
        let now = self.now();
        let created = !self.rooms.contains_key(&key);
        if created {
            let room = Room::new(spec.name.as_str().into(), self.default_flags(), now);
            self.rooms.insert(key.clone(), Box::new(room));
        }
        // At start, a room restored from the store keeps its own topic and
        // modes until the configuration's change.
        let fresh = created || !first;
        let topic_len = self.cfg.topic_len;
        let room = self.rooms.get_mut(&key).expect("inserted above");
        let l = room.lasting_mut();
        l.configured = true;
        l.cfg_ops = spec.operators.iter().map(|a| a.as_str().into()).collect();
        let mut changed = false;
        if let Some(founder) = &spec.founder
            && room
                .reg
                .as_ref()
                .is_none_or(|r| !names::same(&r.founder, founder))
        {
            room.reg = Some(Registration {
                founder: founder.as_str().into(),
                since: now,
            });
            changed = true;
        }
        let topic_new = before.is_none_or(|b| b.topic != spec.topic);
        if let Some(text) = spec.topic.as_deref().filter(|_| fresh && topic_new) {
            let text = clean_text(text, topic_len);
            let topic = (!text.is_empty()).then(|| Topic {
                text: text.into(),
                setter: super::registered::SERVICES_NICK.into(),
                time: now,
            });
            if room.topic.as_ref().map(|t| &t.text) != topic.as_ref().map(|t| &t.text) {
                room.topic = topic;
                let env = out.wrap(Event::TopicChanged {
                    room: room.name.clone(),
                    topic: room.topic.clone(),
                    by: super::registered::services(),
                });
                for &to in room.members.keys() {
                    out.send(to, &env);
                }
                self.topic_changed(&key, super::registered::services());
            }
        }
        let modes_new = before.is_none_or(|b| b.modes != spec.modes);
        if let Some(modes) = spec.modes.as_deref().filter(|_| fresh && modes_new) {
            self.set_configured_modes(&key, modes, out);
            changed = true;
        }
        if changed {
            self.room_changed(&key);
        }
        let present: Vec<ConnId> = self.rooms[&key].members.keys().copied().collect();
        for conn in present {
            self.founder_op(conn, &key, out);
        }
    }

    /// Makes the room's modes exactly `modes` (list modes aside), telling
    /// its members what changed.
    fn set_configured_modes(&mut self, key: &Key, modes: &str, out: &mut impl Outbox) {
        let (flags, new_key, limit) = parse_modes(modes, modes::FLAG_MODES);
        let flags: BTreeSet<char> = flags.into_iter().collect();
        let Some(room) = self.rooms.get_mut(key) else {
            return;
        };
        let mut changes = Vec::new();
        for &c in room.flags.difference(&flags) {
            changes.push(ModeChange {
                add: false,
                mode: c,
                arg: None,
            });
        }
        for &c in flags.difference(&room.flags) {
            changes.push(ModeChange {
                add: true,
                mode: c,
                arg: None,
            });
        }
        let new_key: Option<Name> = new_key.map(|k| k.as_str().into());
        if room.key != new_key {
            changes.push(match &new_key {
                Some(k) => ModeChange {
                    add: true,
                    mode: 'k',
                    arg: Some(k.clone()),
                },
                None => ModeChange {
                    add: false,
                    mode: 'k',
                    arg: None,
                },
            });
        }
        if room.limit != limit {
            changes.push(ModeChange {
                add: limit.is_some(),
                mode: 'l',
                arg: limit.map(|n| n.to_string().into()),
            });
        }
        room.flags = flags;
        room.key = new_key;
        room.limit = limit;
        if changes.is_empty() || room.members.is_empty() {
            return;
        }
        let env = out.wrap(Event::ModeChanged {
            target: room.name.clone(),
            by: super::registered::services(),
            changes,
        });
        for &to in room.members.keys() {
            out.send(to, &env);
        }
    }
}

/// An operator logged in to `account` left: remembered, so the room
/// knows who ran it; anyone else leaving is forgotten as an operator.
fn note_leaver(room: &mut Room, account: &Name, status: Status) {
    if status.op {
        let l = room.lasting_mut();
        l.left_ops.retain(|a| !names::same(a, account));
        l.left_ops.push(account.clone());
        if l.left_ops.len() > LEFT_OPS_MAX {
            l.left_ops.remove(0);
        }
    } else if let Some(l) = &mut room.lasting {
        l.left_ops.retain(|a| !names::same(a, account));
    }
}

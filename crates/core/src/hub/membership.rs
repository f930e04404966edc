//! Who is here and where: registration, nickname changes, joining and
//! leaving rooms, the focused room, away and real name, quitting, and
//! remembering departed nicknames for WHOWAS.
//!
//! Part of the hub's state machine (same `impl Hub`). Must not do I/O or
//! know any wire syntax.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use super::room::{Member, Room, Status, check_entry};
use super::{Hub, Outbox, Outcome, clean_field, clean_text, send};
use crate::command::ConnId;
use crate::error::HubError;
use crate::event::{Event, UserInfo, WhowasEntry};
use crate::names::{self, Key, Name, REALNAME_LEN};

impl Hub {
    pub(super) fn register(
        &mut self,
        conn: ConnId,
        nick: String,
        user: String,
        realname: String,
        host: String,
        out: &mut impl Outbox,
    ) -> Outcome {
        if self.members.contains_key(&conn) {
            return Err(HubError::AlreadyRegistered);
        }
        self.check_nick(conn, &nick)?;
        let now = self.now();
        let nick: Name = nick.as_str().into();
        // Many clients give the same word as nickname, user name and real
        // name: one string then serves all three.
        let same_as_nick = |field: &str| -> Name {
            let field = clean_field(field, &nick);
            if *field == *nick {
                nick.clone()
            } else {
                field.into()
            }
        };
        let info = Arc::new(UserInfo {
            user: same_as_nick(&user),
            realname: same_as_nick(&realname),
            nick,
            host: host.into(),
            account: self.pending_logins.remove(&conn),
            bot: false,
        });
        self.nicks.insert(Key::of_name(&info.nick), conn);
        self.members.insert(
            conn,
            Box::new(Member {
                info: info.clone(),
                rooms: Box::default(),
                focus: None,
                away: None,
                signon: now,
                last_spoke: now,
                invisible: false,
                wallops: false,
                oper: false,
                secure: false,
                certfp: None,
            }),
        );
        self.max_users = self.max_users.max(self.members.len());
        self.unregistered.remove(&conn);
        self.forget_read_markers(conn);
        self.monitors.online(&info, out);
        send(
            out,
            conn,
            Event::Welcome {
                nick: info.nick.clone(),
                user: info,
            },
        );
        send(out, conn, Event::Lusers(self.lusers()));
        for room in self.cfg.default_rooms.clone() {
            // A misconfigured default room must not stop registration.
            if let Err(e) = self.join(conn, &room, None, out) {
                send(out, conn, Event::Error(e));
            }
        }
        Ok(())
    }

    pub(super) fn check_nick(&self, conn: ConnId, nick: &str) -> Outcome {
        names::validate_nick(nick, self.cfg.nick_len).map_err(|e| HubError::ErroneousNick {
            nick: nick.into(),
            reason: e.0,
        })?;
        if self.cfg.reserved_nicks.iter().any(|r| names::same(r, nick)) {
            return Err(HubError::ErroneousNick {
                nick: nick.into(),
                reason: "it is reserved for services",
            });
        }
        if !self.nick_available(nick, conn) {
            return Err(HubError::NickInUse(nick.into()));
        }
        Ok(())
    }

    pub(super) fn nick(&mut self, conn: ConnId, nick: String, out: &mut impl Outbox) -> Outcome {
        self.check_nick(conn, &nick)?;
        let member = self.member_mut(conn);
        if *member.info.nick == *nick {
            return Ok(());
        }
        let old = member.info.nick.clone();
        let info = Arc::new(UserInfo {
            nick: nick.as_str().into(),
            ..(*member.info).clone()
        });
        let departed = std::mem::replace(&mut member.info, info.clone());
        self.remember(departed);
        self.nicks.remove(&Key::of(&old));
        self.nicks.insert(Key::of_name(&info.nick), conn);
        if Key::of(&old) != Key::of(&nick) {
            self.monitors.offline(&old, out);
            self.monitors.online(&info, out);
        }
        let env = out.wrap(Event::NickChanged { old, who: info });
        for to in self.sharing(conn) {
            out.send(to, &env);
        }
        Ok(())
    }

    pub(super) fn room_key(&self, name: &str) -> Result<Key, HubError> {
        names::validate_room(name, self.cfg.room_len).map_err(|e| HubError::BadRoomName {
            name: name.into(),
            reason: e.0,
        })?;
        Ok(Key::of(name))
    }

    pub(super) fn join(
        &mut self,
        conn: ConnId,
        name: &str,
        key_given: Option<&str>,
        out: &mut impl Outbox,
    ) -> Outcome {
        let key = self.room_key(name)?;
        // The room's own key, shared (every member holds a copy of it).
        let key = match self.rooms.get_key_value(&key) {
            Some((k, _)) => k.clone(),
            None => key,
        };
        let max_rooms = self.cfg.max_rooms_per_member;
        let member = &self.members[&conn];
        if member.rooms.contains(&key) {
            return self.set_focus(conn, Some(key), out);
        }
        if member.rooms.len() >= max_rooms {
            return Err(HubError::TooManyRooms(max_rooms));
        }
        let who = member.info.clone();
        // A room kept empty past its time is forgotten first.
        self.forget_expired_rooms();
        if let Some(room) = self.rooms.get(&key) {
            check_entry(room, &who, key_given)?;
        }
        self.reopen(&key);
        self.member_mut(conn).join_list(key.clone());
        let default_flags: BTreeSet<char> = self.default_flags();
        let now = self.now();
        let room = self
            .rooms
            .entry(key.clone())
            .or_insert_with(|| Box::new(Room::new(name.into(), default_flags, now)));
        room.invited.shift_remove(&Key::of(&who.nick));
        // In a room someone is known to run (a founder, configured or
        // remembered operators) only they are made operators (below), not
        // whoever comes first.
        let first = room.members.is_empty() && !room.has_keepers();
        room.members.insert(
            conn,
            Status {
                op: first,
                voice: false,
            },
        );
        let room_name = room.name.clone();
        let topic = room.topic.clone();
        let env = out.wrap(Event::Joined {
            room: room_name.clone(),
            who,
        });
        for &to in room.members.keys() {
            out.send(to, &env);
        }
        // Newcomers who are away are shown as such (IRCv3 away-notify).
        if let Some(message) = self.members[&conn].away.clone() {
            let away = out.wrap(Event::AwayStatus {
                who: self.members[&conn].info.clone(),
                message: Some(message),
            });
            for &to in room.members.keys() {
                if to != conn {
                    out.send(to, &away);
                }
            }
        }
        if topic.is_some() {
            send(
                out,
                conn,
                Event::TopicIs {
                    room: room_name.clone(),
                    topic,
                },
            );
        }
        self.names(conn, &room_name, Some(self.read_marker(conn, &key)), out);
        self.founder_op(conn, &key, out);
        self.joined(conn, room_name);
        self.set_focus(conn, Some(key), out)
    }

    pub(super) fn set_focus(
        &mut self,
        conn: ConnId,
        key: Option<Key>,
        out: &mut impl Outbox,
    ) -> Outcome {
        let room = key
            .as_ref()
            .and_then(|k| self.rooms.get(k))
            .map(|r| r.name.clone());
        self.member_mut(conn).focus = key;
        send(out, conn, Event::Focus { room });
        Ok(())
    }

    pub(super) fn part(
        &mut self,
        conn: ConnId,
        name: &str,
        reason: Option<String>,
        out: &mut impl Outbox,
    ) -> Outcome {
        let key = Key::of(name);
        let Some(room) = self.rooms.get(&key) else {
            return Err(HubError::NoSuchRoom(name.into()));
        };
        if !room.members.contains_key(&conn) {
            return Err(HubError::NotInRoom(room.name.clone()));
        }
        let member = &self.members[&conn];
        let env = out.wrap(Event::Parted {
            room: room.name.clone(),
            who: member.info.clone(),
            reason: reason
                .filter(|r| !r.is_empty())
                .map(|r| clean_text(&r, 390).into()),
        });
        for &to in room.members.keys() {
            out.send(to, &env);
        }
        self.leave_room(conn, &key);
        let member = self.members.get_mut(&conn).expect("checked registered");
        member.leave_list(&key);
        if member.focus.as_ref() == Some(&key) {
            let next = member.rooms.last().cloned();
            self.set_focus(conn, next, out)?;
        }
        Ok(())
    }

    pub(super) fn away(&mut self, conn: ConnId, message: Option<String>, out: &mut impl Outbox) {
        let away_len = self.cfg.away_len;
        let message = message
            .map(|m| clean_text(&m, away_len))
            .filter(|m| !m.is_empty());
        let away = message.is_some();
        let message: Option<Name> = message.map(Into::into);
        self.member_mut(conn).away = message.clone();
        send(out, conn, Event::AwayChanged { away });
        // For clients that show who is away (IRCv3 away-notify).
        let who = self.members[&conn].info.clone();
        let env = out.wrap(Event::AwayStatus {
            who: who.clone(),
            message: message.clone(),
        });
        let sharing = self.sharing(conn);
        for &to in &sharing {
            if to != conn {
                out.send(to, &env);
            }
        }
        self.monitors.tell(
            &who,
            &sharing,
            || Event::AwayStatus {
                who: who.clone(),
                message,
            },
            out,
        );
    }

    /// SETNAME: a new real name, told to everyone who shares a room (and
    /// the member itself, as the confirmation).
    pub(super) fn setname(
        &mut self,
        conn: ConnId,
        realname: &str,
        out: &mut impl Outbox,
    ) -> Outcome {
        let clean = realname.trim();
        if clean.is_empty() || clean.len() > REALNAME_LEN || clean.chars().any(char::is_control) {
            return Err(HubError::InvalidRealname);
        }
        let member = self.member_mut(conn);
        let info = Arc::new(UserInfo {
            realname: clean.into(),
            ..(*member.info).clone()
        });
        member.info = info.clone();
        let env = out.wrap(Event::RealnameChanged { who: info.clone() });
        let sharing = self.sharing(conn);
        for &to in &sharing {
            out.send(to, &env);
        }
        self.monitors.tell(
            &info,
            &sharing,
            || Event::RealnameChanged { who: info.clone() },
            out,
        );
        Ok(())
    }

    /// Removes a member: everyone who shared a room hears `reason`, the
    /// member's own connection is told to close. Also used by the runtime
    /// when a connection drops or is cut off.
    pub fn quit(&mut self, conn: ConnId, reason: String, out: &mut impl Outbox) {
        self.unregistered.remove(&conn);
        self.forget_services(conn);
        let reason: Name = clean_text(&reason, 390).into();
        self.pending_logins.remove(&conn);
        let Some(member) = self.members.get(&conn) else {
            send(out, conn, Event::Closing { reason });
            return;
        };
        let env = out.wrap(Event::Quit {
            who: member.info.clone(),
            reason: reason.clone(),
        });
        for to in self.sharing(conn) {
            if to != conn {
                out.send(to, &env);
            }
        }
        // Out of its rooms while still a member (an operator's account is
        // remembered by the rooms it ran).
        let keys = self.members[&conn].rooms.clone();
        for key in keys.iter() {
            self.leave_room(conn, key);
            if let Some(room) = self.rooms.get_mut(key)
                && room.members.capacity() > SPARSE_MIN
                && room.members.len() < room.members.capacity() / 4
            {
                room.members.shrink_to(room.members.len() * 2);
            }
        }
        let member = self.members.remove(&conn).expect("checked above");
        self.departed(conn, &member.info.nick, &reason);
        send(out, conn, Event::Closing { reason });
        self.nicks.remove(&Key::of(&member.info.nick));
        self.monitors.forget(conn);
        self.monitors.offline(&member.info.nick, out);
        self.remember(member.info.clone());
        self.members.shrink_if_sparse();
        self.nicks.shrink_if_sparse();
        self.rooms.shrink_if_sparse();
        self.unregistered.shrink_if_sparse();
    }

    /// The member itself and everyone who shares at least one room with it,
    /// each once.
    pub(super) fn sharing(&self, conn: ConnId) -> Vec<ConnId> {
        let mut seen = HashSet::new();
        seen.insert(conn);
        let mut all = vec![conn];
        if let Some(m) = self.members.get(&conn) {
            for key in &m.rooms {
                for &c in self.rooms[key].members.keys() {
                    if seen.insert(c) {
                        all.push(c);
                    }
                }
            }
        }
        all
    }

    /// Keeps a departed identity for WHOWAS, forgetting the oldest.
    pub(super) fn remember(&mut self, user: Arc<UserInfo>) {
        if self.cfg.whowas_len == 0 {
            return;
        }
        self.whowas.push_front(WhowasEntry {
            user,
            left: self.now(),
        });
        self.whowas.truncate(self.cfg.whowas_len);
    }
}

/// Tables smaller than this keep their room.
const SPARSE_MIN: usize = 64;

/// Gives back most of a table's spare room once it is three-quarters
/// empty: tables keep the size of their busiest moment, so after 10,000
/// clients left the hub held 10,000 clients' worth of tables (measured:
/// about 2 MB of a 20 MB server). Halving only at a quarter full keeps a
/// table that shrinks and grows from being rebuilt back and forth; the
/// rebuilds are paid for by the removals since the last one.
trait Sparse {
    fn shrink_if_sparse(&mut self);
}

impl<K: Eq + Hash, V, S: BuildHasher> Sparse for HashMap<K, V, S> {
    fn shrink_if_sparse(&mut self) {
        if self.capacity() > SPARSE_MIN && self.len() < self.capacity() / 4 {
            self.shrink_to(self.len() * 2);
        }
    }
}

impl<K: Eq + Hash, S: BuildHasher> Sparse for HashSet<K, S> {
    fn shrink_if_sparse(&mut self) {
        if self.capacity() > SPARSE_MIN && self.len() < self.capacity() / 4 {
            self.shrink_to(self.len() * 2);
        }
    }
}

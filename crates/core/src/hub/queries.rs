//! Questions about who and what is here: the room list, WHO, NAMES, WHOIS,
//! WHOWAS and LUSERS, answered to the asker only, with what each asker may
//! see (secret rooms, invisible members).
//!
//! Part of the hub's state machine (same `impl Hub`); must not change any
//! state, do I/O or know any wire syntax.

use super::room::{Room, Status};
use super::{Hub, Outbox, Outcome, send};
use crate::command::{ConnId, ListQuery};
use crate::error::HubError;
use crate::event::{Event, Lusers, MemberInfo, RoomInfo};
use crate::modes;
use crate::names::{self, Key, Name};

impl Hub {
    pub(super) fn list_rooms(&self, conn: ConnId, q: &ListQuery, out: &mut impl Outbox) {
        let now = self.now();
        let age = |t: std::time::SystemTime| now.duration_since(t).unwrap_or_default();
        // `within`: younger than; `before`: older than (ELIST C and T, as
        // modern IRC documents them: minutes ago, not timestamps).
        let ages = |t: Option<std::time::SystemTime>, within: Option<_>, before: Option<_>| {
            if within.is_none() && before.is_none() {
                return true;
            }
            t.map(age)
                .is_some_and(|a| within.is_none_or(|w| a < w) && before.is_none_or(|b| a > b))
        };
        let mut rooms: Vec<RoomInfo> = self
            .rooms
            .values()
            .filter(|r| !r.has('s') || r.members.contains_key(&conn))
            .filter(|r| q.masks.is_empty() || q.masks.iter().any(|m| modes::glob_match(m, &r.name)))
            .filter(|r| !q.not_masks.iter().any(|m| modes::glob_match(m, &r.name)))
            .filter(|r| q.more_than.is_none_or(|n| r.members.len() > n))
            .filter(|r| q.fewer_than.is_none_or(|n| r.members.len() < n))
            .filter(|r| ages(Some(r.created), q.created_within, q.created_before))
            .filter(|r| {
                let set = r.topic.as_ref().map(|t| t.time);
                ages(set, q.topic_within, q.topic_before)
            })
            .map(|r| RoomInfo {
                name: r.name.clone(),
                members: r.members.len(),
                topic: r.topic.as_ref().map(|t| t.text.clone()),
            })
            .collect();
        rooms.sort_by(|a, b| a.name.cmp(&b.name));
        send(out, conn, Event::RoomList { rooms });
    }

    pub(super) fn member_info(&self, conn: ConnId, status: Status) -> MemberInfo {
        let m = &self.members[&conn];
        MemberInfo {
            user: m.info.clone(),
            op: status.op,
            voice: status.voice,
            oper: m.oper,
            away: m.away.clone(),
        }
    }

    /// The members of `room` that `asker` may see: all of them for a
    /// member; for anyone else none of a secret room and nobody invisible.
    pub(super) fn room_members(&self, room: &Room, asker: ConnId) -> Vec<MemberInfo> {
        let inside = room.members.contains_key(&asker);
        if !inside && room.has('s') {
            return Vec::new();
        }
        room.members
            .iter()
            .filter(|(c, _)| inside || !self.members[*c].invisible)
            .map(|(&c, &status)| self.member_info(c, status))
            .collect()
    }

    /// True when `asker` shares at least one room with `other`.
    pub(super) fn shares_room(&self, asker: ConnId, other: ConnId) -> bool {
        let (Some(a), Some(b)) = (self.members.get(&asker), self.members.get(&other)) else {
            return false;
        };
        a.rooms.iter().any(|k| b.rooms.contains(k))
    }

    pub(super) fn who(&self, conn: ConnId, mask: &str, out: &mut impl Outbox) {
        // A room is named as it names itself, however it was asked for.
        let mut shown = mask;
        let members = if let Some(room) = self.rooms.get(&Key::of(mask)) {
            shown = &room.name;
            self.room_members(room, conn)
        } else if let Some(&them) = self.nicks.get(&Key::of(mask)) {
            vec![self.member_info(them, Status::default())]
        } else if mask.starts_with('#') {
            Vec::new()
        } else {
            // A glob over everyone the asker may see (RFC 2812 3.6.1):
            // "0" and "*" match all.
            let all = mask == "0" || mask == "*";
            let mut found: Vec<(&Name, ConnId)> = self
                .members
                .iter()
                .filter(|(c, m)| **c == conn || !m.invisible || self.shares_room(conn, **c))
                .filter(|(_, m)| {
                    all || [&m.info.nick, &m.info.user, &m.info.host, &m.info.realname]
                        .iter()
                        .any(|f| modes::glob_match(mask, f))
                })
                .map(|(c, m)| (&m.info.nick, *c))
                .collect();
            found.sort();
            found
                .into_iter()
                .map(|(_, c)| self.member_info(c, Status::default()))
                .collect()
        };
        send(
            out,
            conn,
            Event::WhoReply {
                mask: shown.into(),
                members,
            },
        );
    }

    /// `read_marker`: on join, the joiner's marker for the room (see
    /// `Event::Names`).
    pub(super) fn names(
        &self,
        conn: ConnId,
        name: &str,
        read_marker: Option<Option<std::time::SystemTime>>,
        out: &mut impl Outbox,
    ) {
        let (room, members, secret) = match self.rooms.get(&Key::of(name)) {
            Some(room) => (
                room.name.clone(),
                self.room_members(room, conn),
                room.has('s'),
            ),
            None => (name.into(), Vec::new(), false),
        };
        send(
            out,
            conn,
            Event::Names {
                room,
                members,
                secret,
                read_marker,
            },
        );
    }

    pub(super) fn whois(&self, conn: ConnId, nick: &str, out: &mut impl Outbox) -> Outcome {
        let &them = self
            .nicks
            .get(&Key::of(nick))
            .ok_or_else(|| HubError::NoSuchNick(nick.into()))?;
        let m = &self.members[&them];
        let shown: Vec<&Room> = m
            .rooms
            .iter()
            .map(|k| &*self.rooms[k])
            .filter(|r| !r.has('s') || r.members.contains_key(&conn))
            .collect();
        let idle_secs = self
            .now()
            .duration_since(m.last_spoke)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        send(
            out,
            conn,
            Event::WhoisReply {
                user: m.info.clone(),
                rooms: shown.iter().map(|r| r.name.clone()).collect(),
                standing: shown
                    .iter()
                    .map(|r| {
                        let s = r.status(them).unwrap_or_default();
                        (s.op, s.voice)
                    })
                    .collect(),
                away: m.away.clone(),
                idle_secs,
                signon: m.signon,
                oper: m.oper,
                secure: m.secure,
                certfp: if them == conn || self.members[&conn].oper {
                    m.certfp.clone()
                } else {
                    None
                },
            },
        );
        Ok(())
    }

    pub(super) fn whowas(&self, conn: ConnId, nick: &str, count: usize, out: &mut impl Outbox) {
        let limit = if count == 0 { usize::MAX } else { count };
        let entries = self
            .whowas
            .iter()
            .filter(|e| names::same(&e.user.nick, nick))
            .take(limit)
            .cloned()
            .collect();
        send(
            out,
            conn,
            Event::WhowasReply {
                nick: nick.into(),
                entries,
            },
        );
    }

    pub(super) fn lusers(&self) -> Lusers {
        Lusers {
            users: self.members.len(),
            invisible: self.members.values().filter(|m| m.invisible).count(),
            opers: self.members.values().filter(|m| m.oper).count(),
            rooms: self.rooms.len(),
            unknown: self.unregistered.len(),
            max_users: self.max_users,
        }
    }
}

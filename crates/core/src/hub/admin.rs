//! What the server's administrator sees and does from outside the chat
//! (`chatroom admin`, the runtime's log): who is connected and where, and
//! kicking, disconnecting and telling everyone without being a member or
//! an operator. The runtime checks who may ask (the admin socket is the
//! server's user's alone); the hub only carries it out.
//!
//! Part of `impl Hub`; must not do I/O.

use std::sync::Arc;
use std::time::SystemTime;

use super::{Hub, Outbox, Outcome, clean_text};
use crate::command::ConnId;
use crate::error::HubError;
use crate::event::{Event, UserInfo};
use crate::names::{Key, Name};

/// One registered person, as `chatroom admin who` lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub conn: ConnId,
    pub info: Arc<UserInfo>,
    /// The rooms they are in, in the order they joined.
    pub rooms: Vec<Name>,
    pub oper: bool,
    pub away: bool,
    pub signon: SystemTime,
}

impl Hub {
    /// The rooms `conn` is in, in the order it joined them (empty before
    /// registration).
    pub fn rooms_of(&self, conn: ConnId) -> Vec<Name> {
        self.members.get(&conn).map_or_else(Vec::new, |m| {
            m.rooms
                .iter()
                .filter_map(|k| self.rooms.get(k).map(|r| r.name.clone()))
                .collect()
        })
    }

    /// Number of registered accounts.
    pub fn account_count(&self) -> usize {
        self.accounts.len()
    }

    /// Connections attached but not registered yet.
    pub fn unregistered_count(&self) -> usize {
        self.unregistered.len()
    }

    /// New limits and defaults (a reloaded configuration); they apply from
    /// the next command on, and nothing already done is undone.
    pub fn reconfigure(&mut self, cfg: super::HubConfig) {
        self.cfg = cfg;
    }

    /// Whether `conn` is attached and has not registered yet.
    pub fn is_unregistered(&self, conn: ConnId) -> bool {
        self.unregistered.contains(&conn)
    }

    /// Everyone registered, by nickname.
    pub fn people(&self) -> Vec<Person> {
        let mut all: Vec<Person> = self
            .members
            .iter()
            .map(|(&conn, m)| Person {
                conn,
                info: m.info.clone(),
                rooms: self.rooms_of(conn),
                oper: m.oper,
                away: m.away.is_some(),
                signon: m.signon,
            })
            .collect();
        all.sort_by(|a, b| Key::of(&a.info.nick).cmp(&Key::of(&b.info.nick)));
        all
    }

    /// The connection holding `nick`, if anyone does.
    pub fn conn_of(&self, nick: &str) -> Option<ConnId> {
        self.nicks.get(&Key::of(nick)).copied()
    }

    /// Removes `nick` from `room` on the administrator's word: the room
    /// sees a kick by `by` (the server's own identity, which the runtime
    /// gives), whatever the room's operators.
    pub fn admin_kick(
        &mut self,
        room: &str,
        nick: &str,
        reason: &str,
        by: Arc<UserInfo>,
        out: &mut impl Outbox,
    ) -> Outcome {
        let key = Key::of(room);
        let them = self
            .conn_of(nick)
            .ok_or_else(|| HubError::NoSuchNick(nick.into()))?;
        let room = self
            .rooms
            .get(&key)
            .ok_or_else(|| HubError::NoSuchRoom(room.into()))?;
        let their_nick = self.members[&them].info.nick.clone();
        if !room.members.contains_key(&them) {
            return Err(HubError::UserNotInRoom {
                nick: their_nick,
                room: room.name.clone(),
            });
        }
        let reason = clean_text(reason, self.cfg.kick_len);
        let reason = if reason.is_empty() {
            "Kicked by the server administrator".to_string()
        } else {
            reason
        };
        let env = out.wrap(Event::Kicked {
            room: room.name.clone(),
            by,
            nick: their_nick,
            reason: reason.into(),
        });
        for &to in room.members.keys() {
            out.send(to, &env);
        }
        self.remove_from_room(them, &key, out);
        Ok(())
    }

    /// Disconnects `conn` (registered or not) with `reason`, which those
    /// who shared a room see as the quit reason.
    pub fn admin_disconnect(&mut self, conn: ConnId, reason: &str, out: &mut impl Outbox) {
        self.quit(conn, reason.to_string(), out);
    }

    /// A notice from the server to every connection, registered or not.
    pub fn admin_notice(&mut self, text: &str, out: &mut impl Outbox) -> Outcome {
        let text = clean_text(text, self.cfg.text_len);
        if text.trim().is_empty() {
            return Err(HubError::NoText);
        }
        let env = out.wrap(Event::ServerNotice { text: text.into() });
        let mut all: Vec<ConnId> = self.members.keys().copied().collect();
        all.extend(self.unregistered.iter().copied());
        all.sort_unstable();
        for to in all {
            out.send(to, &env);
        }
        Ok(())
    }

    /// Every connection, registered or not, for which `matches` holds of
    /// its identity (an unregistered one has none: `None`).
    pub fn conns_matching(&self, matches: impl Fn(Option<&UserInfo>) -> bool) -> Vec<ConnId> {
        let mut found: Vec<ConnId> = self
            .members
            .iter()
            .filter(|(_, m)| matches(Some(&m.info)))
            .map(|(&c, _)| c)
            .collect();
        if matches(None) {
            found.extend(self.unregistered.iter().copied());
        }
        found.sort_unstable();
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Command;
    use crate::hub::HubConfig;

    fn hub() -> (Hub, Vec<(ConnId, Arc<Event>)>) {
        let clock = Arc::new(crate::ManualClock::new_year());
        (Hub::new(HubConfig::default(), clock), Vec::new())
    }

    fn register(hub: &mut Hub, out: &mut Vec<(ConnId, Arc<Event>)>, conn: ConnId, nick: &str) {
        hub.attach(conn);
        let cmd = Command::Register {
            nick: nick.into(),
            user: nick.into(),
            realname: nick.into(),
            host: "192.0.2.1".into(),
        };
        assert_eq!(hub.handle(conn, cmd, out), Ok(()));
    }

    fn server() -> Arc<UserInfo> {
        Arc::new(UserInfo {
            nick: "chatroom".into(),
            user: "admin".into(),
            realname: "chatroom".into(),
            host: "chatroom".into(),
            account: None,
            bot: false,
        })
    }

    #[test]
    fn people_and_their_rooms() {
        let (mut hub, mut out) = hub();
        register(&mut hub, &mut out, 1, "bob");
        register(&mut hub, &mut out, 2, "alice");
        hub.attach(3);
        assert_eq!(
            hub.handle(2, Command::Join("#side".into()), &mut out),
            Ok(())
        );
        let people = hub.people();
        let nicks: Vec<&str> = people.iter().map(|p| &*p.info.nick).collect();
        assert_eq!(nicks, ["alice", "bob"]);
        assert_eq!(people[0].rooms, [Name::from("#lobby"), Name::from("#side")]);
        assert_eq!(hub.unregistered_count(), 1);
        assert_eq!(hub.conn_of("BOB"), Some(1));
    }

    #[test]
    fn kick_needs_no_operator_and_names_the_server() {
        let (mut hub, mut out) = hub();
        register(&mut hub, &mut out, 1, "bob");
        register(&mut hub, &mut out, 2, "alice");
        out.clear();
        assert_eq!(
            hub.admin_kick("#lobby", "bob", "", server(), &mut out),
            Ok(())
        );
        assert!(out.iter().any(|(to, e)| *to == 2
            && matches!(&**e, Event::Kicked { nick, by, .. } if &**nick == "bob" && &*by.nick == "chatroom")));
        assert!(hub.rooms_of(1).is_empty());
        assert_eq!(
            hub.admin_kick("#lobby", "bob", "", server(), &mut out),
            Err(HubError::UserNotInRoom {
                nick: "bob".into(),
                room: "#lobby".into()
            })
        );
        assert_eq!(
            hub.admin_kick("#lobby", "nobody", "", server(), &mut out),
            Err(HubError::NoSuchNick("nobody".into()))
        );
    }

    #[test]
    fn disconnect_tells_the_room_and_closes() {
        let (mut hub, mut out) = hub();
        register(&mut hub, &mut out, 1, "bob");
        register(&mut hub, &mut out, 2, "alice");
        out.clear();
        hub.admin_disconnect(1, "Banned", &mut out);
        assert!(out.iter().any(|(to, e)| *to == 2
            && matches!(&**e, Event::Quit { reason, .. } if &**reason == "Banned")));
        assert!(
            out.iter()
                .any(|(to, e)| *to == 1 && matches!(&**e, Event::Closing { .. }))
        );
        assert_eq!(hub.conn_of("bob"), None);
    }

    #[test]
    fn notice_reaches_everyone_even_unregistered() {
        let (mut hub, mut out) = hub();
        register(&mut hub, &mut out, 1, "bob");
        hub.attach(7);
        out.clear();
        assert_eq!(hub.admin_notice("maintenance at 6", &mut out), Ok(()));
        let to: Vec<ConnId> = out.iter().map(|(c, _)| *c).collect();
        assert_eq!(to, [1, 7]);
        assert_eq!(hub.admin_notice("  ", &mut out), Err(HubError::NoText));
        let unregistered = hub.conns_matching(|who| who.is_none());
        assert_eq!(unregistered, [7]);
        let by_host = hub.conns_matching(|who| who.is_some_and(|u| &*u.host == "192.0.2.1"));
        assert_eq!(by_host, [1]);
    }
}

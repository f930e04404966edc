//! Registered rooms: registering a room to an account, dropping it,
//! telling who founded it, operator status for the founder, and the notes
//! that let the runtime save a registered room's state and every topic
//! change.
//!
//! A registered room outlives its members: it stays in the hub, with its
//! topic and modes, while nobody is in it, and only someone logged in to
//! the founder's account is made an operator on joining (the first person
//! into an empty registered room is not: that would hand the room to
//! whoever comes first after a restart).
//!
//! Part of the hub's state machine; no I/O and no wording here: the hub
//! decides, edges word the replies, the runtime writes the notes down.

use super::room::Registration;
use super::*;
use crate::modes::ModeChange;
use crate::registry::{
    Note, Refusal, RoomReply, RoomRequest, SavedRoom, format_modes, parse_modes,
};

/// The nickname registered rooms' automatic mode changes come from.
pub const SERVICES_NICK: &str = "ChanServ";

/// The source of the modes given by the server on a founder's behalf.
pub(super) fn services() -> Arc<UserInfo> {
    Arc::new(UserInfo {
        nick: SERVICES_NICK.into(),
        user: SERVICES_NICK.into(),
        realname: "Room registration".into(),
        host: "services.".into(),
        account: None,
        bot: false,
    })
}

impl Hub {
    /// Keep [`Note`]s for the runtime from now on (it then drains them with
    /// [`Hub::take_notes`] after every command).
    pub fn keep_notes(&mut self) {
        self.notes.get_or_insert_with(Vec::new);
    }

    /// The notes left since the last call, in the hub's order.
    pub fn take_notes(&mut self) -> Vec<Note> {
        match &mut self.notes {
            Some(notes) => std::mem::take(notes),
            None => Vec::new(),
        }
    }

    pub(super) fn note(&mut self, note: Note) {
        if let Some(notes) = &mut self.notes {
            notes.push(note);
        }
    }

    /// Restores a registered room saved earlier (at start, before anyone
    /// connects). A bad name is refused; modes that do not parse are left
    /// out.
    pub fn seed_room(&mut self, saved: SavedRoom) -> Result<(), HubError> {
        let key = self.room_key(&saved.name)?;
        let (flags, key_mode, limit) = parse_modes(&saved.modes, modes::FLAG_MODES);
        let now = self.now();
        let mut room = Room::new(saved.name, flags.into_iter().collect(), now);
        room.topic = saved.topic;
        room.key = key_mode.map(|k| k.as_str().into());
        room.limit = limit;
        room.reg = Some(Registration {
            founder: saved.founder,
            since: saved.since,
        });
        self.rooms.insert(key, Box::new(room));
        Ok(())
    }

    pub(super) fn room_request(&mut self, conn: ConnId, req: RoomRequest, out: &mut impl Outbox) {
        let (name, reply) = match req {
            RoomRequest::Register(name) => {
                let r = self.register_room(conn, &name, out);
                (name, r)
            }
            RoomRequest::Drop(name) => {
                let r = self.drop_room(conn, &name);
                (name, r)
            }
            RoomRequest::Info(name) => {
                let r = self.room_info(&name);
                (name, r)
            }
        };
        let reply = reply.unwrap_or_else(|why| RoomReply::Refused {
            room: name.as_str().into(),
            why,
        });
        send(out, conn, Event::RoomReg(reply));
    }

    /// The room by name, or why not.
    fn room_for_request(&self, name: &str) -> Result<(Key, &Room), Refusal> {
        let key = names::validate_room(name, self.cfg.room_len)
            .map(|()| Key::of(name))
            .map_err(|e| Refusal::BadName(e.0))?;
        let room = self.rooms.get(&key).ok_or(Refusal::NoSuchRoom)?;
        Ok((key, room))
    }

    fn register_room(
        &mut self,
        conn: ConnId,
        name: &str,
        out: &mut impl Outbox,
    ) -> Result<RoomReply, Refusal> {
        let account = self.members[&conn].info.account.clone();
        let (key, room) = self.room_for_request(name)?;
        if let Some(reg) = &room.reg {
            return Err(Refusal::AlreadyRegistered {
                founder: reg.founder.clone(),
            });
        }
        let account = account.ok_or(Refusal::NotLoggedIn)?;
        if !room.is_op(conn) {
            return Err(Refusal::NotOp);
        }
        let room = self.rooms.get_mut(&key).expect("found above");
        room.reg = Some(Registration {
            founder: account.clone(),
            since: self.clock.now(),
        });
        let reply = RoomReply::Registered {
            room: room.name.clone(),
            founder: account,
        };
        self.room_changed(&key);
        // Anyone else in the room logged in to the same account is the
        // founder too.
        let others: Vec<ConnId> = self.rooms[&key].members.keys().copied().collect();
        for c in others {
            self.founder_op(c, &key, out);
        }
        Ok(reply)
    }

    fn drop_room(&mut self, conn: ConnId, name: &str) -> Result<RoomReply, Refusal> {
        let member = &self.members[&conn];
        let (key, room) = self.room_for_request(name)?;
        let Some(reg) = &room.reg else {
            return Err(Refusal::NotRegistered);
        };
        let founder = member
            .info
            .account
            .as_deref()
            .is_some_and(|a| names::same(a, &reg.founder));
        if !founder && !member.oper {
            return Err(Refusal::NotFounder);
        }
        let room = self.rooms.get_mut(&key).expect("found above");
        room.reg = None;
        let name = room.name.clone();
        if room.members.is_empty() {
            self.room_emptied(&key);
        }
        self.note(Note::ForgetRoom(name.clone()));
        Ok(RoomReply::Dropped { room: name })
    }

    fn room_info(&self, name: &str) -> Result<RoomReply, Refusal> {
        let (_, room) = self.room_for_request(name)?;
        let reg = room.reg.as_ref().ok_or(Refusal::NotRegistered)?;
        let mut modes = String::from("+");
        modes.extend(room.flags.iter());
        if room.key.is_some() {
            modes.push('k');
        }
        if room.limit.is_some() {
            modes.push('l');
        }
        // A secret room's topic is for its members; INFO says only that
        // it is registered.
        let topic = (!room.has('s')).then(|| room.topic.clone()).flatten();
        Ok(RoomReply::Info {
            room: room.name.clone(),
            founder: reg.founder.clone(),
            since: reg.since,
            topic,
            modes: modes.into(),
        })
    }

    /// A registered room's state changed: note it for saving.
    pub(super) fn room_changed(&mut self, key: &Key) {
        let Some(room) = self.rooms.get(key) else {
            return;
        };
        let Some(reg) = &room.reg else {
            return;
        };
        let flags: Vec<char> = room.flags.iter().copied().collect();
        let saved = SavedRoom {
            name: room.name.clone(),
            topic: room.topic.clone(),
            modes: format_modes(&flags, room.key.as_deref(), room.limit),
            founder: reg.founder.clone(),
            since: reg.since,
        };
        self.note(Note::SaveRoom(saved));
    }

    /// A topic was set or cleared in `key`'s room by `by`: a history
    /// record under its own msgid, and the room's state if registered.
    pub(super) fn topic_changed(&mut self, key: &Key, by: Arc<UserInfo>) {
        if self.notes.is_some()
            && let Some(room) = self.rooms.get(key)
        {
            let (text, time) = match &room.topic {
                Some(t) => (t.text.clone(), t.time),
                None => (Name::from(""), self.now()),
            };
            let name = room.name.clone();
            let id = self.new_msg_id();
            let note = Note::Topic {
                id,
                time,
                room: name,
                by,
                text,
            };
            self.note(note);
        }
        self.room_changed(key);
    }

    /// Is `conn` logged in to an account that runs `room` (its founder's,
    /// a configured operator's, or one remembered as its operator)?
    pub(super) fn is_founder(&self, conn: ConnId, room: &Room) -> bool {
        self.members
            .get(&conn)
            .and_then(|m| m.info.account.as_deref())
            .is_some_and(|a| room.op_account(a))
    }

    /// Makes `conn` an operator of `key`'s room if it is logged in to an
    /// account that runs it and is not one yet, telling the room (the
    /// mode comes from services).
    pub(super) fn founder_op(&mut self, conn: ConnId, key: &Key, out: &mut impl Outbox) {
        let Some(room) = self.rooms.get(key) else {
            return;
        };
        if !self.is_founder(conn, room) || room.is_op(conn) {
            return;
        }
        let nick = self.members[&conn].info.nick.clone();
        let room = self.rooms.get_mut(key).expect("found above");
        if let Some(status) = room.members.get_mut(&conn) {
            status.op = true;
        }
        let env = out.wrap(Event::ModeChanged {
            target: room.name.clone(),
            by: services(),
            changes: vec![ModeChange {
                add: true,
                mode: 'o',
                arg: Some(nick),
            }],
        });
        for &to in room.members.keys() {
            out.send(to, &env);
        }
    }

    /// After a login: operator status in every registered room of the
    /// account that `conn` is in.
    pub(super) fn founder_ops_everywhere(&mut self, conn: ConnId, out: &mut impl Outbox) {
        let rooms: Vec<Key> = match self.members.get(&conn) {
            Some(m) => m.rooms.to_vec(),
            None => return,
        };
        for key in rooms {
            self.founder_op(conn, &key, out);
        }
    }
}

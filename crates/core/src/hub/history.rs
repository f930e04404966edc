//! What the history needs from the hub, kept apart from the hub's rules:
//! continuing msgids after a restart, the last id handed out (the mark a
//! replay stops at), and the check that someone may read a room's history.
//!
//! Must not change any room or member: these are seeds and read-only
//! questions, nothing a command decides.

use super::{ConnId, Hub, HubError, Key, Name, RoomRef};
use crate::history::HistoryAsk;

impl Hub {
    /// Continues msgids after `last` (the highest id the store has seen), so
    /// that ids stay unique across restarts. Never moves ids backwards.
    pub fn continue_ids_after(&mut self, last: u64) {
        self.next_msg_id = self.next_msg_id.max(last);
    }

    /// The msgid of the newest message so far (0 before the first).
    pub fn last_msg_id(&self) -> u64 {
        self.next_msg_id
    }

    /// The room whose history `conn` asks for: `name`, or the focused room
    /// when `name` is empty. Only members may read a room's history.
    pub fn history_room(&self, conn: ConnId, room: &RoomRef) -> Result<Name, HubError> {
        let member = self.members.get(&conn).ok_or(HubError::NotRegistered)?;
        let (key, name) = match room {
            RoomRef::Focus => (member.focus.clone().ok_or(HubError::NoFocus)?, ""),
            RoomRef::Named(name) => (Key::of(name), name.as_str()),
        };
        let room = self
            .rooms
            .get(&key)
            .ok_or_else(|| HubError::NoSuchRoom(name.into()))?;
        if !room.members.contains_key(&conn) {
            return Err(HubError::NotInRoom(room.name.clone()));
        }
        Ok(room.name.clone())
    }

    /// Who asks about their own history (`CHATHISTORY` with a nickname,
    /// `TARGETS`): the account whose private conversations they may read
    /// and the rooms they are in (the only rooms whose activity they may
    /// be told about).
    ///
    /// Anyone may take a nickname once its holder has gone, so private
    /// history is read by account: the store keeps with each private
    /// message the accounts its parties were logged in to (see
    /// `Note::PrivateRecipient`) and gives an account only those it took
    /// part in. Someone not logged in is refused a private conversation,
    /// and gets an empty name for `TARGETS` (rooms only: no account has
    /// it).
    pub fn history_self(
        &self,
        conn: ConnId,
        ask: &HistoryAsk,
    ) -> Result<(Name, Vec<Name>), HubError> {
        let member = self.members.get(&conn).ok_or(HubError::NotRegistered)?;
        let rooms = member
            .rooms
            .iter()
            .filter_map(|k| self.rooms.get(k).map(|r| r.name.clone()))
            .collect();
        match (&member.info.account, ask) {
            (Some(account), _) => Ok((account.clone(), rooms)),
            (None, HistoryAsk::Private { .. }) => Err(HubError::NoPrivileges),
            (None, _) => Ok((Name::from(""), rooms)),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{Command, Hub, HubConfig, HubError, MsgKind, Overflow, RoomRef, SayTarget};
    use std::sync::Arc;

    use crate::Event;

    fn register(hub: &mut Hub, conn: u64, nick: &str) {
        let mut out: Vec<(u64, Arc<Event>)> = Vec::new();
        hub.handle(
            conn,
            Command::Register {
                nick: nick.into(),
                user: nick.into(),
                realname: nick.into(),
                host: "127.0.0.1".into(),
            },
            &mut out,
        )
        .expect("register");
    }

    #[test]
    fn ids_continue_after_the_seed() {
        let mut hub = Hub::new(
            HubConfig::default(),
            std::sync::Arc::new(crate::ManualClock::new_year()),
        );
        hub.continue_ids_after(41);
        register(&mut hub, 1, "alice");
        let mut out: Vec<(u64, Arc<Event>)> = Vec::new();
        hub.handle(
            1,
            Command::Say {
                target: SayTarget::Focus,
                kind: MsgKind::Say,
                text: "hi".into(),
                tags: Vec::new(),
                overflow: Overflow::Cut,
            },
            &mut out,
        )
        .expect("say");
        let ids: Vec<u64> = out
            .iter()
            .filter_map(|(_, e)| match &**e {
                Event::Message { id, .. } => Some(*id),
                _ => None,
            })
            .collect();
        assert_eq!(ids, vec![42]);
        assert_eq!(hub.last_msg_id(), 42);
        hub.continue_ids_after(3);
        assert_eq!(hub.last_msg_id(), 42, "ids never go backwards");
    }

    #[test]
    fn only_members_may_read_a_room() {
        let mut hub = Hub::new(
            HubConfig::default(),
            std::sync::Arc::new(crate::ManualClock::new_year()),
        );
        register(&mut hub, 1, "alice");
        register(&mut hub, 2, "bob");
        let mut out: Vec<(u64, Arc<Event>)> = Vec::new();
        hub.handle(1, Command::Join("#secret".into()), &mut out)
            .expect("join");
        assert_eq!(
            hub.history_room(1, &RoomRef::Focus).as_deref(),
            Ok("#secret")
        );
        assert_eq!(
            hub.history_room(1, &"#LOBBY".into()).as_deref(),
            Ok("#lobby")
        );
        assert_eq!(
            hub.history_room(2, &"#secret".into()),
            Err(HubError::NotInRoom("#secret".into()))
        );
        assert_eq!(
            hub.history_room(2, &"#nowhere".into()),
            Err(HubError::NoSuchRoom("#nowhere".into()))
        );
        assert_eq!(
            hub.history_room(9, &RoomRef::Focus),
            Err(HubError::NotRegistered)
        );
    }

    #[test]
    fn private_history_is_an_accounts_and_never_a_bare_nicknames() {
        use crate::history::{HistoryAsk, Selector};
        let mut hub = Hub::new(
            HubConfig::default(),
            std::sync::Arc::new(crate::ManualClock::new_year()),
        );
        register(&mut hub, 1, "alice");
        let private = HistoryAsk::Private {
            with: "bob".into(),
            selector: Selector::Latest { after: None },
            limit: 10,
        };
        let targets = HistoryAsk::Targets {
            from: std::time::UNIX_EPOCH,
            to: std::time::UNIX_EPOCH,
            limit: 10,
        };
        // Not logged in: whoever held "alice" before could have been anyone.
        assert_eq!(hub.history_self(1, &private), Err(HubError::NoPrivileges));
        let (name, rooms) = hub.history_self(1, &targets).expect("targets");
        assert_eq!((&*name, rooms.len()), ("", 1), "rooms only");
        // Logged in: the account's conversations, whatever the nickname.
        let mut out: Vec<(u64, Arc<Event>)> = Vec::new();
        hub.handle(1, Command::Login(Some("Alicia".into())), &mut out)
            .expect("login");
        let (name, _) = hub.history_self(1, &private).expect("private");
        assert_eq!(&*name, "Alicia");
    }
}
